//! How Herald proves itself to an endpoint's receiver besides the signature: HTTP Basic,
//! a static bearer token or OAuth 2.0 client credentials, and a TLS client certificate
//! (with a CA to trust for that endpoint only).
//!
//! An [`AccessInput`] is what a tenant typed, checked; it splits into the [`Access`] kept
//! in the open (what kind, user names, URLs, certificates: shown back to people) and the
//! [`Credentials`] sealed under the main key (passwords, tokens, client secrets, the TLS
//! key), which nothing ever shows again.

use std::collections::BTreeMap;

use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use serde::{Deserialize, Serialize};

use super::EndpointUrl;
use crate::Error;

/// The longest secret, user name, client id, scope or parameter accepted.
pub const MAX_FIELD: usize = 4096;
/// The longest PEM text accepted (a certificate chain or a key).
pub const MAX_PEM: usize = 64 * 1024;
/// OAuth scopes and extra parameters, at most.
pub const MAX_ITEMS: usize = 32;

/// The parts that are not secret, stored as JSON in `endpoint.access`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, sea_orm::FromJsonQueryResult)]
#[serde(rename_all = "camelCase")]
pub struct Access {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
}

/// The receiver's gateway credentials, without their secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Auth {
    /// `Authorization: Basic` with this user name and the sealed password.
    #[serde(rename = "basic")]
    Basic { username: String },
    /// `Authorization: Bearer` with the sealed token.
    #[serde(rename = "bearer")]
    Bearer {},
    /// A token from `token_url` by the client-credentials grant, sent as a bearer token.
    #[serde(rename = "oauth2", rename_all = "camelCase")]
    OAuth2 {
        token_url: String,
        client_id: String,
        #[serde(default)]
        scopes: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audience: Option<String>,
        /// Extra form parameters of the token request.
        #[serde(default)]
        params: BTreeMap<String, String>,
        #[serde(default)]
        client_auth: ClientAuth,
    },
}

impl Auth {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Basic { .. } => "basic",
            Self::Bearer {} => "bearer",
            Self::OAuth2 { .. } => "oauth2",
        }
    }
}

/// How the client id and secret go to the token server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ClientAuth {
    /// HTTP Basic (`client_secret_basic`, which every server must support).
    #[default]
    Basic,
    /// Form fields `client_id` and `client_secret` (`client_secret_post`).
    Body,
}

/// A TLS client certificate (PEM, the chain) and a CA to trust for this endpoint only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tls {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<String>,
}

/// The sealed parts, as JSON inside the sealed bytes of `endpoint.credentials`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    /// The password, bearer token or OAuth client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The TLS client certificate's private key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("secret", &self.secret.as_ref().map(|_| "…"))
            .field("tls_key", &self.tls_key.as_ref().map(|_| "…"))
            .finish()
    }
}

/// Gateway credentials as typed, secret included.
#[derive(Clone, PartialEq, Eq)]
pub enum AuthInput {
    Basic {
        username: String,
        password: String,
    },
    Bearer {
        token: String,
    },
    OAuth2 {
        token_url: String,
        client_id: String,
        client_secret: String,
        scopes: Vec<String>,
        audience: Option<String>,
        params: BTreeMap<String, String>,
        client_auth: ClientAuth,
    },
}

/// A TLS client identity as typed: certificate chain and key, or only a CA, or both.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsInput {
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    pub ca_cert: Option<String>,
}

/// Checked access settings, ready to store: gateway credentials, TLS identity, or both.
/// A half not given is left as the endpoint has it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessInput {
    access: Access,
    credentials: Credentials,
    gives_auth: bool,
    gives_tls: bool,
}

impl std::fmt::Debug for AccessInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessInput")
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

