//! Messages: what a tenant sends once, and the destinations it fans out to.

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, SqlErr,
    sea_query::{Expr, SimpleExpr},
};

use super::{
    application::{self, NewApplication},
    audit::Actor,
};
use crate::{
    Context, DbContext, Error, Result,
    cache::AppCopy,
    db::Backend,
    dispatch::{Dispatch, Slots},
    entity::{FilteredBy, FilteredOut, StringList, destination, destination::Trigger, endpoint, message},
    id::{AppId, DestinationId, EndpointId, MessageId, TenantId},
    pagination::{self, PageRequest, Paged},
    program::{self, Program},
    scope::TenantScoped,
    service::{
        delivery::Claimed,
        intake::{Accepted, Written},
    },
    values::{Channels, EventTypeName, Uid},
};

/// At most this many channels on one message.
pub const MAX_CHANNELS: usize = 5;
/// At most this many tags on one message.
pub const MAX_TAGS: usize = 5;

/// A valid message, ready to store.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub event_type: EventTypeName,
    /// The payload as the JSON text that will be signed and sent.
    pub payload: String,
    pub event_id: Option<String>,
    pub channels: Option<Channels>,
    pub tags: Option<Vec<String>>,
    /// Delivered then, not at once (`deliverAt`; see [`parse_deliver_at`]).
    pub deliver_at: Option<DateTime<Utc>>,
}

/// How far ahead a message may be scheduled (Svix's bound).
pub const MAX_SCHEDULE_AHEAD: chrono::Duration = chrono::Duration::hours(24);

/// A message's `deliverAt`: later than `now`, at most [`MAX_SCHEDULE_AHEAD`] after it.
pub fn parse_deliver_at(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if at <= now {
        return Err(Error::invalid("deliverAt", "must be in the future"));
    }
    if at - now > MAX_SCHEDULE_AHEAD {
        return Err(Error::invalid(
            "deliverAt",
            "must be at most 24 hours in the future",
        ));
    }
    Ok(at)
}

/// The message's `eventId`: the tenant's own idempotency key, unique per application.
pub fn parse_event_id(value: &str) -> Result<String> {
    crate::values::check_identifier("eventId", value, 256)?;
    Ok(value.to_owned())
}

/// Filters of a message list.
#[derive(Clone, Debug, Default)]
pub struct MessageFilter {
    pub event_types: Vec<EventTypeName>,
    pub channel: Option<String>,
    pub tag: Option<String>,
    pub before: Option<DateTime<Utc>>,
    pub after: Option<DateTime<Utc>>,
}

/// Does `endpoint` want a message of `event_type` on `channels`? Enabled, the event type in
/// its filter (or no filter), and, if it listens to channels, one of them on the message.
pub fn endpoint_wants(endpoint: &endpoint::Model, event_type: &str, channels: Option<&[String]>) -> bool {
    if endpoint.disabled {
        return false;
    }
    if let Some(filter) = &endpoint.filter_types
        && !filter.0.iter().any(|t| t == event_type)
    {
        return false;
    }
    match &endpoint.channels {
        None => true,
        Some(wanted) => channels.is_some_and(|sent| sent.iter().any(|c| wanted.0.contains(c))),
    }
}

