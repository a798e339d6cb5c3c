//! What the outcomes of a batch of tries do, written together: one statement moves every
//! destination of the batch that still expects its outcome and (on PostgreSQL, in the
//! same statement) logs the attempts of those; only the rare outcomes (a failure, a
//! recovery, an endpoint to disable, an operational event) take statements of their own,
//! in one transaction with it. A batch of nothing but successes on healthy endpoints is
//! that one statement on PostgreSQL, and needs no transaction around it.

use std::collections::HashSet;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, Statement, sea_query::Expr,
};
use serde_json::json;

use super::{Outcome, Plan, claim::id_list, next_try, spoken};
use crate::{
    Context, DbContext, Result,
    db::{Backend, WriteTxn},
    entity::{attempt, destination, destination::Trigger, endpoint},
    id::{AttemptId, DestinationId, EndpointId, TenantId},
    scope::TenantScoped,
    service::operational::{self, Event, FAILING_AFTER_TRIES, LastAttempt},
};

/// How one claimed destination ended this time.
#[derive(Debug)]
pub enum Settlement {
    /// A try was made: log it as an attempt and move the destination on (success, the
    /// next try of `schedule`, or failure).
    Tried {
        plan: Box<Plan>,
        outcome: Outcome,
        /// Delays in seconds between tries, after the first.
        schedule: Vec<u32>,
    },
    /// Not tried, and due again at `at` (over its endpoint's rate, or handed back by a
    /// worker that is stopping). Not an attempt.
    Postponed {
        destination: DestinationId,
        tries: i32,
        at: DateTime<Utc>,
    },
    /// Not tried, and never will be: the delivery fails without an attempt.
    Abandoned {
        destination: DestinationId,
        tries: i32,
        why: &'static str,
    },
}

impl Settlement {
    fn destination(&self) -> &DestinationId {
        match self {
            Self::Tried { plan, .. } => &plan.destination.id,
            Self::Postponed { destination, .. } | Self::Abandoned { destination, .. } => destination,
        }
    }
}

/// What [`settle`] did.
#[derive(Debug, Default)]
pub struct Report {
    /// Per settlement, in order: whether it moved its destination. One that did not was
    /// stale (another try of the same destination was recorded first) and changed
    /// nothing.
    pub moved: Vec<bool>,
    /// The earliest time a destination of the batch is due again, if any.
    pub next_due: Option<DateTime<Utc>>,
    /// Whether the batch queued new deliveries (operational events), due now.
    pub queued: bool,
}

/// The state a settlement moves its destination to.
struct Move {
    status: destination::Status,
    tries: i32,
    next_at: Option<DateTime<Utc>>,
    tried: bool,
}

