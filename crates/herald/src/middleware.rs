//! The one middleware around every answer of the HTTP server, API and pages alike: it
//! names each request (`x-request-id`, under which an unexpected error is logged), adds
//! the security headers, counts 5xx answers, and turns a panic into an opaque 500 rather
//! than a dropped connection.

use std::panic::AssertUnwindSafe;

use actix_web::{
    HttpResponse,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    error::InternalError,
    http::header::{self, HeaderMap, HeaderName, HeaderValue},
    middleware::Next,
    web,
};
use domain::Context;
use futures_util::FutureExt as _;
use tracing::Instrument as _;

/// The pages' policy: only Herald's own script, styles and images (no inline script or
/// style, no `javascript:` links), forms post only to Herald, never framed.
pub const PAGE_POLICY: &str = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; \
     base-uri 'none'; object-src 'none'";

/// The API answers JSON and text: nothing in it may load or run anything.
pub const API_POLICY: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Browsers that saw Herald over https keep to https for a year.
const HSTS: &str = "max-age=31536000";

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the inner services made of a request.
enum Outcome {
    Answered(ServiceResponse<BoxBody>),
    /// An error that no inner service turned into an answer (one a middleware returned),
    /// answered here inside the request's scope so that its log line carries the id.
    Failed(HttpResponse, String),
    Panicked(Box<dyn std::any::Any + Send>),
}

pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = ulid::Ulid::generate().to_string();
    let ctx = req.app_data::<web::Data<Context>>().cloned();
    let api = is_api(req.path());
    // A portal link carries its token in the query: that URL is never sent on as a referrer.
    let bearer_url = req.query_string().contains("token=");
    let https = ctx
        .as_ref()
        .is_some_and(|ctx| ctx.settings.public_url.starts_with("https://"));
    let count = |kind: &'static str| {
        if let Some(ctx) = &ctx {
            ctx.metrics.server_error(kind);
        }
    };

    let span = tracing::info_span!("request", request_id = %id);
    let outcome = domain::error::with_request_id(id.clone(), async {
        match AssertUnwindSafe(next.call(req)).catch_unwind().await {
            Ok(Ok(res)) => Outcome::Answered(res.map_into_boxed_body()),
            Ok(Err(error)) => Outcome::Failed(error.error_response(), error.to_string()),
            Err(panic) => Outcome::Panicked(panic),
        }
    })
    .instrument(span)
    .await;
    // The request itself is gone with an error or a panic: such answers leave as an
    // error that carries its finished response.
    let (mut response, cause) = match outcome {
        Outcome::Answered(mut res) => {
            if res.status().is_server_error() {
                count("5xx");
            }
            secure(res.headers_mut(), &id, api, bearer_url, https);
            return Ok(res);
        }
        Outcome::Failed(response, cause) => {
            if response.status().is_server_error() {
                count("5xx");
            }
            (response, cause)
        }
        Outcome::Panicked(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            tracing::error!(request_id = %id, panic = %what, "handling a request panicked");
            count("panic");
            (panicked(api, &id), "a handler panicked".to_owned())
        }
    };
    secure(response.headers_mut(), &id, api, bearer_url, https);
    Err(InternalError::from_response(cause, response).into())
}

/// Paths that answer JSON or text, not pages.
fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path == "/api" || path == "/metrics"
}

/// The 500 for a panic, in the shape of the part of Herald that panicked.
fn panicked(api: bool, id: &str) -> HttpResponse {
    let detail = format!("Herald could not complete the request; it has been logged under request id {id}");
    if api {
        HttpResponse::InternalServerError().json(serde_json::json!({
            "code": "internal_error",
            "detail": detail,
        }))
    } else {
        HttpResponse::InternalServerError()
            .content_type("text/plain; charset=utf-8")
            .body(detail)
    }
}

fn secure(headers: &mut HeaderMap, id: &str, api: bool, bearer_url: bool, https: bool) {
    let mut set = |name: HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(REQUEST_ID, id);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        header::CONTENT_SECURITY_POLICY,
        if api { API_POLICY } else { PAGE_POLICY },
    );
    set(header::X_FRAME_OPTIONS, "DENY");
    // `same-origin` keeps the Origin header on Herald's own form posts; other sites
    // never learn which Herald page linked to them.
    set(
        header::REFERRER_POLICY,
        if bearer_url { "no-referrer" } else { "same-origin" },
    );
    if https {
        set(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
}
