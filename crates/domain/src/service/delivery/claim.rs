//! The delivery queue over destination rows. A destination is due when it is `pending`
//! and its `next_attempt_at` has come, or `sending` and its worker's lease (kept in the
//! same column) has run out. A claim takes up to N due destinations in due order with one
//! statement, leases them (`sending`, `next_attempt_at` = the lease's end) and returns
//! them with their messages; on PostgreSQL `FOR UPDATE SKIP LOCKED` lets any number of
//! workers claim at once without waiting for each other or taking the same row.
//!
//! These statements cross tenants on purpose: the queue is the whole database's. Each
//! claimed row carries its tenant, and everything done with it afterwards is scoped.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, QueryResult, Statement, Value};

use super::Claimed;
use crate::{
    Context, DbContext, Result,
    db::{Backend, aliased},
    entity::{destination, message},
    id::DestinationId,
};

/// How long a claim holds a destination before another worker may take it. A worker
/// renews the leases of deliveries still in flight (a slow endpoint may take up to a
/// minute), so this only bounds how long a crashed worker's work waits.
pub const LEASE: Duration = Duration::seconds(30);

pub(super) fn claimed_from(row: &QueryResult) -> Result<Claimed> {
    Ok(Claimed {
        destination: destination::Model::from_query_result(row, "d_")
            .context("reading a claimed destination")?,
        message: message::Model::from_query_result(row, "m_").context("reading a claimed message")?,
        send_at: None,
    })
}

/// Claims up to `limit` due destinations for `LEASE`: those of endpoints without a rate
/// or a line, oldest due first, then the turns of those with one (see [`super::lane`]).
pub async fn claim(ctx: &Context, limit: usize, now: DateTime<Utc>) -> Result<Vec<Claimed>> {
    let mut claimed = claim_free(ctx, limit, now).await?;
    let more = super::lane::claim(ctx, limit - claimed.len(), now).await?;
    claimed.extend(more);
    Ok(claimed)
}

async fn claim_free(ctx: &Context, limit: usize, now: DateTime<Utc>) -> Result<Vec<Claimed>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let until = now + LEASE;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    match ctx.backend {
        Backend::Postgres => {
            let sql = format!(
                "WITH due AS ( \
                     SELECT id FROM destination \
                     WHERE status IN ('pending', 'sending') AND next_attempt_at <= $1 AND NOT paced \
                     ORDER BY next_attempt_at LIMIT $2 \
                     FOR UPDATE SKIP LOCKED \
                 ), claimed AS ( \
                     UPDATE destination SET status = 'sending', next_attempt_at = $3, updated_at = $1 \
                     FROM due WHERE destination.id = due.id \
                     RETURNING destination.* \
                 ) \
                 SELECT {}, {} FROM claimed AS destination JOIN message ON message.id = destination.message_id",
                aliased::<destination::Column>("destination", "d_"),
                aliased::<message::Column>("message", "m_"),
            );
            let rows = ctx
                .db
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    sql,
                    [now.into(), limit.into(), until.into()],
                ))
                .await
                .context("claiming due deliveries")?;
            rows.iter().map(claimed_from).collect()
        }
        Backend::Sqlite => {
            // One short write transaction: lease, then read the messages of what it got.
            let txn = crate::db::begin_write(ctx).await?;
            let leased = txn
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "UPDATE destination SET status = 'sending', next_attempt_at = ?, updated_at = ? \
                     WHERE id IN ( \
                         SELECT id FROM destination \
                         WHERE status IN ('pending', 'sending') AND next_attempt_at <= ? AND NOT paced \
                         ORDER BY next_attempt_at LIMIT ?) \
                     RETURNING id",
                    [until.into(), now.into(), now.into(), limit.into()],
                ))
                .await
                .context("claiming due deliveries")?;
            let ids = leased
                .iter()
                .map(|row| row.try_get::<String>("", "id"))
                .collect::<std::result::Result<Vec<_>, _>>()
                .context("reading claimed ids")?;
            if ids.is_empty() {
                txn.rollback().await.context("ending an empty claim")?;
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT {}, {} FROM destination JOIN message ON message.id = destination.message_id \
                 WHERE {}",
                aliased::<destination::Column>("destination", "d_"),
                aliased::<message::Column>("message", "m_"),
                in_id_list(Backend::Sqlite, "destination.id", "?"),
            );
            let rows = txn
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    sql,
                    [id_list(Backend::Sqlite, &ids)],
                ))
                .await
                .context("loading claimed deliveries")?;
            txn.commit().await.context("committing a claim")?;
            rows.iter().map(claimed_from).collect()
        }
    }
}

