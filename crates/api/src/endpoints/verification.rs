//! `…/endpoint/{endpoint_id}/verification`: Herald's extension for applications that
//! require endpoint verification: where the endpoint stands, and starting again.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::{
    Context,
    entity::endpoint::{self, Verification},
    service::verification,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppEp;
use crate::{
    error::{ApiResult, HttpErrorOut},
    extract::Caller,
};

/// Whether the endpoint proved it wants the traffic (Herald's extension).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VerificationOut {
    /// `pending` (its deliveries wait), `verified`, or `failed` (they wait until
    /// verification starts again).
    pub status: String,
    /// Challenges sent since verification (re)started.
    pub tries: i32,
    /// When the next challenge goes out, if one is due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt: Option<DateTime<Utc>>,
    /// Why the last challenge did not verify it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<DateTime<Utc>>,
}

impl VerificationOut {
    pub(crate) fn of(ep: &endpoint::Model) -> Option<Self> {
        let state: Verification = ep.verification?;
        Some(Self {
            status: state.as_str().to_owned(),
            tries: ep.verification_tries,
            next_attempt: ep.verification_due_at,
            reason: ep.verification_error.clone(),
            verified_at: ep.verified_at,
        })
    }
}

#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/verification", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 202, body = VerificationOut), (status = 404, body = HttpErrorOut),
        (status = 409, body = HttpErrorOut)))]
/// Sends the endpoint a new challenge now and starts its tries again; its deliveries wait
/// until it echoes it. Only where the application requires endpoint verification.
pub(crate) async fn restart_verification(
    ctx: web::Data<Context>,
    caller: Caller,
    path: AppEp,
) -> ApiResult<HttpResponse> {
    let model = verification::restart(
        &ctx,
        &caller.0.tenant,
        path.0.as_str(),
        &path.1,
        &caller.0.actor(),
    )
    .await?;
    Ok(HttpResponse::Accepted().json(VerificationOut::of(&model)))
}
