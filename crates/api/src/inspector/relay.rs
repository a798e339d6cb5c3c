//! `/in-relay/{token}`: where `herald listen` learns of the requests an inbox receives,
//! takes them one by one and gives back its local server's answers. Like `/in/{token}` it
//! is outside the API and its document: the inbox's token in the path is the credential.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::{Context, entity::inbox_request, service::inspector};
use serde::{Deserialize, Serialize};

use super::HeaderOut;
use crate::{
    error::ApiResult,
    extract::{Body, QueryParams},
};

/// One request for the listener to forward, once taken.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RelayedOut {
    /// `inrq_…`: where the answer goes.
    pub id: String,
    pub method: String,
    /// The path after the token: empty or starting with `/`.
    pub path: String,
    /// The query string, without `?`.
    pub query: String,
    /// In the order received.
    pub headers: Vec<HeaderOut>,
    /// The body in base64, whatever it holds, so it is forwarded byte for byte.
    pub body: String,
    /// The body was longer than Herald keeps, and `body` is only its start.
    pub truncated: bool,
    pub received_at: DateTime<Utc>,
}

impl From<inbox_request::Model> for RelayedOut {
    fn from(r: inbox_request::Model) -> Self {
        Self {
            id: r.id.to_string(),
            method: r.method,
            path: r.path,
            query: r.query,
            headers: r
                .headers
                .0
                .into_iter()
                .map(|(name, value)| HeaderOut { name, value })
                .collect(),
            body: inspector::base64(&r.body),
            truncated: r.truncated,
            received_at: r.received_at,
        }
    }
}

/// The requests waiting for a listener, oldest first: `inrq_…` ids to claim.
#[derive(Debug, Serialize)]
pub(crate) struct WaitingOut {
    pub waiting: Vec<String>,
}

/// The local server's answer to one request.
#[derive(Debug, Deserialize)]
pub(crate) struct RelayAnswerIn {
    pub status: u16,
    #[serde(default)]
    pub body: String,
}

/// `GET /in-relay/{token}[?wait=MS]`: the requests waiting for a listener, held open up
/// to `wait` milliseconds (at most 20,000, the default) while there are none.
pub(crate) async fn poll(
    token: web::Path<String>,
    query: QueryParams,
    ctx: web::Data<Context>,
) -> ApiResult<web::Json<WaitingOut>> {
    let most = inspector::MAX_LISTEN_WAIT;
    let wait = match query.number("wait")? {
        None => most,
        Some(ms) if u128::from(ms) <= most.as_millis() => Duration::from_millis(ms),
        Some(_) => {
            return Err(domain::Error::invalid(
                "query.wait",
                format!("must be at most {} (milliseconds)", most.as_millis()),
            )
            .into());
        }
    };
    let waiting = inspector::listen(&ctx, &token, wait).await?;
    Ok(web::Json(WaitingOut {
        waiting: waiting.iter().map(ToString::to_string).collect(),
    }))
}

/// `POST /in-relay/{token}/{request_id}/claim`: the request, for this listener alone; 409
/// when another listener took it first or its sender stopped waiting.
pub(crate) async fn claim(
    path: web::Path<(String, String)>,
    ctx: web::Data<Context>,
) -> ApiResult<web::Json<RelayedOut>> {
    let (token, request_id) = path.into_inner();
    let request = inspector::claim(&ctx, &token, &request_id).await?;
    Ok(web::Json(request.into()))
}

/// `POST /in-relay/{token}/{request_id}` with `{status, body}`: the answer for the
/// request's sender. 204 when taken.
pub(crate) async fn answer(
    path: web::Path<(String, String)>,
    ctx: web::Data<Context>,
    Body(answer): Body<RelayAnswerIn>,
) -> ApiResult<HttpResponse> {
    let (token, request_id) = path.into_inner();
    inspector::answer(&ctx, &token, &request_id, answer.status, answer.body).await?;
    Ok(HttpResponse::NoContent().finish())
}
