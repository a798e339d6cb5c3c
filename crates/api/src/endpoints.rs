//! `/api/v1/app/{app_id}/endpoint`: where an application's messages go, with their
//! signing keys, custom headers and delivery counts.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::{
    Context,
    entity::{endpoint, endpoint::OnFailure},
    id::EndpointId,
    pagination::Order,
    program::Program,
    service::{
        application as apps,
        delivery::lane,
        endpoint::{self as endpoints, EndpointChanges, NewEndpoint},
    },
    signing::SigningSecret,
    values::{
        AccessInput, AuthInput, Channels, EndpointUrl, EventTypeName, GracePeriod, TlsInput, Uid,
        access::{Auth, ClientAuth},
    },
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
    #[serde(flatten)]
    pub options: OptionsIn,
}

/// Herald's delivery options, on every endpoint body (the Svix SDKs do not send them, so
/// an absent field leaves the option as it is, also on PUT).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OptionsIn {
    /// Herald's extension: one delivery at a time, in the order messages were accepted.
    /// A message goes only after every earlier one for this endpoint succeeded or
    /// finally failed; retries keep their place.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<bool>)]
    pub ordered: Option<Option<bool>>,
    /// Herald's extension: when a message of an ordered endpoint finally fails, `release`
    /// (the default) lets the next one go; `stop` holds the line until a message is resent
    /// or the line released (`POST …/line/release`). Setting it makes the endpoint ordered.
    #[serde(default)]
    pub ordered_on_failure: Option<OnFailureIn>,
    /// Herald's extension: credentials for the receiver's gateway, sent with every
    /// delivery besides the signature. Secrets are write-only; `null` removes them.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<AuthIn>)]
    pub auth: Option<Option<AuthIn>>,
    /// Herald's extension: a TLS client certificate (mutual TLS) and a CA to trust for this
    /// endpoint only. The key is write-only; `null` removes them.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<TlsIn>)]
    pub tls: Option<Option<TlsIn>>,
    /// Herald's extension: a jq program over `{eventType, channels, payload, tags}`; the
    /// endpoint gets a message only when its first output is truthy. Checked when saved
    /// (422 with line and column); a run that fails or exceeds its limits counts as not
    /// matched, and the message says so (`filteredOut`). `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, example = ".payload.amount > 1000 and .payload.region == \"eu\"")]
    pub filter: Option<Option<String>>,
    /// Herald's extension: a jq program over `{eventType, channels, payload, tags}` whose
    /// output is the body to send (any JSON), or `{body, headers?, method?, url?}`: `url`
    /// may change only the path and query of the endpoint's URL, `method` is `POST` or
    /// `PUT`. The signature covers the bytes sent. `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, example = "{body: {text: \"Invoice \\(.payload.id) paid\"}}")]
    pub transformation: Option<Option<String>>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) enum OnFailureIn {
    Release,
    Stop,
}

impl From<OnFailureIn> for OnFailure {
    fn from(value: OnFailureIn) -> Self {
        match value {
            OnFailureIn::Release => Self::Release,
            OnFailureIn::Stop => Self::Stop,
        }
    }
}

impl From<OnFailure> for OnFailureIn {
    fn from(value: OnFailure) -> Self {
        match value {
            OnFailure::Release => Self::Release,
            OnFailure::Stop => Self::Stop,
        }
    }
}

/// How the client id and secret go to the token server.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) enum ClientAuthIn {
    /// HTTP Basic (`client_secret_basic`).
    #[default]
    Basic,
    /// Form fields (`client_secret_post`).
    Body,
}

impl From<ClientAuthIn> for ClientAuth {
    fn from(value: ClientAuthIn) -> Self {
        match value {
            ClientAuthIn::Basic => Self::Basic,
            ClientAuthIn::Body => Self::Body,
        }
    }
}

impl From<ClientAuth> for ClientAuthIn {
    fn from(value: ClientAuth) -> Self {
        match value {
            ClientAuth::Basic => Self::Basic,
            ClientAuth::Body => Self::Body,
        }
    }
}