fn text(field: &'static str, value: &str, required: bool) -> Result<String, Error> {
    if required && value.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value.len() > MAX_FIELD {
        return Err(Error::invalid(
            field,
            format!("must be at most {MAX_FIELD} bytes"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

fn certificates(field: &'static str, pem: &str) -> Result<String, Error> {
    if pem.len() > MAX_PEM {
        return Err(Error::invalid(field, format!("must be at most {MAX_PEM} bytes")));
    }
    let found = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::invalid(field, format!("is not PEM certificates ({e})")))?;
    if found.is_empty() {
        return Err(Error::invalid(
            field,
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(pem.to_owned())
}

impl AccessInput {
    /// Checks `auth` and `tls`, which replace both halves; `None` for both means no access
    /// settings at all.
    pub fn parse(auth: Option<AuthInput>, tls: Option<TlsInput>) -> Result<Option<Self>, Error> {
        let input = Self::parse_halves(Some(auth), Some(tls))?;
        Ok((input.access.auth.is_some() || input.access.tls.is_some()).then_some(input))
    }

    /// Checks the halves given (`Some(None)` clears one); the others stay as they are.
    pub fn parse_halves(
        auth: Option<Option<AuthInput>>,
        tls: Option<Option<TlsInput>>,
    ) -> Result<Self, Error> {
        let (gives_auth, gives_tls) = (auth.is_some(), tls.is_some());
        let mut input = Self::check(auth.flatten(), tls.flatten())?;
        input.gives_auth = gives_auth;
        input.gives_tls = gives_tls;
        Ok(input)
    }

    /// This input laid over what an endpoint has: the halves it gives replace the
    /// endpoint's, the others are kept. `None` when nothing is left.
    pub fn over(self, access: Option<Access>, credentials: Credentials) -> Option<(Access, Credentials)> {
        let mut access = access.unwrap_or_default();
        let mut credentials = credentials;
        if self.gives_auth {
            access.auth = self.access.auth;
            credentials.secret = self.credentials.secret;
        }
        if self.gives_tls {
            access.tls = self.access.tls;
            credentials.tls_key = self.credentials.tls_key;
        }
        (access.auth.is_some() || access.tls.is_some()).then_some((access, credentials))
    }

    fn check(auth: Option<AuthInput>, tls: Option<TlsInput>) -> Result<Self, Error> {
        let mut credentials = Credentials::default();
        let auth = match auth {
            None => None,
            Some(AuthInput::Basic { username, password }) => {
                let username = text("auth.username", &username, true)?;
                if username.contains(':') {
                    return Err(Error::invalid("auth.username", "must not contain ':'"));
                }
                credentials.secret = Some(text("auth.password", &password, true)?);
                Some(Auth::Basic { username })
            }
            Some(AuthInput::Bearer { token }) => {
                credentials.secret = Some(text("auth.token", &token, true)?);
                Some(Auth::Bearer {})
            }
            Some(AuthInput::OAuth2 {
                token_url,
                client_id,
                client_secret,
                scopes,
                audience,
                params,
                client_auth,
            }) => {
                let token_url = EndpointUrl::parse_field("auth.tokenUrl", &token_url)?;
                if scopes.len() > MAX_ITEMS || params.len() > MAX_ITEMS {
                    return Err(Error::invalid(
                        "auth",
                        format!("at most {MAX_ITEMS} scopes and {MAX_ITEMS} parameters"),
                    ));
                }
                for scope in &scopes {
                    if scope.is_empty() || scope.chars().any(|c| c.is_whitespace() || c.is_control()) {
                        return Err(Error::invalid(
                            "auth.scopes",
                            "each scope is one word, without spaces",
                        ));
                    }
                    text("auth.scopes", scope, true)?;
                }
                for (name, value) in &params {
                    text("auth.params", name, true)?;
                    text("auth.params", value, false)?;
                    if matches!(
                        name.as_str(),
                        "grant_type" | "client_id" | "client_secret" | "scope" | "audience"
                    ) {
                        return Err(Error::invalid(
                            "auth.params",
                            format!("`{name}` is set by Herald; use the field for it"),
                        ));
                    }
                }
                credentials.secret = Some(text("auth.clientSecret", &client_secret, true)?);
                Some(Auth::OAuth2 {
                    token_url: token_url.as_str().to_owned(),
                    client_id: text("auth.clientId", &client_id, true)?,
                    scopes,
                    audience: audience
                        .filter(|a| !a.is_empty())
                        .map(|a| text("auth.audience", &a, true))
                        .transpose()?,
                    params,
                    client_auth,
                })
            }
        };
        let tls = match tls {
            None => None,
            Some(TlsInput {
                client_cert,
                client_key,
                ca_cert,
            }) => {
                let client_cert = client_cert.filter(|c| !c.trim().is_empty());
                let client_key = client_key.filter(|k| !k.trim().is_empty());
                let ca_cert = ca_cert.filter(|c| !c.trim().is_empty());
                match (&client_cert, &client_key) {
                    (Some(_), None) => {
                        return Err(Error::invalid(
                            "tls.clientKey",
                            "a client certificate needs its key",
                        ));
                    }
                    (None, Some(_)) => {
                        return Err(Error::invalid(
                            "tls.clientCert",
                            "a key needs its client certificate",
                        ));
                    }
                    _ => {}
                }
                if let Some(key) = &client_key {
                    if key.len() > MAX_PEM {
                        return Err(Error::invalid(
                            "tls.clientKey",
                            format!("must be at most {MAX_PEM} bytes"),
                        ));
                    }
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| {
                        Error::invalid("tls.clientKey", format!("is not a PEM private key ({e})"))
                    })?;
                }
                let client_cert = client_cert
                    .map(|c| certificates("tls.clientCert", &c))
                    .transpose()?;
                let ca_cert = ca_cert.map(|c| certificates("tls.caCert", &c)).transpose()?;
                credentials.tls_key = client_key;
                (client_cert.is_some() || ca_cert.is_some()).then_some(Tls { client_cert, ca_cert })
            }
        };
        Ok(Self {
            access: Access { auth, tls },
            credentials,
            gives_auth: true,
            gives_tls: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(username: &str, password: &str) -> Option<AuthInput> {
        Some(AuthInput::Basic {
            username: username.into(),
            password: password.into(),
        })
    }

    #[test]
    fn secrets_go_to_the_sealed_part_only() {
        let (access, credentials) = AccessInput::parse(basic("svc", "hunter2"), None)
            .unwrap()
            .unwrap()
            .over(None, Credentials::default())
            .unwrap();
        let open = serde_json::to_string(&access).unwrap();
        assert!(!open.contains("hunter2"), "{open}");
        assert_eq!(open, r#"{"auth":{"type":"basic","username":"svc"}}"#);
        assert_eq!(credentials.secret.as_deref(), Some("hunter2"));
        assert!(!format!("{credentials:?}").contains("hunter2"));
    }

    #[test]
    fn bad_settings_name_their_field() {
        let field = |auth, tls| match AccessInput::parse(auth, tls) {
            Err(Error::Invalid { field, .. }) => field.into_owned(),
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(field(basic("", "x"), None), "auth.username");
        assert_eq!(field(basic("a:b", "x"), None), "auth.username");
        assert_eq!(field(basic("a", ""), None), "auth.password");
        assert_eq!(
            field(Some(AuthInput::Bearer { token: "a\nb".into() }), None),
            "auth.token"
        );
        let oauth = |url: &str, params: &[(&str, &str)]| {
            Some(AuthInput::OAuth2 {
                token_url: url.into(),
                client_id: "id".into(),
                client_secret: "s".into(),
                scopes: vec![],
                audience: None,
                params: params.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
                client_auth: ClientAuth::Basic,
            })
        };
        assert_eq!(field(oauth("ftp://x", &[]), None), "auth.tokenUrl");
        assert_eq!(
            field(oauth("https://x", &[("grant_type", "password")]), None),
            "auth.params"
        );
        let tls = |cert: Option<&str>, key: Option<&str>| {
            Some(TlsInput {
                client_cert: cert.map(Into::into),
                client_key: key.map(Into::into),
                ca_cert: None,
            })
        };
        assert_eq!(field(None, tls(Some("x"), None)), "tls.clientKey");
        assert_eq!(field(None, tls(None, Some("x"))), "tls.clientCert");
        assert_eq!(
            field(None, tls(Some("not pem"), Some("not pem"))),
            "tls.clientKey"
        );
        assert!(AccessInput::parse(None, tls(None, None)).unwrap().is_none());
    }

    #[test]
    fn a_half_not_given_is_kept() {
        let (access, credentials) = AccessInput::parse(basic("svc", "pw"), None)
            .unwrap()
            .unwrap()
            .over(None, Credentials::default())
            .unwrap();
        let tls_only = AccessInput::parse_halves(None, Some(None)).unwrap();
        let (kept, kept_secrets) = tls_only.over(Some(access.clone()), credentials.clone()).unwrap();
        assert_eq!((kept, kept_secrets), (access.clone(), credentials.clone()));
        let cleared = AccessInput::parse_halves(Some(None), None).unwrap();
        assert!(cleared.over(Some(access), credentials).is_none());
    }
}