/// Ids bound as one parameter, whatever their number, so that one statement text serves
/// every batch: a PostgreSQL array, a JSON array on SQLite. Ids are letters, digits and
/// `_`, so neither form needs escaping beyond the quotes.
pub(crate) fn id_list<S: AsRef<str>>(backend: Backend, ids: &[S]) -> Value {
    let quoted: Vec<String> = ids.iter().map(|id| format!("\"{}\"", id.as_ref())).collect();
    match backend {
        Backend::Postgres => format!("{{{}}}", quoted.join(",")).into(),
        Backend::Sqlite => format!("[{}]", quoted.join(",")).into(),
    }
}

/// `column` is one of the ids of an [`id_list`] bound at `placeholder`. On PostgreSQL an
/// array the planner can see into: it then looks each up by key, where from a JSON
/// argument (of unknown length) it may choose to scan the table.
pub(crate) fn in_id_list(backend: Backend, column: &str, placeholder: &str) -> String {
    match backend {
        Backend::Postgres => format!("{column} = ANY(CAST({placeholder} AS text[]))"),
        Backend::Sqlite => format!("{column} IN (SELECT value FROM json_each({placeholder}))"),
    }
}

/// When the next destination comes due (a lease running out included), if any.
pub async fn next_due(ctx: &Context) -> Result<Option<DateTime<Utc>>> {
    let row = ctx
        .db
        .query_one_raw(Statement::from_string(
            ctx.db.get_database_backend(),
            "SELECT MIN(next_attempt_at) AS at FROM destination WHERE status IN ('pending', 'sending')",
        ))
        .await
        .context("finding the next due delivery")?;
    match row {
        Some(row) => row
            .try_get::<Option<DateTime<Utc>>>("", "at")
            .context("reading the next due time"),
        None => Ok(None),
    }
}

/// Extends the leases of destinations still in flight to `now + LEASE`.
pub async fn renew(ctx: &Context, held: &[DestinationId], now: DateTime<Utc>) -> Result<()> {
    if held.is_empty() {
        return Ok(());
    }
    let (first, second) = placeholders(ctx.backend);
    let sql = format!(
        "UPDATE destination SET next_attempt_at = {first} WHERE status = 'sending' AND {}",
        in_id_list(ctx.backend, "id", second)
    );
    let ids: Vec<&str> = held.iter().map(DestinationId::as_str).collect();
    let statement = Statement::from_sql_and_values(
        ctx.db.get_database_backend(),
        sql,
        [(now + LEASE).into(), id_list(ctx.backend, &ids)],
    );
    match ctx.backend {
        Backend::Postgres => {
            ctx.db
                .execute_raw(statement)
                .await
                .context("renewing delivery leases")?;
        }
        Backend::Sqlite => {
            let txn = crate::db::begin_write(ctx).await?;
            txn.execute_raw(statement)
                .await
                .context("renewing delivery leases")?;
            txn.commit().await.context("renewing delivery leases")?;
        }
    }
    Ok(())
}

fn placeholders(backend: Backend) -> (&'static str, &'static str) {
    match backend {
        Backend::Postgres => ("$1", "$2"),
        Backend::Sqlite => ("?", "?"),
    }
}

/// Due work nobody holds, for the metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct QueueStats {
    pub depth: i64,
    /// Age of the oldest due destination in seconds (0 when there is none).
    pub oldest_due_seconds: f64,
}

pub async fn stats(ctx: &Context, now: DateTime<Utc>) -> Result<QueueStats> {
    let (first, _) = placeholders(ctx.backend);
    let row = ctx
        .db
        .query_one_raw(Statement::from_sql_and_values(
            ctx.db.get_database_backend(),
            format!(
                "SELECT COUNT(*) AS depth, MIN(next_attempt_at) AS oldest FROM destination \
                 WHERE status IN ('pending', 'sending') AND next_attempt_at <= {first}"
            ),
            [now.into()],
        ))
        .await
        .context("measuring the delivery queue")?;
    let Some(row) = row else {
        return Ok(QueueStats::default());
    };
    let oldest: Option<DateTime<Utc>> = row.try_get("", "oldest").context("reading the oldest due time")?;
    Ok(QueueStats {
        depth: row.try_get("", "depth").context("reading the queue depth")?,
        oldest_due_seconds: oldest.map_or(0.0, |at| ((now - at).num_milliseconds() as f64 / 1000.0).max(0.0)),
    })
}
