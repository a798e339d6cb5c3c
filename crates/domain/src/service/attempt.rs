//! The delivery log: attempts, and the destinations (message × endpoint) they belong to.
//!
//! This file reads the log; `resend` queues tries again and `expunge` erases what was
//! sent and answered.

mod expunge;
mod resend;

use chrono::{DateTime, DurationRound, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, sea_query::Query};

pub(crate) use self::expunge::erase_payloads;
pub use self::{
    expunge::{EXPUNGED, expunge_message, expunge_messages, expunge_response},
    resend::{recover, resend},
};
use super::message as messages;
use crate::{
    Context, DbContext, Error, Result,
    entity::{attempt, destination, endpoint, message},
    id::{AppId, AttemptId, EndpointId, MessageId, TenantId},
    pagination::{self, PageRequest, Paged},
    scope::TenantScoped,
    values::EventTypeName,
};

/// Filters of an attempt list.
#[derive(Clone, Debug, Default)]
pub struct AttemptFilter {
    pub status: Option<attempt::Status>,
    pub endpoint: Option<EndpointId>,
    pub event_types: Vec<EventTypeName>,
    pub channel: Option<String>,
    pub tag: Option<String>,
    /// Only tries whose response status is in this class.
    pub status_code_class: Option<StatusCodeClass>,
    pub before: Option<DateTime<Utc>>,
    pub after: Option<DateTime<Utc>>,
}

/// A class of response statuses as Svix's `status_code_class` spells it: `0` for tries
/// without a response, `100` to `500` for the 1xx to 5xx answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusCodeClass(u16);

impl StatusCodeClass {
    pub fn parse(text: &str) -> Result<Self> {
        match text.parse::<u16>() {
            Ok(class @ (0 | 100 | 200 | 300 | 400 | 500)) => Ok(Self(class)),
            _ => Err(Error::invalid(
                "status_code_class",
                "must be 0 (no response), 100, 200, 300, 400 or 500",
            )),
        }
    }

    /// The class as Svix numbers it.
    pub fn value(self) -> u16 {
        self.0
    }

    /// Tries whose response status is in this class.
    pub(crate) fn condition(self) -> sea_orm::Condition {
        if self.0 == 0 {
            sea_orm::Condition::any()
                .add(attempt::Column::ResponseStatus.is_null())
                .add(attempt::Column::ResponseStatus.eq(0))
        } else {
            let low = i32::from(self.0);
            sea_orm::Condition::all().add(attempt::Column::ResponseStatus.between(low, low + 99))
        }
    }
}

/// Which messages to list for an endpoint (`GET …/endpoint/{id}/msg`).
#[derive(Clone, Debug, Default)]
pub struct EndpointMessageFilter {
    pub status: Option<destination::Status>,
    pub event_types: Vec<EventTypeName>,
    pub channel: Option<String>,
    pub tag: Option<String>,
    pub before: Option<DateTime<Utc>>,
    pub after: Option<DateTime<Utc>>,
}

/// The ids of the tenant's messages of these types, on this channel, with this tag.
pub(crate) fn messages_matching(
    backend: crate::db::Backend,
    tenant: &TenantId,
    event_types: &[EventTypeName],
    channel: Option<&str>,
    tag: Option<&str>,
) -> Option<sea_orm::sea_query::SelectStatement> {
    if event_types.is_empty() && channel.is_none() && tag.is_none() {
        return None;
    }
    let mut messages = Query::select();
    messages
        .column(message::Column::Id)
        .from(message::Entity)
        .and_where(message::Column::TenantId.eq(tenant.clone()));
    if !event_types.is_empty() {
        messages.and_where(message::Column::EventType.is_in(event_types.iter().map(|t| t.as_str())));
    }
    if let Some(channel) = channel {
        messages.and_where(messages::json_array_contains(
            backend, "message", "channels", channel,
        ));
    }
    if let Some(tag) = tag {
        messages.and_where(messages::json_array_contains(backend, "message", "tags", tag));
    }
    Some(messages.to_owned())
}

fn attempt_page_key(a: &attempt::Model) -> String {
    a.id.to_string()
}

fn narrow(
    ctx: &Context,
    mut select: sea_orm::Select<attempt::Entity>,
    tenant: &TenantId,
    filter: &AttemptFilter,
) -> sea_orm::Select<attempt::Entity> {
    if let Some(status) = filter.status {
        select = select.filter(attempt::Column::Status.eq(status));
    }
    if let Some(endpoint) = &filter.endpoint {
        select = select.filter(attempt::Column::EndpointId.eq(endpoint.clone()));
    }
    if let Some(before) = filter.before {
        select = select.filter(attempt::Column::Id.lt(AttemptId::first_at(before)));
    }
    if let Some(after) = filter.after {
        select = select.filter(attempt::Column::CreatedAt.gt(after));
    }
    if let Some(class) = filter.status_code_class {
        select = select.filter(class.condition());
    }
    if let Some(messages) = messages_matching(
        ctx.backend,
        tenant,
        &filter.event_types,
        filter.channel.as_deref(),
        filter.tag.as_deref(),
    ) {
        select = select.filter(attempt::Column::MessageId.in_subquery(messages));
    }
    select
}

