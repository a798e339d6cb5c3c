//! Authentication routes: `POST /api/v1/auth/app-portal-access/{app_id}` (a customer-portal
//! link for one application), `…/auth/app/{app_id}/expire-all` (withdraw them all) and
//! `…/auth/logout` (revoke the calling token) and `…/auth/whoami`.

use actix_web::{HttpResponse, web};
use domain::{
    Context,
    service::token,
    service::{application::NewApplication, portal},
    values::{PortalExpiry, WithdrawalGrace},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    applications::ApplicationIn,
    error::{ApiResult, HttpErrorOut},
    extract::{Body, Caller},
};

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AppPortalAccessIn {
    /// Creates the application first if the path names a uid that does not exist yet.
    #[serde(default, deserialize_with = "crate::wire::optional_object")]
    pub application: Option<ApplicationIn>,
    /// Seconds the link works (default 3600, at most 604800).
    #[serde(default)]
    pub expiry: Option<i64>,
    /// A read-only portal shows the delivery log but cannot change endpoints.
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AppPortalAccessOut {
    /// Opens the portal; the token becomes a session cookie on first use.
    pub url: String,
    pub token: String,
}

#[utoipa::path(post, path = "/api/v1/auth/app-portal-access/{app_id}", tag = "Authentication",
    request_body = Option<AppPortalAccessIn>, params(("app_id" = String, Path)),
    responses((status = 200, body = AppPortalAccessOut), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn access(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
    Body(input): Body<Option<AppPortalAccessIn>>,
) -> ApiResult<HttpResponse> {
    let input = input.unwrap_or_default();
    let app = input
        .application
        .map(|a| NewApplication::try_from(a).map_err(|e| e.within("application")))
        .transpose()?;
    let ttl = input.expiry.map(PortalExpiry::parse).transpose()?;
    let access = portal::issue(
        &ctx,
        &caller.0.tenant,
        &path,
        app,
        ttl,
        input.read_only,
        &caller.0.actor(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(AppPortalAccessOut {
        url: access.url,
        token: access.token,
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApplicationTokenExpireIn {
    /// Seconds the withdrawn links keep working (0, the default, to 604800).
    #[serde(default)]
    pub expiry: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/auth/app/{app_id}/expire-all", tag = "Authentication",
    request_body = Option<ApplicationTokenExpireIn>, params(("app_id" = String, Path)),
    responses((status = 204), (status = 404, body = HttpErrorOut), (status = 422, body = crate::error::HttpValidationError)))]
/// Withdraws every portal link of the application issued until now: after `expiry`
/// seconds (at once by default) they open nothing and their portal sessions end.
pub(crate) async fn expire_all(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
    Body(input): Body<Option<ApplicationTokenExpireIn>>,
) -> ApiResult<HttpResponse> {
    let input = input.unwrap_or_default();
    let grace = input
        .expiry
        .map(WithdrawalGrace::parse)
        .transpose()?
        .unwrap_or_default();
    portal::expire_all(&ctx, &caller.0.tenant, &path, grace, &caller.0.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "Authentication",
    responses((status = 204), (status = 401, body = HttpErrorOut)))]
/// Revokes the API token that makes this call; later calls with it answer 401.
pub(crate) async fn logout(ctx: web::Data<Context>, caller: Caller) -> ApiResult<HttpResponse> {
    token::revoke(&ctx, &caller.0.tenant, &caller.0.token, &caller.0.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WhoamiOut {
    /// The tenant the token belongs to (Svix's environment).
    pub env_id: String,
    /// How the call was authenticated: Herald's API tokens are JWTs it signed.
    pub permission_source: &'static str,
    /// Herald's extension: the token's id and name.
    pub token_id: String,
    pub token_name: String,
}

#[utoipa::path(get, path = "/api/v1/auth/whoami", tag = "Authentication",
    responses((status = 200, body = WhoamiOut), (status = 401, body = HttpErrorOut)))]
/// Who the calling token is.
pub(crate) async fn whoami(caller: Caller) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(WhoamiOut {
        env_id: caller.0.tenant.to_string(),
        permission_source: "SvixJwt",
        token_id: caller.0.token.to_string(),
        token_name: caller.0.token_name,
    }))
}
