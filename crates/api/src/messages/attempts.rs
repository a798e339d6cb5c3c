//! The delivery log over the API: attempts by endpoint and by message, where a message
//! goes and what an endpoint got, resends, and a response expunged.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::{
    Context,
    entity::{attempt, destination, endpoint},
    id::{AttemptId, DestinationId, EndpointId},
    pagination::Order,
    service::{
        application as apps,
        attempt::{self as attempts, AttemptFilter, EndpointMessageFilter, StatusCodeClass},
        endpoint as endpoints,
    },
};
use serde::Serialize;
use utoipa::ToSchema;

use super::{MessageOut, event_types, find_message, with_content};
use crate::{
    endpoints::EndpointOut,
    error::{ApiError, ApiResult, HttpErrorOut},
    extract::{Caller, QueryParams},
    wire::ListResponse,
};

/// Delivery status as the Svix API numbers it: 0 success, 1 pending, 2 fail, 3 sending.
fn status_code(status: destination::Status) -> (u8, &'static str) {
    match status {
        destination::Status::Success => (0, "success"),
        destination::Status::Pending => (1, "pending"),
        destination::Status::Fail => (2, "fail"),
        destination::Status::Sending => (3, "sending"),
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessageAttemptOut {
    pub id: String,
    pub msg_id: String,
    pub endpoint_id: String,
    pub url: String,
    /// The response body (truncated), or why there was none.
    pub response: String,
    /// 0 when no HTTP response came back.
    pub response_status_code: i16,
    pub response_duration_ms: i64,
    /// 0 success, 2 fail.
    pub status: u8,
    pub status_text: &'static str,
    /// 0 scheduled, 1 manual.
    pub trigger_type: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt: Option<DateTime<Utc>>,
    pub timestamp: DateTime<Utc>,
    /// Herald's extension: the exact request sent, when the endpoint's transformation
    /// shaped it (credentials shown as `[credentials]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<SentRequestOut>,
    /// The message, with `with_msg=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<MessageOut>,
}

/// A request as it was sent.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SentRequestOut {
    pub method: String,
    pub url: String,
    pub headers: std::collections::BTreeMap<String, String>,
    /// The exact bytes of the body.
    pub body: String,
}

impl From<attempt::Model> for MessageAttemptOut {
    fn from(a: attempt::Model) -> Self {
        let (status, status_text) = match a.status {
            attempt::Status::Success => (0, "success"),
            attempt::Status::Fail => (2, "fail"),
        };
        let response = match (a.response_body, a.error_reason) {
            (Some(body), _) => body,
            (None, Some(reason)) => reason,
            (None, None) => String::new(),
        };
        Self {
            id: a.id.to_string(),
            msg_id: a.message_id.to_string(),
            endpoint_id: a.endpoint_id.to_string(),
            url: a.url,
            response,
            response_status_code: a.response_status.and_then(|s| i16::try_from(s).ok()).unwrap_or(0),
            response_duration_ms: a.duration_ms,
            status,
            status_text,
            trigger_type: match a.trigger {
                attempt::Trigger::Scheduled => 0,
                attempt::Trigger::Manual => 1,
            },
            error_kind: a.error_kind.map(|k| k.as_str().to_owned()),
            next_attempt: a.next_attempt_at,
            timestamp: a.created_at,
            msg: None,
            request: a.request.map(|r| SentRequestOut {
                method: r.method,
                url: r.url,
                headers: r.headers,
                body: r.body,
            }),
        }
    }
}

/// A message as delivered to one endpoint.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndpointMessageOut {
    #[serde(flatten)]
    pub message: MessageOut,
    pub status: u8,
    pub status_text: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt: Option<DateTime<Utc>>,
}

/// An endpoint as a message's destination.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessageEndpointOut {
    #[serde(flatten)]
    pub endpoint: EndpointOut,
    pub status: u8,
    pub status_text: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt: Option<DateTime<Utc>>,
}

async fn find_endpoint(ctx: &Context, caller: &Caller, app: &str, ep: &str) -> ApiResult<endpoint::Model> {
    Ok(endpoints::find_in_app(&ctx.db, &caller.0.tenant, app, ep).await?)
}

