//! An endpoint's delivery options on its pages: ordered delivery, the receiver's gateway
//! credentials and a TLS client certificate (form fields in, what the form and the
//! summary show out), and where its deliveries stand with its rate and its line.
//!
//! Secrets (passwords, tokens, client secrets, TLS keys) go one way: a form may set them,
//! no page shows them. So an edit whose secret fields are blank keeps what is stored,
//! unless the rest of those settings changed (then the secret must be typed again).

use std::collections::BTreeMap;

use actix_web::{HttpRequest, web};
use chrono::Utc;
use domain::{
    Error,
    entity::endpoint::{Model, OnFailure},
    service::{
        delivery::lane::{self, Standing},
        endpoint::DeliveryOptions,
    },
    values::{
        AccessInput, AuthInput, TlsInput,
        access::{Auth, ClientAuth, Tls},
    },
};
use serde::Deserialize;

use crate::{
    error::see_other,
    form::{Csrf, Page, check},
    pages::endpoint::find_endpoint,
    session::AppScope,
    view::When,
};

/// How a set secret shows: never the secret, only that there is one.
pub(crate) const MASK: &str = "••••••••";

/// The options' fields of an endpoint form. A field the form does not send leaves its
/// option as it is.
#[derive(Deserialize, Default)]
pub(crate) struct OptionsForm {
    /// `off`, `release` or `stop`.
    ordered: Option<String>,
    /// `none`, `basic`, `bearer` or `oauth2`.
    auth_type: Option<String>,
    #[serde(default)]
    auth_username: String,
    #[serde(default)]
    auth_password: String,
    #[serde(default)]
    auth_token: String,
    #[serde(default)]
    oauth_token_url: String,
    #[serde(default)]
    oauth_client_id: String,
    #[serde(default)]
    oauth_client_secret: String,
    /// Separated by spaces.
    #[serde(default)]
    oauth_scopes: String,
    #[serde(default)]
    oauth_audience: String,
    /// `basic` or `body`.
    #[serde(default)]
    oauth_client_auth: String,
    /// One `name=value` per line.
    #[serde(default)]
    oauth_params: String,
    tls_client_cert: Option<String>,
    tls_client_key: Option<String>,
    tls_ca_cert: Option<String>,
}

/// Textarea text as typed, with the browser's CRLF line ends made plain.
fn pem(value: &str) -> Option<String> {
    let value = value.replace("\r\n", "\n");
    (!value.trim().is_empty()).then_some(value)
}

fn same_pem(typed: Option<&str>, stored: Option<&str>) -> bool {
    typed.map(str::trim) == stored.map(str::trim)
}

impl OptionsForm {
    fn ordered(&self) -> Result<Option<Option<OnFailure>>, Error> {
        match self.ordered.as_deref().map(str::trim) {
            None => Ok(None),
            Some("" | "off") => Ok(Some(None)),
            Some("release") => Ok(Some(Some(OnFailure::Release))),
            Some("stop") => Ok(Some(Some(OnFailure::Stop))),
            Some(_) => Err(Error::invalid("ordered", "must be off, release or stop")),
        }
    }

