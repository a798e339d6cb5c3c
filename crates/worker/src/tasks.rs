//! The background task runner: claims running tasks no worker holds (new ones, and those
//! whose worker died and whose lease ran out) one at a time, and runs each chunk by chunk
//! with `service::task::step`, which renews the lease with every chunk it commits. Wakes
//! when the dispatcher says a task was made (here, or on PostgreSQL in another process),
//! else looks every poll interval.

use std::time::Duration;

use chrono::Utc;
use domain::{
    Context,
    entity::background_task,
    service::task::{self, Step},
};
use tokio::sync::watch;

use crate::Dispatcher;

/// Runs tasks until the stop signal; a task in hand is let go at the next chunk boundary.
pub(crate) async fn run(
    ctx: Context,
    dispatcher: Dispatcher,
    poll: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let worker = format!("tasks-{}", ulid::Ulid::generate());
    loop {
        if *stopped.borrow() {
            return;
        }
        match task::claim(&ctx, &worker, Utc::now()).await {
            Ok(Some(claimed)) => {
                run_one(&ctx, &worker, claimed, &stopped).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e.chain(), "looking for background tasks failed; trying again later")
            }
        }
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            () = dispatcher.tasks_woken(poll) => {}
        }
    }
}

async fn run_one(
    ctx: &Context,
    worker: &str,
    mut claimed: background_task::Model,
    stopped: &watch::Receiver<bool>,
) {
    tracing::info!(task_id = %claimed.id, task = claimed.task.as_str(), "running a background task");
    loop {
        if *stopped.borrow() {
            if let Err(e) = task::release(ctx, worker, &claimed).await {
                tracing::warn!(task_id = %claimed.id, error = %e.chain(), "could not let a background task go; another worker takes it when its lease runs out");
            }
            return;
        }
        match task::step(ctx, worker, &mut claimed).await {
            Ok(Step::More) => {}
            Ok(Step::Done) => {
                tracing::info!(task_id = %claimed.id, data = ?claimed.data, "background task finished");
                return;
            }
            Ok(Step::Lost) => {
                tracing::warn!(task_id = %claimed.id, "a background task is no longer this worker's");
                return;
            }
            Err(e) if e.is_unavailable() => {
                tracing::warn!(task_id = %claimed.id, error = %e.chain(), "the database is unavailable; the background task runs again when its lease runs out");
                return;
            }
            Err(e) => {
                tracing::error!(task_id = %claimed.id, error = %e.chain(), "a background task failed");
                if let Err(e) = task::fail(ctx, worker, &claimed, &task::failure_reason(&e)).await {
                    tracing::warn!(task_id = %claimed.id, error = %e.chain(), "could not mark a background task failed; it runs again when its lease runs out");
                }
                return;
            }
        }
    }
}
