//! `…/endpoint/{endpoint_id}/secret`: the endpoint's signing key, and its rotation.

use actix_web::{HttpResponse, web};
use domain::{
    Context,
    service::{endpoint as endpoints, endpoint_secret},
    signing::SigningSecret,
    values::GracePeriod,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppEp;
use crate::{
    error::{ApiResult, HttpErrorOut},
    extract::{Body, Caller},
};

#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct EndpointSecretOut {
    /// The signing key, `whsec_` + base64.
    pub key: String,
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndpointSecretRotateIn {
    /// The new key; Herald makes one if absent.
    #[serde(default)]
    pub key: Option<String>,
    /// How long the old key keeps signing alongside the new one (default 86400, at most 604800).
    #[serde(default)]
    pub grace_period_seconds: Option<i64>,
}

impl EndpointSecretRotateIn {
    /// The caller's new key, if any, and grace period, if any.
    pub(crate) fn parse(self) -> Result<(Option<SigningSecret>, Option<GracePeriod>), domain::Error> {
        let key = self
            .key
            .as_deref()
            .map(|k| SigningSecret::parse(k).map_err(|e| e.at("key")))
            .transpose()?;
        let grace = self.grace_period_seconds.map(GracePeriod::parse).transpose()?;
        Ok((key, grace))
    }
}

#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 200, body = EndpointSecretOut), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn get_secret(
    ctx: web::Data<Context>,
    caller: Caller,
    path: AppEp,
) -> ApiResult<HttpResponse> {
    let ep = endpoints::find_in_app(&ctx.db, &caller.0.tenant, &path.0, &path.1).await?;
    let secret = endpoint_secret::current_secret(&ctx, &caller.0.tenant, &ep).await?;
    Ok(HttpResponse::Ok().json(EndpointSecretOut {
        key: secret.to_whsec(),
    }))
}

/// Answers with the new key as JSON: the official SDKs parse one (the published spec's
/// empty 204 breaks them).
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate", tag = "Endpoint",
    request_body = Option<EndpointSecretRotateIn>,
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 200, body = EndpointSecretOut), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn rotate_secret(
    ctx: web::Data<Context>,
    caller: Caller,
    path: AppEp,
    Body(input): Body<Option<EndpointSecretRotateIn>>,
) -> ApiResult<HttpResponse> {
    let (key, grace) = input.unwrap_or_default().parse()?;
    let secret = endpoint_secret::rotate_secret(
        &ctx,
        &caller.0.tenant,
        &path.0,
        &path.1,
        key,
        grace,
        &caller.0.actor(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(EndpointSecretOut {
        key: secret.to_whsec(),
    }))
}
