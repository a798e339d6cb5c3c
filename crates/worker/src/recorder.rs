//! The recorder writes settlements in batches: a delivery hands over its settlement and
//! waits; whatever arrives while a batch is being written goes into the next one, so a
//! busy worker writes many outcomes per transaction and an idle one writes each at once.

use domain::{
    Context,
    service::delivery::{self, Settlement},
};
use tokio::sync::{mpsc, oneshot};

/// At most this many settlements per transaction.
const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<Settled, String>>;

/// What became of one settlement.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settled {
    /// It moved its destination (a stale one changed nothing).
    pub(crate) moved: bool,
}

#[derive(Clone)]
pub(crate) struct Recorder {
    tx: mpsc::UnboundedSender<(Settlement, Reply)>,
}

impl Recorder {
    /// Records `settlement` with others; resolves once it is committed (or failed).
    pub(crate) async fn record(&self, settlement: Settlement) -> Result<Settled, String> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((settlement, reply))
            .map_err(|_| "the recorder has stopped".to_owned())?;
        answer.await.map_err(|_| "the recorder has stopped".to_owned())?
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

/// Starts the recorder; it ends once every [`Recorder`] is dropped and its work written.
pub(crate) fn start(
    ctx: Context,
    disable_after: chrono::Duration,
) -> (Recorder, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Settlement, Reply)>();
    let task = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut replies = Vec::with_capacity(MAX_BATCH);
        while let Some((first, reply)) = rx.recv().await {
            batch.push(first);
            replies.push(reply);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok((settlement, reply)) => {
                        batch.push(settlement);
                        replies.push(reply);
                    }
                    Err(_) => break,
                }
            }
            match delivery::settle(&ctx, disable_after, &batch).await {
                Ok(report) => {
                    announce(&ctx, &report);
                    for (reply, moved) in replies.drain(..).zip(report.moved) {
                        let _ = reply.send(Ok(Settled { moved }));
                    }
                }
                Err(e) if batch.len() > 1 => {
                    // One bad settlement must not cost the others their record: write
                    // each alone.
                    tracing::warn!(error = %e, count = batch.len(), "recording a batch failed; recording one by one");
                    for (settlement, reply) in batch.iter().zip(replies.drain(..)) {
                        let alone =
                            delivery::settle(&ctx, disable_after, std::slice::from_ref(settlement)).await;
                        let _ = reply.send(match alone {
                            Ok(report) => {
                                announce(&ctx, &report);
                                Ok(Settled {
                                    moved: report.moved.first().copied().unwrap_or(false),
                                })
                            }
                            Err(e) => Err(e.to_string()),
                        });
                    }
                }
                Err(e) => {
                    for reply in replies.drain(..) {
                        let _ = reply.send(Err(e.to_string()));
                    }
                }
            }
            batch.clear();
        }
    });
    (Recorder { tx }, task)
}