    fn params(&self) -> Result<BTreeMap<String, String>, Error> {
        let mut params = BTreeMap::new();
        for (n, line) in self.oauth_params.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let Some((name, value)) = line.split_once('=') else {
                return Err(Error::invalid(
                    "auth.params",
                    format!("line {} is not `name=value`", n + 1),
                ));
            };
            params.insert(name.trim().to_owned(), value.trim().to_owned());
        }
        Ok(params)
    }

    /// The credentials typed; `None` for "none" (or a form without them).
    fn auth(&self) -> Result<Option<AuthInput>, Error> {
        let auth = match self.auth_type.as_deref().map(str::trim) {
            None | Some("" | "none") => return Ok(None),
            Some("basic") => AuthInput::Basic {
                username: self.auth_username.trim().to_owned(),
                password: self.auth_password.clone(),
            },
            Some("bearer") => AuthInput::Bearer {
                token: self.auth_token.trim().to_owned(),
            },
            Some("oauth2") => AuthInput::OAuth2 {
                token_url: self.oauth_token_url.trim().to_owned(),
                client_id: self.oauth_client_id.trim().to_owned(),
                client_secret: self.oauth_client_secret.clone(),
                scopes: self.oauth_scopes.split_whitespace().map(str::to_owned).collect(),
                audience: Some(self.oauth_audience.trim().to_owned()).filter(|a| !a.is_empty()),
                params: self.params()?,
                client_auth: match self.oauth_client_auth.trim() {
                    "" | "basic" => ClientAuth::Basic,
                    "body" => ClientAuth::Body,
                    _ => return Err(Error::invalid("auth.clientAuth", "must be basic or body")),
                },
            },
            Some(_) => {
                return Err(Error::invalid(
                    "auth_type",
                    "must be none, basic, bearer or oauth2",
                ));
            }
        };
        Ok(Some(auth))
    }

    /// The TLS settings typed; `None` when the form has no TLS fields.
    fn tls(&self) -> Option<TlsInput> {
        if self.tls_client_cert.is_none() && self.tls_client_key.is_none() && self.tls_ca_cert.is_none() {
            return None;
        }
        let field = |f: &Option<String>| f.as_deref().and_then(pem);
        Some(TlsInput {
            client_cert: field(&self.tls_client_cert),
            client_key: field(&self.tls_client_key),
            ca_cert: field(&self.tls_ca_cert),
        })
    }

    /// For a new endpoint: everything typed.
    pub(crate) fn for_create(&self) -> Result<DeliveryOptions, Error> {
        Ok(DeliveryOptions {
            ordered: self.ordered()?,
            access: Some(AccessInput::parse(self.auth()?, self.tls())?),
            ..DeliveryOptions::default()
        })
    }

    /// For `ep`: the changes typed. Each half of the access settings (credentials, TLS)
    /// is kept when its secret field is blank and nothing else of it changed.
    pub(crate) fn for_edit(&self, ep: &Model) -> Result<DeliveryOptions, Error> {
        let stored = ep.access.clone().unwrap_or_default();
        let auth = match (self.auth_type.as_deref(), self.auth()?) {
            (None, _) => None,
            (Some(_), None) => stored.auth.is_some().then_some(None),
            (Some(_), Some(typed)) => {
                let blank = match &typed {
                    AuthInput::Basic { password, .. } => password.trim().is_empty(),
                    AuthInput::Bearer { token } => token.trim().is_empty(),
                    AuthInput::OAuth2 { client_secret, .. } => client_secret.trim().is_empty(),
                };
                if blank && stored.auth.as_ref().is_some_and(|s| same_open(s, &typed)) {
                    None
                } else {
                    Some(Some(typed))
                }
            }
        };
        let tls = self.tls().and_then(|typed| {
            let stored_tls = stored.tls.as_ref();
            let unchanged = typed.client_key.is_none()
                && same_pem(
                    typed.client_cert.as_deref(),
                    stored_tls.and_then(|t| t.client_cert.as_deref()),
                )
                && same_pem(
                    typed.ca_cert.as_deref(),
                    stored_tls.and_then(|t| t.ca_cert.as_deref()),
                );
            (!unchanged).then_some(Some(typed))
        });
        let access = match (auth, tls) {
            (None, None) => None,
            (auth, tls) => Some(Some(AccessInput::parse_halves(auth, tls)?)),
        };
        Ok(DeliveryOptions {
            ordered: self.ordered()?,
            access,
            ..DeliveryOptions::default()
        })
    }
}

/// Whether `typed` is `stored` but for the secret.
fn same_open(stored: &Auth, typed: &AuthInput) -> bool {
    match (stored, typed) {
        (Auth::Basic { username }, AuthInput::Basic { username: typed, .. }) => username == typed,
        (Auth::Bearer {}, AuthInput::Bearer { .. }) => true,
        (
            Auth::OAuth2 {
                token_url,
                client_id,
                scopes,
                audience,
                params,
                client_auth,
            },
            AuthInput::OAuth2 {
                token_url: typed_url,
                client_id: typed_id,
                scopes: typed_scopes,
                audience: typed_audience,
                params: typed_params,
                client_auth: typed_client_auth,
                ..
            },
        ) => {
            token_url == typed_url
                && client_id == typed_id
                && scopes == typed_scopes
                && audience == typed_audience
                && params == typed_params
                && client_auth == typed_client_auth
        }
        _ => false,
    }
}

