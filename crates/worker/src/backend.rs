//! The apalis backend over Herald's own queue: a channel of leased destinations, fed by
//! the [claimer](crate::claimer) and by work accepted in this process. apalis pulls a
//! task only when the worker has room for it; each task carries one of the process's
//! delivery slots, so what is leased never outruns what can be sent.

use std::{
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
};

use apalis::prelude::{Backend, Identity, RandomId, Task, WorkerContext};
use apalis_core::backend::{BackendConfig, finalize::Ephemeral};
use domain::service::delivery::Claimed;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

/// One leased destination to try, holding one delivery slot until it is settled.
pub(crate) struct Job {
    pub(crate) claimed: Claimed,
    pub(crate) slot: OwnedSemaphorePermit,
}

impl Job {
    pub(crate) fn new(claimed: Claimed, slot: OwnedSemaphorePermit) -> Self {
        Self { claimed, slot }
    }
}

/// Leased work that never reached a delivery: the worker hands it back when it stops.
#[derive(Clone, Default)]
pub(crate) struct Leftovers(Arc<Mutex<Vec<Claimed>>>);

impl Leftovers {
    fn keep(&self, work: impl IntoIterator<Item = Claimed>) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend(work);
    }

    pub(crate) fn take(&self) -> Vec<Claimed> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The sending end: what cannot be delivered any more (the worker stopped) is kept as a
/// leftover.
#[derive(Clone)]
pub(crate) struct Work {
    tx: mpsc::UnboundedSender<Job>,
    leftovers: Leftovers,
}

impl Work {
    pub(crate) fn send(&self, job: Job) {
        if let Err(mpsc::error::SendError(job)) = self.tx.send(job) {
            self.leftovers.keep([job.claimed]);
        }
    }

    /// Leased work for which no slot will come free: the worker is stopping.
    pub(crate) fn send_unslotted(&self, claimed: Claimed) {
        self.leftovers.keep([claimed]);
    }
}

/// The apalis backend: yields the jobs sent through [`Work`].
pub(crate) struct Deliveries {
    rx: mpsc::UnboundedReceiver<Job>,
    leftovers: Leftovers,
}

pub(crate) fn channel() -> (Work, Deliveries) {
    let (tx, rx) = mpsc::unbounded_channel();
    let leftovers = Leftovers::default();
    (
        Work {
            tx,
            leftovers: leftovers.clone(),
        },
        Deliveries { rx, leftovers },
    )
}

impl Deliveries {
    pub(crate) fn leftovers(&self) -> Leftovers {
        self.leftovers.clone()
    }

    /// Stops taking work; what waits in the channel becomes a leftover.
    fn close(&mut self) {
        self.rx.close();
        let mut waiting = Vec::new();
        while let Ok(job) = self.rx.try_recv() {
            waiting.push(job.claimed);
        }
        self.leftovers.keep(waiting);
    }
}

impl Drop for Deliveries {
    fn drop(&mut self) {
        self.close();
    }
}

/// Never happens: the channel cannot fail. apalis wants an error type all the same.
#[derive(Debug, thiserror::Error)]
#[error("the delivery channel failed")]
pub(crate) struct NoError;

impl Backend for Deliveries {
    type Task = Task<Job>;
    type Error = NoError;

    fn poll_ready(&mut self, _: &mut Context<'_>, _: &WorkerContext) -> Poll<Result<(), NoError>> {
        Poll::Ready(Ok(()))
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        _: &WorkerContext,
    ) -> Poll<Option<Result<Task<Job>, NoError>>> {
        self.rx.poll_recv(cx).map(|job| job.map(|job| Ok(Task::new(job))))
    }

    fn poll_close(&mut self, _: &mut Context<'_>, _: &WorkerContext) -> Poll<Result<(), NoError>> {
        self.close();
        Poll::Ready(Ok(()))
    }
}

impl BackendConfig for Deliveries {
    type Args = Job;
    type Id = RandomId;
    type Kind = Ephemeral;
    type Config = ();
    type Layer = Identity;

    fn config(&self) -> &() {
        &()
    }

    fn middleware(&mut self, _: &mut WorkerContext) -> Identity {
        Identity::new()
    }
}
