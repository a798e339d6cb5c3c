//! Herald's delivery engine. The destination row is the job: a [`claimer`] takes due
//! destinations from the database in batches and leases them, [`Deliveries`] (an apalis
//! backend of Herald's own) hands them to an apalis worker, which runs [`Engine`] on each
//! (sign, send, classify), and the [`recorder`] writes the outcomes of many tries in one
//! transaction. Work accepted in this process skips the claim: it is written leased to
//! this worker and handed over in memory ([`Dispatcher`]). Workers wake on a signal
//! (in-process, PostgreSQL `LISTEN/NOTIFY`) or at the next due retry; a slow poll only
//! catches a lost signal. [`run_due`] is one claim delivered by the same engine, for
//! those who drive the queue themselves (tests).
//!
//! [`Deliveries`]: backend::Deliveries
//! [`Engine`]: engine::Engine

mod access;
mod backend;
mod claimer;
mod client;
mod dispatcher;
mod engine;
mod own_inbox;
mod recorder;
mod tasks;

use std::{future::Future, sync::Arc, time::Duration};

use apalis::{
    layers::catch_panic::CatchPanicLayer,
    prelude::{AbortError, BoxDynError, Data, WorkerBuilder, WorkerBuilderExt},
};
use chrono::Utc;
use domain::{
    Context,
    service::{delivery, verification},
};
use tokio::task::JoinHandle;

pub use client::Sender;
pub use dispatcher::Dispatcher;

use crate::{backend::Job, engine::Engine};

/// How a worker process delivers.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// Deliveries in flight at once in this process.
    pub concurrency: usize,
    /// Delays in seconds between tries (after the first).
    pub schedule: Vec<u32>,
    /// Which addresses may be called.
    pub policy: domain::netpolicy::NetworkPolicy,
    /// Per-request timeout unless the endpoint sets its own.
    pub default_timeout: Duration,
    /// How often an idle worker looks for due work without having been told of any: the
    /// safety net for a lost wake-up (and the only news of work another process queued,
    /// on SQLite).
    pub poll_interval: Duration,
    /// Also send the `svix-id`, `svix-timestamp`, `svix-signature` spellings.
    pub svix_headers: bool,
    /// An endpoint that has failed every try for this long is disabled.
    pub disable_after: chrono::Duration,
    /// After a stop signal, how long deliveries in flight may take to finish.
    pub shutdown_timeout: Duration,
    /// Payloads and response bodies older than this are erased (unless an application
    /// sets its own period).
    pub retention: chrono::Duration,
}

/// Deliveries in flight at once per worker process, unless configured.
pub const DEFAULT_CONCURRENCY: usize = 64;

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            schedule: delivery::DEFAULT_SCHEDULE.to_vec(),
            policy: domain::netpolicy::NetworkPolicy::default(),
            default_timeout: Duration::from_secs(15),
            poll_interval: Duration::from_secs(1),
            svix_headers: true,
            disable_after: delivery::DEFAULT_DISABLE_AFTER,
            shutdown_timeout: Duration::from_secs(30),
            retention: domain::service::retention::DEFAULT_RETENTION,
        }
    }
}

async fn handle(job: Job, engine: Data<Arc<Engine>>) -> Result<(), BoxDynError> {
    // Each delivery a task of its own, so that deliveries spread over the runtime's
    // threads instead of taking turns in the worker's one.
    let engine = Arc::clone(&engine);
    let mut task = AbortOnDrop(tokio::spawn(async move { engine.run(job).await }));
    (&mut task.0).await.map_err(|e| Box::new(e) as BoxDynError)
}

/// A delivery's task ends with the apalis task that runs it: a delivery cut off at the
/// shutdown deadline stops there (its destination stays leased and is tried again when
/// the lease runs out) instead of running on unseen.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn on_panic(_: &Box<dyn std::any::Any + Send + 'static>) -> AbortError {
    tracing::error!("a delivery panicked; its destination is tried again when its lease runs out");
    AbortError::new(std::io::Error::other("a delivery panicked"))
}