/// The options as a form shows them: stored or typed values, never a secret.
pub(crate) struct OptionsView {
    /// `off`, `release` or `stop`.
    pub(crate) ordered: &'static str,
    /// `none`, `basic`, `bearer` or `oauth2`.
    pub(crate) auth_type: String,
    pub(crate) username: String,
    pub(crate) token_url: String,
    pub(crate) client_id: String,
    pub(crate) scopes: String,
    pub(crate) audience: String,
    /// `basic` or `body`.
    pub(crate) client_auth: &'static str,
    pub(crate) params: String,
    /// The stored credentials' kind when they have a secret ("" when none).
    pub(crate) secret_of: &'static str,
    pub(crate) client_cert: String,
    pub(crate) ca_cert: String,
    /// A TLS key is stored.
    pub(crate) key_set: bool,
}

fn ordered_value(ordered: Option<OnFailure>) -> &'static str {
    match ordered {
        None => "off",
        Some(OnFailure::Release) => "release",
        Some(OnFailure::Stop) => "stop",
    }
}

fn client_auth_value(client_auth: ClientAuth) -> &'static str {
    match client_auth {
        ClientAuth::Basic => "basic",
        ClientAuth::Body => "body",
    }
}

impl Default for OptionsView {
    fn default() -> Self {
        Self::of(None)
    }
}

impl OptionsView {
    /// What `ep` has (`None`: the defaults of a new endpoint).
    pub(crate) fn of(ep: Option<&Model>) -> Self {
        let access = ep.and_then(|ep| ep.access.clone()).unwrap_or_default();
        let mut view = Self {
            ordered: ordered_value(ep.and_then(|ep| ep.ordered)),
            auth_type: "none".into(),
            username: String::new(),
            token_url: String::new(),
            client_id: String::new(),
            scopes: String::new(),
            audience: String::new(),
            client_auth: "basic",
            params: String::new(),
            secret_of: "",
            client_cert: String::new(),
            ca_cert: String::new(),
            key_set: false,
        };
        if let Some(auth) = &access.auth {
            view.auth_type = auth.kind().into();
            view.secret_of = auth.kind();
            match auth {
                Auth::Basic { username } => view.username.clone_from(username),
                Auth::Bearer {} => {}
                Auth::OAuth2 {
                    token_url,
                    client_id,
                    scopes,
                    audience,
                    params,
                    client_auth,
                } => {
                    view.token_url.clone_from(token_url);
                    view.client_id.clone_from(client_id);
                    view.scopes = scopes.join(" ");
                    view.audience = audience.clone().unwrap_or_default();
                    view.params = params.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
                    view.client_auth = client_auth_value(*client_auth);
                }
            }
        }
        if let Some(Tls { client_cert, ca_cert }) = &access.tls {
            view.client_cert = client_cert.clone().unwrap_or_default();
            view.ca_cert = ca_cert.clone().unwrap_or_default();
            view.key_set = client_cert.is_some();
        }
        view
    }

    /// What the user typed over what `ep` has (secrets stay unshown).
    pub(crate) fn from_form(ep: Option<&Model>, form: &OptionsForm) -> Self {
        let stored = Self::of(ep);
        let typed = |value: &str| value.trim().to_owned();
        Self {
            ordered: match form.ordered.as_deref().map(str::trim) {
                Some("release") => "release",
                Some("stop") => "stop",
                Some(_) => "off",
                None => stored.ordered,
            },
            auth_type: form.auth_type.clone().unwrap_or_else(|| stored.auth_type.clone()),
            username: typed(&form.auth_username),
            token_url: typed(&form.oauth_token_url),
            client_id: typed(&form.oauth_client_id),
            scopes: typed(&form.oauth_scopes),
            audience: typed(&form.oauth_audience),
            client_auth: if form.oauth_client_auth.trim() == "body" {
                "body"
            } else {
                "basic"
            },
            params: form.oauth_params.replace("\r\n", "\n"),
            client_cert: form
                .tls_client_cert
                .as_deref()
                .map(|c| c.replace("\r\n", "\n"))
                .unwrap_or_default(),
            ca_cert: form
                .tls_ca_cert
                .as_deref()
                .map(|c| c.replace("\r\n", "\n"))
                .unwrap_or_default(),
            ..stored
        }
    }