/// Accepts a message: stores it with one destination per endpoint that wants it,
/// creating the application first if asked and missing. The destinations are the
/// durable record of work to do: once this returns, the message will be delivered.
/// After the commit, the ones a worker of this process had room for go to it directly
/// (they were written leased to it); the workers are woken for the rest.
///
/// The common case reads nothing: the application with its endpoints comes from this
/// process's copy (read in one query when there is none), and the message with its
/// destinations is written in one statement shared with the messages other requests
/// are accepting at the same moment ([`Intake`](super::intake::Intake)), which checks
/// that the copy still holds. Should the application or an endpoint have changed
/// meanwhile, or the application not exist yet, it is done again in one transaction
/// that reads and writes.
pub async fn create(
    ctx: &Context,
    tenant: &TenantId,
    app_id_or_uid: &str,
    inline_app: Option<NewApplication>,
    new: NewMessage,
    actor: &Actor,
) -> Result<(message::Model, Vec<destination::Model>)> {
    let key = (tenant.clone(), app_id_or_uid.to_owned());
    let copy = match ctx.caches.apps.get(&key) {
        Some(copy) => Some(copy),
        None => {
            let read = application::with_endpoints(&ctx.db, ctx.backend, tenant, app_id_or_uid).await?;
            if let Some(copy) = &read {
                ctx.caches.apps.put(key.clone(), copy.clone());
            }
            read
        }
    };
    if let Some(copy) = copy {
        match store(ctx, tenant, &copy, &new).await? {
            Some(stored) => return Ok(stored),
            // Changed since it was read: the copy goes, the message takes the slow path.
            None => ctx.caches.apps.forget(&key),
        }
    }
    let txn = crate::db::begin_write(ctx).await?;
    let app = match application::find(&txn, tenant, app_id_or_uid).await {
        Ok(app) => app,
        Err(Error::NotFound(what)) => match inline_app {
            None => return Err(Error::NotFound(what)),
            Some(mut new_app) => {
                if AppId::parse(app_id_or_uid).is_ok() {
                    return Err(Error::NotFound(what));
                }
                if new_app.uid.is_none() {
                    new_app.uid = Some(Uid::parse(app_id_or_uid)?);
                }
                application::insert(&txn, tenant, new_app, actor).await?
            }
        },
        Err(e) => return Err(e),
    };
    let created = insert_in(&txn, tenant, &app, new, None, Some(&*ctx.dispatch)).await?;
    txn.commit().await.context("committing a message")?;
    Ok(created.announce(&*ctx.dispatch))
}

/// Writes `new` with its destinations to the endpoints of `copy`; `None` (nothing
/// written) when the application or one of its endpoints changed since `copy` was read.
async fn store(
    ctx: &Context,
    tenant: &TenantId,
    copy: &AppCopy,
    new: &NewMessage,
) -> Result<Option<(message::Model, Vec<destination::Model>)>> {
    let mut msg = new_message(tenant, &copy.app, new.clone());
    let wanted: Vec<&endpoint::Model> = copy
        .endpoints
        .iter()
        .filter(|ep| endpoint_wants(ep, &msg.event_type, msg.channels.as_ref().map(|c| c.0.as_slice())))
        .collect();
    let mut wanted = copy.filters.apply(&mut msg, wanted).await;
    let slots = match handed_over(&msg, &mut wanted) {
        0 => None,
        n => ctx.dispatch.reserve(n),
    };
    let destinations = new_destinations(&msg, &wanted, slots.as_ref().map_or(0, |s| s.count()));
    let Some((accepted, written)) = ctx
        .intake
        .write(Accepted {
            message: msg,
            destinations,
            fingerprint: copy.fingerprint.clone(),
        })
        .await
    else {
        return Err(Error::internal(
            "storing a message",
            "the server is shutting down",
        ));
    };
    // An endpoint deleted while the statement ran (after the fingerprint's look).
    let written = match written {
        Err(e) if matches!(e.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_))) => Ok(Written::Stale),
        other => other,
    };
    match written.conflict_means(event_id_conflict(new), "storing a message")? {
        Written::Stale => Ok(None),
        Written::Stored => Ok(Some(
            Stored {
                message: accepted.message,
                destinations: accepted.destinations,
                slots,
            }
            .announce(&*ctx.dispatch),
        )),
    }
}

fn event_id_conflict(new: &NewMessage) -> String {
    match &new.event_id {
        Some(id) => format!("a message with eventId `{id}` already exists in this application"),
        None => String::new(),
    }
}

fn new_message(
    tenant: &TenantId,
    app: &crate::entity::application::Model,
    new: NewMessage,
) -> message::Model {
    message::Model {
        id: MessageId::new(),
        tenant_id: tenant.clone(),
        app_id: app.id.clone(),
        event_id: new.event_id,
        event_type: new.event_type.as_str().to_owned(),
        channels: new.channels.as_ref().map(Channels::to_strings).map(StringList),
        tags: new.tags.map(StringList),
        payload: Some(new.payload),
        created_at: Utc::now(),
        deliver_at: new.deliver_at,
        filtered: None,
    }
}