/// Runs a delivery worker until `shutdown` resolves; it then claims no more work, and
/// the deliveries in flight get `settings.shutdown_timeout` to finish and be recorded
/// (a delivery cut off then is tried again once its lease runs out). Claimed work that
/// has not started is handed back at once. `dispatcher` must be the one in `ctx`, made
/// with room for `settings.concurrency` deliveries.
pub async fn run<S>(
    ctx: Context,
    dispatcher: Dispatcher,
    settings: WorkerSettings,
    shutdown: S,
) -> anyhow::Result<()>
where
    S: Future<Output = ()> + Send + 'static,
{
    let (engine, recording) = engine(&ctx, &settings)?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let (work, deliveries) = backend::channel();
    dispatcher.open(work.clone());

    tokio::spawn(retention_loop(ctx.clone(), settings.retention, stopped.clone()));
    tokio::spawn(verification_loop(
        ctx.clone(),
        engine.clone(),
        settings.poll_interval,
        stopped.clone(),
    ));
    tokio::spawn(engine.clone().renew_leases(stopped.clone()));
    tokio::spawn(tasks::run(
        ctx.clone(),
        dispatcher.clone(),
        settings.poll_interval,
        stopped.clone(),
    ));
    let listening = dispatcher::listen(&ctx, &dispatcher, stopped.clone());
    let claiming = tokio::spawn(claimer::run(
        ctx.clone(),
        dispatcher.clone(),
        work,
        settings.poll_interval,
        stopped.clone(),
    ));

    let mut rx = stopped.clone();
    let signal = async move {
        let _ = rx.wait_for(|s| *s).await;
        Ok::<(), std::io::Error>(())
    };
    let leftovers = deliveries.leftovers();
    let worker = WorkerBuilder::new(format!("herald-{}", ulid::Ulid::generate()))
        .backend(deliveries)
        .concurrency(settings.concurrency.max(1))
        .layer(CatchPanicLayer::with_panic_handler(on_panic))
        .data(engine.clone())
        .build(handle)
        .run_until(signal);
    let mut rx = stopped.clone();
    let drain = settings.shutdown_timeout;
    let deadline = async move {
        let _ = rx.wait_for(|s| *s).await;
        tokio::time::sleep(drain).await;
    };
    let result = tokio::select! {
        result = worker => result.map_err(anyhow::Error::from),
        () = deadline => {
            tracing::warn!(
                seconds = drain.as_secs(),
                "deliveries still in flight at the shutdown deadline were cut off; they are tried again when their leases run out"
            );
            Ok(())
        }
    };
    dispatcher.close();
    let _ = claiming.await;
    if let Some(listening) = listening {
        listening.abort();
    }
    // Work claimed or handed over but never started goes back to the queue now, rather
    // than when its lease runs out.
    let unstarted = leftovers.take();
    if !unstarted.is_empty() {
        tracing::info!(
            count = unstarted.len(),
            "handing back deliveries that did not start"
        );
        let now = Utc::now();
        let settlements = unstarted
            .into_iter()
            .map(|claimed| delivery::Settlement::Postponed {
                destination: claimed.destination.id,
                tries: claimed.destination.attempt_count,
                at: now,
            })
            .collect::<Vec<_>>();
        if let Err(e) = delivery::settle(&ctx, settings.disable_after, &settlements).await {
            tracing::warn!(error = %e.chain(), "could not hand deliveries back; they are tried again when their leases run out");
        }
    }
    drop(engine);
    let _ = recording.await;
    result
}

/// The engine every way of delivering uses, with its recorder: the recording task ends
/// once the engine is dropped and everything it recorded is written.
fn engine(ctx: &Context, settings: &WorkerSettings) -> anyhow::Result<(Arc<Engine>, JoinHandle<()>)> {
    let sender = Sender::new(settings.policy.clone(), settings.concurrency)?
        .handing_over(own_inbox::OwnInboxes::new(ctx));
    let (recorder, recording) =
        recorder::start(ctx.clone(), settings.disable_after, 4 * settings.concurrency);
    let engine = Engine::new(ctx.clone(), settings.clone(), sender, recorder);
    Ok((Arc::new(engine), recording))
}

