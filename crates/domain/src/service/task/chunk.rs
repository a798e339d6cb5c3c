//! What one chunk of each kind of task does, in the transaction [`super::step`] gives it
//! (a replay also decides its chunk before, without the write lock). Each chunk starts
//! after the task's cursor and handles at most [`CHUNK`] rows in key order.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, Query},
};

use super::CHUNK;
use crate::{
    DbContext, Error, Result,
    db::Backend,
    entity::{
        background_task,
        destination::{self, Trigger},
        endpoint, message,
    },
    id::{AppId, DestinationId, EndpointId, MessageId, TenantId},
    scope::TenantScoped,
    service::{
        attempt::{self, StatusCodeClass},
        message::{self as messages, Filters},
    },
    values::EventTypeName,
};

/// What one chunk did.
pub(super) struct Chunk {
    /// Rows looked at: fewer than [`CHUNK`] means the task is through.
    pub(super) seen: usize,
    /// Rows changed (what the task counts).
    pub(super) done: u64,
    /// The key of the last row looked at.
    pub(super) last: Option<String>,
}

fn app_of(task: &background_task::Model) -> Result<AppId> {
    task.app_id
        .clone()
        .ok_or_else(|| Error::internal("running a background task", "it names no application"))
}

fn endpoint_of(task: &background_task::Model) -> Result<EndpointId> {
    task.params
        .endpoint_id
        .clone()
        .ok_or_else(|| Error::internal("running a background task", "it names no endpoint"))
}

fn window_of(task: &background_task::Model) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        task.params.since.unwrap_or(DateTime::<Utc>::MIN_UTC),
        task.params.until.unwrap_or(task.created_at),
    )
}

/// Makes these destinations due now for one manual try, those still in one of `from`.
async fn requeue<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    ids: Vec<DestinationId>,
    from: &[destination::Status],
    now: DateTime<Utc>,
) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let queued = destination::Entity::update_for_tenant(tenant)
        .col_expr(
            destination::Column::Status,
            Expr::value(destination::Status::Pending),
        )
        .col_expr(destination::Column::NextAttemptAt, Expr::value(Some(now)))
        .col_expr(destination::Column::NextTrigger, Expr::value(Trigger::Manual))
        .col_expr(destination::Column::UpdatedAt, Expr::value(now))
        .filter(destination::Column::Id.is_in(ids))
        .filter(destination::Column::Status.is_in(from.iter().copied()))
        .exec(conn)
        .await
        .context("queueing deliveries again")?;
    Ok(queued.rows_affected)
}

/// The endpoint's failed deliveries made in the window, after the cursor.
pub(super) async fn recover<C: ConnectionTrait>(
    conn: &C,
    task: &background_task::Model,
    now: DateTime<Utc>,
) -> Result<Chunk> {
    let tenant = &task.tenant_id;
    let (since, until) = window_of(task);
    let mut select = destination::Entity::for_tenant(tenant)
        .filter(destination::Column::EndpointId.eq(endpoint_of(task)?))
        .filter(destination::Column::Status.eq(destination::Status::Fail))
        .filter(destination::Column::CreatedAt.gte(since))
        .filter(destination::Column::CreatedAt.lt(until));
    if let Some(cursor) = &task.cursor {
        select = select.filter(destination::Column::Id.gt(cursor.clone()));
    }
    let failed = select
        .order_by_asc(destination::Column::Id)
        .limit(CHUNK)
        .all(conn)
        .await
        .context("finding failed deliveries")?;
    let ids = failed.iter().map(|d| d.id.clone()).collect();
    Ok(Chunk {
        seen: failed.len(),
        done: requeue(conn, tenant, ids, &[destination::Status::Fail], now).await?,
        last: failed.last().map(|d| d.id.to_string()),
    })
}

/// The next chunk of a replay, decided: the messages of the window after the cursor,
/// and a destination for each that the endpoint never had and would take now.
pub(super) struct ReplayPlan {
    seen: usize,
    last: Option<String>,
    fresh: Vec<destination::Model>,
}