/// The compiled filters of an application's endpoints, by endpoint id. A stored source
/// that no longer compiles (it was saved by another version of Herald) filters every
/// message out, saying why.
#[derive(Clone, Debug, Default)]
pub struct Filters(HashMap<EndpointId, std::result::Result<Program, String>>);

impl Filters {
    /// Compiles the filters of `endpoints`.
    pub fn of(endpoints: &[endpoint::Model]) -> Self {
        Self(
            endpoints
                .iter()
                .filter_map(|ep| {
                    let source = ep.filter.as_deref()?;
                    let compiled =
                        Program::shared(source).map_err(|e| format!("the filter does not compile: {e}"));
                    Some((ep.id.clone(), compiled))
                })
                .collect(),
        )
    }

    /// Keeps the endpoints of `wanted` whose filters let `msg` through (all of them run
    /// in one hand-over to the program runners) and records on `msg` the others and why.
    pub(crate) async fn apply<'e>(
        &self,
        msg: &mut message::Model,
        wanted: Vec<&'e endpoint::Model>,
    ) -> Vec<&'e endpoint::Model> {
        if self.0.is_empty() || !wanted.iter().any(|ep| self.0.contains_key(&ep.id)) {
            return wanted;
        }
        let input: Arc<str> = Arc::from(filter_input(msg));
        let mut jobs = Vec::new();
        let mut verdicts: Vec<Option<std::result::Result<(), String>>> = Vec::with_capacity(wanted.len());
        for ep in &wanted {
            match self.0.get(&ep.id) {
                None => verdicts.push(Some(Ok(()))),
                Some(Err(e)) => verdicts.push(Some(Err(e.clone()))),
                Some(Ok(program)) => {
                    jobs.push((program.clone(), Arc::clone(&input)));
                    verdicts.push(None);
                }
            }
        }
        let mut runs = program::run_all(jobs).await.into_iter();
        let mut kept = Vec::with_capacity(wanted.len());
        let mut filtered = Vec::new();
        for (ep, verdict) in wanted.into_iter().zip(verdicts) {
            let verdict = verdict.unwrap_or_else(|| match runs.next() {
                Some(Ok(output)) if program::truthy(output.as_deref()) => Ok(()),
                Some(Ok(None)) => Err("the filter gave no output".to_owned()),
                Some(Ok(Some(output))) => Err(format!("the filter gave {output}")),
                Some(Err(failure)) => Err(failure.to_string()),
                None => Err("the filter did not run".to_owned()),
            });
            match verdict {
                Ok(()) => kept.push(ep),
                Err(reason) => filtered.push(FilteredBy {
                    endpoint_id: ep.id.to_string(),
                    reason,
                }),
            }
        }
        if !filtered.is_empty() {
            msg.filtered = Some(FilteredOut(filtered));
        }
        kept
    }
}

/// What a filter reads: `{eventType, channels, payload, tags}` (channels and tags are
/// `[]` when the message has none).
pub fn filter_input(msg: &message::Model) -> String {
    let list = |l: &Option<StringList>| serde_json::to_string(&l.as_ref().map_or(&[][..], |l| &l.0[..]));
    format!(
        r#"{{"eventType":{},"channels":{},"payload":{},"tags":{}}}"#,
        serde_json::Value::from(msg.event_type.as_str()),
        list(&msg.channels).unwrap_or_else(|_| "[]".into()),
        msg.payload.as_deref().unwrap_or("null"),
        list(&msg.tags).unwrap_or_else(|_| "[]".into()),
    )
}

