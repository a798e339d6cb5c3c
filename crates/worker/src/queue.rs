//! The job queue over apalis' own tables, in Herald's database. Jobs are written with
//! plain SQL inside the caller's sea-orm transaction (sea-orm does not hand out its sqlx
//! transaction), matching apalis' `push_tasks` column for column; the tests in
//! `tests/it/delivery.rs` prove apalis picks them up on both databases.

use chrono::Utc;
use domain::{
    DbContext, Result,
    db::Backend,
    queue::{DeliveryJob, JobQueue, QueueStats},
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement, Value};

/// The apalis queue (its `job_type` column) Herald's deliveries use.
pub const QUEUE: &str = "herald.deliver";
/// apalis retries a job whose handler failed (not a failed delivery: those are Herald's
/// own retries) this many times in all.
const MAX_ATTEMPTS: i32 = 5;

/// Creates apalis' tables (SQLite) or schema (PostgreSQL) if missing.
pub async fn setup(db: &DatabaseConnection, backend: Backend) -> Result<()> {
    match backend {
        Backend::Sqlite => apalis_sqlite::SqliteStorage::setup(db.get_sqlite_connection_pool())
            .await
            .map_err(|e| domain::Error::internal("setting up the job queue", e)),
        Backend::Postgres => apalis_postgres::PostgresStorage::setup(db.get_postgres_connection_pool())
            .await
            .map_err(|e| domain::Error::internal("setting up the job queue", e)),
    }
}

/// [`JobQueue`] over apalis' tables.
#[derive(Clone, Copy, Debug)]
pub struct SqlQueue {
    backend: Backend,
}

impl SqlQueue {
    pub fn new(backend: Backend) -> Self {
        Self { backend }
    }

    fn statement(&self, job: &DeliveryJob) -> Result<Statement> {
        let args = serde_json::to_vec(job).map_err(|e| domain::Error::internal("encoding a job", e))?;
        let id = ulid::Ulid::generate().to_string();
        // apalis schedules by whole seconds: round up, so no try runs early.
        let at = job.run_at.unwrap_or_else(Utc::now);
        let run_at = at.timestamp() + i64::from(job.run_at.is_some() && at.timestamp_subsec_nanos() > 0);
        Ok(match self.backend {
            Backend::Sqlite => Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "INSERT INTO Jobs VALUES (?, ?, ?, 'Pending', 0, ?, ?, NULL, NULL, NULL, NULL, 0, '{}', NULL)",
                [
                    Value::Bytes(Some(args)),
                    id.into(),
                    QUEUE.into(),
                    i64::from(MAX_ATTEMPTS).into(),
                    run_at.into(),
                ],
            ),
            Backend::Postgres => Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, metadata) \
                 VALUES ($1, $2, $3, 'Pending', 0, $4, to_timestamp($5), 0, ''::hstore)",
                [
                    id.into(),
                    QUEUE.into(),
                    Value::Bytes(Some(args)),
                    MAX_ATTEMPTS.into(),
                    (run_at as f64).into(),
                ],
            ),
        })
    }
}

#[async_trait::async_trait]
impl JobQueue for SqlQueue {
    async fn enqueue(&self, txn: &DatabaseTransaction, jobs: &[DeliveryJob]) -> Result<()> {
        for job in jobs {
            txn.execute_raw(self.statement(job)?)
                .await
                .context("queueing a delivery")?;
        }
        Ok(())
    }

    async fn stats(&self, db: &DatabaseConnection) -> Result<QueueStats> {
        let statement = match self.backend {
            Backend::Sqlite => Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "SELECT COUNT(*) AS depth, \
                 CAST(COALESCE(unixepoch('now') - MIN(run_at), 0) AS REAL) AS oldest \
                 FROM Jobs WHERE job_type = ? AND status = 'Pending' AND run_at <= unixepoch('now')",
                [QUEUE.into()],
            ),
            Backend::Postgres => Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT COUNT(*) AS depth, \
                 COALESCE(EXTRACT(EPOCH FROM now() - MIN(run_at)), 0)::float8 AS oldest \
                 FROM apalis.jobs WHERE job_type = $1 AND status = 'Pending' AND run_at <= now()",
                [QUEUE.into()],
            ),
        };
        let row = db
            .query_one_raw(statement)
            .await
            .context("measuring the job queue")?;
        let Some(row) = row else {
            return Ok(QueueStats::default());
        };
        Ok(QueueStats {
            depth: row.try_get("", "depth").context("reading the queue depth")?,
            oldest_due_seconds: row
                .try_get::<f64>("", "oldest")
                .context("reading the oldest job's age")?
                .max(0.0),
        })
    }
}
