//! The recorder writes settlements in batches. A delivery hands its settlement over and
//! is done: its slot is free for the next send while the outcome is written. Whatever
//! arrives while a batch is being written goes into the next, so a busy worker writes
//! many outcomes per transaction and an idle one writes each at once. On PostgreSQL two
//! batches may be in flight at once (their rows are distinct), so one waiting for its
//! commit does not hold up the next.
//!
//! Until its settlement commits, a destination stays leased to this worker: if the
//! write fails, or the process dies first, the destination is tried again when the lease
//! runs out (at least once, never lost).

use domain::{
    Context,
    db::Backend,
    service::delivery::{self, Settlement},
};
use tokio::{sync::mpsc, task::JoinSet};

/// At most this many settlements per transaction.
const MAX_BATCH: usize = 256;

#[derive(Clone)]
pub(crate) struct Recorder {
    tx: mpsc::Sender<Settlement>,
}

impl Recorder {
    /// Queues `settlement` for the next batch; waits only while `backlog` settlements are
    /// already waiting (the database is slower than the deliveries).
    pub(crate) async fn record(&self, settlement: Settlement) {
        if self.tx.send(settlement).await.is_err() {
            tracing::error!("the recorder has stopped; the delivery is tried again when its lease runs out");
        }
    }
}

/// Starts the recorder; it ends once every [`Recorder`] is dropped and all it was given
/// is written.
pub(crate) fn start(
    ctx: Context,
    disable_after: chrono::Duration,
    backlog: usize,
) -> (Recorder, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Settlement>(backlog.max(MAX_BATCH));
    let parallel = match ctx.backend {
        Backend::Postgres => 2,
        Backend::Sqlite => 1,
    };
    let task = tokio::spawn(async move {
        let mut writing = JoinSet::new();
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
                break;
            }
            while writing.len() >= parallel {
                let _ = writing.join_next().await;
            }
            let ctx = ctx.clone();
            let settlements = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH));
            writing.spawn(async move { write(&ctx, disable_after, settlements).await });
        }
        while writing.join_next().await.is_some() {}
    });
    (Recorder { tx }, task)
}

/// Writes one batch; if it fails, each settlement alone, so that one bad settlement does
/// not cost the others their record.
async fn write(ctx: &Context, disable_after: chrono::Duration, batch: Vec<Settlement>) {
    let failed = match delivery::settle(ctx, disable_after, &batch).await {
        Ok(report) => {
            announce(ctx, &report);
            return;
        }
        Err(e) => e,
    };
    if batch.len() == 1 {
        tracing::error!(error = %failed.chain(), "recording a delivery failed; it is tried again when its lease runs out");
        return;
    }
    tracing::warn!(error = %failed.chain(), count = batch.len(), "recording a batch failed; recording one by one");
    for settlement in &batch {
        match delivery::settle(ctx, disable_after, std::slice::from_ref(settlement)).await {
            Ok(report) => announce(ctx, &report),
            Err(e) => {
                tracing::error!(error = %e.chain(), "recording a delivery failed; it is tried again when its lease runs out");
            }
        }
    }
}

/// Wakes the workers for what a batch made due: operational events, and the batch's
/// earliest retry.
fn announce(ctx: &Context, report: &delivery::Report) {
    if report.queued {
        ctx.dispatch.wake(chrono::Utc::now());
    }
    if let Some(at) = report.next_due {
        ctx.dispatch.wake(at);
    }
}