/// Which of `messages` the endpoint has a destination for.
async fn had<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    endpoint: &EndpointId,
    messages: impl IntoIterator<Item = MessageId>,
) -> Result<HashSet<MessageId>> {
    Ok(destination::Entity::for_tenant(tenant)
        .select_only()
        .column(destination::Column::MessageId)
        .filter(destination::Column::EndpointId.eq(endpoint.clone()))
        .filter(destination::Column::MessageId.is_in(messages))
        .into_tuple::<MessageId>()
        .all(conn)
        .await
        .context("loading the endpoint's deliveries")?
        .into_iter()
        .collect())
}

/// Reads the next chunk of a replay and decides it; writes nothing.
pub(super) async fn replay_plan<C: ConnectionTrait>(
    conn: &C,
    task: &background_task::Model,
    now: DateTime<Utc>,
) -> Result<ReplayPlan> {
    let tenant = &task.tenant_id;
    let (since, until) = window_of(task);
    let endpoint = endpoint::Entity::find_in_tenant(tenant, endpoint_of(task)?)
        .one(conn)
        .await
        .context("loading an endpoint")?
        .ok_or(Error::NotFound("endpoint"))?;
    let mut select = message::Entity::for_tenant(tenant)
        .filter(message::Column::AppId.eq(app_of(task)?))
        .filter(message::Column::Id.gte(MessageId::first_at(since)))
        .filter(message::Column::Id.lt(MessageId::first_at(until)));
    if let Some(cursor) = &task.cursor {
        select = select.filter(message::Column::Id.gt(cursor.clone()));
    }
    let window = select
        .order_by_asc(message::Column::Id)
        .limit(CHUNK)
        .all(conn)
        .await
        .context("loading messages to replay")?;
    let seen = window.len();
    let last = window.last().map(|m| m.id.to_string());
    let had = had(conn, tenant, &endpoint.id, window.iter().map(|m| m.id.clone())).await?;
    let filters = Filters::of(std::slice::from_ref(&endpoint));
    let mut fresh = Vec::new();
    for mut msg in window {
        let wanted = !had.contains(&msg.id)
            && msg.payload.is_some()
            && messages::endpoint_wants(
                &endpoint,
                &msg.event_type,
                msg.channels.as_ref().map(|c| c.0.as_slice()),
            );
        if wanted && !filters.apply(&mut msg, vec![&endpoint]).await.is_empty() {
            fresh.extend(messages::new_destinations(&msg, &[&endpoint], 0));
        }
    }
    for dest in &mut fresh {
        dest.next_attempt_at = Some(now);
        dest.updated_at = now;
    }
    Ok(ReplayPlan { seen, last, fresh })
}

/// Writes a replay's planned destinations, but for any the endpoint got meanwhile (a
/// resend).
pub(super) async fn replay_apply<C: ConnectionTrait>(
    conn: &C,
    task: &background_task::Model,
    plan: ReplayPlan,
) -> Result<Chunk> {
    let ReplayPlan {
        seen,
        last,
        mut fresh,
    } = plan;
    if let Some(endpoint) = fresh.first().map(|d| d.endpoint_id.clone()) {
        let had = had(
            conn,
            &task.tenant_id,
            &endpoint,
            fresh.iter().map(|d| d.message_id.clone()),
        )
        .await?;
        fresh.retain(|d| !had.contains(&d.message_id));
    }
    messages::insert_destinations(conn, &fresh)
        .await
        .context("queueing missing deliveries")?;
    Ok(Chunk {
        seen,
        done: fresh.len() as u64,
        last,
    })
}

