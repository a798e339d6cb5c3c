//! Turns on endpoints that must not get everything at once: those with a rate
//! (`throttleRate`) and those with a line (ordered delivery). Their destinations are never
//! claimed in bulk nor handed over at acceptance; a claim takes turns on them one endpoint
//! at a time, holding that endpoint's `delivery_lane` row (on PostgreSQL with
//! `FOR UPDATE SKIP LOCKED`, so workers take different endpoints rather than wait), and
//! so every worker together keeps what the endpoint asked for.
//!
//! **Rate** (GCRA without a burst): the lane keeps the next time the endpoint may be sent
//! to. A claim gives the due destinations turns one interval (1 s / rate) apart from
//! there, as far as [`HORIZON`] ahead; each carries its turn (`send_at`) and its worker
//! waits for it before sending, and takes a new turn instead if it comes to send more than
//! half an interval late (a late send would crowd the turns after it). The rest are put
//! off to the turns after (not attempts: a wait for the rate never counts as a try nor
//! makes a delivery fail). In any one-second window an endpoint receives at most
//! `rate + 1` deliveries (the `+ 1` is the window's edge), first tries, retries and
//! resends together, however many workers run.
//!
//! **Line** (ordered delivery): the head of an endpoint's line is its unfinished
//! destination of the earliest message (by id, which is acceptance order). Only the head
//! is ever claimed, so at most one delivery is in flight, and it keeps its place while it
//! waits for a retry. Due destinations behind it are *parked* (`pending` without a due
//! time) and the settlement of the head wakes the next one; [`sweep`] wakes any head left
//! parked (a message deleted, a race between a claim and a settlement). An endpoint made
//! unordered has everything parked woken at once ([`unorder`]). When a message finally
//! fails, the line moves on (`release`) or stops (`stop`) until someone resends a message
//! or releases it ([`release`]).
//!
//! This file gives the turns and moves lines on; `standing` is what people see of a lane
//! and do with it.

mod standing;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

pub use self::standing::{Standing, release, standing};
use super::{Claimed, claim};
use crate::{
    Context, DbContext, Result,
    db::{Backend, WriteTxn, aliased},
    entity::{destination, endpoint::OnFailure, message},
    id::{EndpointId, MessageId},
};

/// How far ahead a claim gives turns: a worker holds a turn until its time comes.
pub const HORIZON: Duration = Duration::milliseconds(500);
/// Endpoints taken per claim, at most.
const ENDPOINTS_PER_CLAIM: i64 = 64;
/// Due destinations of one endpoint looked at per claim, at most.
const ROWS_PER_ENDPOINT: i64 = 1000;

/// `sql` written with `?` placeholders, numbered for PostgreSQL.
fn text(backend: Backend, sql: &str) -> String {
    match backend {
        Backend::Sqlite => sql.to_owned(),
        Backend::Postgres => {
            let mut out = String::with_capacity(sql.len() + 8);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                } else {
                    out.push(c);
                }
            }
            out
        }
    }
}

fn statement(backend: Backend, sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    let db = match backend {
        Backend::Sqlite => DbBackend::Sqlite,
        Backend::Postgres => DbBackend::Postgres,
    };
    Statement::from_sql_and_values(db, text(backend, sql), values)
}

/// The interval between two turns at `rate` per second.
pub fn interval(rate: i32) -> Duration {
    Duration::microseconds(1_000_000 / i64::from(rate.max(1)))
}

/// Endpoints with a rate or a line that have due work.
async fn busy(ctx: &Context, now: DateTime<Utc>) -> Result<Vec<EndpointId>> {
    let rows = ctx
        .db
        .query_all_raw(statement(
            ctx.backend,
            "SELECT e.id FROM endpoint AS e \
             WHERE (e.rate_limit > 0 OR e.ordered IS NOT NULL) AND EXISTS ( \
                 SELECT 1 FROM destination AS d WHERE d.endpoint_id = e.id AND d.paced \
                 AND d.status IN ('pending', 'sending') AND d.next_attempt_at <= ?) \
             LIMIT ?",
            [now.into(), ENDPOINTS_PER_CLAIM.into()],
        ))
        .await
        .context("finding endpoints with due turns")?;
    rows.iter()
        .map(|row| row.try_get::<EndpointId>("", "id"))
        .collect::<std::result::Result<_, _>>()
        .context("reading endpoints with due turns")
}

