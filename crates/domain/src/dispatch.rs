//! How the domain tells delivery workers about work, as the domain sees it. The work
//! itself is always durable first: a destination row, due at its `next_attempt_at`. What
//! goes through here comes after the commit and only saves time: a wake-up for the
//! workers that would otherwise find the work on their next look, or, in a process that
//! runs a worker itself, the accepted deliveries handed straight to it. The worker crate
//! implements it.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::service::delivery::Claimed;

/// Where committed work is announced.
pub trait Dispatch: Send + Sync + 'static {
    /// Deliveries became due at `at` (now, or later for a retry): a worker should look.
    /// Called after the commit that made them due; it must not block.
    fn wake(&self, at: DateTime<Utc>);

    /// A background task was made: a task runner should look. Called after the commit
    /// that made it; it must not block.
    fn wake_tasks(&self) {}

    /// Up to `wanted` free delivery slots of a worker in this process, for destinations
    /// about to be written already leased to it (see [`Slots`]). `None` when this process
    /// runs no worker or its worker is busy: the destinations are then written pending.
    fn reserve(&self, wanted: usize) -> Option<Box<dyn Slots>> {
        let _ = wanted;
        None
    }
}

/// Delivery slots held for a transaction that is writing leased destinations. Dropped
/// unfilled (the transaction failed), the slots are free again.
pub trait Slots: Send {
    /// How many destinations may be written leased.
    fn count(&self) -> usize;

    /// After the commit: the leased destinations, to deliver now.
    fn fill(self: Box<Self>, work: Vec<Claimed>);
}

/// For processes that run no worker and have nobody to tell (the CLI): the work waits
/// for a worker's next look.
#[derive(Clone, Copy, Debug, Default)]
pub struct Quiet;

impl Dispatch for Quiet {
    fn wake(&self, _at: DateTime<Utc>) {}
}

pub type SharedDispatch = Arc<dyn Dispatch>;
