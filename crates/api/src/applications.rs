//! `/api/v1/app`: applications, one per customer of the tenant.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::{
    Context,
    entity::application,
    id::AppId,
    pagination::Order,
    service::application::{self as apps, ApplicationChanges, NewApplication},
    values::Uid,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    error::{ApiResult, HttpErrorOut},
    extract::{Body, Caller, QueryParams},
    wire::{ListResponse, not_null, nullable, upserted},
};

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApplicationIn {
    pub name: String,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub throttle_rate: Option<u16>,
    /// Days to keep payloads and response bodies, 1–3650 (Herald's extension; the
    /// server's `HERALD_RETENTION` when absent).
    #[serde(default)]
    pub retention_days: Option<u16>,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// New endpoints, and endpoints whose URL changes, get nothing until they echo a
    /// `webhook.verification` challenge (Herald's extension; off when absent, and a PUT
    /// without it leaves it as it is).
    #[serde(default)]
    pub require_endpoint_verification: Option<bool>,
}

impl TryFrom<ApplicationIn> for NewApplication {
    type Error = domain::Error;

    fn try_from(input: ApplicationIn) -> Result<Self, Self::Error> {
        Ok(Self {
            name: apps::parse_name(&input.name)?,
            uid: input.uid.as_deref().map(Uid::parse).transpose()?,
            rate_limit: parse_rate(input.throttle_rate)?,
            retention_days: input.retention_days.map(apps::parse_retention_days).transpose()?,
            metadata: input.metadata.unwrap_or_default(),
            require_endpoint_verification: input.require_endpoint_verification,
        })
    }
}

pub(crate) fn parse_rate(rate: Option<u16>) -> Result<Option<u16>, domain::Error> {
    match rate {
        Some(0) => Err(domain::Error::invalid(
            "throttleRate",
            "must be at least 1 message per second",
        )),
        other => Ok(other),
    }
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApplicationPatch {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub uid: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u16>)]
    pub throttle_rate: Option<Option<u16>>,
    /// `null` returns to the server's retention.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u16>)]
    pub retention_days: Option<Option<u16>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub metadata: Option<Option<BTreeMap<String, String>>>,
    /// Turning it off lets endpoints that were waiting for verification have their
    /// deliveries at once.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<bool>)]
    pub require_endpoint_verification: Option<Option<bool>>,
}

impl TryFrom<ApplicationPatch> for ApplicationChanges {
    type Error = domain::Error;

    fn try_from(input: ApplicationPatch) -> Result<Self, Self::Error> {
        Ok(Self {
            name: not_null("name", input.name)?
                .as_deref()
                .map(apps::parse_name)
                .transpose()?,
            uid: input
                .uid
                .map(|uid| uid.as_deref().map(Uid::parse).transpose())
                .transpose()?,
            rate_limit: input.throttle_rate.map(parse_rate).transpose()?,
            retention_days: input
                .retention_days
                .map(|d| d.map(apps::parse_retention_days).transpose())
                .transpose()?,
            metadata: input.metadata.map(Option::unwrap_or_default),
            require_endpoint_verification: not_null(
                "requireEndpointVerification",
                input.require_endpoint_verification,
            )?,
        })
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApplicationOut {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle_rate: Option<u16>,
    /// The application's own retention in days, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u16>,
    pub metadata: BTreeMap<String, String>,
    /// Whether endpoints must echo a challenge before they get anything (Herald's
    /// extension).
    pub require_endpoint_verification: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<application::Model> for ApplicationOut {
    fn from(app: application::Model) -> Self {
        Self {
            id: app.id.to_string(),
            uid: app.uid,
            name: app.name,
            throttle_rate: app.rate_limit.and_then(|r| u16::try_from(r).ok()),
            retention_days: app.retention_days.and_then(|d| u16::try_from(d).ok()),
            metadata: app.metadata.0,
            require_endpoint_verification: app.require_endpoint_verification,
            created_at: app.created_at,
            updated_at: app.updated_at,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/app", tag = "Application",
    params(("limit" = Option<u64>, Query), ("iterator" = Option<String>, Query), ("order" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<ApplicationOut>), (status = 401, body = HttpErrorOut)))]
pub(crate) async fn list(
    ctx: web::Data<Context>,
    caller: Caller,
    query: QueryParams,
) -> ApiResult<HttpResponse> {
    let page = query.page(Order::Ascending, |k| AppId::parse(k).is_ok())?;
    let apps = apps::list(&ctx.db, &caller.0.tenant, &page).await?;
    Ok(HttpResponse::Ok().json(ListResponse::from_page(apps, ApplicationOut::from)))
}

#[utoipa::path(post, path = "/api/v1/app", tag = "Application", request_body = ApplicationIn,
    params(("get_if_exists" = Option<bool>, Query)),
    responses((status = 201, body = ApplicationOut), (status = 200, body = ApplicationOut), (status = 409, body = HttpErrorOut)))]
pub(crate) async fn create(
    ctx: web::Data<Context>,
    caller: Caller,
    query: QueryParams,
    Body(input): Body<ApplicationIn>,
) -> ApiResult<HttpResponse> {
    let get_if_exists = query.flag("get_if_exists")?.unwrap_or(false);
    let new = NewApplication::try_from(input)?;
    let (app, created) = apps::create(&ctx, &caller.0.tenant, new, get_if_exists, &caller.0.actor()).await?;
    Ok(upserted(created, ApplicationOut::from(app)))
}

#[utoipa::path(get, path = "/api/v1/app/{app_id}", tag = "Application",
    params(("app_id" = String, Path, description = "The application's id or uid")),
    responses((status = 200, body = ApplicationOut), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn get(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let app = apps::find(&ctx.db, &caller.0.tenant, &path).await?;
    Ok(HttpResponse::Ok().json(ApplicationOut::from(app)))
}

#[utoipa::path(put, path = "/api/v1/app/{app_id}", tag = "Application", request_body = ApplicationIn,
    params(("app_id" = String, Path, description = "The application's id or uid")),
    responses((status = 200, body = ApplicationOut), (status = 201, body = ApplicationOut)))]
pub(crate) async fn put(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
    Body(input): Body<ApplicationIn>,
) -> ApiResult<HttpResponse> {
    let new = NewApplication::try_from(input)?;
    let (app, created) = apps::upsert(&ctx, &caller.0.tenant, &path, new, &caller.0.actor()).await?;
    Ok(upserted(created, ApplicationOut::from(app)))
}

#[utoipa::path(patch, path = "/api/v1/app/{app_id}", tag = "Application", request_body = ApplicationPatch,
    params(("app_id" = String, Path, description = "The application's id or uid")),
    responses((status = 200, body = ApplicationOut), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn patch(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
    Body(input): Body<ApplicationPatch>,
) -> ApiResult<HttpResponse> {
    let changes = ApplicationChanges::try_from(input)?;
    let app = apps::patch(&ctx, &caller.0.tenant, &path, changes, &caller.0.actor()).await?;
    Ok(HttpResponse::Ok().json(ApplicationOut::from(app)))
}

#[utoipa::path(delete, path = "/api/v1/app/{app_id}", tag = "Application",
    params(("app_id" = String, Path, description = "The application's id or uid")),
    responses((status = 204), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn delete(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    apps::delete(&ctx, &caller.0.tenant, &path, &caller.0.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}
