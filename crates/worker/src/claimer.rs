//! The claimer: takes due destinations from the database, as many as the worker has free
//! slots for, in one statement, and passes them to the worker as slots come free. It sleeps while nothing is
//! due, until a wake-up, the next due time (a retry's, or a lease's end), or the poll
//! interval, whichever comes first.

use std::time::Duration;

use chrono::Utc;
use domain::{Context, service::delivery::claim};
use tokio::sync::watch;

use crate::{
    backend::{Job, Work},
    dispatcher::Dispatcher,
};

/// At most this many destinations per claim.
const MAX_BATCH: usize = 256;
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
        // Wait for room, but do not hold it while claiming: work accepted meanwhile in
        // this process goes straight to the worker, and must not find the slots taken.
        let least = if backlog {
            (total / BACKLOG_SHARE).max(1)
        } else {
            1
        };
        tokio::select! {
            room = slots.acquire_many(least) => match room {
                Ok(room) => drop(room),
                Err(_) => return, // closed: the worker stops
            },
            _ = stopped.wait_for(|s| *s) => return,
        }
        let wanted = slots.available_permits().clamp(1, MAX_BATCH);
        let now = Utc::now();
        let claimed = match claim::claim(&ctx, wanted, now).await {
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
            // Slots are handed out in the order they were asked for: what was claimed
            // waits its turn behind nothing that came later.
            let Ok(slot) = slots.clone().acquire_owned().await else {
                // The worker stopped: the rest of the claim goes back at once.
                work.send_unslotted(claimed);
                continue;
            };
            work.send(Job::new(claimed, slot));
        }
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
