//! Messages: what a tenant sends once, and the destinations it fans out to.
//!
//! This file accepts messages and writes them with their destinations; `routing` says
//! which endpoints a message goes to, `read` finds and lists messages.

mod read;
mod routing;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, SqlErr};

use super::{
    application::{self, NewApplication},
    audit::Actor,
};
use crate::{
    Context, DbContext, Error, Result,
    cache::AppCopy,
    dispatch::{Dispatch, Slots},
    entity::{StringList, destination, destination::Trigger, endpoint, message},
    id::{AppId, DestinationId, EndpointId, MessageId, TenantId},
    scope::TenantScoped,
    service::{
        delivery::Claimed,
        intake::{Accepted, Written},
    },
    values::{Channels, EventTypeName, Uid},
};

pub(crate) use self::read::json_array_contains;
use self::routing::handed_over;
pub use self::{
    read::{MessageFilter, find, list},
    routing::{Filters, endpoint_wants, filter_input, precheck},
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