/// One page of `select`'s attempts, filtered, newest first.
async fn fetch(
    ctx: &Context,
    tenant: &TenantId,
    select: sea_orm::Select<attempt::Entity>,
    page: &PageRequest,
    filter: &AttemptFilter,
) -> Result<Paged<attempt::Model>> {
    pagination::fetch(
        &ctx.db,
        narrow(ctx, select, tenant, filter),
        attempt::Column::Id,
        page,
        attempt_page_key,
    )
    .await
}

/// Attempts to one endpoint, newest first.
pub async fn list_by_endpoint(
    ctx: &Context,
    tenant: &TenantId,
    endpoint: &endpoint::Model,
    page: &PageRequest,
    filter: &AttemptFilter,
) -> Result<Paged<attempt::Model>> {
    let select =
        attempt::Entity::for_tenant(tenant).filter(attempt::Column::EndpointId.eq(endpoint.id.clone()));
    fetch(ctx, tenant, select, page, filter).await
}

/// Attempts across one application, newest first (the delivery log).
pub async fn list_by_app(
    ctx: &Context,
    tenant: &TenantId,
    app: &AppId,
    page: &PageRequest,
    filter: &AttemptFilter,
) -> Result<Paged<attempt::Model>> {
    let select = attempt::Entity::for_tenant(tenant).filter(attempt::Column::AppId.eq(app.clone()));
    fetch(ctx, tenant, select, page, filter).await
}

/// Deliveries of one application still waiting for a try (or being tried), newest
/// first, optionally to one endpoint.
pub async fn pending_of_app<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    app: &AppId,
    endpoint: Option<&EndpointId>,
    page: &PageRequest,
) -> Result<Paged<destination::Model>> {
    let mut select = destination::Entity::for_tenant(tenant)
        .filter(destination::Column::AppId.eq(app.clone()))
        .filter(
            destination::Column::Status.is_in([destination::Status::Pending, destination::Status::Sending]),
        );
    if let Some(endpoint) = endpoint {
        select = select.filter(destination::Column::EndpointId.eq(endpoint.clone()));
    }
    pagination::fetch(conn, select, destination::Column::Id, page, |d| d.id.to_string()).await
}

/// Attempts of one message, newest first.
pub async fn list_by_message(
    ctx: &Context,
    tenant: &TenantId,
    message: &message::Model,
    page: &PageRequest,
    filter: &AttemptFilter,
) -> Result<Paged<attempt::Model>> {
    let select =
        attempt::Entity::for_tenant(tenant).filter(attempt::Column::MessageId.eq(message.id.clone()));
    fetch(ctx, tenant, select, page, filter).await
}

pub async fn get<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    message: &message::Model,
    id: &str,
) -> Result<attempt::Model> {
    let id = AttemptId::parse(id).map_err(|_| Error::NotFound("message attempt"))?;
    attempt::Entity::find_in_tenant(tenant, id)
        .filter(attempt::Column::MessageId.eq(message.id.clone()))
        .one(conn)
        .await
        .context("loading an attempt")?
        .ok_or(Error::NotFound("message attempt"))
}

/// The endpoints a message was (or is being) delivered to, with each delivery's state.
pub async fn destinations_of_message<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    message: &message::Model,
    page: &PageRequest,
) -> Result<Paged<(destination::Model, endpoint::Model)>> {
    let select =
        destination::Entity::for_tenant(tenant).filter(destination::Column::MessageId.eq(message.id.clone()));
    let page = pagination::fetch(conn, select, destination::Column::Id, page, |d| d.id.to_string()).await?;
    let ids: Vec<EndpointId> = page.data.iter().map(|d| d.endpoint_id.clone()).collect();
    let endpoints = endpoint::Entity::for_tenant(tenant)
        .filter(endpoint::Column::Id.is_in(ids))
        .all(conn)
        .await
        .context("loading endpoints")?;
    Ok(join(page, endpoints, |d, e: &endpoint::Model| {
        d.endpoint_id == e.id
    }))
}

