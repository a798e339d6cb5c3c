//! Inspector inboxes, Herald's extension: `/api/v1/inspector` to make and read them; the
//! public `/in/{token}` they receive on is in `inspector/receive.rs`.

mod receive;
pub(crate) mod relay;

pub(crate) use receive::receive;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::{
    Context,
    entity::{inbox::Step, inbox_request},
    id::{InboxId, InboxRequestId},
    pagination::Order,
    service::inspector::{self, Inbox, InboxChanges, Key, NewInbox, Response, Verdict},
    signing::SigningSecret,
};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::{
    error::{ApiResult, HttpErrorOut, HttpValidationError},
    extract::{Body, Caller, QueryParams},
    wire::{ListResponse, not_null, nullable, optional_object, optional_objects},
};

/// What an inbox answers once no script step is left.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InboxResponseIn {
    pub status: u16,
    #[serde(default)]
    pub body: Option<String>,
    /// Milliseconds to wait before answering (at most 30,000).
    #[serde(default)]
    pub delay_ms: Option<u32>,
}

/// One answer of a script.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScriptStepIn {
    pub status: u16,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub delay_ms: Option<u32>,
    /// Hold the request for 30 s (the longest delay) before answering, as a receiver that
    /// times out would.
    #[serde(default)]
    pub timeout: Option<bool>,
}

impl From<ScriptStepIn> for Step {
    fn from(s: ScriptStepIn) -> Self {
        Self {
            status: s.status,
            body: s.body,
            delay_ms: s.delay_ms,
            timeout: s.timeout.unwrap_or(false),
        }
    }
}

fn response(input: Option<InboxResponseIn>) -> domain::Result<Response> {
    match input {
        None => Ok(Response::default()),
        Some(r) => Response::parse(r.status, r.body, r.delay_ms),
    }
}

fn script(steps: Vec<ScriptStepIn>) -> domain::Result<domain::entity::inbox::Script> {
    inspector::parse_script(steps.into_iter().map(Step::from).collect())
}

/// A new inbox.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InboxIn {
    pub name: String,
    /// 200 with an empty body at once, unless given.
    #[serde(default, deserialize_with = "optional_object")]
    pub response: Option<InboxResponseIn>,
    /// Answers given in turn before `response`, e.g. 500, 500, then 200.
    #[serde(default, deserialize_with = "optional_objects")]
    pub script: Option<Vec<ScriptStepIn>>,
    /// How long the inbox lives: 3,600 (an hour) to 2,592,000 (30 days); 7 days unless given.
    #[serde(default)]
    pub expires_in_seconds: Option<i64>,
}

impl TryFrom<InboxIn> for NewInbox {
    type Error = domain::Error;

    fn try_from(input: InboxIn) -> Result<Self, Self::Error> {
        Ok(Self {
            name: inspector::parse_name(input.name)?,
            response: response(input.response)?,
            script: input.script.map(script).transpose()?,
            expires_in: match input.expires_in_seconds {
                None => inspector::DEFAULT_EXPIRY,
                Some(s) => inspector::parse_expiry(s)?,
            },
        })
    }
}

/// A PATCH of `script` given as a list of objects or `null`.
fn nullable_steps<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<Vec<ScriptStepIn>>>, D::Error> {
    optional_objects(deserializer).map(Some)
}

/// A change to an inbox: fields left out stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InboxPatch {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    /// `null` returns to 200 with an empty body at once.
    #[serde(default, deserialize_with = "crate::wire::nullable_object")]
    #[schema(value_type = Option<InboxResponseIn>)]
    pub response: Option<Option<InboxResponseIn>>,
    /// A new script, started from its first step; `null` removes it.
    #[serde(default, deserialize_with = "nullable_steps")]
    #[schema(value_type = Option<Vec<ScriptStepIn>>)]
    pub script: Option<Option<Vec<ScriptStepIn>>>,
}

impl TryFrom<InboxPatch> for InboxChanges {
    type Error = domain::Error;