/// One endpoint's lane, held for this claim.
struct Lane {
    next_send_at: Option<DateTime<Utc>>,
    stopped_by: Option<String>,
    rate: Option<i32>,
    ordered: Option<OnFailure>,
}

/// Takes `endpoint`'s lane for this transaction; `None` if another claim holds it.
async fn take(txn: &WriteTxn, backend: Backend, endpoint: &EndpointId) -> Result<Option<Lane>> {
    txn.execute_raw(statement(
        backend,
        "INSERT INTO delivery_lane (endpoint_id) VALUES (?) ON CONFLICT (endpoint_id) DO NOTHING",
        [endpoint.as_str().into()],
    ))
    .await
    .context("opening a delivery lane")?;
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE OF l SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let row = txn
        .query_one_raw(statement(
            backend,
            &format!(
                "SELECT l.next_send_at, l.stopped_by, e.rate_limit, e.ordered \
                 FROM delivery_lane AS l JOIN endpoint AS e ON e.id = l.endpoint_id \
                 WHERE l.endpoint_id = ?{lock}"
            ),
            [endpoint.as_str().into()],
        ))
        .await
        .context("taking a delivery lane")?;
    let Some(row) = row else { return Ok(None) };
    let ordered: Option<String> = row.try_get("", "ordered").context("reading a lane")?;
    Ok(Some(Lane {
        next_send_at: row.try_get("", "next_send_at").context("reading a lane")?,
        stopped_by: row.try_get("", "stopped_by").context("reading a lane")?,
        rate: row
            .try_get::<Option<i32>>("", "rate_limit")
            .context("reading a lane")?
            .filter(|r| *r > 0),
        ordered: match ordered.as_deref() {
            None => None,
            Some("stop") => Some(OnFailure::Stop),
            Some(_) => Some(OnFailure::Release),
        },
    }))
}

/// A destination of a line, as the claim sees it.
struct InLine {
    id: String,
    status: String,
    next_attempt_at: Option<DateTime<Utc>>,
    manual: bool,
}

impl InLine {
    fn due(&self, now: DateTime<Utc>) -> bool {
        matches!(self.status.as_str(), "pending" | "sending")
            && self.next_attempt_at.is_some_and(|at| at <= now)
    }
}

async fn head<C: ConnectionTrait>(
    conn: &C,
    backend: Backend,
    endpoint: &EndpointId,
) -> Result<Option<InLine>> {
    let row = conn
        .query_one_raw(statement(
            backend,
            "SELECT id, status, next_attempt_at, next_trigger FROM destination \
             WHERE endpoint_id = ? AND paced AND status IN ('pending', 'sending') ORDER BY message_id LIMIT 1",
            [endpoint.as_str().into()],
        ))
        .await
        .context("finding the head of a line")?;
    let Some(row) = row else { return Ok(None) };
    let trigger: String = row.try_get("", "next_trigger").context("reading a line's head")?;
    Ok(Some(InLine {
        id: row.try_get("", "id").context("reading a line's head")?,
        status: row.try_get("", "status").context("reading a line's head")?,
        next_attempt_at: row
            .try_get("", "next_attempt_at")
            .context("reading a line's head")?,
        manual: trigger == "manual",
    }))
}

