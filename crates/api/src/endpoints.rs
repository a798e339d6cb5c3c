//! `/api/v1/app/{app_id}/endpoint`: where an application's messages go, with their
//! signing keys, custom headers and delivery counts.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use domain::{
    Context,
    entity::endpoint,
    id::EndpointId,
    pagination::Order,
    service::{
        application as apps,
        endpoint::{self as endpoints, EndpointChanges, NewEndpoint},
    },
    signing::SigningSecret,
    values::{Channels, EndpointUrl, EventTypeName, Uid},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    applications::parse_rate,
    error::{ApiResult, HttpErrorOut},
    extract::{Body, Caller, QueryParams},
    wire::{ListResponse, not_null, nullable, upserted},
};

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndpointIn {
    pub url: String,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub disabled: bool,
    /// Only these event types are delivered; all when absent.
    #[serde(default, alias = "filterTypes")]
    pub event_types: Option<Vec<String>>,
    /// Only messages on one of these channels are delivered; all when absent.
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    /// Messages per second, at most.
    #[serde(default, alias = "rateLimit")]
    pub throttle_rate: Option<u16>,
    /// Seconds to wait for a response, 1–60 (Herald's extension; the server default, 15,
    /// when absent).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Delays in seconds before each retry (Herald's extension): `[5, 300]` means three
    /// tries in all, `[]` a single try; the server's schedule when absent.
    #[serde(default)]
    pub retry_schedule: Option<Vec<u64>>,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// A signing key of your own (`whsec_` + base64 of 24–64 bytes); Herald makes one if absent.
    #[serde(default)]
    pub secret: Option<String>,
    /// Custom headers sent with every delivery.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
}

fn parse_types(types: Option<Vec<String>>) -> Result<Option<Vec<EventTypeName>>, domain::Error> {
    let Some(types) = types else { return Ok(None) };
    if types.is_empty() {
        return Ok(None);
    }
    let mut names: Vec<EventTypeName> = Vec::with_capacity(types.len());
    for (i, t) in types.iter().enumerate() {
        let name = EventTypeName::parse(t).map_err(|e| e.at(format!("eventTypes.{i}")))?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(Some(names))
}

fn parse_channels(channels: Option<Vec<String>>) -> Result<Option<Channels>, domain::Error> {
    channels
        .filter(|c| !c.is_empty())
        .map(|c| Channels::parse("channels", &c, endpoints::MAX_CHANNELS))
        .transpose()
}

impl TryFrom<EndpointIn> for NewEndpoint {
    type Error = domain::Error;

    fn try_from(input: EndpointIn) -> Result<Self, Self::Error> {
        Ok(Self {
            url: EndpointUrl::parse(&input.url)?,
            uid: input.uid.as_deref().map(Uid::parse).transpose()?,
            description: input.description,
            disabled: input.disabled,
            event_types: parse_types(input.event_types)?,
            channels: parse_channels(input.channels)?,
            rate_limit: parse_rate(input.throttle_rate)?,
            timeout_secs: input.timeout_seconds.map(endpoints::parse_timeout).transpose()?,
            retry_schedule: input
                .retry_schedule
                .as_deref()
                .map(endpoints::parse_retry_schedule)
                .transpose()?,
            metadata: input.metadata.unwrap_or_default(),
            secret: input
                .secret
                .as_deref()
                .map(|s| SigningSecret::parse(s).map_err(|e| e.at("secret")))
                .transpose()?,
            headers: endpoints::parse_headers(input.headers.unwrap_or_default())?,
        })
    }
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndpointPatch {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub uid: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<bool>)]
    pub disabled: Option<Option<bool>>,
    #[serde(default, alias = "filterTypes", deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub event_types: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub channels: Option<Option<Vec<String>>>,
    #[serde(default, alias = "rateLimit", deserialize_with = "nullable")]
    #[schema(value_type = Option<u16>)]
    pub throttle_rate: Option<Option<u16>>,
    /// `null` returns to the server default.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u64>)]
    pub timeout_seconds: Option<Option<u64>>,
    /// `null` returns to the server's schedule.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<u64>>)]
    pub retry_schedule: Option<Option<Vec<u64>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub metadata: Option<Option<BTreeMap<String, String>>>,
}

impl TryFrom<EndpointPatch> for EndpointChanges {
    type Error = domain::Error;

