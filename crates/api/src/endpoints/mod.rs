//! `/api/v1/app/{app_id}/endpoint`: where an application's messages go. This module holds
//! the endpoint bodies and the handlers that create, read, change and delete endpoints;
//! the delivery options' wire types, the signing key, the custom headers and the
//! deliveries (counts, recovery, the line) have a module each.

mod deliveries;
mod headers;
mod options;
mod secret;
mod verification;

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::{
    Context,
    entity::endpoint,
    id::EndpointId,
    pagination::Order,
    service::{
        application as apps,
        endpoint::{self as endpoints, DeliveryOptions, EndpointChanges, EndpointSettings, NewEndpoint},
    },
    signing::SigningSecret,
    values::{Channels, CustomHeaders, EndpointUrl, EventTypeFilter, RetrySchedule, Timeout, Uid},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    applications::parse_rate,
    error::{ApiResult, HttpErrorOut},
    extract::{Body, Caller, QueryParams},
    wire::{ListResponse, not_null, nullable, upserted},
};

// The route table, the OpenAPI document and the operational webhooks name every handler
// and body as `endpoints::…`.
use self::options::with_delivery_options;
pub(crate) use self::{deliveries::*, headers::*, options::*, secret::*, verification::*};

/// Declares a whole endpoint body (POST's and PUT's): the settings both carry, Herald's
/// delivery options, then the body's own fields.
macro_rules! endpoint_body {
    ($(#[$attr:meta])* pub(crate) struct $name:ident { $($own:tt)* }) => {
        with_delivery_options! {
            $(#[$attr])*
            #[derive(Clone, Debug, Deserialize, ToSchema)]
            #[serde(rename_all = "camelCase")]
            pub(crate) struct $name {
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
                $($own)*
            }
        }
    };
}

endpoint_body! {
    pub(crate) struct EndpointIn {
        /// A signing key of your own (`whsec_` + base64 of 24–64 bytes); Herald makes one if absent.
        #[serde(default)]
        pub secret: Option<String>,
        /// Custom headers sent with every delivery.
        #[serde(default)]
        pub headers: Option<BTreeMap<String, String>>,
    }
}

endpoint_body! {
    /// PUT's body: every field but the key and the headers (which have their own route).
    pub(crate) struct EndpointUpdate {}
}

/// The endpoint's fields as the domain names them in its errors, and as this API does.
const WIRE_NAMES: &[(&str, &str)] = &[
    ("event_types", "eventTypes"),
    ("timeout", "timeoutSeconds"),
    ("retry_schedule", "retrySchedule"),
];

/// Points an error about an endpoint field at the field of the body (`retry_schedule.2`
/// becomes `retrySchedule.2`).
fn on_the_wire(error: domain::Error) -> domain::Error {
    let domain::Error::Invalid { field, .. } = &error else {
        return error;
    };
    let (head, rest) = field
        .split_once('.')
        .map_or((field.as_ref(), None), |(h, r)| (h, Some(r)));
    match WIRE_NAMES.iter().find(|(domain, _)| *domain == head) {
        Some((_, wire)) => {
            let renamed = rest.map_or_else(|| (*wire).to_owned(), |rest| format!("{wire}.{rest}"));
            error.at(renamed)
        }
        None => error,
    }
}

fn parse_types(types: Option<Vec<String>>) -> Result<Option<EventTypeFilter>, domain::Error> {
    types.map_or(Ok(None), |t| EventTypeFilter::parse(&t))
}

fn parse_channels(channels: Option<Vec<String>>) -> Result<Option<Channels>, domain::Error> {
    channels.map_or(Ok(None), |c| endpoints::parse_channels(&c))
}

impl TryFrom<EndpointIn> for NewEndpoint {
    type Error = domain::Error;

    fn try_from(mut input: EndpointIn) -> Result<Self, Self::Error> {
        let options = input.take_options().delivery_options()?;
        let new = || -> Result<Self, domain::Error> {
            Ok(Self {
                settings: EndpointSettings {
                    url: EndpointUrl::parse(&input.url)?,
                    uid: input.uid.as_deref().map(Uid::parse).transpose()?,
                    description: input.description,
                    disabled: input.disabled,
                    event_types: parse_types(input.event_types)?,
                    channels: parse_channels(input.channels)?,
                    rate_limit: parse_rate(input.throttle_rate)?,
                    timeout: input.timeout_seconds.map(Timeout::parse).transpose()?,
                    retry_schedule: input
                        .retry_schedule
                        .as_deref()
                        .map(RetrySchedule::parse)
                        .transpose()?,
                    metadata: input.metadata.unwrap_or_default(),
                },
                options,
                secret: input
                    .secret
                    .as_deref()
                    .map(|s| SigningSecret::parse(s).map_err(|e| e.at("secret")))
                    .transpose()?,
                headers: CustomHeaders::parse(input.headers.unwrap_or_default())?,
            })
        };
        new().map_err(on_the_wire)
    }
}

with_delivery_options! {
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
}

impl TryFrom<EndpointPatch> for EndpointChanges {
    type Error = domain::Error;

    fn try_from(mut input: EndpointPatch) -> Result<Self, Self::Error> {
        let DeliveryOptions {
            ordered,
            access,
            filter,
            transformation,
        } = input.take_options().delivery_options()?;
        let changes = || -> Result<Self, domain::Error> {
            Ok(Self {
                ordered,
                access,
                filter,
                transformation,
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
                timeout: input
                    .timeout_seconds
                    .map(|t| t.map(Timeout::parse).transpose())
                    .transpose()?,
                retry_schedule: input
                    .retry_schedule
                    .map(|r| r.as_deref().map(RetrySchedule::parse).transpose())
                    .transpose()?,
                metadata: input.metadata.map(Option::unwrap_or_default),
            })
        };
        changes().map_err(on_the_wire)
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
    /// Herald's extension: whether deliveries go one at a time, in acceptance order
    /// (absent when they do not).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ordered: bool,
    /// What a finally failed message does to the line (ordered endpoints).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ordered_on_failure: Option<OnFailureIn>,
    /// Gateway credentials, without their secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthOut>,
    /// The TLS client certificate and CA, without the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsOut>,
    /// Herald's extension: the endpoint's jq filter, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Herald's extension: the endpoint's jq transformation, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transformation: Option<String>,
    /// Herald's extension: whether the endpoint proved it wants the traffic, when its
    /// application requires that (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerificationOut>,
}

impl From<endpoint::Model> for EndpointOut {
    fn from(ep: endpoint::Model) -> Self {
        let verification = VerificationOut::of(&ep);
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
            ordered: ep.ordered.is_some(),
            ordered_on_failure: ep.ordered.map(OnFailureIn::from),
            auth: ep.access.as_ref().and_then(|a| a.auth.clone()).map(AuthOut::from),
            tls: ep.access.and_then(|a| a.tls).map(|t| TlsOut {
                client_cert: t.client_cert,
                ca_cert: t.ca_cert,
            }),
            filter: ep.filter,
            transformation: ep.transformation,
            verification,
        }
    }
}

/// The path of one endpoint: its application's id or uid, then its own.
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

impl From<EndpointUpdate> for EndpointIn {
    fn from(mut input: EndpointUpdate) -> Self {
        let options = input.take_options();
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
            ordered: options.ordered,
            ordered_on_failure: options.ordered_on_failure,
            auth: options.auth,
            tls: options.tls,
            filter: options.filter,
            transformation: options.transformation,
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

/// The Svix SDKs' JavaScript transformations: Herald runs jq instead, set with the
/// endpoint's `transformation` field (and chooses messages with its `filter`).
#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 501, body = HttpErrorOut, description = "Not supported: use the endpoint's `transformation` (jq)")))]
pub(crate) async fn javascript_transformation(caller: Caller, path: AppEp) -> ApiResult<HttpResponse> {
    tracing::debug!(tenant = %caller.0.tenant, endpoint = %path.1, "JavaScript transformation asked for");
    Ok(HttpResponse::NotImplemented().json(HttpErrorOut {
        code: "not_supported".to_owned(),
        detail: "Herald does not run JavaScript transformations. Set the endpoint's `transformation` \
                 (a jq program) and `filter` fields instead, with PATCH /api/v1/app/{app_id}/endpoint/{endpoint_id}."
            .to_owned(),
    }))
}

/// The same answer for the SDKs' `set-transformation`.
#[utoipa::path(patch, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 501, body = HttpErrorOut, description = "Not supported: use the endpoint's `transformation` (jq)")))]
pub(crate) async fn set_javascript_transformation(caller: Caller, path: AppEp) -> ApiResult<HttpResponse> {
    javascript_transformation(caller, path).await
}
