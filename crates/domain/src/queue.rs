//! The delivery job queue, as the domain sees it: jobs go in inside the caller's
//! transaction, so a message and the work it causes commit (or vanish) together. The
//! worker crate implements it over apalis' tables.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;
use serde::{Deserialize, Serialize};

use crate::{
    Result,
    id::{DestinationId, TenantId},
};

/// Why a delivery try happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A try of the retry schedule (the first one included).
    Scheduled,
    /// A resend asked for by a person or the API: one try, no retries.
    Manual,
}

/// One delivery try of one destination. Ids only: the worker loads the rest fresh.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryJob {
    pub tenant: TenantId,
    pub destination: DestinationId,
    pub trigger: Trigger,
    /// The try this job is for (1 for the first); a stale job finds the destination
    /// already past it and does nothing.
    pub attempt: i32,
    #[serde(skip)]
    pub run_at: Option<DateTime<Utc>>,
}

#[async_trait::async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// Adds `jobs` inside `txn`.
    async fn enqueue(&self, txn: &DatabaseTransaction, jobs: &[DeliveryJob]) -> Result<()>;

    /// How much due work waits, for the metrics.
    async fn stats(&self, _db: &sea_orm::DatabaseConnection) -> Result<QueueStats> {
        Ok(QueueStats::default())
    }
}

/// Due, unclaimed delivery jobs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct QueueStats {
    pub depth: i64,
    /// Age of the oldest one in seconds (0 when there is none).
    pub oldest_due_seconds: f64,
}

/// A queue that keeps nothing: for processes that never accept messages (the CLI).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoQueue;

#[async_trait::async_trait]
impl JobQueue for NoQueue {
    async fn enqueue(&self, _: &DatabaseTransaction, jobs: &[DeliveryJob]) -> Result<()> {
        if jobs.is_empty() {
            Ok(())
        } else {
            Err(crate::Error::internal(
                "queueing deliveries",
                "this process has no job queue",
            ))
        }
    }
}

pub type SharedQueue = Arc<dyn JobQueue>;