/// A page of attempts, each with its message when the query asks `with_msg=true`: the
/// message without its payload, which Svix never sends with attempts.
async fn attempts_answer(
    ctx: &Context,
    caller: &Caller,
    found: domain::pagination::Paged<attempt::Model>,
    query: &QueryParams,
) -> ApiResult<HttpResponse> {
    let messages = if query.flag("with_msg")?.unwrap_or(false) {
        let ids = found.data.iter().map(|a| a.message_id.clone()).collect();
        attempts::messages_by_id(&ctx.db, &caller.0.tenant, ids).await?
    } else {
        Vec::new()
    };
    Ok(HttpResponse::Ok().json(ListResponse::from_page(found, |a| {
        let msg = messages
            .iter()
            .find(|m| m.id == a.message_id)
            .map(|m| MessageOut::new(m.clone(), false));
        MessageAttemptOut {
            msg,
            ..MessageAttemptOut::from(a)
        }
    })))
}

fn attempt_filter(query: &QueryParams) -> ApiResult<AttemptFilter> {
    let status = match query.given("status") {
        None => None,
        Some("0") => Some(attempt::Status::Success),
        Some("2") => Some(attempt::Status::Fail),
        Some(_) => {
            return Err(ApiError::invalid(
                vec!["query".into(), "status".into()],
                "must be 0 (success) or 2 (fail) for attempts",
                "value_error",
            ));
        }
    };
    let endpoint = query
        .one("endpoint_id")
        .map(|e| {
            EndpointId::parse(e).map_err(|_| {
                ApiError::invalid(
                    vec!["query".into(), "endpoint_id".into()],
                    "is not an endpoint id",
                    "value_error",
                )
            })
        })
        .transpose()?;
    let status_code_class = query
        .given("status_code_class")
        .map(|class| {
            StatusCodeClass::parse(class).map_err(|e| ApiError::from(e.at("query.status_code_class")))
        })
        .transpose()?;
    Ok(AttemptFilter {
        status,
        endpoint,
        event_types: event_types(query)?,
        channel: query.one("channel").map(str::to_owned),
        tag: query.one("tag").map(str::to_owned),
        status_code_class,
        before: query.time("before")?,
        after: query.time("after")?,
    })
}