/// The messages sent (or being sent) to an endpoint, with each delivery's state, newest first.
pub async fn messages_of_endpoint(
    ctx: &Context,
    tenant: &TenantId,
    endpoint: &endpoint::Model,
    page: &PageRequest,
    filter: &EndpointMessageFilter,
) -> Result<Paged<(destination::Model, message::Model)>> {
    let conn = &ctx.db;
    let mut select = destination::Entity::for_tenant(tenant)
        .filter(destination::Column::EndpointId.eq(endpoint.id.clone()));
    if let Some(status) = filter.status {
        select = select.filter(destination::Column::Status.eq(status));
    }
    if let Some(before) = filter.before {
        select = select.filter(destination::Column::Id.lt(crate::id::DestinationId::first_at(before)));
    }
    if let Some(after) = filter.after {
        select = select.filter(destination::Column::CreatedAt.gt(after));
    }
    if let Some(messages) = messages_matching(
        ctx.backend,
        tenant,
        &filter.event_types,
        filter.channel.as_deref(),
        filter.tag.as_deref(),
    ) {
        select = select.filter(destination::Column::MessageId.in_subquery(messages));
    }
    let page = pagination::fetch(conn, select, destination::Column::Id, page, |d| d.id.to_string()).await?;
    let ids: Vec<MessageId> = page.data.iter().map(|d| d.message_id.clone()).collect();
    let found = messages_by_id(conn, tenant, ids).await?;
    Ok(join(page, found, |d, m: &message::Model| d.message_id == m.id))
}

/// The tenant's messages with these ids (those still there).
pub async fn messages_by_id<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    ids: Vec<MessageId>,
) -> Result<Vec<message::Model>> {
    message::Entity::for_tenant(tenant)
        .filter(message::Column::Id.is_in(ids))
        .all(conn)
        .await
        .context("loading messages")
}

/// Pairs each destination with its row in `others`; destinations whose row vanished
/// (deleted meanwhile) drop out.
fn join<T: Clone>(
    page: Paged<destination::Model>,
    others: Vec<T>,
    matches: impl Fn(&destination::Model, &T) -> bool,
) -> Paged<(destination::Model, T)> {
    let data = page
        .data
        .into_iter()
        .filter_map(|d| others.iter().find(|o| matches(&d, o)).cloned().map(|o| (d, o)))
        .collect();
    Paged {
        data,
        iterator: page.iterator,
        prev_iterator: page.prev_iterator,
        done: page.done,
    }
}

/// Attempts of one hour.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Hour {
    pub start: DateTime<Utc>,
    pub succeeded: u64,
    pub failed: u64,
    /// Mean response time of the hour's attempts, in milliseconds.
    pub mean_ms: f64,
}

/// Attempts per hour over the `hours` hours before `now` (oldest first), for the whole
/// tenant or one endpoint. One grouped count per hour, each cut by the id index (ids sort
/// by time).
pub async fn hourly<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    endpoint: Option<&EndpointId>,
    hours: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Hour>> {
    use sea_orm::{
        QuerySelect,
        sea_query::{Expr, ExprTrait},
    };
    let top = now.duration_trunc(chrono::Duration::hours(1)).unwrap_or(now) + chrono::Duration::hours(1);
    let mut out = Vec::new();
    for back in (1..=hours).rev() {
        let start = top - chrono::Duration::hours(back);
        let end = start + chrono::Duration::hours(1);
        let mut select = attempt::Entity::for_tenant(tenant)
            .select_only()
            .column(attempt::Column::Status)
            .column_as(Expr::col(attempt::Column::Id).count(), "n")
            // PostgreSQL sums bigints into numeric; the cast keeps it an integer on both.
            .column_as(Expr::cust("CAST(SUM(duration_ms) AS BIGINT)"), "total_ms")
            .filter(attempt::Column::Id.gte(AttemptId::first_at(start)))
            .filter(attempt::Column::Id.lt(AttemptId::first_at(end)))
            .group_by(attempt::Column::Status);
        if let Some(endpoint) = endpoint {
            select = select.filter(attempt::Column::EndpointId.eq(endpoint.clone()));
        }
        let rows = select
            .into_tuple::<(attempt::Status, i64, Option<i64>)>()
            .all(conn)
            .await
            .context("counting attempts")?;
        let mut hour = Hour {
            start,
            ..Hour::default()
        };
        let mut total_ms = 0i64;
        for (status, n, ms) in rows {
            let n = u64::try_from(n).unwrap_or(0);
            match status {
                attempt::Status::Success => hour.succeeded += n,
                attempt::Status::Fail => hour.failed += n,
            }
            total_ms += ms.unwrap_or(0);
        }
        let count = hour.succeeded + hour.failed;
        if count > 0 {
            hour.mean_ms = total_ms as f64 / count as f64;
        }
        out.push(hour);
    }
    Ok(out)
}