/// Records `batch` in one transaction. A settlement moves its destination only if the
/// destination still expects it: a try only if no other try of it was recorded since
/// the claim (`attempt_count` unchanged), a postponement or an abandonment only if the
/// destination is also still held (`sending`). The rest of the batch is unaffected by
/// a stale one.
pub async fn settle(ctx: &Context, disable_after: Duration, batch: &[Settlement]) -> Result<Report> {
    let now = Utc::now();
    let mut report = Report {
        moved: vec![false; batch.len()],
        ..Report::default()
    };
    // A destination twice in one batch (claimed again after its lease ran out) moves
    // once: the first settlement stands for it, the others are stale.
    let mut seen = HashSet::new();
    let mut unique = Vec::with_capacity(batch.len());
    for (i, settlement) in batch.iter().enumerate() {
        if seen.insert(settlement.destination().clone()) {
            let m = planned_move(settlement, now)?;
            let attempt = matches!(settlement, Settlement::Tried { .. }).then(AttemptId::new);
            unique.push((i, settlement, m, attempt));
        }
    }
    if unique.is_empty() {
        return Ok(report);
    }
    let needs_care = |s: &Settlement, m: &Move| match s {
        Settlement::Tried { plan, outcome, .. } => {
            !outcome.succeeded()
                || plan.endpoint.failing_since.is_some()
                || plan.endpoint.ordered.is_some()
                || attempt_event(plan, m).is_some()
        }
        Settlement::Postponed { .. } | Settlement::Abandoned { .. } => false,
    };
    let careless = !unique.iter().any(|(_, s, m, _)| needs_care(s, m));
    let moved = if careless && ctx.backend == Backend::Postgres {
        // The common batch (successes on healthy endpoints): one statement, no
        // transaction around it.
        move_and_log_in_one(&ctx.db, &unique, now).await?
    } else {
        let txn = crate::db::begin_write(ctx).await?;
        let moved = match ctx.backend {
            Backend::Postgres => move_and_log_in_one(&*txn, &unique, now).await?,
            Backend::Sqlite => {
                let moved = move_destinations(&txn, &unique, now).await?;
                let logged: Vec<_> = unique
                    .iter()
                    .filter(|(_, s, _, _)| moved.contains(s.destination().as_str()))
                    .collect();
                log_attempts(&txn, &logged, now).await?;
                moved
            }
        };
        let mut marked = HashSet::new();
        for (_, settlement, m, attempt) in &unique {
            if let (Settlement::Tried { plan, outcome, .. }, Some(attempt)) = (settlement, attempt)
                && moved.contains(plan.destination.id.as_str())
                && needs_care(settlement, m)
            {
                report.queued |= follow_up(
                    &txn,
                    plan,
                    outcome,
                    m,
                    attempt.clone(),
                    disable_after,
                    now,
                    &mut marked,
                )
                .await?;
            }
        }
        // Lines whose head finished move on (or stop), in the same transaction.
        let finished: Vec<_> = unique
            .iter()
            .filter_map(|(_, settlement, m, _)| match settlement {
                Settlement::Tried { plan, .. }
                    if moved.contains(plan.destination.id.as_str())
                        && m.status != destination::Status::Pending =>
                {
                    plan.endpoint.ordered.map(|on_failure| {
                        (
                            plan.endpoint.id.clone(),
                            on_failure,
                            plan.destination.message_id.clone(),
                            m.status == destination::Status::Fail,
                        )
                    })
                }
                _ => None,
            })
            .collect();
        if !finished.is_empty() {
            report.queued |= super::lane::advance(&*txn, ctx.backend, &finished, now).await?;
        }
        txn.commit().await.context("committing a batch of attempts")?;
        moved
    };
    for (i, settlement, m, _) in &unique {
        report.moved[*i] = moved.contains(settlement.destination().as_str());
        if report.moved[*i]
            && let Some(at) = m.next_at
            && m.status == destination::Status::Pending
        {
            report.next_due = Some(report.next_due.map_or(at, |due| due.min(at)));
        }
    }
    Ok(report)
}

/// One settlement of a batch: its place in the batch, what it does to its destination,
/// and the id of its attempt (a try's).
type Unique<'a> = (usize, &'a Settlement, Move, Option<AttemptId>);

fn planned_move(settlement: &Settlement, now: DateTime<Utc>) -> Result<Move> {
    Ok(match settlement {
        Settlement::Tried {
            plan,
            outcome,
            schedule,
        } => {
            let tries = plan.destination.attempt_count + 1;
            // A 410, or a transformation that failed (it fails again until it changes).
            let gone = outcome.response_status == Some(410)
                || matches!(outcome.error, Some((attempt::ErrorKind::Transformation, _)));
            let next_at = match (outcome.succeeded(), plan.trigger(), gone) {
                (false, Trigger::Scheduled, false) => {
                    let mut b = [0u8; 4];
                    crate::crypto::random_bytes(&mut b)?;
                    next_try(
                        schedule,
                        usize::try_from(tries).unwrap_or(usize::MAX),
                        outcome.retry_after,
                        now,
                        u32::from_le_bytes(b),
                    )
                }
                _ => None,
            };
            let status = match (outcome.succeeded(), next_at) {
                (true, _) => destination::Status::Success,
                (false, Some(_)) => destination::Status::Pending,
                (false, None) => destination::Status::Fail,
            };
            Move {
                status,
                tries,
                next_at,
                tried: true,
            }
        }
        Settlement::Postponed { tries, at, .. } => Move {
            status: destination::Status::Pending,
            tries: *tries,
            next_at: Some(*at),
            tried: false,
        },
        Settlement::Abandoned {
            tries,
            why,
            destination,
        } => {
            tracing::info!(%destination, why, "delivery failed without a try");
            Move {
                status: destination::Status::Fail,
                tries: *tries,
                next_at: None,
                tried: false,
            }
        }
    })
}

