//! `GET /metrics` (Prometheus text format, optionally behind a bearer token) and the
//! middleware that counts API requests by route pattern, method and status.

use actix_web::{
    HttpRequest, HttpResponse,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::{StatusCode, header},
    middleware::Next,
    web,
};
use domain::{Context, metrics::RequestLabels};
use sha2::{Digest, Sha256};

/// Who may read `/metrics`: anyone, or holders of the token (kept as its hash, compared
/// in constant time).
pub(crate) struct Access {
    token_hash: Option<[u8; 32]>,
}

impl Access {
    pub(crate) fn new(token: Option<&str>) -> Self {
        Self {
            token_hash: token
                .filter(|t| !t.is_empty())
                .map(|t| Sha256::digest(t.as_bytes()).into()),
        }
    }

    fn allows(&self, req: &HttpRequest) -> bool {
        let Some(expected) = &self.token_hash else {
            return true;
        };
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let given: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
        domain::crypto::same(&given, expected)
    }
}

pub(crate) async fn page(
    req: HttpRequest,
    ctx: web::Data<Context>,
    access: web::Data<Access>,
) -> HttpResponse {
    if !access.allows(&req) {
        return HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
            .body("metrics need `Authorization: Bearer <HERALD_METRICS_TOKEN>`\n");
    }
    match domain::metrics::page(&ctx).await {
        Ok(text) => HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(text),
        Err(e) => {
            tracing::error!(error = %e.chain(), "rendering metrics");
            HttpResponse::ServiceUnavailable().body("the metrics cannot be read now\n")
        }
    }
}

/// Counts every `/api/v1` request once it is answered.
pub(crate) async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let ctx = req.app_data::<web::Data<Context>>().cloned();
    let method = req.method().as_str().to_owned();
    let res = next.call(req).await?;
    if let Some(ctx) = ctx {
        let status = res.status();
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        ctx.metrics
            .api_requests
            .get_or_create(&RequestLabels {
                route,
                method,
                status: status.as_u16(),
            })
            .inc();
        if status == StatusCode::TOO_MANY_REQUESTS {
            ctx.metrics.limited("api");
        }
    }
    Ok(res)
}