    fn try_from(input: InboxPatch) -> Result<Self, Self::Error> {
        Ok(Self {
            name: not_null("name", input.name)?
                .map(inspector::parse_name)
                .transpose()?,
            response: input.response.map(response).transpose()?,
            script: input.script.map(|s| s.map(script).transpose()).transpose()?,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InboxResponseOut {
    pub status: u16,
    pub body: String,
    pub delay_ms: u32,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScriptStepOut {
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u32>,
    pub timeout: bool,
}

/// An inbox: where to send requests (`url`) and how it answers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InboxOut {
    /// `inbx_…`
    pub id: String,
    pub name: String,
    /// `{public URL}/in/{token}`: any method, any path below it.
    pub url: String,
    pub response: InboxResponseOut,
    pub script: Option<Vec<ScriptStepOut>>,
    /// How many script steps have been answered.
    pub script_position: u32,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl InboxOut {
    fn of(ctx: &Context, inbox: &Inbox) -> Self {
        let m = &inbox.model;
        Self {
            id: m.id.to_string(),
            name: m.name.clone(),
            url: inbox.url(ctx),
            response: InboxResponseOut {
                status: u16::try_from(m.response_status).unwrap_or_default(),
                body: m.response_body.clone(),
                delay_ms: u32::try_from(m.response_delay_ms).unwrap_or_default(),
            },
            script: m.script.as_ref().map(|s| {
                s.0.iter()
                    .map(|step| ScriptStepOut {
                        status: step.status,
                        body: step.body.clone(),
                        delay_ms: step.delay_ms,
                        timeout: step.timeout,
                    })
                    .collect()
            }),
            script_position: u32::try_from(m.script_cursor).unwrap_or_default(),
            expires_at: m.expires_at,
            created_at: m.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HeaderOut {
    pub name: String,
    pub value: String,
}

/// A request an inbox recorded.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InboxRequestOut {
    /// `inrq_…`
    pub id: String,
    pub inbox_id: String,
    pub method: String,
    /// The path after the token: empty or starting with `/`.
    pub path: String,
    /// The query string, without `?`.
    pub query: String,
    /// In the order received.
    pub headers: Vec<HeaderOut>,
    /// The body as text when it is UTF-8.
    pub body: Option<String>,
    /// The body in base64 when it is not UTF-8.
    pub body_base64: Option<String>,
    /// The body was longer than 256 KiB and is cut there.
    pub truncated: bool,
    pub content_type: Option<String>,
    pub source_address: Option<String>,
    pub received_at: DateTime<Utc>,
}

impl From<inbox_request::Model> for InboxRequestOut {
    fn from(r: inbox_request::Model) -> Self {
        let (body, body_base64) = match String::from_utf8(r.body) {
            Ok(text) => (Some(text), None),
            Err(e) => (None, Some(inspector::base64(e.as_bytes()))),
        };
        Self {
            id: r.id.to_string(),
            inbox_id: r.inbox_id.to_string(),
            method: r.method,
            path: r.path,
            query: r.query,
            headers: r
                .headers
                .0
                .into_iter()
                .map(|(name, value)| HeaderOut { name, value })
                .collect(),
            body,
            body_base64,
            truncated: r.truncated,
            content_type: r.content_type,
            source_address: r.source_address,
            received_at: r.received_at,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/inspector", tag = "Inspector",
    request_body = InboxIn,
    responses((status = 201, body = InboxOut), (status = 401, body = HttpErrorOut),
        (status = 422, body = HttpValidationError)))]
/// Herald's extension: creates an inbox, a URL that records what it receives.
pub(crate) async fn create(
    ctx: web::Data<Context>,
    caller: Caller,
    Body(input): Body<InboxIn>,
) -> ApiResult<HttpResponse> {
    let new = NewInbox::try_from(input)?;
    let inbox = inspector::create(&ctx, &caller.0.tenant, new).await?;
    Ok(HttpResponse::Created().json(InboxOut::of(&ctx, &inbox)))
}

#[utoipa::path(get, path = "/api/v1/inspector", tag = "Inspector",
    params(("limit" = Option<u64>, Query, minimum = 1, maximum = 250), ("iterator" = Option<String>, Query),
        ("order" = Option<String>, Query, description = "`ascending` or `descending` (the default)")),
    responses((status = 200, body = ListResponse<InboxOut>), (status = 401, body = HttpErrorOut),
        (status = 422, body = HttpValidationError)))]
/// Herald's extension: the tenant's inboxes that have not expired, newest first.
pub(crate) async fn list(
    ctx: web::Data<Context>,
    caller: Caller,
    query: QueryParams,
) -> ApiResult<HttpResponse> {
    let page = query.page(Order::Descending, |k| InboxId::parse(k).is_ok())?;
    let found = inspector::list(&ctx, &caller.0.tenant, &page).await?;
    Ok(HttpResponse::Ok().json(ListResponse::from_page(found, |i| InboxOut::of(&ctx, &i))))
}

#[utoipa::path(get, path = "/api/v1/inspector/{inbox_id}", tag = "Inspector",
    params(("inbox_id" = String, Path)),
    responses((status = 200, body = InboxOut), (status = 401, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut)))]
/// Herald's extension: one inbox.
pub(crate) async fn get(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let inbox = inspector::get(&ctx, &caller.0.tenant, &path).await?;
    Ok(HttpResponse::Ok().json(InboxOut::of(&ctx, &inbox)))
}

#[utoipa::path(patch, path = "/api/v1/inspector/{inbox_id}", tag = "Inspector",
    request_body = InboxPatch,
    params(("inbox_id" = String, Path)),
    responses((status = 200, body = InboxOut), (status = 401, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
/// Herald's extension: changes an inbox's name, response or script.
pub(crate) async fn patch(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
    Body(input): Body<InboxPatch>,
) -> ApiResult<HttpResponse> {
    let changes = InboxChanges::try_from(input)?;
    let inbox = inspector::update(&ctx, &caller.0.tenant, &path, changes).await?;
    Ok(HttpResponse::Ok().json(InboxOut::of(&ctx, &inbox)))
}

#[utoipa::path(delete, path = "/api/v1/inspector/{inbox_id}", tag = "Inspector",
    params(("inbox_id" = String, Path)),
    responses((status = 204), (status = 401, body = HttpErrorOut), (status = 404, body = HttpErrorOut)))]
/// Herald's extension: deletes an inbox and what it recorded.
pub(crate) async fn delete(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    inspector::delete(&ctx, &caller.0.tenant, &path).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/inspector/{inbox_id}/request", tag = "Inspector",
    params(("inbox_id" = String, Path),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 250), ("iterator" = Option<String>, Query),
        ("order" = Option<String>, Query, description = "`ascending` or `descending` (the default)")),
    responses((status = 200, body = ListResponse<InboxRequestOut>), (status = 401, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
/// Herald's extension: the requests an inbox recorded (the newest 200), newest first.
pub(crate) async fn requests(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
    query: QueryParams,
) -> ApiResult<HttpResponse> {
    let page = query.page(Order::Descending, |k| InboxRequestId::parse(k).is_ok())?;
    let found = inspector::requests(&ctx, &caller.0.tenant, &path, &page).await?;
    Ok(HttpResponse::Ok().json(ListResponse::from_page(found, InboxRequestOut::from)))
}

#[utoipa::path(get, path = "/api/v1/inspector/{inbox_id}/request/{request_id}", tag = "Inspector",
    params(("inbox_id" = String, Path), ("request_id" = String, Path)),
    responses((status = 200, body = InboxRequestOut), (status = 401, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut)))]
/// Herald's extension: one recorded request in full.
pub(crate) async fn request(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let found = inspector::request(&ctx, &caller.0.tenant, &path.0, &path.1).await?;
    Ok(HttpResponse::Ok().json(InboxRequestOut::from(found)))
}

/// The key to check a request's signature with: exactly one of an endpoint (its current
/// and earlier keys) or a pasted `whsec_…` key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VerifyIn {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub endpoint_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub secret: Option<Option<String>>,
}

impl TryFrom<VerifyIn> for Key {
    type Error = domain::Error;

    fn try_from(input: VerifyIn) -> Result<Self, Self::Error> {
        let endpoint = not_null("endpointId", input.endpoint_id)?;
        let secret = not_null("secret", input.secret)?;
        match (endpoint, secret) {
            (Some(endpoint), None) => Ok(Self::Endpoint(endpoint)),
            (None, Some(secret)) => {
                Ok(Self::Secret(SigningSecret::parse(&secret).map_err(|_| {
                    domain::Error::invalid("secret", "must be a `whsec_…` key")
                })?))
            }
            _ => Err(domain::Error::invalid(
                "endpointId",
                "give exactly one of `endpointId` and `secret`",
            )),
        }
    }
}

/// The Standard Webhooks verdict on a recorded request.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VerifyOut {
    pub valid: bool,
    /// Why not, when not valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg_id: Option<String>,
    /// When it was signed, in Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/inspector/{inbox_id}/request/{request_id}/verify", tag = "Inspector",
    request_body = VerifyIn,
    params(("inbox_id" = String, Path), ("request_id" = String, Path)),
    responses((status = 200, body = VerifyOut), (status = 401, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
/// Herald's extension: checks a recorded request's signature as a Standard Webhooks
/// receiver would have when it arrived, and says why it fails.
pub(crate) async fn verify(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<(String, String)>,
    Body(input): Body<VerifyIn>,
) -> ApiResult<HttpResponse> {
    let key = Key::try_from(input)?;
    let verdict = inspector::verify(&ctx, &caller.0.tenant, &path.0, &path.1, key).await?;
    let out = match verdict {
        Verdict::Valid { msg_id, timestamp } => VerifyOut {
            valid: true,
            reason: None,
            msg_id: Some(msg_id),
            timestamp: Some(timestamp),
        },
        Verdict::Invalid(why) => VerifyOut {
            valid: false,
            reason: Some(why.to_string()),
            msg_id: None,
            timestamp: None,
        },
    };
    Ok(HttpResponse::Ok().json(out))
}