    fn try_from(input: EndpointPatch) -> Result<Self, Self::Error> {
        Ok(Self {
            url: not_null("url", input.url)?
                .as_deref()
                .map(EndpointUrl::parse)
                .transpose()?,
            uid: input
                .uid
                .map(|u| u.as_deref().map(Uid::parse).transpose())
                .transpose()?,
            description: input.description.map(Option::unwrap_or_default),
            disabled: not_null("disabled", input.disabled)?,
            event_types: input.event_types.map(parse_types).transpose()?,
            channels: input.channels.map(parse_channels).transpose()?,
            rate_limit: input.throttle_rate.map(parse_rate).transpose()?,
            timeout_secs: input
                .timeout_seconds
                .map(|t| t.map(endpoints::parse_timeout).transpose())
                .transpose()?,
            retry_schedule: input
                .retry_schedule
                .map(|r| r.as_deref().map(endpoints::parse_retry_schedule).transpose())
                .transpose()?,
            metadata: input.metadata.map(Option::unwrap_or_default),
        })
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndpointOut {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    pub url: String,
    pub description: String,
    pub disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle_rate: Option<u16>,
    /// The endpoint's own response timeout in seconds, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// The endpoint's own retry delays in seconds, if it has them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_schedule: Option<Vec<u64>>,
    /// Why Herald disabled the endpoint (`410 Gone`, failing for days), if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<endpoint::Model> for EndpointOut {
    fn from(ep: endpoint::Model) -> Self {
        Self {
            id: ep.id.to_string(),
            uid: ep.uid,
            url: ep.url,
            description: ep.description,
            disabled: ep.disabled,
            event_types: ep.filter_types.map(|t| t.0),
            channels: ep.channels.map(|c| c.0),
            throttle_rate: ep.rate_limit.and_then(|r| u16::try_from(r).ok()),
            timeout_seconds: ep.timeout_secs.and_then(|t| u64::try_from(t).ok()),
            retry_schedule: ep
                .retry_schedule
                .map(|d| d.0.into_iter().map(u64::from).collect()),
            disabled_reason: ep.disabled_reason,
            metadata: ep.metadata.0,
            created_at: ep.created_at,
            updated_at: ep.updated_at,
        }
    }
}

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
            .partition(|(name, _)| endpoints::is_sensitive_header(name));
        Self {
            headers: shown,
            sensitive: sensitive.into_keys().collect(),
        }
    }
}

impl EndpointSecretRotateIn {
    /// The caller's new key, if any, and grace period, if any.
    pub(crate) fn parse(self) -> Result<(Option<SigningSecret>, Option<Duration>), domain::Error> {
        let key = self
            .key
            .as_deref()
            .map(|k| SigningSecret::parse(k).map_err(|e| e.at("key")))
            .transpose()?;
        Ok((key, self.grace_period_seconds.map(Duration::seconds)))
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct EndpointStats {
    pub success: i64,
    pub pending: i64,
    pub sending: i64,
    pub fail: i64,
    pub canceled: i64,
}

type AppEp = web::Path<(String, String)>;

#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint", tag = "Endpoint",
    params(("app_id" = String, Path), ("limit" = Option<u64>, Query), ("iterator" = Option<String>, Query), ("order" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<EndpointOut>), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn list(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
    query: QueryParams,
) -> ApiResult<HttpResponse> {
    let page = query.page(Order::Ascending, |k| EndpointId::parse(k).is_ok())?;
    let app = apps::find(&ctx.db, &caller.0.tenant, &path).await?;
    let found = endpoints::list(&ctx.db, &caller.0.tenant, &app.id, &page).await?;
    Ok(HttpResponse::Ok().json(ListResponse::from_page(found, EndpointOut::from)))
}

#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint", tag = "Endpoint", request_body = EndpointIn,
    params(("app_id" = String, Path)),
    responses((status = 201, body = EndpointOut), (status = 404, body = HttpErrorOut), (status = 409, body = HttpErrorOut)))]
pub(crate) async fn create(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
    Body(input): Body<EndpointIn>,
) -> ApiResult<HttpResponse> {
    let new = NewEndpoint::try_from(input)?;
    let ep = endpoints::create(&ctx, &caller.0.tenant, path.as_str(), new, &caller.0.actor()).await?;
    Ok(HttpResponse::Created().json(EndpointOut::from(ep)))
}

#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 200, body = EndpointOut), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn get(ctx: web::Data<Context>, caller: Caller, path: AppEp) -> ApiResult<HttpResponse> {
    let ep = endpoints::find_in_app(&ctx.db, &caller.0.tenant, &path.0, &path.1).await?;
    Ok(HttpResponse::Ok().json(EndpointOut::from(ep)))
}

/// PUT's body: every field but the key.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndpointUpdate {
    pub url: String,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default, alias = "filterTypes")]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    #[serde(default, alias = "rateLimit")]
    pub throttle_rate: Option<u16>,
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    #[serde(default)]
    pub retry_schedule: Option<Vec<u64>>,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
}

