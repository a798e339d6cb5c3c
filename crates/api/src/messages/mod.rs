//! `/api/v1/app/{app_id}/msg`: messages (sent, listed, an example sent to one endpoint,
//! the precheck, a payload expunged). Their deliveries and attempts are in [`attempts`].

mod attempts;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::{
    Context,
    entity::message,
    id::MessageId,
    pagination::Order,
    service::{
        application::{self as apps, NewApplication},
        attempt, endpoint as endpoints,
        message::{self as messages, MessageFilter, NewMessage},
    },
    values::{Channels, EventTypeName},
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use crate::{
    applications::ApplicationIn,
    error::{ApiError, ApiResult, HttpErrorOut},
    extract::{Body, Caller, QueryParams},
    wire::ListResponse,
};

// The route table and the OpenAPI document name every handler as `messages::…`.
pub(crate) use self::attempts::*;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessageIn {
    pub event_type: String,
    /// A JSON object; it is delivered byte for byte as sent.
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    /// Your own id for the event, unique per application (a duplicate answers 409).
    #[serde(default)]
    pub event_id: Option<String>,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Deliver then rather than at once: later than now, at most 24 hours ahead. Its
    /// destinations wait as pending until then.
    #[serde(default)]
    pub deliver_at: Option<DateTime<Utc>>,
    /// Creates the application first if the path names a uid that does not exist yet.
    #[serde(default, deserialize_with = "crate::wire::optional_object")]
    pub application: Option<ApplicationIn>,
}

impl TryFrom<MessageIn> for (NewMessage, Option<NewApplication>) {
    type Error = domain::Error;

    fn try_from(input: MessageIn) -> Result<Self, Self::Error> {
        if !input.payload.get().trim_start().starts_with('{') {
            return Err(domain::Error::invalid("payload", "must be a JSON object"));
        }
        let tags = match input.tags.filter(|t| !t.is_empty()) {
            None => None,
            Some(tags) => Some(Channels::parse("tags", &tags, messages::MAX_TAGS)?.to_strings()),
        };
        let message = NewMessage {
            event_type: EventTypeName::parse_field("eventType", &input.event_type)?,
            payload: input.payload.get().to_owned(),
            event_id: input
                .event_id
                .as_deref()
                .map(messages::parse_event_id)
                .transpose()?,
            channels: input
                .channels
                .filter(|c| !c.is_empty())
                .map(|c| Channels::parse("channels", &c, messages::MAX_CHANNELS))
                .transpose()?,
            tags,
            deliver_at: input
                .deliver_at
                .map(|at| messages::parse_deliver_at(at, Utc::now()))
                .transpose()?,
        };
        let app = input
            .application
            .map(|a| NewApplication::try_from(a).map_err(|e| e.within("application")))
            .transpose()?;
        Ok((message, app))
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessageOut {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub event_type: String,
    /// The payload; `{}` when listed without content or when it has expired.
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    pub timestamp: DateTime<Utc>,
    /// When it was scheduled for, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliver_at: Option<DateTime<Utc>>,
    /// Herald's extension: endpoints that take this message's type and channels but whose
    /// `filter` kept it from them, and why (`false`, an error, a limit reached).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filtered_out: Vec<FilteredOut>,
}

/// An endpoint whose filter kept a message from it.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FilteredOut {
    pub endpoint_id: String,
    pub reason: String,
}

/// The payload as stored; `{}` when not asked for, `{"expired": true}` once retention or
/// an expunge erased it (as Svix shows both).
fn payload_view(payload: Option<String>, with_content: bool) -> Box<RawValue> {
    let text = match (with_content, payload) {
        (false, _) => "{}".to_owned(),
        (true, Some(text)) => text,
        (true, None) => r#"{"expired":true}"#.to_owned(),
    };
    RawValue::from_string(text)
        .unwrap_or_else(|_| RawValue::from_string("{}".to_owned()).expect("`{}` is JSON"))
}

impl MessageOut {
    fn new(m: message::Model, with_content: bool) -> Self {
        Self {
            id: m.id.to_string(),
            event_id: m.event_id,
            event_type: m.event_type,
            payload: payload_view(m.payload, with_content),
            channels: m.channels.map(|c| c.0),
            tags: m.tags.map(|t| t.0),
            timestamp: m.created_at,
            deliver_at: m.deliver_at,
            filtered_out: m
                .filtered
                .map(|f| f.0)
                .unwrap_or_default()
                .into_iter()
                .map(|f| FilteredOut {
                    endpoint_id: f.endpoint_id,
                    reason: f.reason,
                })
                .collect(),
        }
    }
}

fn with_content(query: &QueryParams, default: bool) -> ApiResult<bool> {
    Ok(query.flag("with_content")?.unwrap_or(default))
}

fn event_types(query: &QueryParams) -> ApiResult<Vec<EventTypeName>> {
    query
        .list("event_types")
        .iter()
        .enumerate()
        .map(|(i, t)| {
            EventTypeName::parse(t).map_err(|e| ApiError::from(e.at(format!("query.event_types.{i}"))))
        })
        .collect()
}

#[utoipa::path(post, path = "/api/v1/app/{app_id}/msg", tag = "Message", request_body = MessageIn,
    params(("app_id" = String, Path), ("with_content" = Option<bool>, Query)),
    responses((status = 202, body = MessageOut), (status = 404, body = HttpErrorOut), (status = 409, body = HttpErrorOut)))]
