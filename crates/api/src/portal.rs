//! `POST /api/v1/auth/app-portal-access/{app_id}`: a customer-portal link for one application.

use actix_web::{HttpResponse, web};
use domain::{
    Context,
    service::{application::NewApplication, portal},
    values::PortalExpiry,
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
    #[serde(default)]
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
    request_body = AppPortalAccessIn, params(("app_id" = String, Path)),
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