/// Claims what is due now (as much as `settings.concurrency` deliveries) and tries each
/// once with the worker's own engine; when it returns, every outcome is recorded. For
/// tests and tools that drive the queue themselves instead of running a worker
/// (crates.io's `run_pending_background_jobs`); retries it schedules are left for a later
/// call. Returns how many destinations it claimed.
pub async fn run_due(ctx: &Context, settings: &WorkerSettings) -> anyhow::Result<usize> {
    let slots = Arc::new(tokio::sync::Semaphore::new(settings.concurrency.max(1)));
    let claimed = delivery::claim::claim(ctx, slots.available_permits(), Utc::now()).await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let count = claimed.len();
    let (engine, recording) = engine(ctx, settings)?;
    let mut running = tokio::task::JoinSet::new();
    for claimed in claimed {
        let slot = Arc::clone(&slots).acquire_owned().await?;
        let engine = Arc::clone(&engine);
        running.spawn(async move { engine.run(Job::new(claimed, slot)).await });
    }
    while let Some(done) = running.join_next().await {
        done?;
    }
    drop(engine);
    recording.await?;
    Ok(count)
}

/// Challenges one worker sends at a time.
const CHALLENGES_AT_ONCE: u64 = 8;

/// Sends what verification challenges are due and records how each went; how many it
/// sent.
async fn challenge_due(ctx: &Context, engine: &Engine) -> domain::Result<usize> {
    let due = verification::take_due(ctx, CHALLENGES_AT_ONCE, Utc::now()).await?;
    let sent = due.len();
    let results = futures_util::future::join_all(due.iter().map(|c| engine.challenge(c))).await;
    for (challenge, failure) in due.iter().zip(results) {
        let state = verification::settle(ctx, challenge, failure.clone(), Utc::now()).await?;
        tracing::info!(
            tenant = %challenge.endpoint.tenant_id,
            endpoint = %challenge.endpoint.id,
            state = state.as_str(),
            reason = failure.as_deref().unwrap_or(""),
            "endpoint verification"
        );
    }
    Ok(sent)
}

/// Sends due verification challenges every `interval` (sooner while there are more),
/// until the stop signal.
async fn verification_loop(
    ctx: Context,
    engine: Arc<Engine>,
    interval: Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut wait = interval;
    loop {
        if tokio::time::timeout(wait, stopped.wait_for(|s| *s)).await.is_ok() {
            return;
        }
        wait = match challenge_due(&ctx, &engine).await {
            Ok(n) if n as u64 == CHALLENGES_AT_ONCE => Duration::ZERO,
            Ok(_) => interval,
            Err(e) => {
                tracing::error!(error = %e.chain(), "sending verification challenges failed; they are tried again later");
                interval
            }
        };
    }
}

/// Sends the verification challenges due now with the worker's own engine and records
/// them, for tests and tools that drive the queue themselves (see [`run_due`]); how many
/// it sent.
pub async fn run_due_challenges(ctx: &Context, settings: &WorkerSettings) -> anyhow::Result<usize> {
    let (engine, recording) = engine(ctx, settings)?;
    let sent = challenge_due(ctx, &engine).await?;
    drop(engine);
    recording.await?;
    Ok(sent)
}

/// The first retention sweep runs this long after start, then every `SWEEP_EVERY`.
const FIRST_SWEEP: Duration = Duration::from_secs(60);
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Erases expired payloads and response bodies now and then, until the stop signal.
/// Several workers may sweep at once; erasing is idempotent.
async fn retention_loop(
    ctx: Context,
    retention: chrono::Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut wait = FIRST_SWEEP;
    loop {
        if tokio::time::timeout(wait, stopped.wait_for(|s| *s)).await.is_ok() {
            return;
        }
        if let Err(e) = domain::service::retention::sweep(&ctx, retention, Utc::now()).await {
            tracing::error!(error = %e.chain(), "the retention sweep failed; it runs again later");
        }
        if let Err(e) = domain::service::session::purge_expired(&ctx, Utc::now()).await {
            tracing::error!(error = %e.chain(), "deleting expired dashboard sessions failed; it runs again later");
        }
        match domain::service::task::purge_finished(&ctx, Utc::now()).await {
            Ok(0) => {}
            Ok(gone) => tracing::info!(gone, "deleted background tasks finished over 90 days ago"),
            Err(e) => {
                tracing::error!(error = %e.chain(), "deleting old background tasks failed; it runs again later")
            }
        }
        wait = SWEEP_EVERY;
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn signalled() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
