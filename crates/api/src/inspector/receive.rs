//! `/in/{token}` and anything below it: the public side of an inspector inbox. Any
//! method, path and content type; no bearer token (the token in the URL is the
//! credential); bounded by a rate per inbox and per tenant.

use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    web,
};
use domain::{
    Context,
    service::inspector::{self, Incoming, Recorded},
};
use futures_util::StreamExt;

use crate::error::{ApiError, ApiResult};

/// The most of a request body `/in/{token}` reads; a longer one is refused with 413.
pub(crate) const MAX_READ: usize = 1024 * 1024;

/// `/in/{token}` and anything below it: recorded and answered as the inbox says.
pub(crate) async fn receive(
    req: HttpRequest,
    mut payload: web::Payload,
    ctx: web::Data<Context>,
) -> ApiResult<HttpResponse> {
    let token = req.match_info().get("token").unwrap_or_default().to_owned();
    let path = match req.match_info().get("tail") {
        Some(tail) if !tail.is_empty() => format!("/{tail}"),
        _ => String::new(),
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_READ) {
        return Err(ApiError::too_large(MAX_READ));
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::http(StatusCode::BAD_REQUEST, "bad_request", e.to_string()))?;
        if body.len() + chunk.len() > MAX_READ {
            return Err(ApiError::too_large(MAX_READ));
        }
        body.extend_from_slice(&chunk);
    }
    let text = |v: &header::HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
    let incoming = Incoming {
        method: req.method().as_str().to_owned(),
        path,
        query: req.query_string().to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), text(v)))
            .collect(),
        body: body.to_vec(),
        content_type: req.headers().get(header::CONTENT_TYPE).map(text),
        source_address: req.peer_addr().map(|a| a.ip().to_string()),
    };
    let recorded = inspector::record(&ctx, &token, incoming).await?;
    let answer = match recorded {
        Recorded::Answered(answer) => answer,
        Recorded::Limited => {
            return Err(ApiError::Http {
                status: StatusCode::TOO_MANY_REQUESTS,
                code: "rate_limited",
                detail: "too many requests for this inbox; nothing was recorded".into(),
                retry_after: Some(1),
            });
        }
        // `herald listen` answers: its local server's status and body, if in time.
        Recorded::Relayed { tenant, request } => {
            let deadline = std::time::Instant::now() + inspector::RELAY_WAIT;
            match inspector::await_answer(&ctx, &tenant, &request, deadline).await? {
                Some(answer) => answer,
                None => {
                    return Ok(HttpResponse::GatewayTimeout()
                        .content_type("text/plain; charset=utf-8")
                        .body(format!(
                            "no answer from herald listen within {} s",
                            inspector::RELAY_WAIT.as_secs()
                        )));
                }
            }
        }
        _ => {
            return Err(ApiError::http(
                StatusCode::BAD_GATEWAY,
                "no_answer",
                "this inbox has no answer for the request",
            ));
        }
    };
    if !answer.delay.is_zero() {
        actix_web::rt::time::sleep(answer.delay).await;
    }
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    Ok(HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(answer.body))
}