/// The rows of a batch's destinations as one JSON array, bound as one parameter: one
/// statement text for any batch.
fn move_rows(unique: &[Unique<'_>]) -> String {
    let rows: Vec<serde_json::Value> = unique
        .iter()
        .map(|(_, s, m, _)| {
            let (expect, held) = match s {
                Settlement::Tried { plan, .. } => (plan.destination.attempt_count, false),
                Settlement::Postponed { tries, .. } | Settlement::Abandoned { tries, .. } => (*tries, true),
            };
            json!({
                "id": s.destination().as_str(),
                "expect": expect,
                "held": held,
                "status": m.status.to_value(),
                "tries": m.tries,
                "next_at": m.next_at.map(crate::db::time_text),
                "tried": m.tried,
            })
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

/// PostgreSQL: moves every destination of the batch that still expects its settlement
/// and logs the attempts of those that moved, in one statement; returns the ids moved.
async fn move_and_log_in_one<C: ConnectionTrait>(
    conn: &C,
    unique: &[Unique<'_>],
    now: DateTime<Utc>,
) -> Result<HashSet<String>> {
    let ids: Vec<&str> = unique
        .iter()
        .map(|(_, s, _, _)| s.destination().as_str())
        .collect();
    let attempts: Vec<serde_json::Value> = unique
        .iter()
        .filter_map(|(_, s, m, id)| match (s, id) {
            (Settlement::Tried { plan, outcome, .. }, Some(id)) => {
                Some(attempt_row(plan, outcome, m, id, now))
            }
            _ => None,
        })
        .collect();
    let sql = format!(
        "WITH moved AS ( \
             UPDATE destination SET \
                 status = v.status, attempt_count = v.tries, next_attempt_at = v.next_at, \
                 last_attempt_at = CASE WHEN v.tried THEN $2 ELSE destination.last_attempt_at END, \
                 next_trigger = CASE WHEN v.tried THEN 'scheduled' ELSE destination.next_trigger END, \
                 updated_at = $2 \
             FROM jsonb_to_recordset(CAST($1 AS jsonb)) AS v( \
                 id text, expect integer, held boolean, status text, tries integer, \
                 next_at timestamptz, tried boolean) \
             WHERE destination.id = ANY(CAST($3 AS text[])) AND destination.id = v.id \
               AND destination.attempt_count = v.expect \
               AND (NOT v.held OR destination.status = 'sending') \
             RETURNING destination.id \
         ), logged AS ( \
             INSERT INTO attempt ({ATTEMPT_COLUMNS}) \
             SELECT {ATTEMPT_COLUMNS} FROM jsonb_to_recordset(CAST($4 AS jsonb)) AS a({ATTEMPT_TYPES}) \
             WHERE a.destination_id IN (SELECT id FROM moved) \
         ) \
         SELECT id FROM moved"
    );
    let moved = conn
        .query_all_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            sql,
            [
                move_rows(unique).into(),
                now.into(),
                id_list(Backend::Postgres, &ids),
                serde_json::Value::Array(attempts).to_string().into(),
            ],
        ))
        .await
        .context("recording attempts")?;
    ids_of(&moved)
}

const ATTEMPT_COLUMNS: &str = "id, tenant_id, app_id, message_id, endpoint_id, destination_id, number, trigger, \
     status, url, response_status, response_body, duration_ms, error_kind, error_reason, next_attempt_at, created_at, request";
const ATTEMPT_TYPES: &str = "id text, tenant_id text, app_id text, message_id text, endpoint_id text, \
     destination_id text, number integer, trigger text, status text, url text, response_status integer, \
     response_body text, duration_ms bigint, error_kind text, error_reason text, next_attempt_at timestamptz, \
     created_at timestamptz, request jsonb";

fn attempt_row(
    plan: &Plan,
    outcome: &Outcome,
    m: &Move,
    id: &AttemptId,
    now: DateTime<Utc>,
) -> serde_json::Value {
    json!({
        "id": id.as_str(),
        "tenant_id": plan.destination.tenant_id.as_str(),
        "app_id": plan.destination.app_id.as_str(),
        "message_id": plan.destination.message_id.as_str(),
        "endpoint_id": plan.endpoint.id.as_str(),
        "destination_id": plan.destination.id.as_str(),
        "number": m.tries,
        "trigger": plan.trigger().to_value(),
        "status": if outcome.succeeded() { "success" } else { "fail" },
        "url": outcome.url,
        "response_status": outcome.response_status,
        "response_body": outcome.response_body,
        "duration_ms": i64::try_from(outcome.duration.as_millis()).unwrap_or(i64::MAX),
        "error_kind": outcome.error.as_ref().map(|(kind, _)| kind.as_str()),
        "error_reason": outcome.error.as_ref().map(|(_, reason)| reason),
        "next_attempt_at": m.next_at.map(crate::db::time_text),
        "created_at": crate::db::time_text(now),
        "request": outcome.request,
    })
}

/// SQLite: moves every destination of the batch that still expects its settlement, with
/// one statement; returns the ids moved.
async fn move_destinations(
    txn: &WriteTxn,
    unique: &[Unique<'_>],
    now: DateTime<Utc>,
) -> Result<HashSet<String>> {
    let sql = "UPDATE destination SET \
             status = v.status, attempt_count = v.tries, next_attempt_at = v.next_at, \
             last_attempt_at = CASE WHEN v.tried THEN ?2 ELSE destination.last_attempt_at END, \
             next_trigger = CASE WHEN v.tried THEN 'scheduled' ELSE destination.next_trigger END, \
             updated_at = ?2 \
         FROM (SELECT value ->> 'id' AS id, value ->> 'expect' AS expect, \
                      value ->> 'held' AS held, value ->> 'status' AS status, \
                      value ->> 'tries' AS tries, value ->> 'next_at' AS next_at, \
                      value ->> 'tried' AS tried \
               FROM json_each(?1)) AS v \
         WHERE destination.id = v.id AND destination.attempt_count = v.expect \
           AND (NOT v.held OR destination.status = 'sending') \
         RETURNING destination.id";
    let moved = txn
        .query_all_raw(Statement::from_sql_and_values(
            txn.get_database_backend(),
            sql,
            [move_rows(unique).into(), now.into()],
        ))
        .await
        .context("moving destinations")?;
    ids_of(&moved)
}

/// The `id` column of the rows a statement returned.
fn ids_of(rows: &[sea_orm::QueryResult]) -> Result<HashSet<String>> {
    rows.iter()
        .map(|row| row.try_get::<String>("", "id"))
        .collect::<std::result::Result<_, _>>()
        .context("reading moved destinations")
}

/// SQLite: one multi-row insert of the attempts of the tries that moved their
/// destinations.
async fn log_attempts(txn: &WriteTxn, moved: &[&Unique<'_>], now: DateTime<Utc>) -> Result<()> {
    let tried: Vec<(&Plan, &Outcome, &Move, &AttemptId)> = moved
        .iter()
        .filter_map(|(_, s, m, id)| match (s, id) {
            (Settlement::Tried { plan, outcome, .. }, Some(id)) => Some((&**plan, outcome, m, id)),
            _ => None,
        })
        .collect();
    // Batches keep each INSERT under the databases' bound-parameter limits.
    for chunk in tried.chunks(500) {
        attempt::Entity::insert_many(chunk.iter().map(|(plan, outcome, m, id)| attempt::ActiveModel {
            id: Set((*id).clone()),
            tenant_id: Set(plan.destination.tenant_id.clone()),
            app_id: Set(plan.destination.app_id.clone()),
            message_id: Set(plan.destination.message_id.clone()),
            endpoint_id: Set(plan.endpoint.id.clone()),
            destination_id: Set(plan.destination.id.clone()),
            number: Set(m.tries),
            trigger: Set(plan.trigger()),
            status: Set(if outcome.succeeded() {
                attempt::Status::Success
            } else {
                attempt::Status::Fail
            }),
            url: Set(outcome.url.clone()),
            response_status: Set(outcome.response_status.map(i32::from)),
            response_body: Set(outcome.response_body.clone()),
            duration_ms: Set(i64::try_from(outcome.duration.as_millis()).unwrap_or(i64::MAX)),
            error_kind: Set(outcome.error.as_ref().map(|(kind, _)| *kind)),
            error_reason: Set(outcome.error.as_ref().map(|(_, reason)| reason.clone())),
            next_attempt_at: Set(m.next_at),
            created_at: Set(now),
            request: Set(outcome.request.as_deref().cloned()),
        }))
        .exec_without_returning(&**txn)
        .await
        .context("recording attempts")?;
    }
    Ok(())
}

/// The operational event a try causes about its message, if any.
fn attempt_event(plan: &Plan, m: &Move) -> Option<&'static str> {
    match (m.status, plan.trigger()) {
        (destination::Status::Success, _) if plan.destination.attempt_count >= FAILING_AFTER_TRIES => {
            Some(operational::ATTEMPT_RECOVERED)
        }
        (destination::Status::Fail, Trigger::Scheduled) => Some(operational::ATTEMPT_EXHAUSTED),
        (destination::Status::Pending, Trigger::Scheduled) if m.tries == FAILING_AFTER_TRIES => {
            Some(operational::ATTEMPT_FAILING)
        }
        _ => None,
    }
}

/// What a try does beyond its destination: the endpoint's failing-since mark, disabling
/// it on `410 Gone` or after failing for `disable_after`, and the operational events this
/// causes. `marked` holds the endpoints whose mark this batch already set. Says whether
/// it queued an event.
#[expect(
    clippy::too_many_arguments,
    reason = "one try's settlement, taken apart by the caller's batch loop"
)]
async fn follow_up(
    txn: &WriteTxn,
    plan: &Plan,
    outcome: &Outcome,
    m: &Move,
    attempt_id: AttemptId,
    disable_after: Duration,
    now: DateTime<Utc>,
    marked: &mut HashSet<EndpointId>,
) -> Result<bool> {
    let tenant = &plan.destination.tenant_id;
    let endpoint = &plan.endpoint;
    let mut queued = false;
    let failing_since = if outcome.succeeded() {
        if endpoint.failing_since.is_some() {
            set_failing_since(txn, tenant, endpoint, None).await?;
        }
        None
    } else {
        match endpoint.failing_since {
            Some(since) => Some(since),
            None => {
                if marked.insert(endpoint.id.clone()) {
                    set_failing_since(txn, tenant, endpoint, Some(now)).await?;
                }
                Some(now)
            }
        }
    };
    let disable_reason = if outcome.response_status == Some(410) {
        Some("the endpoint answered 410 Gone".to_owned())
    } else {
        failing_since
            .filter(|since| now - *since >= disable_after)
            .map(|since| {
                format!(
                    "every try has failed since {}, for {} or more",
                    since.to_rfc3339_opts(SecondsFormat::Secs, true),
                    spoken(disable_after)
                )
            })
    };
    if let Some(reason) = disable_reason
        && disable(txn, tenant, endpoint, reason, now).await?
    {
        let event = Event::EndpointDisabled {
            endpoint,
            failing_since,
        };
        queued |= operational::emit(txn, tenant, event).await?;
    }
    if let Some(kind) = attempt_event(plan, m) {
        let event = Event::Attempt {
            kind,
            message: &plan.message,
            endpoint,
            last: LastAttempt {
                id: attempt_id,
                response_status: outcome.response_status,
                at: now,
            },
        };
        queued |= operational::emit(txn, tenant, event).await?;
    }
    Ok(queued)
}

async fn set_failing_since(
    txn: &WriteTxn,
    tenant: &TenantId,
    endpoint: &endpoint::Model,
    since: Option<DateTime<Utc>>,
) -> Result<()> {
    let mut update = endpoint::Entity::update_for_tenant(tenant)
        .col_expr(endpoint::Column::FailingSince, Expr::value(since))
        .filter(endpoint::Column::Id.eq(endpoint.id.clone()));
    if since.is_some() {
        // The first failure after a success sets the mark; later ones keep it.
        update = update.filter(endpoint::Column::FailingSince.is_null());
    }
    update.exec(&**txn).await.context("marking an endpoint failing")?;
    Ok(())
}

/// Disables an enabled endpoint; says whether this call did it.
async fn disable(
    txn: &WriteTxn,
    tenant: &TenantId,
    endpoint: &endpoint::Model,
    reason: String,
    now: DateTime<Utc>,
) -> Result<bool> {
    let done = endpoint::Entity::update_for_tenant(tenant)
        .col_expr(endpoint::Column::Disabled, Expr::value(true))
        .col_expr(endpoint::Column::DisabledReason, Expr::value(Some(reason)))
        .col_expr(endpoint::Column::UpdatedAt, Expr::value(now))
        .filter(endpoint::Column::Id.eq(endpoint.id.clone()))
        .filter(endpoint::Column::Disabled.eq(false))
        .exec(&**txn)
        .await
        .context("disabling an endpoint")?;
    Ok(done.rows_affected == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text form must sort like time, or due-order claims and comparisons on SQLite
    /// (which compares text) go wrong.
    #[test]
    fn time_texts_sort_like_time() {
        let base = DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let times = [
            base,
            base + Duration::milliseconds(1),
            base + Duration::microseconds(1001),
            base + Duration::milliseconds(500),
            base + Duration::seconds(1),
            base + Duration::seconds(1) + Duration::nanoseconds(1),
        ];
        for pair in times.windows(2) {
            assert!(
                crate::db::time_text(pair[0]) < crate::db::time_text(pair[1]),
                "{:?}",
                pair
            );
        }
    }
}