/// The turns one endpoint gives in this claim: destinations with the time each may be
/// sent.
async fn turns(
    txn: &WriteTxn,
    backend: Backend,
    endpoint: &EndpointId,
    lane: &Lane,
    budget: usize,
    now: DateTime<Utc>,
) -> Result<Vec<(String, Option<DateTime<Utc>>)>> {
    let mut candidates: Vec<String> = Vec::new();
    if lane.ordered.is_some() {
        let head = head(&**txn, backend, endpoint).await?;
        // Everything due behind the head waits, parked, for the head to finish.
        txn.execute_raw(statement(
            backend,
            "UPDATE destination SET status = 'pending', next_attempt_at = NULL \
             WHERE endpoint_id = ? AND paced AND status IN ('pending', 'sending') AND next_attempt_at <= ? \
             AND id <> ?",
            [
                endpoint.as_str().into(),
                now.into(),
                head.as_ref().map_or(String::new(), |h| h.id.clone()).into(),
            ],
        ))
        .await
        .context("parking a line")?;
        if let Some(head) = head
            && head.due(now)
        {
            if lane.stopped_by.is_some() && !head.manual {
                // A stopped line moves only for a resend (someone acted).
                txn.execute_raw(statement(
                    backend,
                    "UPDATE destination SET status = 'pending', next_attempt_at = NULL WHERE id = ?",
                    [head.id.clone().into()],
                ))
                .await
                .context("parking a stopped line")?;
            } else {
                if lane.stopped_by.is_some() {
                    txn.execute_raw(statement(
                        backend,
                        "UPDATE delivery_lane SET stopped_by = NULL WHERE endpoint_id = ?",
                        [endpoint.as_str().into()],
                    ))
                    .await
                    .context("restarting a line")?;
                }
                candidates.push(head.id);
            }
        }
    } else {
        let lock = match backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let rows = txn
            .query_all_raw(statement(
                backend,
                &format!(
                    "SELECT id FROM destination WHERE endpoint_id = ? AND paced \
                     AND status IN ('pending', 'sending') AND next_attempt_at <= ? \
                     ORDER BY next_attempt_at LIMIT ?{lock}"
                ),
                [endpoint.as_str().into(), now.into(), ROWS_PER_ENDPOINT.into()],
            ))
            .await
            .context("finding an endpoint's due deliveries")?;
        for row in &rows {
            candidates.push(row.try_get("", "id").context("reading a due delivery")?);
        }
    }
    let Some(rate) = lane.rate else {
        candidates.truncate(budget);
        return Ok(candidates.into_iter().map(|id| (id, None)).collect());
    };
    // The endpoint's rate: turns one interval apart, as far as the horizon.
    let step = interval(rate);
    let mut turn = lane.next_send_at.map_or(now, |at| at.max(now));
    let mut given = Vec::new();
    let mut later = Vec::new();
    for id in candidates {
        if given.len() < budget && turn <= now + HORIZON {
            given.push((id, Some(turn)));
            turn += step;
        } else {
            later.push(serde_json::json!({
                "id": id,
                "at": crate::db::time_text(turn + step * i32::try_from(later.len()).unwrap_or(i32::MAX)),
            }));
        }
    }
    txn.execute_raw(statement(
        backend,
        "UPDATE delivery_lane SET next_send_at = ? WHERE endpoint_id = ?",
        [turn.into(), endpoint.as_str().into()],
    ))
    .await
    .context("advancing an endpoint's rate")?;
    if !later.is_empty() {
        put_off(txn, backend, &serde_json::Value::Array(later).to_string()).await?;
    }
    Ok(given)
}

/// Moves destinations (a JSON array of `{id, at}`) to later turns; pending, not tries.
async fn put_off(txn: &WriteTxn, backend: Backend, rows: &str) -> Result<()> {
    let sql = match backend {
        Backend::Postgres => {
            "UPDATE destination SET status = 'pending', next_attempt_at = v.at \
             FROM jsonb_to_recordset(CAST(? AS jsonb)) AS v(id text, at timestamptz) \
             WHERE destination.id = v.id"
        }
        Backend::Sqlite => {
            "UPDATE destination SET status = 'pending', next_attempt_at = v.at \
             FROM (SELECT value ->> 'id' AS id, value ->> 'at' AS at FROM json_each(?)) AS v \
             WHERE destination.id = v.id"
        }
    };
    txn.execute_raw(statement(backend, sql, [rows.to_owned().into()]))
        .await
        .context("putting deliveries off to their endpoint's rate")?;
    Ok(())
}

