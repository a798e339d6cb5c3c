//! How work reaches workers after its commit. In a process that runs a worker, accepted
//! deliveries the worker has free slots for are handed to it in memory (they were
//! written leased to it), and the rest wake its claimer; a new background task wakes its
//! task runner. A process without a worker (`herald api`) on PostgreSQL tells the workers
//! of other processes with `NOTIFY` (one channel for due work, one for tasks), which they
//! `LISTEN` for. On SQLite other processes have no such signal: their poll
//! finds the work.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use chrono::{DateTime, Utc};
use domain::{
    Context,
    db::Backend,
    dispatch::{Dispatch, Slots},
    service::delivery::Claimed,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError, mpsc, watch};

use crate::backend::{Job, Work};

/// The PostgreSQL channel on which new due work is announced.
const CHANNEL: &str = "herald_due";
/// The PostgreSQL channel on which new background tasks are announced.
const TASKS_CHANNEL: &str = "herald_tasks";

/// At most one `NOTIFY` per this long: announcements in between are one. Every
/// listening worker claims on each, so this trades a few milliseconds of latency for
/// far fewer claims that find little or nothing.
const ANNOUNCE_SPACING: Duration = Duration::from_millis(10);

/// This process's side of delivery: its worker's slots (none in a process without a
/// worker), the wake-up of its claimer, and the announcer for other processes.
#[derive(Clone)]
pub struct Dispatcher {
    shared: Arc<Shared>,
}

struct Shared {
    /// One permit per delivery this process's worker may have in flight.
    slots: Arc<Semaphore>,
    /// Where handed-over work goes; set while the worker runs.
    work: Mutex<Option<Work>>,
    /// Wakes the claimer.
    claimer: Notify,
    /// Wakes the background task runner.
    tasks: Notify,
    /// Tells other processes (PostgreSQL, processes without a worker only): due work,
    /// and new tasks.
    announcer: Option<Announcers>,
}

struct Announcers {
    due: mpsc::Sender<()>,
    tasks: mpsc::Sender<()>,
}

impl Dispatcher {
    /// For a process whose worker runs `slots` deliveries at once. Its claimer is woken
    /// in memory; nothing is announced to other processes.
    pub fn with_worker(slots: usize) -> Self {
        Self::new(slots, None)
    }

    /// For a process without a worker: announces new work to other processes' workers
    /// (`NOTIFY` on PostgreSQL; on SQLite their poll finds it).
    pub fn announcing(db: &DatabaseConnection, backend: Backend) -> Self {
        let announcer = match backend {
            Backend::Postgres => Some(Announcers {
                due: announce(db.clone(), CHANNEL),
                tasks: announce(db.clone(), TASKS_CHANNEL),
            }),
            Backend::Sqlite => None,
        };
        Self::new(0, announcer)
    }

    fn new(slots: usize, announcer: Option<Announcers>) -> Self {
        Self {
            shared: Arc::new(Shared {
                slots: Arc::new(Semaphore::new(slots)),
                work: Mutex::default(),
                claimer: Notify::new(),
                tasks: Notify::new(),
                announcer,
            }),
        }
    }

    fn work(&self) -> Option<Work> {
        self.shared
            .work
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The worker runs: hand work to `work` from now on.
    pub(crate) fn open(&self, work: Work) {
        *self.shared.work.lock().unwrap_or_else(PoisonError::into_inner) = Some(work);
    }

    /// The worker stops: no more slots, no more hand-overs.
    pub(crate) fn close(&self) {
        self.shared.slots.close();
        self.shared
            .work
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.shared.claimer.notify_one();
    }

    pub(crate) fn slots(&self) -> Arc<Semaphore> {
        self.shared.slots.clone()
    }

    /// Until work may be due: a wake-up (stored if nobody waits yet), or `within`.
    pub(crate) async fn woken(&self, within: Duration) {
        let _ = tokio::time::timeout(within, self.shared.claimer.notified()).await;
    }

    /// Until a background task may have been made: a wake-up (stored if nobody waits
    /// yet), or `within`.
    pub(crate) async fn tasks_woken(&self, within: Duration) {
        let _ = tokio::time::timeout(within, self.shared.tasks.notified()).await;
    }
}

impl Dispatch for Dispatcher {
    fn wake(&self, _at: DateTime<Utc>) {
        // The claimer reads the next due time itself; a retry due later sets its timer.
        self.shared.claimer.notify_one();
        if let Some(announcer) = &self.shared.announcer {
            // Full means an announcement is already on its way.
            let _ = announcer.due.try_send(());
        }
    }

