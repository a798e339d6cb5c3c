//! `/api/v1/operational-webhook/endpoint`: where a tenant receives Herald's own events
//! about its deliveries (`message.attempt.exhausted`, `message.attempt.failing`,
//! `message.attempt.recovered`, `endpoint.disabled`). The bodies are those of ordinary
//! endpoints; the filter names operational event types.

use actix_web::{HttpResponse, web};
use domain::{
    Context,
    id::EndpointId,
    pagination::Order,
    service::{
        endpoint::{self as endpoints, NewEndpoint, Owner},
        endpoint_headers, endpoint_secret,
    },
};

use crate::{
    endpoints::{
        EndpointHeadersIn, EndpointHeadersOut, EndpointIn, EndpointOut, EndpointSecretOut,
        EndpointSecretRotateIn, EndpointUpdate,
    },
    error::{ApiResult, HttpErrorOut},
    extract::{Body, Caller, QueryParams},
    wire::{ListResponse, upserted},
};

const OPS: Owner<'static> = Owner::Operational;

#[utoipa::path(get, path = "/api/v1/operational-webhook/endpoint", tag = "Operational webhooks",
    params(("limit" = Option<u64>, Query), ("iterator" = Option<String>, Query), ("order" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<EndpointOut>)))]
pub(crate) async fn list(
    ctx: web::Data<Context>,
    caller: Caller,
    query: QueryParams,
) -> ApiResult<HttpResponse> {
    let page = query.page(Order::Ascending, |k| EndpointId::parse(k).is_ok())?;
    let found = endpoints::list_of(&ctx.db, &caller.0.tenant, OPS, &page).await?;
    Ok(HttpResponse::Ok().json(ListResponse::from_page(found, EndpointOut::from)))
}

#[utoipa::path(post, path = "/api/v1/operational-webhook/endpoint", tag = "Operational webhooks",
    request_body = EndpointIn,
    responses((status = 201, body = EndpointOut), (status = 409, body = HttpErrorOut)))]
pub(crate) async fn create(
    ctx: web::Data<Context>,
    caller: Caller,
    Body(input): Body<EndpointIn>,
) -> ApiResult<HttpResponse> {
    let new = NewEndpoint::try_from(input)?;
    let ep = endpoints::create(&ctx, &caller.0.tenant, OPS, new, &caller.0.actor()).await?;
    Ok(HttpResponse::Created().json(EndpointOut::from(ep)))
}

#[utoipa::path(get, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}", tag = "Operational webhooks",
    params(("endpoint_id" = String, Path)),
    responses((status = 200, body = EndpointOut), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn get(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let ep = endpoints::find_in_app(&ctx.db, &caller.0.tenant, OPS, &path).await?;
    Ok(HttpResponse::Ok().json(EndpointOut::from(ep)))
}

#[utoipa::path(put, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}", tag = "Operational webhooks",
    request_body = EndpointUpdate,
    params(("endpoint_id" = String, Path)),
    responses((status = 200, body = EndpointOut), (status = 201, body = EndpointOut), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn put(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
    Body(input): Body<EndpointUpdate>,
) -> ApiResult<HttpResponse> {
    let new = NewEndpoint::try_from(EndpointIn::from(input))?;
    let (ep, created) = endpoints::upsert(&ctx, &caller.0.tenant, OPS, &path, new, &caller.0.actor()).await?;
    Ok(upserted(created, EndpointOut::from(ep)))
}

#[utoipa::path(delete, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}", tag = "Operational webhooks",
    params(("endpoint_id" = String, Path)),
    responses((status = 204), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn delete(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    endpoints::delete(&ctx, &caller.0.tenant, OPS, &path, &caller.0.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/secret", tag = "Operational webhooks",
    params(("endpoint_id" = String, Path)),
    responses((status = 200, body = EndpointSecretOut), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn get_secret(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let ep = endpoints::find_in_app(&ctx.db, &caller.0.tenant, OPS, &path).await?;
    let secret = endpoint_secret::current_secret(&ctx, &caller.0.tenant, &ep).await?;
    Ok(HttpResponse::Ok().json(EndpointSecretOut {
        key: secret.to_whsec(),
    }))
}

#[utoipa::path(post, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/secret/rotate", tag = "Operational webhooks",
    request_body = Option<EndpointSecretRotateIn>,
    params(("endpoint_id" = String, Path)),
    responses((status = 204), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn rotate_secret(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
    Body(input): Body<Option<EndpointSecretRotateIn>>,
) -> ApiResult<HttpResponse> {
    let (key, grace) = input.unwrap_or_default().parse()?;
    endpoint_secret::rotate_secret(&ctx, &caller.0.tenant, OPS, &path, key, grace, &caller.0.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/headers", tag = "Operational webhooks",
    params(("endpoint_id" = String, Path)),
    responses((status = 200, body = EndpointHeadersOut), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn get_headers(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let ep = endpoints::find_in_app(&ctx.db, &caller.0.tenant, OPS, &path).await?;
    Ok(HttpResponse::Ok().json(EndpointHeadersOut::from(ep)))
}

#[utoipa::path(put, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/headers", tag = "Operational webhooks",
    request_body = EndpointHeadersIn,
    params(("endpoint_id" = String, Path)),
    responses((status = 204), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn put_headers(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
    Body(input): Body<EndpointHeadersIn>,
) -> ApiResult<HttpResponse> {
    let headers = input.headers.into_iter().map(|(k, v)| (k, Some(v))).collect();
    endpoint_headers::set_headers(
        &ctx,
        &caller.0.tenant,
        OPS,
        &path,
        headers,
        true,
        &caller.0.actor(),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
