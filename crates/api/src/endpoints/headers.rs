//! `…/endpoint/{endpoint_id}/headers`: custom headers sent with every delivery (the values
//! of sensitive ones are never shown back).

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use domain::{
    Context,
    entity::endpoint,
    service::{endpoint as endpoints, endpoint_headers},
    values::CustomHeaders,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppEp;
use crate::{
    error::{ApiResult, HttpErrorOut},
    extract::{Body, Caller},
};

#[derive(Clone, Debug, Deserialize, ToSchema)]
pub(crate) struct EndpointHeadersIn {
    pub headers: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndpointHeadersPatchIn {
    /// Headers to set; a `null` value removes that header.
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, Option<String>>)]
    pub headers: BTreeMap<String, Option<String>>,
    /// Names of headers to remove.
    #[serde(default)]
    pub delete_headers: Vec<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct EndpointHeadersOut {
    /// The headers, except the sensitive ones.
    pub headers: BTreeMap<String, String>,
    /// Names of sensitive headers (such as Authorization), whose values are not shown.
    pub sensitive: Vec<String>,
}

impl From<endpoint::Model> for EndpointHeadersOut {
    fn from(ep: endpoint::Model) -> Self {
        let (sensitive, shown): (BTreeMap<String, String>, BTreeMap<String, String>) = ep
            .headers
            .0
            .into_iter()
            .partition(|(name, _)| CustomHeaders::is_sensitive(name));
        Self {
            headers: shown,
            sensitive: sensitive.into_keys().collect(),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 200, body = EndpointHeadersOut), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn get_headers(
    ctx: web::Data<Context>,
    caller: Caller,
    path: AppEp,
) -> ApiResult<HttpResponse> {
    let ep = endpoints::find_in_app(&ctx.db, &caller.0.tenant, &path.0, &path.1).await?;
    Ok(HttpResponse::Ok().json(EndpointHeadersOut::from(ep)))
}

#[utoipa::path(put, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers", tag = "Endpoint",
    request_body = EndpointHeadersIn,
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 204), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn put_headers(
    ctx: web::Data<Context>,
    caller: Caller,
    path: AppEp,
    Body(input): Body<EndpointHeadersIn>,
) -> ApiResult<HttpResponse> {
    let headers = input.headers.into_iter().map(|(k, v)| (k, Some(v))).collect();
    endpoint_headers::set_headers(
        &ctx,
        &caller.0.tenant,
        &path.0,
        &path.1,
        headers,
        true,
        &caller.0.actor(),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(patch, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers", tag = "Endpoint",
    request_body = EndpointHeadersPatchIn,
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 204), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn patch_headers(
    ctx: web::Data<Context>,
    caller: Caller,
    path: AppEp,
    Body(input): Body<EndpointHeadersPatchIn>,
) -> ApiResult<HttpResponse> {
    let mut headers = input.headers;
    for name in input.delete_headers {
        headers.insert(name, None);
    }
    endpoint_headers::set_headers(
        &ctx,
        &caller.0.tenant,
        &path.0,
        &path.1,
        headers,
        false,
        &caller.0.actor(),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