/// Claims up to `limit` turns on endpoints with a rate or a line, leased for
/// [`claim::LEASE`], each with the time it may be sent.
pub async fn claim(ctx: &Context, limit: usize, now: DateTime<Utc>) -> Result<Vec<Claimed>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let endpoints = busy(ctx, now).await?;
    if endpoints.is_empty() {
        return Ok(Vec::new());
    }
    let backend = ctx.backend;
    let txn = crate::db::begin_write(ctx).await?;
    let mut given: Vec<(String, Option<DateTime<Utc>>)> = Vec::new();
    for endpoint in &endpoints {
        if given.len() >= limit {
            break;
        }
        let Some(lane) = take(&txn, backend, endpoint).await? else {
            continue;
        };
        given.extend(turns(&txn, backend, endpoint, &lane, limit - given.len(), now).await?);
    }
    if given.is_empty() {
        txn.commit().await.context("committing a claim of turns")?;
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = given.iter().map(|(id, _)| id.as_str()).collect();
    txn.execute_raw(statement(
        backend,
        &format!(
            "UPDATE destination SET status = 'sending', next_attempt_at = ?, updated_at = ? WHERE {}",
            claim::in_id_list(backend, "id", "?")
        ),
        [
            (now + claim::LEASE).into(),
            now.into(),
            claim::id_list(backend, &ids),
        ],
    ))
    .await
    .context("claiming turns")?;
    let rows = txn
        .query_all_raw(statement(
            backend,
            &format!(
                "SELECT {}, {} FROM destination JOIN message ON message.id = destination.message_id WHERE {}",
                aliased::<destination::Column>("destination", "d_"),
                aliased::<message::Column>("message", "m_"),
                claim::in_id_list(backend, "destination.id", "?"),
            ),
            [claim::id_list(backend, &ids)],
        ))
        .await
        .context("loading claimed turns")?;
    txn.commit().await.context("committing a claim of turns")?;
    let mut claimed = rows.iter().map(claim::claimed_from).collect::<Result<Vec<_>>>()?;
    for c in &mut claimed {
        c.send_at = given
            .iter()
            .find(|(id, _)| id == c.destination.id.as_str())
            .and_then(|(_, at)| *at);
    }
    claimed.sort_by_key(|c| c.send_at);
    Ok(claimed)
}

/// After settlements moved the heads of these lines on (`finished`: the endpoint and the
/// message whose delivery there ended, and whether it failed), in the same transaction:
/// stops a line whose endpoint asks for that at a failure, and wakes the next head of
/// the others. Returns whether anything was woken.
pub(crate) async fn advance<C: ConnectionTrait>(
    conn: &C,
    backend: Backend,
    finished: &[(EndpointId, OnFailure, MessageId, bool)],
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut woken = false;
    for (endpoint, on_failure, message, failed) in finished {
        if *failed && *on_failure == OnFailure::Stop {
            conn.execute_raw(statement(
                backend,
                "INSERT INTO delivery_lane (endpoint_id, stopped_by) VALUES (?, ?) \
                 ON CONFLICT (endpoint_id) DO UPDATE SET stopped_by = excluded.stopped_by",
                [endpoint.as_str().into(), message.as_str().into()],
            ))
            .await
            .context("stopping a line")?;
            continue;
        }
        woken |= wake_head(conn, backend, endpoint, now).await?;
    }
    Ok(woken)
}