#[derive(Clone, Deserialize, ToSchema)]
#[serde(tag = "type")]
pub(crate) enum AuthIn {
    /// `Authorization: Basic`.
    #[serde(rename = "basic")]
    Basic { username: String, password: String },
    /// `Authorization: Bearer` with a static token.
    #[serde(rename = "bearer")]
    Bearer { token: String },
    /// OAuth 2.0 client credentials: Herald fetches a token from `tokenUrl`, keeps it until
    /// shortly before it expires, sends it as a bearer token and fetches a new one once
    /// when the endpoint answers 401.
    #[serde(rename = "oauth2", rename_all = "camelCase")]
    OAuth2 {
        token_url: String,
        client_id: String,
        client_secret: String,
        #[serde(default)]
        scopes: Vec<String>,
        #[serde(default)]
        audience: Option<String>,
        /// Extra form parameters of the token request.
        #[serde(default)]
        params: BTreeMap<String, String>,
        #[serde(default)]
        client_auth: ClientAuthIn,
    },
}

impl std::fmt::Debug for AuthIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthIn { … }")
    }
}

impl From<AuthIn> for AuthInput {
    fn from(value: AuthIn) -> Self {
        match value {
            AuthIn::Basic { username, password } => Self::Basic { username, password },
            AuthIn::Bearer { token } => Self::Bearer { token },
            AuthIn::OAuth2 {
                token_url,
                client_id,
                client_secret,
                scopes,
                audience,
                params,
                client_auth,
            } => Self::OAuth2 {
                token_url,
                client_id,
                client_secret,
                scopes,
                audience,
                params,
                client_auth: client_auth.into(),
            },
        }
    }
}

#[derive(Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TlsIn {
    /// The client certificate chain, PEM.
    #[serde(default)]
    pub client_cert: Option<String>,
    /// Its private key, PEM (write-only).
    #[serde(default)]
    pub client_key: Option<String>,
    /// CA certificates (PEM) trusted for this endpoint besides the usual ones.
    #[serde(default)]
    pub ca_cert: Option<String>,
}

impl std::fmt::Debug for TlsIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsIn { … }")
    }
}

/// An endpoint's jq programs as the domain takes them; `None` leaves each as it is.
#[derive(Default)]
struct ProgramsIn {
    filter: Option<Option<Program>>,
    transformation: Option<Option<Program>>,
}

