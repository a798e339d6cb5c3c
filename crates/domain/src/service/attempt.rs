//! The delivery log: attempts, and the destinations (message × endpoint) they belong to.

use chrono::{DateTime, DurationRound, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, QueryFilter, Set,
    sea_query::{Expr, Query},
};

use super::{
    audit::{self, Actor, Target},
    endpoint as endpoints, message as messages,
};
use crate::{
    Context, DbContext, Error, Result,
    entity::{attempt, destination, destination::Trigger, endpoint, message},
    id::{AppId, AttemptId, DestinationId, EndpointId, MessageId, TenantId},
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

/// Queues one more try of `message` to `endpoint`, now. The delivery engine makes it a
/// manual, single try; it does not restart the retry schedule.
pub async fn resend(
    ctx: &Context,
    tenant: &TenantId,
    app: &AppId,
    message_id: &str,
    endpoint_id: &str,
    actor: &Actor,
) -> Result<destination::Model> {
    let txn = crate::db::begin_write(ctx).await?;
    let message = messages::find(&txn, tenant, app, message_id).await?;
    let endpoint = endpoints::find(&txn, tenant, app, endpoint_id).await?;
    if message.payload.is_none() {
        return Err(Error::rejected(
            "the message's payload has expired; it cannot be sent again",
        ));
    }
    let now = Utc::now();
    let existing = destination::Entity::for_tenant(tenant)
        .filter(destination::Column::MessageId.eq(message.id.clone()))
        .filter(destination::Column::EndpointId.eq(endpoint.id.clone()))
        .one(&txn)
        .await
        .context("loading a destination")?;
    let dest = match existing {
        Some(dest) => {
            let mut active: destination::ActiveModel = dest.into();
            active.status = Set(destination::Status::Pending);
            active.next_attempt_at = Set(Some(now));
            active.next_trigger = Set(Trigger::Manual);
            active.updated_at = Set(now);
            active.update(&*txn).await.context("queueing a resend")?
        }
        None => destination::ActiveModel {
            id: Set(DestinationId::new()),
            tenant_id: Set(tenant.clone()),
            app_id: Set(app.clone()),
            message_id: Set(message.id.clone()),
            endpoint_id: Set(endpoint.id.clone()),
            status: Set(destination::Status::Pending),
            attempt_count: Set(0),
            next_attempt_at: Set(Some(now)),
            last_attempt_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            next_trigger: Set(Trigger::Manual),
            paced: Set(endpoint.paced()),
        }
        .insert(&*txn)
        .await
        .context("queueing a resend")?,
    };
    let details = serde_json::json!({ "endpoint": endpoint.id });
    audit::record(
        &txn,
        tenant,
        actor,
        "message.resend",
        Target::new("message", &message.id),
        Some(details),
    )
    .await?;
    txn.commit().await.context("committing a resend")?;
    ctx.dispatch.wake(now);
    Ok(dest)
}

/// Queues one more try for every failed delivery to `endpoint` made in `[since, until)`
/// and waits until they are queued. Returns how many were queued. The work is a
/// persisted `endpoint.recover` task (see [`super::task`]), run by the caller; to leave
/// it to the workers, use [`super::task::recover`].
pub async fn recover(
    ctx: &Context,
    tenant: &TenantId,
    app: &AppId,
    endpoint_id: &str,
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    actor: &Actor,
) -> Result<usize> {
    let window = super::task::Window::parse(since, until)?;
    let task = super::task::recover_now(ctx, tenant, app.as_str(), endpoint_id, window, actor).await?;
    Ok(usize::try_from(task.data.messages_sent.unwrap_or(0)).unwrap_or(usize::MAX))
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

/// What an expunged response body reads as, as on Svix.
pub const EXPUNGED: &str = "EXPUNGED";

/// Erases a message's payload (and the transformed bodies its tries sent), for good: the
/// API shows it as expired, its pending deliveries stop, and it can no longer be resent.
/// The log of its tries stays.
pub async fn expunge_message(
    ctx: &Context,
    tenant: &TenantId,
    message: &message::Model,
    actor: &Actor,
) -> Result<()> {
    let txn = crate::db::begin_write(ctx).await?;
    erase_payloads(&txn, tenant, std::slice::from_ref(&message.id)).await?;
    audit::record(
        &txn,
        tenant,
        actor,
        "message.expunge",
        Target::new("message", &message.id),
        None,
    )
    .await?;
    txn.commit().await.context("expunging a payload")
}

/// Erases the payloads of these messages and the transformed bodies their tries sent, in
/// the caller's transaction. Returns how many payloads there were to erase.
pub(crate) async fn erase_payloads<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    ids: &[MessageId],
) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let erased = message::Entity::update_for_tenant(tenant)
        .col_expr(
            message::Column::Payload,
            Expr::value(sea_orm::Value::String(None)),
        )
        .filter(message::Column::Id.is_in(ids.iter().cloned()))
        .filter(message::Column::Payload.is_not_null())
        .exec(conn)
        .await
        .context("expunging payloads")?;
    attempt::Entity::update_for_tenant(tenant)
        .col_expr(attempt::Column::Request, Expr::value(sea_orm::Value::Json(None)))
        .filter(attempt::Column::MessageId.is_in(ids.iter().cloned()))
        .exec(conn)
        .await
        .context("expunging sent bodies")?;
    Ok(erased.rows_affected)
}

