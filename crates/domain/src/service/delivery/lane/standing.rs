//! A lane for people: where an endpoint's deliveries stand with its rate and its line
//! ([`standing`], shown by the API and the endpoint's page), and restarting a stopped
//! line ([`release`]).

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::{statement, wake_head};
use crate::{
    Context, DbContext, Error, Result,
    db::Backend,
    id::{MessageId, TenantId},
    service::audit::{self, Actor, Target},
};

/// Where an endpoint's deliveries stand with its rate and its line, for people.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Standing {
    /// The message at the head of the line (ordered endpoints).
    pub head: Option<MessageId>,
    /// Unfinished deliveries behind the head (ordered endpoints).
    pub behind: i64,
    /// The failed message that stopped the line, if it is stopped.
    pub stopped_by: Option<MessageId>,
    /// Deliveries put off to the endpoint's rate: due, or waiting for a later turn.
    pub held_by_rate: i64,
    /// When the endpoint's rate lets the next delivery go, if that is later than now.
    pub next_turn: Option<DateTime<Utc>>,
}

/// The standing of `endpoint` (already found in `tenant`).
pub async fn standing<C: ConnectionTrait>(
    conn: &C,
    backend: Backend,
    tenant: &TenantId,
    endpoint: &crate::entity::endpoint::Model,
    now: DateTime<Utc>,
) -> Result<Standing> {
    if &endpoint.tenant_id != tenant {
        return Err(Error::NotFound("endpoint"));
    }
    let mut standing = Standing::default();
    let lane = conn
        .query_one_raw(statement(
            backend,
            "SELECT next_send_at, stopped_by FROM delivery_lane WHERE endpoint_id = ?",
            [endpoint.id.as_str().into()],
        ))
        .await
        .context("reading a delivery lane")?;
    if let Some(lane) = &lane {
        let next: Option<DateTime<Utc>> = lane.try_get("", "next_send_at").context("reading a lane")?;
        standing.next_turn = next.filter(|at| *at > now && endpoint.rate_limit.is_some_and(|r| r > 0));
        let stopped: Option<String> = lane.try_get("", "stopped_by").context("reading a lane")?;
        standing.stopped_by = stopped
            .filter(|_| endpoint.ordered.is_some())
            .and_then(|m| MessageId::parse(&m).ok());
    }
    let counts = conn
        .query_one_raw(statement(
            backend,
            "SELECT COUNT(*) AS waiting, \
                    SUM(CASE WHEN status = 'pending' AND next_attempt_at IS NOT NULL THEN 1 ELSE 0 END) AS due \
             FROM destination WHERE endpoint_id = ? AND paced AND status IN ('pending', 'sending')",
            [endpoint.id.as_str().into()],
        ))
        .await
        .context("counting an endpoint's waiting deliveries")?;
    let (waiting, due) = match counts {
        Some(row) => (
            row.try_get::<i64>("", "waiting").context("reading counts")?,
            row.try_get::<Option<i64>>("", "due")
                .context("reading counts")?
                .unwrap_or(0),
        ),
        None => (0, 0),
    };
    if endpoint.ordered.is_some() {
        let head_message = conn
            .query_one_raw(statement(
                backend,
                "SELECT message_id FROM destination WHERE endpoint_id = ? AND paced \
                 AND status IN ('pending', 'sending') ORDER BY message_id LIMIT 1",
                [endpoint.id.as_str().into()],
            ))
            .await
            .context("finding the head of a line")?;
        if let Some(row) = head_message {
            let id: String = row.try_get("", "message_id").context("reading a line's head")?;
            standing.head = MessageId::parse(&id).ok();
            standing.behind = (waiting - 1).max(0);
        }
    }
    if endpoint.rate_limit.is_some_and(|r| r > 0) && standing.next_turn.is_some() {
        standing.held_by_rate = due;
    }
    Ok(standing)
}

/// Restarts a stopped line of `endpoint` (found in `tenant`): the next message goes, the
/// one that stopped it stays failed. Returns whether the line was stopped.
pub async fn release(
    ctx: &Context,
    tenant: &TenantId,
    endpoint: &crate::entity::endpoint::Model,
    actor: &Actor,
) -> Result<bool> {
    if &endpoint.tenant_id != tenant {
        return Err(Error::NotFound("endpoint"));
    }
    let txn = crate::db::begin_write(ctx).await?;
    let done = txn
        .execute_raw(statement(
            ctx.backend,
            "UPDATE delivery_lane SET stopped_by = NULL WHERE endpoint_id = ? AND stopped_by IS NOT NULL",
            [endpoint.id.as_str().into()],
        ))
        .await
        .context("releasing a line")?;
    let woken = wake_head(&txn, ctx.backend, &endpoint.id, Utc::now()).await?;
    if done.rows_affected() > 0 {
        audit::record(
            &*txn,
            tenant,
            actor,
            "endpoint.line.release",
            Target::new("endpoint", &endpoint.id),
            None,
        )
        .await?;
    }
    txn.commit().await.context("releasing a line")?;
    if woken {
        ctx.dispatch.wake(Utc::now());
    }
    Ok(done.rows_affected() > 0)
}