    fn wake_tasks(&self) {
        self.shared.tasks.notify_one();
        if let Some(announcer) = &self.shared.announcer {
            let _ = announcer.tasks.try_send(());
        }
    }

    fn reserve(&self, wanted: usize) -> Option<Box<dyn Slots>> {
        let work = self.work()?;
        let mut count = wanted.min(self.shared.slots.available_permits());
        while count > 0 {
            match self
                .shared
                .slots
                .clone()
                .try_acquire_many_owned(u32::try_from(count).ok()?)
            {
                Ok(permit) => return Some(Box::new(Reserved { permit, work })),
                Err(TryAcquireError::NoPermits) => count -= 1,
                Err(TryAcquireError::Closed) => return None,
            }
        }
        None
    }
}

/// Slots held for a message being accepted in this process.
struct Reserved {
    permit: OwnedSemaphorePermit,
    work: Work,
}

impl Slots for Reserved {
    fn count(&self) -> usize {
        self.permit.num_permits()
    }

    fn fill(self: Box<Self>, work: Vec<Claimed>) {
        let Reserved { mut permit, work: to } = *self;
        for claimed in work {
            let Some(slot) = permit.split(1) else {
                tracing::error!(
                    "more deliveries handed over than slots reserved; the rest wait for their leases"
                );
                return;
            };
            to.send(Job::new(claimed, slot));
        }
    }
}

/// Sends `NOTIFY` on `channel` when asked, at most once per [`ANNOUNCE_SPACING`]; stops
/// when every sender is gone.
fn announce(db: DatabaseConnection, channel: &'static str) -> mpsc::Sender<()> {
    let (tx, mut rx) = mpsc::channel::<()>(1);
    tokio::spawn(async move {
        let notify = Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("SELECT pg_notify('{channel}', '')"),
        );
        while rx.recv().await.is_some() {
            if let Err(e) = db.execute_raw(notify.clone()).await {
                tracing::warn!(error = %e, channel, "could not announce new work; workers find it on their next poll");
            }
            tokio::time::sleep(ANNOUNCE_SPACING).await;
        }
    });
    tx
}

/// On PostgreSQL, wakes `dispatcher`'s claimer whenever another process announces due
/// work, and its task runner when one announces a task, until `stopped`. On SQLite there
/// is nothing to listen to.
pub(crate) fn listen(
    ctx: &Context,
    dispatcher: &Dispatcher,
    mut stopped: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    if ctx.backend != Backend::Postgres {
        return None;
    }
    let pool = ctx.db.get_postgres_connection_pool().clone();
    let dispatcher = dispatcher.clone();
    Some(tokio::spawn(async move {
        let mut listener = None;
        loop {
            let Some(active) = listener.as_mut() else {
                match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(mut new) => match new.listen_all([CHANNEL, TASKS_CHANNEL]).await {
                        Ok(()) => {
                            listener = Some(new);
                            // Anything announced while nobody listened is due now.
                            dispatcher.shared.claimer.notify_one();
                            dispatcher.shared.tasks.notify_one();
                        }
                        Err(e) => tracing::warn!(error = %e, "could not listen for due deliveries"),
                    },
                    Err(e) => tracing::warn!(error = %e, "could not listen for due deliveries"),
                }
                if listener.is_none()
                    && tokio::time::timeout(Duration::from_secs(1), stopped.wait_for(|s| *s))
                        .await
                        .is_ok()
                {
                    return;
                }
                continue;
            };
            tokio::select! {
                received = active.try_recv() => match received {
                    Ok(Some(notice)) if notice.channel() == TASKS_CHANNEL => dispatcher.shared.tasks.notify_one(),
                    Ok(Some(_)) => dispatcher.shared.claimer.notify_one(),
                    // The connection dropped: listen again on a new one.
                    Ok(None) => listener = None,
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the wake-up channel; listening again");
                        listener = None;
                    }
                },
                _ = stopped.wait_for(|s| *s) => return,
            }
        }
    }))
}