/// Svix's `bulk-expunge`: erases the payloads of the application's messages named by id or
/// `eventId`, as [`expunge_message`] does one, in one transaction. Says for each name
/// whether it named a message (`true`) or nothing (`false`).
pub async fn expunge_messages(
    ctx: &Context,
    tenant: &TenantId,
    app: &AppId,
    names: &[String],
    actor: &Actor,
) -> Result<Vec<(String, bool)>> {
    for (i, name) in names.iter().enumerate() {
        crate::values::check_identifier("ids", name, 256).map_err(|e| e.at(format!("ids.{i}")))?;
        if names[..i].contains(name) {
            return Err(Error::invalid(
                format!("ids.{i}"),
                format!("`{name}` is listed twice"),
            ));
        }
    }
    let txn = crate::db::begin_write(ctx).await?;
    let mut results = Vec::with_capacity(names.len());
    let mut expunged = 0u64;
    // Chunks keep each statement under the databases' bound-parameter limits.
    for chunk in names.chunks(500) {
        let (ids, event_ids): (Vec<&String>, Vec<&String>) =
            chunk.iter().partition(|name| MessageId::parse(name).is_ok());
        let found = message::Entity::for_tenant(tenant)
            .filter(message::Column::AppId.eq(app.clone()))
            .filter(
                sea_orm::Condition::any()
                    .add(message::Column::Id.is_in(ids.iter().filter_map(|id| MessageId::parse(id).ok())))
                    .add(message::Column::EventId.is_in(event_ids.into_iter().cloned())),
            )
            .all(&txn)
            .await
            .context("loading messages to expunge")?;
        let named = |name: &String| {
            found.iter().find(|m| match MessageId::parse(name) {
                Ok(id) => m.id == id,
                Err(_) => m.event_id.as_ref() == Some(name),
            })
        };
        let mut hit = Vec::new();
        for name in chunk {
            let message = named(name);
            results.push((name.clone(), message.is_some()));
            hit.extend(message.map(|m| m.id.clone()));
        }
        expunged += erase_payloads(&txn, tenant, &hit).await?;
    }
    let found = results.iter().filter(|(_, found)| *found).count();
    audit::record(
        &txn,
        tenant,
        actor,
        "message.bulk_expunge",
        Target::new("application", app),
        Some(serde_json::json!({ "named": names.len(), "found": found, "expunged": expunged })),
    )
    .await?;
    txn.commit().await.context("expunging payloads")?;
    Ok(results)
}

/// Erases what the receiver answered to one try (and the body the try sent, if a
/// transformation shaped it); the try stays in the log, its response reading `EXPUNGED`.
pub async fn expunge_response(
    ctx: &Context,
    tenant: &TenantId,
    message: &message::Model,
    attempt_id: &str,
    actor: &Actor,
) -> Result<()> {
    let txn = crate::db::begin_write(ctx).await?;
    let found = get(&txn, tenant, message, attempt_id).await?;
    let mut active: attempt::ActiveModel = found.into();
    active.response_body = Set(Some(EXPUNGED.to_owned()));
    active.request = Set(None);
    let updated = active.update(&txn).await.context("expunging a response")?;
    audit::record(
        &txn,
        tenant,
        actor,
        "attempt.expunge",
        Target::new("attempt", &updated.id),
        None,
    )
    .await?;
    txn.commit().await.context("expunging a response")
}
