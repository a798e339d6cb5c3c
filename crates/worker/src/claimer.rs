//! The claimer: takes due destinations from the database in batches and passes them to
//! the worker as its slots come free. Claiming runs ahead of sending by up to one
//! worker's worth of deliveries (a buffer as deep as the worker's slots), so that a
//! backlog never leaves slots idle while the next claim is on its way. It sleeps while
//! nothing is due, until a wake-up, the next due time (a retry's, or a lease's end), or
//! the poll interval, whichever comes first.

use std::time::Duration;

use chrono::Utc;
use domain::{
    Context,
    dispatch::Dispatch,
    service::delivery::{Claimed, claim, lane},
};
use tokio::sync::{mpsc, watch};

use crate::{
    backend::{Job, Work},
    dispatcher::Dispatcher,
};

/// At most this many destinations per claim.
const MAX_BATCH: usize = 256;
/// Once the buffer has run low, the next claim waits until at least this share of it is
/// free, so that a backlog is taken in batches rather than one by one.
const REFILL_SHARE: usize = 4;
/// After a failed claim (the database is away), this long before the next.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(1);
/// How often parked deliveries that should not be are woken (see `lane::sweep`).
const SWEEP_EVERY: Duration = Duration::from_secs(1);

pub(crate) async fn run(
    ctx: Context,
    dispatcher: Dispatcher,
    work: Work,
    poll: Duration,
    stopped: watch::Receiver<bool>,
) {
    let slots = dispatcher.slots();
    let depth = slots.available_permits().max(1);
    let (buffer, buffered) = mpsc::channel::<Claimed>(depth);
    let feeding = tokio::spawn(feed(buffered, dispatcher.clone(), work.clone(), stopped.clone()));
    let sweeping = tokio::spawn(sweep(ctx.clone(), dispatcher.clone(), stopped.clone()));
    claim_into(&ctx, &dispatcher, &buffer, depth, poll, stopped).await;
    drop(buffer);
    let _ = feeding.await;
    let _ = sweeping.await;
}

/// Every [`SWEEP_EVERY`] until `stopped`, wakes line heads left parked.
async fn sweep(ctx: Context, dispatcher: Dispatcher, mut stopped: watch::Receiver<bool>) {
    loop {
        if tokio::time::timeout(SWEEP_EVERY, stopped.wait_for(|s| *s))
            .await
            .is_ok()
        {
            return;
        }
        match lane::sweep(&ctx, Utc::now()).await {
            Ok(0) => {}
            Ok(_) => dispatcher.wake(Utc::now()),
            Err(e) => tracing::warn!(error = %e.chain(), "could not wake parked deliveries"),
        }
    }
}

/// Claims into `buffer` whenever it has room, until `stopped`.
async fn claim_into(
    ctx: &Context,
    dispatcher: &Dispatcher,
    buffer: &mpsc::Sender<Claimed>,
    depth: usize,
    poll: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut backlog = false;
    loop {
        let least = if backlog { (depth / REFILL_SHARE).max(1) } else { 1 };
        // Room for `least` more, without holding it: only this task fills the buffer.
        let room = tokio::select! {
            room = buffer.reserve_many(least) => match room {
                Ok(room) => room,
                Err(_) => return,
            },
            _ = stopped.wait_for(|s| *s) => return,
        };
        drop(room);
        let wanted = buffer.capacity().clamp(1, MAX_BATCH);
        let now = Utc::now();
        let claimed = match claim::claim(ctx, wanted, now).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::error!(error = %e.chain(), "claiming due deliveries failed; trying again shortly");
                if tokio::time::timeout(RETRY_AFTER_ERROR, stopped.wait_for(|s| *s))
                    .await
                    .is_ok()
                {
                    return;
                }
                continue;
            }
        };
        let got = claimed.len();
        for claimed in claimed {
            // Never waits: no more was claimed than there was room for.
            if buffer.send(claimed).await.is_err() {
                return;
            }
        }
        backlog = got == wanted;
        if backlog {
            continue;
        }
        // Less was due than there was room for: sleep until more may be.
        let wait = match claim::next_due(ctx).await {
            Ok(Some(at)) if at > now => (at - Utc::now())
                .to_std()
                .map_or(Duration::ZERO, |d| d + Duration::from_millis(1))
                .min(poll),
            // Due already, but held by another worker's claim a moment ago: look again soon.
            Ok(Some(_)) if got == 0 => Duration::from_millis(5).min(poll),
            Ok(Some(_)) => Duration::ZERO,
            Ok(None) => poll,
            Err(e) => {
                tracing::warn!(error = %e.chain(), "could not read the next due time");
                poll
            }
        };
        if !wait.is_zero() {
            tokio::select! {
                () = dispatcher.woken(wait) => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
        }
    }
}

/// Passes claimed work to the worker as slots come free. Slots are handed out in the
/// order they were asked for, so claimed work waits its turn behind nothing that came
/// later. When the worker stops, what is still buffered goes back to the queue.
async fn feed(
    mut buffered: mpsc::Receiver<Claimed>,
    dispatcher: Dispatcher,
    work: Work,
    mut stopped: watch::Receiver<bool>,
) {
    let slots = dispatcher.slots();
    loop {
        let claimed = tokio::select! {
            next = buffered.recv() => match next {
                Some(claimed) => claimed,
                None => return,
            },
            _ = stopped.wait_for(|s| *s) => break,
        };
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.ok(),
            _ = stopped.wait_for(|s| *s) => None,
        };
        match slot {
            Some(slot) => work.send(Job::new(claimed, slot)),
            None => {
                work.send_unslotted(claimed);
                break;
            }
        }
    }
    buffered.close();
    while let Some(claimed) = buffered.recv().await {
        work.send_unslotted(claimed);
    }
}
