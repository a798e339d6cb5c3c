//! `POST /api/v1/environment/export` and `…/import`: the tenant's event-type catalogue as
//! one document, so a team moves it between Svix and Herald, or between Herald tenants.
//!
//! Svix's export also carries portal settings and connectors, which Herald does not have:
//! an import accepts them (a Svix export goes in unchanged), applies none, and logs that.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::{
    Context,
    service::{catalogue, event_type::NewEventType},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    error::{ApiResult, HttpErrorOut},
    event_types::{EventTypeIn, EventTypeOut},
    extract::{Body, Caller},
};

/// What an export holds; the version of its shape.
const VERSION: i64 = 1;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EnvironmentOut {
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub event_types: Vec<EventTypeOut>,
    /// Herald has no environment settings: always `{}`.
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    /// Herald has no connectors: always empty.
    #[schema(value_type = Vec<Object>)]
    pub connectors: Vec<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EnvironmentIn {
    #[serde(default, deserialize_with = "crate::wire::optional_objects")]
    pub event_types: Option<Vec<EventTypeIn>>,
    /// Accepted and not applied (see the module's note).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Map<String, serde_json::Value>>,
    /// Accepted and not applied.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub connectors: Option<Vec<serde_json::Map<String, serde_json::Value>>>,
}

#[utoipa::path(post, path = "/api/v1/environment/export", tag = "Environment",
    responses((status = 200, body = EnvironmentOut), (status = 401, body = HttpErrorOut)))]
/// Every event type of the tenant, archived ones too.
pub(crate) async fn export(ctx: web::Data<Context>, caller: Caller) -> ApiResult<HttpResponse> {
    let types = catalogue::export(&ctx.db, &caller.0.tenant).await?;
    Ok(HttpResponse::Ok().json(EnvironmentOut {
        version: VERSION,
        created_at: Utc::now(),
        event_types: types.into_iter().map(EventTypeOut::from).collect(),
        settings: serde_json::json!({}),
        connectors: Vec::new(),
    }))
}

#[utoipa::path(post, path = "/api/v1/environment/import", tag = "Environment", request_body = Option<EnvironmentIn>,
    responses((status = 204), (status = 422, body = crate::error::HttpValidationError)))]
/// Creates or replaces the event types of an export, in one transaction; event types the
/// document does not name stay as they are.
pub(crate) async fn import(
    ctx: web::Data<Context>,
    caller: Caller,
    Body(input): Body<Option<EnvironmentIn>>,
) -> ApiResult<HttpResponse> {
    let input = input.unwrap_or_default();
    let types = input
        .event_types
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, t)| NewEventType::try_from(t).map_err(|e| e.within(&format!("eventTypes.{i}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let ignored_settings = input.settings.as_ref().map_or(0, |s| s.len());
    let ignored_connectors = input.connectors.as_ref().map_or(0, Vec::len);
    if ignored_settings + ignored_connectors > 0 {
        tracing::info!(
            tenant = %caller.0.tenant,
            ignored_settings,
            ignored_connectors,
            "environment import: settings and connectors are not applied (Herald has none)"
        );
    }
    catalogue::import(&ctx, &caller.0.tenant, types, false, false, &caller.0.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}
