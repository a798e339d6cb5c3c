//! `/api/v1/event-type`: the tenant's catalogue of event types, addressed by name.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::{
    Context,
    entity::event_type,
    pagination::Order,
    service::event_type::{self as types, EventTypeChanges, NewEventType},
    values::EventTypeName,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    error::{ApiResult, HttpErrorOut},
    extract::{Body, Caller, QueryParams},
    wire::{ListResponse, not_null, nullable, upserted},
};

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventTypeIn {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// JSON Schemas of the payload by version, e.g. `{"1": {...}}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub schemas: Option<serde_json::Value>,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub deprecated: bool,
    #[serde(default)]
    pub feature_flag: Option<String>,
}

fn parse_flag(flag: Option<String>) -> Result<Option<String>, domain::Error> {
    flag.map(|f| EventTypeName::parse_field("featureFlag", &f).map(EventTypeName::into_string))
        .transpose()
}

impl TryFrom<EventTypeIn> for NewEventType {
    type Error = domain::Error;

    fn try_from(input: EventTypeIn) -> Result<Self, Self::Error> {
        Ok(Self {
            name: EventTypeName::parse(&input.name)?,
            description: types::parse_description(&input.description)?,
            schemas: types::parse_schemas(input.schemas.unwrap_or_default())?,
            archived: input.archived,
            deprecated: input.deprecated,
            feature_flag: parse_flag(input.feature_flag)?,
        })
    }
}

/// PUT's body: like [`EventTypeIn`], with the name taken from the path.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventTypeUpdate {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub schemas: Option<serde_json::Value>,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub deprecated: bool,
    #[serde(default)]
    pub feature_flag: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventTypePatch {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    pub schemas: Option<Option<serde_json::Value>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<bool>)]
    pub archived: Option<Option<bool>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<bool>)]
    pub deprecated: Option<Option<bool>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub feature_flag: Option<Option<String>>,
}

impl TryFrom<EventTypePatch> for EventTypeChanges {
    type Error = domain::Error;

    fn try_from(input: EventTypePatch) -> Result<Self, Self::Error> {
        Ok(Self {
            description: not_null("description", input.description)?
                .as_deref()
                .map(types::parse_description)
                .transpose()?,
            schemas: input
                .schemas
                .map(|s| types::parse_schemas(s.unwrap_or_default()))
                .transpose()?,
            archived: not_null("archived", input.archived)?,
            deprecated: not_null("deprecated", input.deprecated)?,
            feature_flag: input.feature_flag.map(parse_flag).transpose()?,
        })
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventTypeOut {
    pub name: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub schemas: Option<serde_json::Value>,
    pub archived: bool,
    pub deprecated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature_flag: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl EventTypeOut {
    fn new(model: event_type::Model, with_content: bool) -> Self {
        Self {
            name: model.name,
            description: model.description,
            schemas: model.schemas.filter(|_| with_content),
            archived: model.archived,
            deprecated: model.deprecated,
            feature_flag: model.feature_flag,
            created_at: model.created_at,
            updated_at: model.updated_at,
        }
    }
}

impl From<event_type::Model> for EventTypeOut {
    fn from(model: event_type::Model) -> Self {
        Self::new(model, true)
    }
}

#[utoipa::path(get, path = "/api/v1/event-type", tag = "Event Type",
    params(("limit" = Option<u64>, Query), ("iterator" = Option<String>, Query), ("order" = Option<String>, Query),
        ("include_archived" = Option<bool>, Query), ("with_content" = Option<bool>, Query)),
    responses((status = 200, body = ListResponse<EventTypeOut>)))]
pub(crate) async fn list(
    ctx: web::Data<Context>,
    caller: Caller,
    query: QueryParams,
) -> ApiResult<HttpResponse> {
    let page = query.page(Order::Ascending, |k| EventTypeName::parse(k).is_ok())?;
    let include_archived = query.flag("include_archived")?.unwrap_or(false);
    let with_content = query.flag("with_content")?.unwrap_or(true);
    let found = types::list(&ctx.db, &caller.0.tenant, &page, include_archived).await?;
    Ok(HttpResponse::Ok().json(ListResponse::from_page(found, |m| {
        EventTypeOut::new(m, with_content)
    })))
}

#[utoipa::path(post, path = "/api/v1/event-type", tag = "Event Type", request_body = EventTypeIn,
    responses((status = 201, body = EventTypeOut), (status = 409, body = HttpErrorOut)))]
pub(crate) async fn create(
    ctx: web::Data<Context>,
    caller: Caller,
    Body(input): Body<EventTypeIn>,
) -> ApiResult<HttpResponse> {
    let new = NewEventType::try_from(input)?;
    let model = types::create(&ctx, &caller.0.tenant, new, &caller.0.actor()).await?;
    Ok(HttpResponse::Created().json(EventTypeOut::from(model)))
}

#[utoipa::path(get, path = "/api/v1/event-type/{event_type_name}", tag = "Event Type",
    params(("event_type_name" = String, Path)),
    responses((status = 200, body = EventTypeOut), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn get(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let model = types::find(&ctx.db, &caller.0.tenant, &path).await?;
    Ok(HttpResponse::Ok().json(EventTypeOut::from(model)))
}

#[utoipa::path(put, path = "/api/v1/event-type/{event_type_name}", tag = "Event Type", request_body = EventTypeUpdate,
    params(("event_type_name" = String, Path)),
    responses((status = 200, body = EventTypeOut), (status = 201, body = EventTypeOut)))]
pub(crate) async fn put(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
    Body(input): Body<EventTypeUpdate>,
) -> ApiResult<HttpResponse> {
    let name = EventTypeName::parse(&path)?;
    let new = NewEventType::try_from(EventTypeIn {
        name: name.into_string(),
        description: input.description,
        schemas: input.schemas,
        archived: input.archived,
        deprecated: input.deprecated,
        feature_flag: input.feature_flag,
    })?;
    let (model, created) = types::upsert(&ctx, &caller.0.tenant, &path, new, &caller.0.actor()).await?;
    Ok(upserted(created, EventTypeOut::from(model)))
}

#[utoipa::path(patch, path = "/api/v1/event-type/{event_type_name}", tag = "Event Type", request_body = EventTypePatch,
    params(("event_type_name" = String, Path)),
    responses((status = 200, body = EventTypeOut), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn patch(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
    Body(input): Body<EventTypePatch>,
) -> ApiResult<HttpResponse> {
    let changes = EventTypeChanges::try_from(input)?;
    let model = types::patch(&ctx, &caller.0.tenant, &path, changes, &caller.0.actor()).await?;
    Ok(HttpResponse::Ok().json(EventTypeOut::from(model)))
}

#[utoipa::path(delete, path = "/api/v1/event-type/{event_type_name}", tag = "Event Type",
    params(("event_type_name" = String, Path), ("expunge" = Option<bool>, Query)),
    responses((status = 204), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn delete(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
    query: QueryParams,
) -> ApiResult<HttpResponse> {
    let expunge = query.flag("expunge")?.unwrap_or(false);
    types::delete(&ctx, &caller.0.tenant, &path, expunge, &caller.0.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}
