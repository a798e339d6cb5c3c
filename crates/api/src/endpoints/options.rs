//! Herald's delivery options on endpoint bodies: ordered delivery, gateway credentials, a
//! TLS client identity and jq programs, in (write-only secrets) and out (without them).

use std::collections::BTreeMap;

use domain::{
    entity::endpoint::OnFailure,
    program::Program,
    service::endpoint::DeliveryOptions,
    values::{
        AccessInput, AuthInput, TlsInput,
        access::{Auth, ClientAuth},
    },
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Herald's delivery options, as read from an endpoint body. `None` leaves an option as
/// it is (the Svix SDKs do not send them, so also on PUT); `Some(None)` clears it.
#[derive(Debug, Default)]
pub(crate) struct OptionsIn {
    pub ordered: Option<Option<bool>>,
    pub ordered_on_failure: Option<OnFailureIn>,
    pub auth: Option<Option<AuthIn>>,
    pub tls: Option<Option<TlsIn>>,
    pub filter: Option<Option<String>>,
    pub transformation: Option<Option<String>>,
}

/// Declares an endpoint body with Herald's delivery options among its own fields, and
/// `take_options` to gather them. They are fields of each body rather than one flattened
/// struct because a flattened field's error loses its name: `{"ordered": "no"}` must be
/// refused at `["body", "ordered"]`, not at `["body"]`.
macro_rules! with_delivery_options {
    ($(#[$attr:meta])* pub(crate) struct $name:ident { $($fields:tt)* }) => {
        $(#[$attr])*
        pub(crate) struct $name {
            $($fields)*
            /// Herald's extension: one delivery at a time, in the order messages were accepted.
            /// A message goes only after every earlier one for this endpoint succeeded or
            /// finally failed; retries keep their place.
            #[serde(default, deserialize_with = "crate::wire::nullable")]
            #[schema(value_type = Option<bool>)]
            pub ordered: Option<Option<bool>>,
            /// Herald's extension: when a message of an ordered endpoint finally fails, `release`
            /// (the default) lets the next one go; `stop` holds the line until a message is resent
            /// or the line released (`POST …/line/release`). Setting it makes the endpoint ordered.
            #[serde(default)]
            pub ordered_on_failure: Option<$crate::endpoints::OnFailureIn>,
            /// Herald's extension: credentials for the receiver's gateway, sent with every
            /// delivery besides the signature. Secrets are write-only; `null` removes them.
            #[serde(default, deserialize_with = "crate::wire::nullable")]
            #[schema(value_type = Option<$crate::endpoints::AuthIn>)]
            pub auth: Option<Option<$crate::endpoints::AuthIn>>,
            /// Herald's extension: a TLS client certificate (mutual TLS) and a CA to trust for this
            /// endpoint only. The key is write-only; `null` removes them.
            #[serde(default, deserialize_with = "crate::wire::nullable_object")]
            #[schema(value_type = Option<$crate::endpoints::TlsIn>)]
            pub tls: Option<Option<$crate::endpoints::TlsIn>>,
            /// Herald's extension: a jq program over `{eventType, channels, payload, tags}`; the
            /// endpoint gets a message only when its first output is truthy. Checked when saved
            /// (422 with line and column); a run that fails or exceeds its limits counts as not
            /// matched, and the message says so (`filteredOut`). `null` removes it.
            #[serde(default, deserialize_with = "crate::wire::nullable")]
            #[schema(value_type = Option<String>, example = ".payload.amount > 1000 and .payload.region == \"eu\"")]
            pub filter: Option<Option<String>>,
            /// Herald's extension: a jq program over `{eventType, channels, payload, tags}` whose
            /// output is the body to send (any JSON), or `{body, headers?, method?, url?}`: `url`
            /// may change only the path and query of the endpoint's URL, `method` is `POST` or
            /// `PUT`. The signature covers the bytes sent. `null` removes it.
            #[serde(default, deserialize_with = "crate::wire::nullable")]
            #[schema(value_type = Option<String>, example = "{body: {text: \"Invoice \\(.payload.id) paid\"}}")]
            pub transformation: Option<Option<String>>,
        }

        impl $name {
            /// The body's delivery options, taken out of it.
            pub(crate) fn take_options(&mut self) -> $crate::endpoints::OptionsIn {
                $crate::endpoints::OptionsIn {
                    ordered: self.ordered.take(),
                    ordered_on_failure: self.ordered_on_failure.take(),
                    auth: self.auth.take(),
                    tls: self.tls.take(),
                    filter: self.filter.take(),
                    transformation: self.transformation.take(),
                }
            }
        }
    };
}
pub(crate) use with_delivery_options;

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

impl OptionsIn {
    /// The options as the domain takes them; `None` leaves each as it is.
    pub(super) fn delivery_options(mut self) -> Result<DeliveryOptions, domain::Error> {
        let program = |field: &'static str, source: Option<Option<String>>| {
            source
                .map(|s| s.as_deref().map(|s| Program::parse(field, s)).transpose())
                .transpose()
        };
        let filter = program("filter", self.filter.take())?;
        let transformation = program("transformation", self.transformation.take())?;
        let (ordered, access) = self.parse()?;
        Ok(DeliveryOptions {
            ordered,
            access,
            filter,
            transformation,
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