/// Puts the endpoints whose deliveries may be handed to this process's worker first and
/// says how many they are: not those with a rate or a line, whose turns only a claim may
/// give (see `delivery::lane`), and none of a scheduled message, which is not due yet.
fn handed_over(msg: &message::Model, wanted: &mut [&endpoint::Model]) -> usize {
    if msg.deliver_at.is_some() {
        return 0;
    }
    wanted.sort_by_key(|ep| ep.paced());
    wanted.iter().take_while(|ep| !ep.paced()).count()
}

/// One destination of `msg` per endpoint, due now (or when it is scheduled for); the
/// first `leased` written leased to this process's worker.
pub(crate) fn new_destinations(
    msg: &message::Model,
    endpoints: &[&endpoint::Model],
    leased: usize,
) -> Vec<destination::Model> {
    let now = msg.created_at;
    let due = msg.deliver_at.unwrap_or(now);
    let lease_ends = now + super::delivery::LEASE;
    endpoints
        .iter()
        .enumerate()
        .map(|(i, ep)| destination::Model {
            id: DestinationId::new(),
            tenant_id: msg.tenant_id.clone(),
            app_id: msg.app_id.clone(),
            message_id: msg.id.clone(),
            endpoint_id: ep.id.clone(),
            status: if i < leased {
                destination::Status::Sending
            } else {
                destination::Status::Pending
            },
            attempt_count: 0,
            next_attempt_at: Some(if i < leased { lease_ends } else { due }),
            last_attempt_at: None,
            created_at: now,
            updated_at: now,
            next_trigger: Trigger::Scheduled,
            paced: ep.paced(),
        })
        .collect()
}