impl OptionsIn {
    fn programs(&self) -> Result<ProgramsIn, domain::Error> {
        let parse = |field: &'static str, source: &Option<Option<String>>| {
            source
                .as_ref()
                .map(|s| s.as_deref().map(|s| Program::parse(field, s)).transpose())
                .transpose()
        };
        Ok(ProgramsIn {
            filter: parse("filter", &self.filter)?,
            transformation: parse("transformation", &self.transformation)?,
        })
    }

    /// (ordered, access) as the domain takes them; `None` leaves each as it is.
    #[expect(clippy::type_complexity, reason = "two optional changes, each clearable")]
    fn parse(self) -> Result<(Option<Option<OnFailure>>, Option<Option<AccessInput>>), domain::Error> {
        let ordered = match (self.ordered, self.ordered_on_failure) {
            (Some(Some(false)), Some(_)) => {
                return Err(domain::Error::invalid(
                    "orderedOnFailure",
                    "only an ordered endpoint has a line to release or stop",
                ));
            }
            (Some(None) | Some(Some(false)), None) => Some(None),
            (_, Some(on_failure)) => Some(Some(on_failure.into())),
            (Some(Some(true)), None) => Some(Some(OnFailure::Release)),
            (None, None) => None,
        };
        let access = match (self.auth, self.tls) {
            (None, None) => None,
            (auth, tls) => Some(Some(AccessInput::parse_halves(
                auth.map(|a| a.map(AuthInput::from)),
                tls.map(|t| {
                    t.map(|t| TlsInput {
                        client_cert: t.client_cert,
                        client_key: t.client_key,
                        ca_cert: t.ca_cert,
                    })
                }),
            )?)),
        };
        Ok((ordered, access))
    }
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
        let programs = input.options.programs()?;
        let (ordered, access) = input.options.parse()?;
        Ok(Self {
            ordered,
            access,
            filter: programs.filter,
            transformation: programs.transformation,
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
    #[serde(flatten)]
    pub options: OptionsIn,
}

impl TryFrom<EndpointPatch> for EndpointChanges {
    type Error = domain::Error;

    fn try_from(input: EndpointPatch) -> Result<Self, Self::Error> {
        let programs = input.options.programs()?;
        let (ordered, access) = input.options.parse()?;
        Ok(Self {
            ordered,
            access,
            filter: programs.filter,
            transformation: programs.transformation,
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
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(tag = "type")]
pub(crate) enum AuthOut {
    #[serde(rename = "basic")]
    Basic { username: String },
    #[serde(rename = "bearer")]
    Bearer {},
    #[serde(rename = "oauth2", rename_all = "camelCase")]
    OAuth2 {
        token_url: String,
        client_id: String,
        scopes: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        audience: Option<String>,
        params: BTreeMap<String, String>,
        client_auth: ClientAuthIn,
    },
}

impl From<Auth> for AuthOut {
    fn from(value: Auth) -> Self {
        match value {
            Auth::Basic { username } => Self::Basic { username },
            Auth::Bearer {} => Self::Bearer {},
            Auth::OAuth2 {
                token_url,
                client_id,
                scopes,
                audience,
                params,
                client_auth,
            } => Self::OAuth2 {
                token_url,
                client_id,
                scopes,
                audience,
                params,
                client_auth: client_auth.into(),
            },
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TlsOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<String>,
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
            ordered: ep.ordered.is_some(),
            ordered_on_failure: ep.ordered.map(OnFailureIn::from),
            auth: ep.access.as_ref().and_then(|a| a.auth.clone()).map(AuthOut::from),
            tls: ep.access.and_then(|a| a.tls).map(|t| TlsOut {
                client_cert: t.client_cert,
                ca_cert: t.ca_cert,
            }),
            filter: ep.filter,
            transformation: ep.transformation,
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
    #[serde(flatten)]
    pub options: OptionsIn,
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
            options: input.options,
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

/// Where an endpoint's deliveries stand with its rate and its line.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LineOut {
    /// The message at the head of the line (ordered endpoints).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// Unfinished deliveries behind the head.
    pub behind: i64,
    /// The finally failed message that stopped the line, if it is stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<String>,
    /// Deliveries held back by the endpoint's rate.
    pub held_by_rate: i64,
    /// When the rate lets the next delivery go, if that is later than now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_turn: Option<DateTime<Utc>>,
}

/// Herald's extension: the endpoint's line (ordered delivery) and rate, as they stand.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/line", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 200, body = LineOut), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn line(ctx: web::Data<Context>, caller: Caller, path: AppEp) -> ApiResult<HttpResponse> {
    let ep = endpoints::find_in_app(&ctx.db, &caller.0.tenant, &path.0, &path.1).await?;
    let s = lane::standing(&ctx.db, ctx.backend, &caller.0.tenant, &ep, Utc::now()).await?;
    Ok(HttpResponse::Ok().json(LineOut {
        head: s.head.map(|m| m.to_string()),
        behind: s.behind,
        stopped_by: s.stopped_by.map(|m| m.to_string()),
        held_by_rate: s.held_by_rate,
        next_turn: s.next_turn,
    }))
}

/// Herald's extension: restarts a line stopped by a failed message (`orderedOnFailure:
/// stop`); the next message goes and the failed one stays failed. 409 when the line is
/// not stopped.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/line/release", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 204), (status = 404, body = HttpErrorOut), (status = 409, body = HttpErrorOut)))]
pub(crate) async fn release_line(
    ctx: web::Data<Context>,
    caller: Caller,
    path: AppEp,
) -> ApiResult<HttpResponse> {
    let ep = endpoints::find_in_app(&ctx.db, &caller.0.tenant, &path.0, &path.1).await?;
    if !lane::release(&ctx, &caller.0.tenant, &ep, &caller.0.actor()).await? {
        return Err(domain::Error::Conflict("the endpoint's line is not stopped".into()).into());
    }
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