pub(crate) async fn create(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
    query: QueryParams,
    Body(input): Body<MessageIn>,
) -> ApiResult<HttpResponse> {
    let with_content = with_content(&query, true)?;
    let (new, app) = <(NewMessage, Option<NewApplication>)>::try_from(input)?;
    let (msg, _) = messages::create(&ctx, &caller.0.tenant, &path, app, new, &caller.0.actor()).await?;
    Ok(HttpResponse::Accepted().json(MessageOut::new(msg, with_content)))
}

#[utoipa::path(get, path = "/api/v1/app/{app_id}/msg", tag = "Message",
    params(("app_id" = String, Path), ("limit" = Option<u64>, Query), ("iterator" = Option<String>, Query),
        ("event_types" = Option<Vec<String>>, Query), ("channel" = Option<String>, Query), ("tag" = Option<String>, Query),
        ("before" = Option<String>, Query), ("after" = Option<String>, Query), ("with_content" = Option<bool>, Query)),
    responses((status = 200, body = ListResponse<MessageOut>), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn list(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
    query: QueryParams,
) -> ApiResult<HttpResponse> {
    let page = query.page(Order::Descending, |k| MessageId::parse(k).is_ok())?;
    let filter = MessageFilter {
        event_types: event_types(&query)?,
        channel: query.one("channel").map(str::to_owned),
        tag: query.one("tag").map(str::to_owned),
        before: query.time("before")?,
        after: query.time("after")?,
    };
    let with_content = with_content(&query, true)?;
    let app = apps::find(&ctx.db, &caller.0.tenant, &path).await?;
    let found = messages::list(&ctx, &caller.0.tenant, &app.id, &page, &filter).await?;
    Ok(HttpResponse::Ok().json(ListResponse::from_page(found, |m| {
        MessageOut::new(m, with_content)
    })))
}

async fn find_message(ctx: &Context, caller: &Caller, app: &str, msg: &str) -> ApiResult<message::Model> {
    let app = apps::find(&ctx.db, &caller.0.tenant, app).await?;
    Ok(messages::find(&ctx.db, &caller.0.tenant, &app.id, msg).await?)
}

#[utoipa::path(get, path = "/api/v1/app/{app_id}/msg/{msg_id}", tag = "Message",
    params(("app_id" = String, Path), ("msg_id" = String, Path, description = "The message's id or eventId"),
        ("with_content" = Option<bool>, Query)),
    responses((status = 200, body = MessageOut), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn get(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<(String, String)>,
    query: QueryParams,
) -> ApiResult<HttpResponse> {
    let with_content = with_content(&query, true)?;
    let msg = find_message(&ctx, &caller, &path.0, &path.1).await?;
    Ok(HttpResponse::Ok().json(MessageOut::new(msg, with_content)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventExampleIn {
    pub event_type: String,
    /// Which of the schema's `examples` (from 0); without examples, one is built from the
    /// schema.
    #[serde(default)]
    pub example_index: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example", tag = "Endpoint",
    request_body = EventExampleIn, params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 202, body = MessageOut), (status = 404, body = HttpErrorOut),
        (status = 409, body = HttpErrorOut), (status = 422, body = crate::error::HttpValidationError)))]
/// Sends the event type's example payload to this endpoint only, as a logged message.
pub(crate) async fn send_example(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<(String, String)>,
    Body(input): Body<EventExampleIn>,
) -> ApiResult<HttpResponse> {
    let index = match input.example_index {
        None => 0,
        Some(i) => {
            usize::try_from(i).map_err(|_| domain::Error::invalid("exampleIndex", "must be 0 or more"))?
        }
    };
    let app = apps::find(&ctx.db, &caller.0.tenant, &path.0).await?;
    let endpoint = endpoints::find(&ctx.db, &caller.0.tenant, &app.id, &path.1).await?;
    let sent = messages::send_example(
        &ctx,
        &caller.0.tenant,
        &endpoint,
        &input.event_type,
        index,
        &caller.0.actor(),
    )
    .await?;
    Ok(HttpResponse::Accepted().json(MessageOut::new(sent, true)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessagePrecheckIn {
    pub event_type: String,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MessagePrecheckOut {
    /// Whether any endpoint would take such a message now.
    pub active: bool,
}

#[utoipa::path(post, path = "/api/v1/app/{app_id}/msg/precheck/active", tag = "Message",
    request_body = MessagePrecheckIn, params(("app_id" = String, Path)),
    responses((status = 200, body = MessagePrecheckOut), (status = 404, body = HttpErrorOut),
        (status = 422, body = crate::error::HttpValidationError)))]
/// Whether a message of this type (and channels) would go to any endpoint now.
pub(crate) async fn precheck(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
    Body(input): Body<MessagePrecheckIn>,
) -> ApiResult<HttpResponse> {
    let event_type = EventTypeName::parse_field("eventType", &input.event_type)?;
    let channels = input
        .channels
        .filter(|c| !c.is_empty())
        .map(|c| Channels::parse("channels", &c, messages::MAX_CHANNELS))
        .transpose()?;
    let active = messages::precheck(&ctx, &caller.0.tenant, &path, &event_type, channels.as_ref()).await?;
    Ok(HttpResponse::Ok().json(MessagePrecheckOut { active }))
}

#[utoipa::path(delete, path = "/api/v1/app/{app_id}/msg/{msg_id}/content", tag = "Message",
    params(("app_id" = String, Path), ("msg_id" = String, Path)),
    responses((status = 204), (status = 404, body = HttpErrorOut)))]
/// Erases the message's payload for good: it reads `{"expired": true}` afterwards, its
/// pending deliveries stop, and it can no longer be resent.
pub(crate) async fn expunge_content(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let msg = find_message(&ctx, &caller, &path.0, &path.1).await?;
    attempt::expunge_message(&ctx, &caller.0.tenant, &msg, &caller.0.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}