/// Makes the head of `endpoint`'s line due now if it is parked.
async fn wake_head<C: ConnectionTrait>(
    conn: &C,
    backend: Backend,
    endpoint: &EndpointId,
    now: DateTime<Utc>,
) -> Result<bool> {
    let done = conn
        .execute_raw(statement(
            backend,
            "UPDATE destination SET next_attempt_at = ? WHERE id = ( \
                 SELECT id FROM destination WHERE endpoint_id = ? AND paced \
                 AND status IN ('pending', 'sending') ORDER BY message_id LIMIT 1) \
             AND status = 'pending' AND next_attempt_at IS NULL",
            [now.into(), endpoint.as_str().into()],
        ))
        .await
        .context("waking the next in line")?;
    Ok(done.rows_affected() > 0)
}

/// Wakes the parked heads of lines that are not stopped: a head is parked only when a
/// claim and the settlement of the head before it crossed, or that head's message was
/// deleted. One look per ordered endpoint. Returns how many it woke.
pub async fn sweep(ctx: &Context, now: DateTime<Utc>) -> Result<u64> {
    let sql = "UPDATE destination SET next_attempt_at = ? \
         WHERE status = 'pending' AND next_attempt_at IS NULL AND id IN ( \
             SELECT (SELECT h.id FROM destination AS h \
                     WHERE h.endpoint_id = e.id AND h.paced AND h.status IN ('pending', 'sending') \
                     ORDER BY h.message_id LIMIT 1) \
             FROM endpoint AS e LEFT JOIN delivery_lane AS l ON l.endpoint_id = e.id \
             WHERE e.ordered IS NOT NULL AND l.stopped_by IS NULL)";
    let statement = statement(ctx.backend, sql, [now.into()]);
    let done = match ctx.backend {
        Backend::Postgres => ctx.db.execute_raw(statement).await,
        Backend::Sqlite => {
            let txn = crate::db::begin_write(ctx).await?;
            let done = txn.execute_raw(statement).await;
            txn.commit().await.context("waking parked deliveries")?;
            done
        }
    }
    .context("waking parked deliveries")?;
    Ok(done.rows_affected())
}

/// Marks the unfinished destinations of `endpoint` as taking turns or not, after its
/// rate or line was set or removed.
pub(crate) async fn repace<C: ConnectionTrait>(
    conn: &C,
    backend: Backend,
    endpoint: &EndpointId,
    paced: bool,
) -> Result<()> {
    conn.execute_raw(statement(
        backend,
        "UPDATE destination SET paced = ? WHERE endpoint_id = ? AND status IN ('pending', 'sending')",
        [paced.into(), endpoint.as_str().into()],
    ))
    .await
    .context("marking an endpoint's deliveries for turns")?;
    Ok(())
}

/// Wakes everything parked at `endpoint` and forgets its stop: it is no longer ordered.
pub(crate) async fn unorder<C: ConnectionTrait>(
    conn: &C,
    backend: Backend,
    endpoint: &EndpointId,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute_raw(statement(
        backend,
        "UPDATE destination SET next_attempt_at = ? \
         WHERE endpoint_id = ? AND status = 'pending' AND next_attempt_at IS NULL",
        [now.into(), endpoint.as_str().into()],
    ))
    .await
    .context("waking a line that is no longer ordered")?;
    conn.execute_raw(statement(
        backend,
        "UPDATE delivery_lane SET stopped_by = NULL WHERE endpoint_id = ?",
        [endpoint.as_str().into()],
    ))
    .await
    .context("waking a line that is no longer ordered")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(text(Backend::Postgres, "a = ? AND b = ?"), "a = $1 AND b = $2");
        assert_eq!(text(Backend::Sqlite, "a = ?"), "a = ?");
    }

    #[test]
    fn turns_are_one_interval_apart() {
        assert_eq!(interval(10), Duration::milliseconds(100));
        assert_eq!(interval(3), Duration::microseconds(333_333));
        assert_eq!(interval(0), Duration::seconds(1));
    }
}
