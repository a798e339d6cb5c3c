//! The gate every authenticated API request passes: bearer token → tenant, the tenant's
//! rate limit, and `idempotency-key` replay on POSTs.

use std::{num::NonZeroU32, sync::Arc};

use actix_web::{
    HttpMessage, HttpResponse,
    body::{BoxBody, MessageBody, to_bytes},
    dev::{Payload, ServiceRequest, ServiceResponse},
    http::{Method, StatusCode, header},
    middleware::Next,
    web,
};
use domain::{
    Context,
    id::TenantId,
    service::{
        idempotency::{self, Claim},
        token::{self, ApiPrincipal},
    },
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};
use sha2::{Digest, Sha256};

use crate::{
    error::{ApiError, ApiResult},
    extract,
};

/// Shared state of the gate: one rate limiter for the whole process.
#[derive(Clone)]
pub struct Gate {
    limiter: Option<Arc<DefaultKeyedRateLimiter<TenantId>>>,
}

impl Gate {
    /// `per_second` requests per tenant (bursts up to the same number); 0 turns it off.
    pub fn new(per_second: u32) -> Self {
        let limiter = NonZeroU32::new(per_second)
            .map(|n| Arc::new(RateLimiter::keyed(Quota::per_second(n).allow_burst(n))));
        Self { limiter }
    }

    fn check_rate(&self, tenant: &TenantId) -> ApiResult<()> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(tenant).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            ApiError::Http {
                status: StatusCode::TOO_MANY_REQUESTS,
                code: "rate_limited",
                detail: format!("too many requests for this tenant; retry in {seconds} s"),
                retry_after: Some(seconds.max(1)),
            }
        })
    }
}

fn bearer(req: &ServiceRequest) -> ApiResult<String> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing `Authorization: Bearer <token>` header"))?
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized(
            "the Authorization header must be `Bearer <token>`",
        ));
    }
    Ok(token.trim().to_owned())
}

pub(crate) async fn gate(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let ctx = req
        .app_data::<web::Data<Context>>()
        .cloned()
        .ok_or_else(|| actix_web::error::ErrorInternalServerError("the API is missing its context"))?;
    let gate = req
        .app_data::<web::Data<Gate>>()
        .cloned()
        .ok_or_else(|| actix_web::error::ErrorInternalServerError("the API is missing its gate"))?;
    let principal = match authenticate(&ctx, &gate, &req).await {
        Ok(p) => p,
        Err(e) => return Ok(req.error_response(e)),
    };
    req.extensions_mut().insert(principal.clone());
    if req.uri().to_string().to_ascii_lowercase().contains("%00") {
        return Ok(req.error_response(ApiError::invalid(
            vec!["path".into()],
            "the URL may not contain the NUL character (%00)",
            "value_error",
        )));
    }

    let key = req
        .headers()
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_owned));
    let key = match (req.method() == Method::POST, key) {
        (true, Some(Ok(key))) => key,
        (true, Some(Err(_))) => {
            return Ok(req.error_response(ApiError::invalid(
                vec!["header".into(), "idempotency-key".into()],
                "must be visible ASCII",
                "value_error",
            )));
        }
        _ => return Ok(next.call(req).await?.map_into_boxed_body()),
    };
    if let Err(e) = idempotency::check_key(&key) {
        let reason = e.to_string();
        return Ok(req.error_response(ApiError::invalid(
            vec!["header".into(), "idempotency-key".into()],
            reason.trim_start_matches("invalid idempotency-key: "),
            "value_error",
        )));
    }
    let body = match extract::read_body(&mut req.take_payload()).await {
        Ok(body) => body,
        Err(e) => return Ok(req.error_response(e)),
    };
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str().as_bytes());
    hasher.update([0]);
    hasher.update(req.uri().to_string().as_bytes());
    hasher.update([0]);
    hasher.update(&body);
    let hash = domain::crypto::hex(&hasher.finalize());
    let tenant = principal.tenant.clone();
    // Keys belong to one token, as in Svix: another token's same key is another request.
    let scope = principal.token.to_string();
    let claim = match idempotency::claim(&ctx, &tenant, &scope, &key, &hash).await {
        Ok(claim) => claim,
        Err(e) => return Ok(req.error_response(ApiError::from(e))),
    };
    match claim {
        Claim::Fresh => {
            req.set_payload(Payload::from(body));
            let response = next.call(req).await;
            let response = match response {
                Ok(response) => response,
                Err(e) => {
                    release(&ctx, &tenant, &scope, &key).await;
                    return Err(e);
                }
            };
            let (req, res) = response.into_parts();
            let (res, body) = res.into_parts();
            let bytes = match to_bytes(body).await {
                Ok(bytes) => bytes,
                Err(_) => {
                    release(&ctx, &tenant, &scope, &key).await;
                    return Err(actix_web::error::ErrorInternalServerError(
                        "reading the response failed",
                    ));
                }
            };
            let status = res.status();
            if status.is_server_error() {
                release(&ctx, &tenant, &scope, &key).await;
            } else {
                if let Err(e) =
                    idempotency::complete(&ctx, &tenant, &scope, &key, status.as_u16(), &bytes).await
                {
                    tracing::warn!(error = %e, "could not keep an idempotent answer");
                }
            }
            Ok(ServiceResponse::new(req, res.set_body(BoxBody::new(bytes))))
        }
        Claim::Replay { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut response = HttpResponse::build(status);
            response.insert_header(("idempotent-replayed", "true"));
            let response = if body.is_empty() {
                response.finish()
            } else {
                response.content_type("application/json").body(body)
            };
            Ok(req.into_response(response))
        }
        Claim::InFlight => Ok(req.error_response(ApiError::http(
            StatusCode::CONFLICT,
            "conflict",
            "a request with this idempotency-key is still being processed; retry shortly",
        ))),
        Claim::Mismatch => Ok(req.error_response(ApiError::invalid(
            vec!["header".into(), "idempotency-key".into()],
            "this idempotency-key was already used for a different request",
            "value_error",
        ))),
    }
}

async fn authenticate(ctx: &Context, gate: &Gate, req: &ServiceRequest) -> ApiResult<ApiPrincipal> {
    let token = bearer(req)?;
    // The reason (expired, revoked, signed with a retired key) tells the token's holder
    // what to do and nothing they could not learn otherwise.
    let principal: ApiPrincipal = token::authenticate(ctx, &token).await.map_err(|e| match e {
        domain::Error::Unauthenticated(reason) => ApiError::unauthorized(reason),
        domain::Error::NotFound(_) => ApiError::unauthorized("invalid, expired or revoked token"),
        other => ApiError::from(other),
    })?;
    gate.check_rate(&principal.tenant)?;
    Ok(principal)
}

async fn release(ctx: &Context, tenant: &TenantId, scope: &str, key: &str) {
    if let Err(e) = idempotency::release(ctx, tenant, scope, key).await {
        tracing::warn!(error = %e, "could not release an idempotency key");
    }
}
