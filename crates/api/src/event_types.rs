//! `/api/v1/event-type`: the tenant's catalogue of event types, addressed by name.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::{
    Context,
    entity::event_type,
    pagination::Order,
    service::{
        catalogue,
        event_type::{self as types, EventTypeChanges, NewEventType},
    },
    values::EventTypeName,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    error::{ApiResult, HttpErrorOut},
    extract::{Body, Caller, QueryParams},
    wire::{ListResponse, not_null, nullable, upserted},
};

/// `featureFlags` with the one `featureFlag` older SDKs send, if any, among them.
fn parse_flags(flags: Option<Vec<String>>, flag: Option<String>) -> Result<Vec<String>, domain::Error> {
    let mut flags = types::parse_feature_flags("featureFlags", &flags.unwrap_or_default())?;
    if let Some(flag) = flag {
        flags.extend(types::parse_feature_flags("featureFlag", &[flag])?);
        flags.sort();
        flags.dedup();
    }
    Ok(flags)
}

/// Declares a whole event type body (POST's and PUT's): its own fields, then the fields
/// both carry, and `into_new` to make the domain's input of them under a checked name.
macro_rules! event_type_body {
    ($(#[$attr:meta])* pub(crate) struct $name:ident { $($own:tt)* }) => {
        $(#[$attr])*
        #[derive(Clone, Debug, Deserialize, ToSchema)]
        #[serde(rename_all = "camelCase")]
        pub(crate) struct $name {
            $($own)*
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
            /// Feature flags the event type is released under.
            #[serde(default)]
            pub feature_flags: Option<Vec<String>>,
            /// Deprecated by the SDKs in favour of `featureFlags`: one flag, which joins them.
            #[serde(default)]
            pub feature_flag: Option<String>,
            /// The group the event type is listed under.
            #[serde(default)]
            pub group_name: Option<String>,
        }

        impl $name {
            fn into_new(self, name: EventTypeName) -> Result<NewEventType, domain::Error> {
                Ok(NewEventType {
                    name,
                    description: types::parse_description(&self.description)?,
                    schemas: types::parse_schemas(self.schemas.unwrap_or_default())?,
                    archived: self.archived,
                    deprecated: self.deprecated,
                    feature_flags: parse_flags(self.feature_flags, self.feature_flag)?,
                    group_name: self
                        .group_name
                        .as_deref()
                        .map(types::parse_group_name)
                        .transpose()?,
                })
            }
        }
    };
}

event_type_body! {
    pub(crate) struct EventTypeIn {
        pub name: String,
    }
}

event_type_body! {
    /// PUT's body: like [`EventTypeIn`], with the name taken from the path.
    pub(crate) struct EventTypeUpdate {}
}

impl TryFrom<EventTypeIn> for NewEventType {
    type Error = domain::Error;

    fn try_from(input: EventTypeIn) -> Result<Self, Self::Error> {
        let name = EventTypeName::parse(&input.name)?;
        input.into_new(name)
    }
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
    /// `null` or `[]` clears them.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub feature_flags: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub feature_flag: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub group_name: Option<Option<String>>,
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
            feature_flags: match (input.feature_flags, input.feature_flag) {
                (None, None) => None,
                (flags, flag) => Some(parse_flags(flags.flatten(), flag.flatten())?),
            },
            group_name: input
                .group_name
                .map(|g| g.as_deref().map(types::parse_group_name).transpose())
                .transpose()?,
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub feature_flags: Vec<String>,
    /// The flag when there is exactly one, for SDKs that know only `featureFlag`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature_flag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
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
            feature_flag: match model.feature_flags.as_ref().map(|f| f.0.as_slice()) {
                Some([only]) => Some(only.clone()),
                _ => None,
            },
            feature_flags: model.feature_flags.map(|f| f.0).unwrap_or_default(),
            group_name: model.group_name,
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
    let new = input.into_new(name)?;
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

/// `POST /api/v1/event-type/import/openapi`: the document as JSON (`spec`) or as JSON or
/// YAML text (`specRaw`), exactly one of them.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventTypeImportOpenApiIn {
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub spec: Option<serde_json::Value>,
    #[serde(default)]
    pub spec_raw: Option<String>,
    /// Archive every event type the document does not describe.
    #[serde(default)]
    pub replace_all: bool,
    /// Answer what would change, and change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventTypeImportOpenApiOut {
    pub data: EventTypeImportOpenApiOutData,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventTypeImportOpenApiOutData {
    /// The event types created, changed or archived (or that would be, on a dry run).
    pub modified: Vec<String>,
    /// On a dry run, what they would become (snake_case on the wire, as Svix has it).
    #[serde(rename = "to_modify", skip_serializing_if = "Option::is_none")]
    pub to_modify: Option<Vec<EventTypeFromOpenApi>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventTypeFromOpenApi {
    pub name: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub schemas: Option<serde_json::Value>,
    pub deprecated: bool,
    pub archived: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub feature_flags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
}

impl From<NewEventType> for EventTypeFromOpenApi {
    fn from(new: NewEventType) -> Self {
        Self {
            name: new.name.into_string(),
            description: new.description,
            schemas: new.schemas,
            deprecated: new.deprecated,
            archived: new.archived,
            feature_flags: new.feature_flags,
            group_name: new.group_name,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/event-type/import/openapi", tag = "Event Type",
    request_body = EventTypeImportOpenApiIn,
    responses((status = 200, body = EventTypeImportOpenApiOut), (status = 400, body = HttpErrorOut),
        (status = 422, body = crate::error::HttpValidationError)))]
/// Creates or updates the event types an OpenAPI document's `webhooks` describe.
pub(crate) async fn import_openapi(
    ctx: web::Data<Context>,
    caller: Caller,
    Body(input): Body<EventTypeImportOpenApiIn>,
) -> ApiResult<HttpResponse> {
    let spec = match (input.spec, input.spec_raw) {
        (Some(spec), None) => spec,
        (None, Some(text)) => catalogue::parse_spec_text(&text)?,
        _ => {
            return Err(crate::error::ApiError::http(
                actix_web::http::StatusCode::BAD_REQUEST,
                "bad_request",
                "give the document as `spec` or as `specRaw`, one of them",
            ));
        }
    };
    let found = catalogue::from_openapi(&spec)?;
    let changed = catalogue::import(
        &ctx,
        &caller.0.tenant,
        found,
        input.replace_all,
        input.dry_run,
        &caller.0.actor(),
    )
    .await?;
    let modified = changed.iter().map(|t| t.name.as_str().to_owned()).collect();
    let to_modify = input
        .dry_run
        .then(|| changed.into_iter().map(EventTypeFromOpenApi::from).collect());
    Ok(HttpResponse::Ok().json(EventTypeImportOpenApiOut {
        data: EventTypeImportOpenApiOutData { modified, to_modify },
    }))
}
