//! The claimer: takes due destinations from the database, as many as the worker has free
//! slots for, in one statement, and passes them to the worker. It sleeps while nothing is
//! due, until a wake-up, the next due time (a retry's, or a lease's end), or the poll
//! interval, whichever comes first.

use std::time::Duration;

use chrono::Utc;
use domain::{Context, service::delivery::claim};
use tokio::sync::{OwnedSemaphorePermit, watch};

use crate::{
    backend::{Job, Work},
    dispatcher::Dispatcher,
};

/// At most this many destinations per claim.
const MAX_BATCH: u32 = 256;
/// After a claim that filled every free slot, the next one waits for this share of the
/// slots to be free, so that a backlog is taken in batches rather than one by one.
const BACKLOG_SHARE: u32 = 4;
/// After a failed claim (the database is away), this long before the next.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(1);

pub(crate) async fn run(
    ctx: Context,
    dispatcher: Dispatcher,
    work: Work,
    poll: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let slots = dispatcher.slots();
    let total = u32::try_from(slots.available_permits())
        .unwrap_or(u32::MAX)
        .max(1);
    let mut backlog = false;
    loop {
        let least = if backlog {
            (total / BACKLOG_SHARE).max(1)
        } else {
            1
        };
        let mut held: OwnedSemaphorePermit = tokio::select! {
            permit = slots.clone().acquire_many_owned(least) => match permit {
                Ok(permit) => permit,
                Err(_) => return, // closed: the worker stops
            },
            _ = stopped.wait_for(|s| *s) => return,
        };
        let more = u32::try_from(slots.available_permits())
            .unwrap_or(0)
            .min(MAX_BATCH.saturating_sub(least));
        if more > 0
            && let Ok(extra) = slots.clone().try_acquire_many_owned(more)
        {
            held.merge(extra);
        }
        let wanted = held.num_permits();
        let now = Utc::now();
        let claimed = match claim::claim(&ctx, wanted, now).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::error!(error = %e, "claiming due deliveries failed; trying again shortly");
                drop(held);
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
            let Some(slot) = held.split(1) else { break };
            work.send(Job::new(claimed, slot));
        }
        drop(held);
        backlog = got == wanted;
        if backlog {
            continue;
        }
        // Less was due than there was room for: sleep until more may be.
        let wait = match claim::next_due(&ctx).await {
            Ok(Some(at)) if at > now => (at - Utc::now())
                .to_std()
                .map_or(Duration::ZERO, |d| d + Duration::from_millis(1))
                .min(poll),
            // Due already, but held by another worker's claim a moment ago: look again soon.
            Ok(Some(_)) if got == 0 => Duration::from_millis(5).min(poll),
            Ok(Some(_)) => Duration::ZERO,
            Ok(None) => poll,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the next due time");
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
