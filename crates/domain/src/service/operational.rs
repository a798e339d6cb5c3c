//! Operational webhooks: Herald's own events about a tenant's deliveries, sent to the
//! endpoints the tenant registers under `/api/v1/operational-webhook/endpoint`.
//!
//! Those endpoints belong to a hidden application of the tenant, so an operational event
//! is an ordinary message of that application: stored, fanned out, signed, retried and
//! logged like any other, in the transaction of the try that caused it. Events about the
//! operational application's own deliveries are never emitted (no loops).

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::DatabaseTransaction;
use serde_json::{Value, json};

use super::{application, message};
use crate::{
    DbContext, Error, Result,
    entity::{application as app_entity, endpoint, message as message_entity},
    id::{AppId, AttemptId, TenantId},
    scope::TenantScoped,
    values::EventTypeName,
};

pub const ATTEMPT_EXHAUSTED: &str = "message.attempt.exhausted";
pub const ATTEMPT_FAILING: &str = "message.attempt.failing";
pub const ATTEMPT_RECOVERED: &str = "message.attempt.recovered";
pub const ENDPOINT_DISABLED: &str = "endpoint.disabled";

/// Every event type an operational endpoint can subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    ATTEMPT_EXHAUSTED,
    ATTEMPT_FAILING,
    ATTEMPT_RECOVERED,
    ENDPOINT_DISABLED,
];

/// A destination that has failed this many scheduled tries in a row is reported as
/// failing; a later success is reported as recovered.
pub const FAILING_AFTER_TRIES: i32 = 4;

/// Checks an operational endpoint's event-type filter.
pub fn check_event_types(types: &[EventTypeName]) -> Result<()> {
    for (i, name) in types.iter().enumerate() {
        if !EVENT_TYPES.contains(&name.as_str()) {
            return Err(Error::invalid(
                format!("eventTypes.{i}"),
                format!(
                    "`{}` is not an operational event type; use one of {}",
                    name.as_str(),
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// The try an attempt event is about.
#[derive(Clone, Debug)]
pub struct LastAttempt {
    pub id: AttemptId,
    pub response_status: Option<u16>,
    pub at: DateTime<Utc>,
}

/// What happened.
#[derive(Clone, Debug)]
pub enum Event<'a> {
    /// `message.attempt.exhausted`, `.failing` or `.recovered`.
    Attempt {
        kind: &'static str,
        message: &'a message_entity::Model,
        endpoint: &'a endpoint::Model,
        last: LastAttempt,
    },
    /// `endpoint.disabled`, by Herald (`410 Gone`, or failing for too long).
    EndpointDisabled {
        endpoint: &'a endpoint::Model,
        failing_since: Option<DateTime<Utc>>,
    },
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Event<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Self::Attempt { kind, .. } => kind,
            Self::EndpointDisabled { .. } => ENDPOINT_DISABLED,
        }
    }

    fn source_app(&self) -> &AppId {
        match self {
            Self::Attempt { endpoint, .. } | Self::EndpointDisabled { endpoint, .. } => &endpoint.app_id,
        }
    }

    /// The event's JSON, as Svix sends it.
    fn payload(&self, app: &app_entity::Model, now: DateTime<Utc>) -> Value {
        let data = match self {
            Self::Attempt {
                message,
                endpoint,
                last,
                ..
            } => json!({
                "appId": app.id.to_string(),
                "appUid": app.uid,
                "msgId": message.id.to_string(),
                "msgEventId": message.event_id,
                "endpointId": endpoint.id.to_string(),
                "lastAttempt": {
                    "id": last.id.to_string(),
                    "responseStatusCode": last.response_status.map_or(0, i32::from),
                    "timestamp": time(last.at),
                },
            }),
            Self::EndpointDisabled {
                endpoint,
                failing_since,
            } => json!({
                "appId": app.id.to_string(),
                "appUid": app.uid,
                "endpointId": endpoint.id.to_string(),
                "endpointUid": endpoint.uid,
                "failSince": failing_since.map(time),
                "trigger": "automatic",
            }),
        };
        json!({ "type": self.kind(), "timestamp": time(now), "data": data })
    }
}

/// Queues `event` to the tenant's operational endpoints, in `txn`; says whether it did
/// (the caller wakes the workers after its commit). Does nothing when the tenant has
/// none, or when the event is about an operational delivery itself.
pub async fn emit(txn: &DatabaseTransaction, tenant: &TenantId, event: Event<'_>) -> Result<bool> {
    let Some(operational) = application::operational(txn, tenant).await? else {
        return Ok(false);
    };
    if &operational.id == event.source_app() {
        return Ok(false);
    }
    let Some(source) = app_entity::Entity::find_in_tenant(tenant, event.source_app().clone())
        .one(txn)
        .await
        .context("loading an application")?
    else {
        return Ok(false);
    };
    let payload = event.payload(&source, Utc::now()).to_string();
    let new = message::NewMessage {
        event_type: EventTypeName::parse(event.kind())?,
        payload,
        event_id: None,
        channels: None,
        tags: None,
        deliver_at: None,
    };
    let stored = message::insert_in(txn, tenant, &operational, new, None, None).await?;
    tracing::info!(tenant = %tenant, event = event.kind(), "operational event queued");
    Ok(!stored.destinations.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_operational_event_types_are_accepted() {
        let ok: Vec<EventTypeName> = EVENT_TYPES
            .iter()
            .map(|t| EventTypeName::parse(t).unwrap())
            .collect();
        assert!(check_event_types(&ok).is_ok());
        let bad = [EventTypeName::parse("invoice.paid").unwrap()];
        let err = check_event_types(&bad).unwrap_err().to_string();
        assert!(err.contains("not an operational event type"), "{err}");
    }
}