pub(crate) async fn insert_destinations<C: ConnectionTrait>(
    conn: &C,
    destinations: &[destination::Model],
) -> Result<(), DbErr> {
    // Batches keep each INSERT under the databases' bound-parameter limits.
    for chunk in destinations.chunks(500) {
        destination::Entity::insert_many(chunk.iter().cloned().map(destination::ActiveModel::from))
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// Would a message of `event_type` on `channels` go to any endpoint of the application
/// now? Svix's precheck, asked before building an expensive payload. Payload filters are
/// not asked: there is no payload yet.
pub async fn precheck(
    ctx: &Context,
    tenant: &TenantId,
    app_id_or_uid: &str,
    event_type: &EventTypeName,
    channels: Option<&Channels>,
) -> Result<bool> {
    let app = application::find(&ctx.db, tenant, app_id_or_uid).await?;
    let channels = channels.map(Channels::to_strings);
    let endpoints = endpoint::Entity::for_tenant(tenant)
        .filter(endpoint::Column::AppId.eq(app.id))
        .filter(endpoint::Column::Disabled.eq(false))
        .all(&ctx.db)
        .await
        .context("loading an application's endpoints")?;
    Ok(endpoints
        .iter()
        .any(|ep| endpoint_wants(ep, event_type.as_str(), channels.as_deref())))
}

/// Sends a test event of `event_type` to one endpoint only (the dashboard's "send test
/// event"), whatever its filters say; other endpoints of the application get nothing.
pub async fn send_test(
    ctx: &Context,
    tenant: &TenantId,
    endpoint: &endpoint::Model,
    event_type: EventTypeName,
    actor: &Actor,
) -> Result<message::Model> {
    let payload = serde_json::json!({
        "type": event_type.as_str(),
        "test": true,
        "sentAt": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    send_to_one(ctx, tenant, endpoint, event_type, payload, "endpoint.test", actor).await
}

/// Sends the example of an event type (`examples[index]` of its newest schema, else one
/// built from the schema, else `{}`) to one endpoint only: Svix's `send-example`.
pub async fn send_example(
    ctx: &Context,
    tenant: &TenantId,
    endpoint: &endpoint::Model,
    event_type: &str,
    index: usize,
    actor: &Actor,
) -> Result<message::Model> {
    let found = super::event_type::find(&ctx.db, tenant, event_type).await?;
    let given = super::event_type::examples_given(found.schemas.as_ref());
    // Without an `examples` array the index is ignored, as on Svix.
    if given > 0 && index >= given {
        return Err(Error::invalid(
            "exampleIndex",
            format!("the event type's schema has {given} examples (indexes from 0)"),
        ));
    }
    let payload =
        super::event_type::example(found.schemas.as_ref(), index).unwrap_or_else(|| serde_json::json!({}));
    let name = EventTypeName::parse(&found.name)?;
    send_to_one(ctx, tenant, endpoint, name, payload, "endpoint.example", actor).await
}

/// Stores a message for `endpoint` alone, whatever its subscriptions and filters say.
async fn send_to_one(
    ctx: &Context,
    tenant: &TenantId,
    endpoint: &endpoint::Model,
    event_type: EventTypeName,
    payload: serde_json::Value,
    action: &'static str,
    actor: &Actor,
) -> Result<message::Model> {
    if endpoint.disabled {
        return Err(Error::rejected(
            "the endpoint is disabled; enable it to send it a test event",
        ));
    }
    let txn = crate::db::begin_write(ctx).await?;
    let app = application::find(&txn, tenant, endpoint.app_id.as_str()).await?;
    let new = NewMessage {
        event_type,
        payload: payload.to_string(),
        event_id: None,
        channels: None,
        tags: None,
        deliver_at: None,
    };
    let created = insert_in(&txn, tenant, &app, new, Some(&endpoint.id), None).await?;
    let message = created.message.clone();
    super::audit::record(
        &txn,
        tenant,
        actor,
        action,
        super::audit::Target::new("endpoint", &endpoint.id),
        Some(serde_json::json!({ "message": message.id.as_str() })),
    )
    .await?;
    txn.commit().await.context("committing a test event")?;
    created.announce(&*ctx.dispatch);
    Ok(message)
}

/// A message stored with its destinations, not yet announced to the workers.
pub(crate) struct Stored {
    pub(crate) message: message::Model,
    /// The first `slots.count()` of them are leased to this process's worker.
    pub(crate) destinations: Vec<destination::Model>,
    slots: Option<Box<dyn Slots>>,
}

impl Stored {
    /// After the commit: hands the leased destinations to this process's worker and wakes
    /// the workers for the others.
    pub(crate) fn announce(self, dispatch: &dyn Dispatch) -> (message::Model, Vec<destination::Model>) {
        let Self {
            message,
            destinations,
            slots,
        } = self;
        let leased = slots.as_ref().map_or(0, |s| s.count()).min(destinations.len());
        if let Some(slots) = slots {
            let work = destinations[..leased]
                .iter()
                .map(|d| Claimed {
                    destination: d.clone(),
                    message: message.clone(),
                    send_at: None,
                })
                .collect();
            slots.fill(work);
        }
        if destinations.len() > leased {
            dispatch.wake(message.created_at);
        }
        (message, destinations)
    }
}

/// Stores a message of `app` with its destinations, due now, in the caller's
/// transaction. With `dispatch`, as many destinations as this process's worker has free
/// slots for are written leased to it (see [`Stored::announce`]).
pub(crate) async fn insert_in(
    txn: &sea_orm::DatabaseTransaction,
    tenant: &TenantId,
    app: &crate::entity::application::Model,
    new: NewMessage,
    only: Option<&EndpointId>,
    dispatch: Option<&dyn Dispatch>,
) -> Result<Stored> {
    let conflict = event_id_conflict(&new);
    let mut msg = new_message(tenant, app, new);
    let endpoints = endpoint::Entity::for_tenant(tenant)
        .filter(endpoint::Column::AppId.eq(app.id.clone()))
        .filter(endpoint::Column::Disabled.eq(false))
        .all(txn)
        .await
        .context("loading endpoints")?;
    let wanted: Vec<&endpoint::Model> = endpoints
        .iter()
        .filter(|ep| match only {
            Some(id) => ep.id == *id,
            None => endpoint_wants(ep, &msg.event_type, msg.channels.as_ref().map(|c| c.0.as_slice())),
        })
        .collect();
    // A test event to one endpoint goes whatever its filter says.
    let mut wanted = match only {
        Some(_) => wanted,
        None => Filters::of(&endpoints).apply(&mut msg, wanted).await,
    };
    message::Entity::insert(message::ActiveModel::from(msg.clone()))
        .exec_without_returning(txn)
        .await
        .conflict_means(conflict, "storing a message")?;
    let slots = match (dispatch, handed_over(&msg, &mut wanted)) {
        (Some(dispatch), n) if n > 0 => dispatch.reserve(n),
        _ => None,
    };
    let destinations = new_destinations(&msg, &wanted, slots.as_ref().map_or(0, |s| s.count()));
    insert_destinations(txn, &destinations)
        .await
        .context("storing destinations")?;
    Ok(Stored {
        message: msg,
        destinations,
        slots,
    })
}

/// A message of an application, by id or by the tenant's `eventId`.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    app: &AppId,
    id_or_event_id: &str,
) -> Result<message::Model> {
    let select = message::Entity::for_tenant(tenant).filter(message::Column::AppId.eq(app.clone()));
    let select = match MessageId::parse(id_or_event_id) {
        Ok(id) => select.filter(message::Column::Id.eq(id)),
        Err(_) => select.filter(message::Column::EventId.eq(id_or_event_id)),
    };
    select
        .one(conn)
        .await
        .context("loading a message")?
        .ok_or(Error::NotFound("message"))
}

/// `column` (a JSON array of strings) contains `value`, on either database.
pub(crate) fn json_array_contains(backend: Backend, table: &str, column: &str, value: &str) -> SimpleExpr {
    match backend {
        Backend::Postgres => Expr::cust_with_values(
            format!("\"{table}\".\"{column}\" @> CAST($1 AS jsonb)"),
            [serde_json::json!([value]).to_string()],
        ),
        Backend::Sqlite => Expr::cust_with_values(
            format!("EXISTS (SELECT 1 FROM json_each(\"{table}\".\"{column}\") WHERE json_each.value = ?)"),
            [value.to_owned()],
        ),
    }
}

/// An application's messages, newest first.
pub async fn list(
    ctx: &Context,
    tenant: &TenantId,
    app: &AppId,
    page: &PageRequest,
    filter: &MessageFilter,
) -> Result<Paged<message::Model>> {
    let mut select = message::Entity::for_tenant(tenant).filter(message::Column::AppId.eq(app.clone()));
    if !filter.event_types.is_empty() {
        select =
            select.filter(message::Column::EventType.is_in(filter.event_types.iter().map(|t| t.as_str())));
    }
    if let Some(channel) = &filter.channel {
        select = select.filter(json_array_contains(ctx.backend, "message", "channels", channel));
    }
    if let Some(tag) = &filter.tag {
        select = select.filter(json_array_contains(ctx.backend, "message", "tags", tag));
    }
    if let Some(before) = filter.before {
        select = select.filter(message::Column::Id.lt(MessageId::first_at(before)));
    }
    if let Some(after) = filter.after {
        select = select.filter(message::Column::CreatedAt.gt(after));
    }
    pagination::fetch(&ctx.db, select, message::Column::Id, page, |m| m.id.to_string()).await
}

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, EntityTrait, QueryFilter, QueryTrait};

    use crate::{db::Backend, entity::message};

    /// sea-query fills `$1` on PostgreSQL and `?` on SQLite in custom SQL; a wrong one
    /// leaves the placeholder unbound.
    #[test]
    fn channel_filters_bind_their_value_on_both_databases() {
        for (backend, db, expected) in [
            (
                Backend::Postgres,
                DbBackend::Postgres,
                r#"@> CAST('["eu"]' AS jsonb)"#,
            ),
            (Backend::Sqlite, DbBackend::Sqlite, "json_each.value = 'eu'"),
        ] {
            #[expect(clippy::disallowed_methods, reason = "renders SQL; runs no query")]
            let sql = message::Entity::find()
                .filter(super::json_array_contains(backend, "message", "channels", "eu"))
                .build(db)
                .to_string();
            assert!(sql.contains(expected), "{sql}");
        }
    }
}