impl From<EndpointUpdate> for EndpointIn {
    fn from(input: EndpointUpdate) -> Self {
        Self {
            url: input.url,
            uid: input.uid,
            description: input.description,
            disabled: input.disabled,
            event_types: input.event_types,
            channels: input.channels,
            throttle_rate: input.throttle_rate,
            timeout_seconds: input.timeout_seconds,
            retry_schedule: input.retry_schedule,
            metadata: input.metadata,
            secret: None,
            headers: None,
        }
    }
}

#[utoipa::path(put, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}", tag = "Endpoint", request_body = EndpointUpdate,
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 200, body = EndpointOut), (status = 201, body = EndpointOut)))]
pub(crate) async fn put(
    ctx: web::Data<Context>,
    caller: Caller,
    path: AppEp,
    Body(input): Body<EndpointUpdate>,
) -> ApiResult<HttpResponse> {
    let new = NewEndpoint::try_from(EndpointIn::from(input))?;
    let (ep, created) =
        endpoints::upsert(&ctx, &caller.0.tenant, &path.0, &path.1, new, &caller.0.actor()).await?;
    Ok(upserted(created, EndpointOut::from(ep)))
}

#[utoipa::path(patch, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}", tag = "Endpoint", request_body = EndpointPatch,
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 200, body = EndpointOut), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn patch(
    ctx: web::Data<Context>,
    caller: Caller,
    path: AppEp,
    Body(input): Body<EndpointPatch>,
) -> ApiResult<HttpResponse> {
    let changes = EndpointChanges::try_from(input)?;
    let ep = endpoints::patch(
        &ctx,
        &caller.0.tenant,
        &path.0,
        &path.1,
        changes,
        &caller.0.actor(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(EndpointOut::from(ep)))
}

#[utoipa::path(delete, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 204), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn delete(ctx: web::Data<Context>, caller: Caller, path: AppEp) -> ApiResult<HttpResponse> {
    endpoints::delete(&ctx, &caller.0.tenant, &path.0, &path.1, &caller.0.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
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
    let secret = endpoints::current_secret(&ctx, &caller.0.tenant, &ep).await?;
    Ok(HttpResponse::Ok().json(EndpointSecretOut {
        key: secret.to_whsec(),
    }))
}

/// Answers with the new key as JSON: the official SDKs parse one (the published spec's
/// empty 204 breaks them).
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate", tag = "Endpoint",
    request_body = EndpointSecretRotateIn,
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 200, body = EndpointSecretOut), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn rotate_secret(
    ctx: web::Data<Context>,
    caller: Caller,
    path: AppEp,
    Body(input): Body<Option<EndpointSecretRotateIn>>,
) -> ApiResult<HttpResponse> {
    let (key, grace) = input.unwrap_or_default().parse()?;
    let secret = endpoints::rotate_secret(
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
    endpoints::set_headers(
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
    endpoints::set_headers(
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

#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path), ("since" = Option<String>, Query), ("until" = Option<String>, Query)),
    responses((status = 200, body = EndpointStats), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn stats(
    ctx: web::Data<Context>,
    caller: Caller,
    path: AppEp,
    query: QueryParams,
) -> ApiResult<HttpResponse> {
    let (since, until) = (query.time("since")?, query.time("until")?);
    let ep = endpoints::find_in_app(&ctx.db, &caller.0.tenant, &path.0, &path.1).await?;
    let s = endpoints::stats(&ctx.db, &caller.0.tenant, &ep, since, until).await?;
    Ok(HttpResponse::Ok().json(EndpointStats {
        success: s.success,
        pending: s.pending,
        sending: s.sending,
        fail: s.fail,
        canceled: 0,
    }))
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
pub(crate) struct RecoverIn {
    /// Failed deliveries of messages sent at or after this time are tried again.
    pub since: DateTime<Utc>,
    /// …and before this time, if given.
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RecoverOut {
    pub id: String,
    /// `finished`: the tries are queued.
    pub status: &'static str,
    pub task: &'static str,
    pub updated_at: DateTime<Utc>,
}

/// Queues a new try of every failed delivery to the endpoint in the window.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover", tag = "Endpoint",
    request_body = RecoverIn,
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 202, body = RecoverOut), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn recover(
    ctx: web::Data<Context>,
    caller: Caller,
    path: AppEp,
    Body(input): Body<RecoverIn>,
) -> ApiResult<HttpResponse> {
    let app = apps::find(&ctx.db, &caller.0.tenant, &path.0).await?;
    let queued = domain::service::attempt::recover(
        &ctx,
        &caller.0.tenant,
        &app.id,
        &path.1,
        input.since,
        input.until,
        &caller.0.actor(),
    )
    .await?;
    tracing::info!(queued, endpoint = %path.1, "recovery queued");
    Ok(HttpResponse::Accepted().json(RecoverOut {
        id: format!("qtask_{}", ulid::Ulid::generate()),
        status: "finished",
        task: "endpoint.recover",
        updated_at: Utc::now(),
    }))
}