    /// A stored secret to keep for `kind` of credentials.
    pub(crate) fn secret_set(&self, kind: &str) -> bool {
        self.secret_of == kind
    }
}

/// An endpoint's options and standing, in words, for everyone who may see the endpoint.
pub(crate) struct DeliveryView {
    pub(crate) ordered: &'static str,
    pub(crate) auth: String,
    pub(crate) tls: String,
    /// Whether there is a rate or a line to say anything about.
    pub(crate) paced: bool,
    pub(crate) has_rate: bool,
    pub(crate) held_by_rate: i64,
    pub(crate) next_turn: Option<When>,
    pub(crate) is_ordered: bool,
    /// The message at the head of the line.
    pub(crate) head: Option<MessageLink>,
    pub(crate) behind: i64,
    /// The message whose failure stopped the line.
    pub(crate) stopped_by: Option<MessageLink>,
}

pub(crate) struct MessageLink {
    pub(crate) id: String,
    pub(crate) link: String,
}

impl DeliveryView {
    /// `ep`'s options and where its deliveries stand; message links start with `base`.
    pub(crate) async fn of(scope: &AppScope, ep: &Model) -> Result<Self, Error> {
        let standing: Standing =
            lane::standing(&scope.ctx.db, scope.ctx.backend, scope.tenant(), ep, Utc::now()).await?;
        let message = |id: domain::id::MessageId| MessageLink {
            link: format!("{}/messages/{id}", scope.base),
            id: id.to_string(),
        };
        let access = ep.access.clone().unwrap_or_default();
        Ok(Self {
            ordered: match ep.ordered {
                None => "Off: deliveries go as they come, several at a time",
                Some(OnFailure::Release) => {
                    "On: one at a time, in order; a message that finally fails releases the line"
                }
                Some(OnFailure::Stop) => {
                    "On: one at a time, in order; a message that finally fails stops the line"
                }
            },
            auth: match &access.auth {
                None => "None".into(),
                Some(Auth::Basic { username }) => format!("HTTP Basic as {username}, password {MASK}"),
                Some(Auth::Bearer {}) => format!("Bearer token {MASK}"),
                Some(Auth::OAuth2 {
                    token_url, client_id, ..
                }) => format!(
                    "OAuth 2.0 client credentials from {token_url} as {client_id}, client secret {MASK}"
                ),
            },
            tls: match &access.tls {
                None => "None".into(),
                Some(Tls { client_cert, ca_cert }) => {
                    let mut parts = Vec::new();
                    if client_cert.is_some() {
                        parts.push(format!("client certificate set, key {MASK}"));
                    }
                    if ca_cert.is_some() {
                        parts.push("own CA certificate set".to_owned());
                    }
                    parts.join("; ")
                }
            },
            paced: ep.paced(),
            has_rate: ep.rate_limit.is_some_and(|r| r > 0),
            held_by_rate: standing.held_by_rate,
            next_turn: standing.next_turn.map(When::of),
            is_ordered: ep.ordered.is_some(),
            head: standing.head.map(message),
            behind: standing.behind,
            stopped_by: standing.stopped_by.map(message),
        })
    }
}

/// Restarts the endpoint's stopped line, then back to its page with a notice.
pub(crate) async fn release(scope: AppScope, req: HttpRequest, form: web::Form<Csrf>) -> Page {
    check(&scope.live, &form.csrf, scope.require_write())?;
    let ep = find_endpoint(&scope, &req).await?;
    let released = lane::release(&scope.ctx, scope.tenant(), &ep, &scope.live.actor()).await?;
    Ok(see_other(&format!(
        "{}?released={}#delivery",
        scope.endpoint_link(&ep),
        u8::from(released)
    )))
}