/// The endpoint's finished deliveries of messages of the window, after the cursor, that
/// pass the task's filters and still have their payload: each gets one more try.
pub(super) async fn bulk_replay<C: ConnectionTrait>(
    conn: &C,
    backend: Backend,
    task: &background_task::Model,
    now: DateTime<Utc>,
) -> Result<Chunk> {
    const SETTLED: [destination::Status; 2] = [destination::Status::Success, destination::Status::Fail];
    let tenant = &task.tenant_id;
    let p = &task.params;
    let (since, until) = window_of(task);
    let endpoint = endpoint_of(task)?;
    // Deliveries still on their way are being sent already.
    let statuses: Vec<destination::Status> = match p.status {
        None => SETTLED.to_vec(),
        Some(0) => vec![destination::Status::Success],
        Some(2) => vec![destination::Status::Fail],
        Some(_) => Vec::new(),
    };
    let mut select = destination::Entity::for_tenant(tenant)
        .filter(destination::Column::EndpointId.eq(endpoint.clone()))
        .filter(destination::Column::MessageId.gte(MessageId::first_at(since)))
        .filter(destination::Column::MessageId.lt(MessageId::first_at(until)))
        .filter(destination::Column::Status.is_in(statuses));
    let event_types = p
        .event_types
        .iter()
        .map(|t| EventTypeName::parse(t))
        .collect::<Result<Vec<_>>>()?;
    if let Some(matching) = attempt::messages_matching(
        backend,
        tenant,
        &event_types,
        p.channel.as_deref(),
        p.tag.as_deref(),
    ) {
        select = select.filter(destination::Column::MessageId.in_subquery(matching));
    }
    if let Some(class) = p.status_code_class {
        let class = StatusCodeClass::parse(&class.to_string())?;
        let tried = Query::select()
            .column(crate::entity::attempt::Column::DestinationId)
            .from(crate::entity::attempt::Entity)
            .and_where(crate::entity::attempt::Column::TenantId.eq(tenant.clone()))
            .and_where(crate::entity::attempt::Column::EndpointId.eq(endpoint.clone()))
            .cond_where(class.condition())
            .to_owned();
        select = select.filter(destination::Column::Id.in_subquery(tried));
    }
    if let Some(cursor) = &task.cursor {
        select = select.filter(destination::Column::Id.gt(cursor.clone()));
    }
    let found = select
        .order_by_asc(destination::Column::Id)
        .limit(CHUNK)
        .all(conn)
        .await
        .context("finding deliveries to replay")?;
    // A message whose payload was expunged cannot be sent again.
    let sendable: HashSet<MessageId> = message::Entity::for_tenant(tenant)
        .select_only()
        .column(message::Column::Id)
        .filter(message::Column::Id.is_in(found.iter().map(|d| d.message_id.clone())))
        .filter(message::Column::Payload.is_not_null())
        .into_tuple::<MessageId>()
        .all(conn)
        .await
        .context("loading messages to replay")?
        .into_iter()
        .collect();
    let ids = found
        .iter()
        .filter(|d| sendable.contains(&d.message_id))
        .map(|d| d.id.clone())
        .collect();
    Ok(Chunk {
        seen: found.len(),
        done: requeue(conn, tenant, ids, &SETTLED, now).await?,
        last: found.last().map(|d| d.id.to_string()),
    })
}

/// Messages of the application made before the task that still have a payload, after
/// the cursor: their payloads erased.
pub(super) async fn purge<C: ConnectionTrait>(conn: &C, task: &background_task::Model) -> Result<Chunk> {
    let tenant = &task.tenant_id;
    let (_, until) = window_of(task);
    let mut select = message::Entity::for_tenant(tenant)
        .select_only()
        .column(message::Column::Id)
        .filter(message::Column::AppId.eq(app_of(task)?))
        .filter(message::Column::Payload.is_not_null())
        .filter(message::Column::CreatedAt.lte(until));
    if let Some(cursor) = &task.cursor {
        select = select.filter(message::Column::Id.gt(cursor.clone()));
    }
    let ids: Vec<MessageId> = select
        .order_by_asc(message::Column::Id)
        .limit(CHUNK)
        .into_tuple()
        .all(conn)
        .await
        .context("finding payloads to expunge")?;
    Ok(Chunk {
        seen: ids.len(),
        last: ids.last().map(ToString::to_string),
        done: attempt::erase_payloads(conn, tenant, &ids).await?,
    })
}