#[utoipa::path(get, path = "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}", tag = "Message Attempt",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path), ("limit" = Option<u64>, Query),
        ("iterator" = Option<String>, Query), ("status" = Option<u8>, Query), ("status_code_class" = Option<u16>, Query),
        ("event_types" = Option<Vec<String>>, Query), ("channel" = Option<String>, Query), ("tag" = Option<String>, Query),
        ("before" = Option<String>, Query), ("after" = Option<String>, Query), ("with_msg" = Option<bool>, Query)),
    responses((status = 200, body = ListResponse<MessageAttemptOut>), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn attempts_by_endpoint(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<(String, String)>,
    query: QueryParams,
) -> ApiResult<HttpResponse> {
    let page = query.page(Order::Descending, |k| AttemptId::parse(k).is_ok())?;
    let filter = attempt_filter(&query)?;
    let ep = find_endpoint(&ctx, &caller, &path.0, &path.1).await?;
    let found = attempts::list_by_endpoint(&ctx, &caller.0.tenant, &ep, &page, &filter).await?;
    attempts_answer(&ctx, &caller, found, &query).await
}

#[utoipa::path(get, path = "/api/v1/app/{app_id}/attempt/msg/{msg_id}", tag = "Message Attempt",
    params(("app_id" = String, Path), ("msg_id" = String, Path), ("limit" = Option<u64>, Query),
        ("iterator" = Option<String>, Query), ("status" = Option<u8>, Query), ("endpoint_id" = Option<String>, Query),
        ("status_code_class" = Option<u16>, Query), ("with_msg" = Option<bool>, Query)),
    responses((status = 200, body = ListResponse<MessageAttemptOut>), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn attempts_by_message(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<(String, String)>,
    query: QueryParams,
) -> ApiResult<HttpResponse> {
    let page = query.page(Order::Descending, |k| AttemptId::parse(k).is_ok())?;
    let filter = attempt_filter(&query)?;
    let msg = find_message(&ctx, &caller, &path.0, &path.1).await?;
    let found = attempts::list_by_message(&ctx, &caller.0.tenant, &msg, &page, &filter).await?;
    attempts_answer(&ctx, &caller, found, &query).await
}

#[utoipa::path(get, path = "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}", tag = "Message Attempt",
    params(("app_id" = String, Path), ("msg_id" = String, Path), ("attempt_id" = String, Path)),
    responses((status = 200, body = MessageAttemptOut), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn get_attempt(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
) -> ApiResult<HttpResponse> {
    let msg = find_message(&ctx, &caller, &path.0, &path.1).await?;
    let found = attempts::get(&ctx.db, &caller.0.tenant, &msg, &path.2).await?;
    Ok(HttpResponse::Ok().json(MessageAttemptOut::from(found)))
}

#[utoipa::path(get, path = "/api/v1/app/{app_id}/msg/{msg_id}/endpoint", tag = "Message Attempt",
    params(("app_id" = String, Path), ("msg_id" = String, Path), ("limit" = Option<u64>, Query), ("iterator" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<MessageEndpointOut>), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn destinations_of_message(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<(String, String)>,
    query: QueryParams,
) -> ApiResult<HttpResponse> {
    let page = query.page(Order::Ascending, |k| DestinationId::parse(k).is_ok())?;
    let msg = find_message(&ctx, &caller, &path.0, &path.1).await?;
    let found = attempts::destinations_of_message(&ctx.db, &caller.0.tenant, &msg, &page).await?;
    Ok(
        HttpResponse::Ok().json(ListResponse::from_page(found, |(dest, ep)| {
            let (status, status_text) = status_code(dest.status);
            MessageEndpointOut {
                endpoint: EndpointOut::from(ep),
                status,
                status_text,
                next_attempt: dest.next_try_at(),
            }
        })),
    )
}

#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg", tag = "Message Attempt",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path), ("limit" = Option<u64>, Query),
        ("iterator" = Option<String>, Query), ("status" = Option<u8>, Query), ("with_content" = Option<bool>, Query),
        ("event_types" = Option<Vec<String>>, Query), ("channel" = Option<String>, Query), ("tag" = Option<String>, Query),
        ("before" = Option<String>, Query), ("after" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<EndpointMessageOut>), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn messages_of_endpoint(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<(String, String)>,
    query: QueryParams,
) -> ApiResult<HttpResponse> {
    let page = query.page(Order::Descending, |k| DestinationId::parse(k).is_ok())?;
    let status = match query.given("status") {
        None => None,
        Some("0") => Some(destination::Status::Success),
        Some("1") => Some(destination::Status::Pending),
        Some("2") => Some(destination::Status::Fail),
        Some("3") => Some(destination::Status::Sending),
        Some(_) => {
            return Err(ApiError::invalid(
                vec!["query".into(), "status".into()],
                "must be 0 (success), 1 (pending), 2 (fail) or 3 (sending)",
                "value_error",
            ));
        }
    };
    let with_content = with_content(&query, true)?;
    let ep = find_endpoint(&ctx, &caller, &path.0, &path.1).await?;
    let filter = EndpointMessageFilter {
        status,
        event_types: event_types(&query)?,
        channel: query.one("channel").map(str::to_owned),
        tag: query.one("tag").map(str::to_owned),
        before: query.time("before")?,
        after: query.time("after")?,
    };
    let found = attempts::messages_of_endpoint(&ctx, &caller.0.tenant, &ep, &page, &filter).await?;
    Ok(
        HttpResponse::Ok().json(ListResponse::from_page(found, |(dest, msg)| {
            let (status, status_text) = status_code(dest.status);
            EndpointMessageOut {
                message: MessageOut::new(msg, with_content),
                status,
                status_text,
                next_attempt: dest.next_try_at(),
            }
        })),
    )
}

#[utoipa::path(post, path = "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend", tag = "Message Attempt",
    params(("app_id" = String, Path), ("msg_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 202, body = Object), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn resend(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
) -> ApiResult<HttpResponse> {
    let app = apps::find(&ctx.db, &caller.0.tenant, &path.0).await?;
    attempts::resend(
        &ctx,
        &caller.0.tenant,
        &app.id,
        &path.1,
        &path.2,
        &caller.0.actor(),
    )
    .await?;
    // The SDKs parse a JSON object here.
    Ok(HttpResponse::Accepted().json(serde_json::json!({})))
}

#[utoipa::path(delete, path = "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content", tag = "Message Attempt",
    params(("app_id" = String, Path), ("msg_id" = String, Path), ("attempt_id" = String, Path)),
    responses((status = 204), (status = 404, body = HttpErrorOut)))]
/// Erases what the receiver answered to one try; its response reads `EXPUNGED` afterwards.
pub(crate) async fn expunge_attempt_content(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
) -> ApiResult<HttpResponse> {
    let msg = find_message(&ctx, &caller, &path.0, &path.1).await?;
    attempts::expunge_response(&ctx, &caller.0.tenant, &msg, &path.2, &caller.0.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}
