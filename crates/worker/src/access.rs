//! What a delivery presents besides its signature, for receivers behind a gateway: an
//! `Authorization` header (HTTP Basic, a static bearer token, or an OAuth 2.0 token got
//! by the client-credentials grant) and a TLS client certificate.
//!
//! OAuth tokens are kept per endpoint until shortly before they expire and shared by the
//! worker's deliveries to that endpoint: one fetch at a time per endpoint, the others wait
//! for it. A token is fetched through the same guarded client as deliveries (the network
//! policy applies to token servers too). Clients with a certificate are made once per
//! endpoint and settings.

use std::{
    collections::HashMap,
    hash::{DefaultHasher, Hash, Hasher},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use domain::{
    entity::{attempt::ErrorKind, endpoint},
    id::EndpointId,
    values::access::{Auth, ClientAuth, Credentials},
};

use crate::client::Sender;

/// A token is used until this long before it expires (or half its life, if shorter).
const REFRESH_MARGIN: Duration = Duration::from_secs(30);
/// How long a token without `expires_in` is used.
const UNDATED_TOKEN: Duration = Duration::from_secs(300);
/// How much of a token server's refusal goes into the attempt log.
const REASON_BODY: usize = 300;

struct Token {
    value: String,
    fresh_until: Instant,
    settings: u64,
}

type TokenSlot = Arc<tokio::sync::Mutex<Option<Token>>>;

#[derive(Default)]
pub(crate) struct Access {
    tokens: Mutex<HashMap<EndpointId, TokenSlot>>,
    clients: Mutex<HashMap<EndpointId, (u64, reqwest::Client)>>,
}

/// A fingerprint of an endpoint's access settings and secrets, so that a change made
/// through the API is never served from an older token or client.
fn settings_of(endpoint: &endpoint::Model, credentials: &Credentials) -> u64 {
    let mut h = DefaultHasher::new();
    serde_json::to_string(&endpoint.access)
        .unwrap_or_default()
        .hash(&mut h);
    credentials.secret.hash(&mut h);
    credentials.tls_key.hash(&mut h);
    h.finish()
}

fn urlencoded(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn auth_failure(reason: String) -> (ErrorKind, String) {
    (ErrorKind::Auth, reason)
}

impl Access {
    /// The client to send with: `None` for the shared one, or one presenting the
    /// endpoint's TLS client certificate and trusting its CA.
    pub(crate) fn client(
        &self,
        sender: &Sender,
        endpoint: &endpoint::Model,
        credentials: &Credentials,
    ) -> Result<Option<reqwest::Client>, (ErrorKind, String)> {
        let Some(tls) = endpoint.access.as_ref().and_then(|a| a.tls.as_ref()) else {
            return Ok(None);
        };
        let settings = settings_of(endpoint, credentials);
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((made_for, client)) = clients.get(&endpoint.id)
            && *made_for == settings
        {
            return Ok(Some(client.clone()));
        }
        let identity = tls.client_cert.as_deref().zip(credentials.tls_key.as_deref());
        let client = sender
            .with_tls(identity, tls.ca_cert.as_deref())
            .map_err(|reason| (ErrorKind::Tls, reason))?;
        clients.insert(endpoint.id.clone(), (settings, client.clone()));
        Ok(Some(client))
    }

    /// The `Authorization` header for a delivery to `endpoint`, if it has credentials.
    /// With `renew`, an OAuth token is fetched afresh (the endpoint refused the last).
    pub(crate) async fn authorization(
        &self,
        sender: &Sender,
        endpoint: &endpoint::Model,
        credentials: &Credentials,
        timeout: Duration,
        renew: bool,
    ) -> Result<Option<String>, (ErrorKind, String)> {
        let Some(auth) = endpoint.access.as_ref().and_then(|a| a.auth.as_ref()) else {
            return Ok(None);
        };
        let secret = credentials.secret.as_deref().unwrap_or_default();
        match auth {
            Auth::Basic { username } => Ok(Some(format!(
                "Basic {}",
                STANDARD.encode(format!("{username}:{secret}"))
            ))),
            Auth::Bearer {} => Ok(Some(format!("Bearer {secret}"))),
            Auth::OAuth2 { .. } => {
                let slot = self
                    .tokens
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(endpoint.id.clone())
                    .or_default()
                    .clone();
                // One fetch at a time per endpoint; the others wait and use its token.
                let mut token = slot.lock().await;
                let settings = settings_of(endpoint, credentials);
                if !renew
                    && let Some(t) = token.as_ref()
                    && t.settings == settings
                    && Instant::now() < t.fresh_until
                {
                    return Ok(Some(format!("Bearer {}", t.value)));
                }
                let fetched = fetch(sender, auth, secret, timeout).await;
                match fetched {
                    Ok((value, lifetime)) => {
                        let margin = REFRESH_MARGIN.min(lifetime / 2);
                        let header = format!("Bearer {value}");
                        *token = Some(Token {
                            value,
                            fresh_until: Instant::now() + lifetime - margin,
                            settings,
                        });
                        Ok(Some(header))
                    }
                    Err(e) => {
                        *token = None;
                        Err(e)
                    }
                }
            }
        }
    }

    /// Forgets the endpoint's token, so the next delivery fetches one.
    pub(crate) async fn forget_token(&self, endpoint: &EndpointId) {
        let slot = self
            .tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(endpoint)
            .cloned();
        if let Some(slot) = slot {
            *slot.lock().await = None;
        }
    }
}

/// The client-credentials grant: a token and how long it lives.
async fn fetch(
    sender: &Sender,
    auth: &Auth,
    secret: &str,
    timeout: Duration,
) -> Result<(String, Duration), (ErrorKind, String)> {
    let Auth::OAuth2 {
        token_url,
        client_id,
        scopes,
        audience,
        params,
        client_auth,
    } = auth
    else {
        return Err(auth_failure("not an OAuth endpoint".into()));
    };
    let (form, headers) = token_request(
        client_id,
        secret,
        scopes,
        audience.as_deref(),
        params,
        *client_auth,
    );
    let (status, body) = sender
        .post_form(token_url, &headers, form, timeout)
        .await
        .map_err(|(_, reason)| auth_failure(format!("the token request to {token_url} failed: {reason}")))?;
    if !(200..300).contains(&status) {
        let said: String = body.chars().take(REASON_BODY).collect();
        return Err(auth_failure(format!(
            "the token server {token_url} refused the client credentials: HTTP {status} {said}"
        )));
    }
    let answer: serde_json::Value = serde_json::from_str(&body).map_err(|_| {
        auth_failure(format!(
            "the token server {token_url} answered something other than JSON"
        ))
    })?;
    let token = answer
        .get("access_token")
        .and_then(serde_json::Value::as_str)
        .filter(|t| !t.is_empty() && !t.chars().any(char::is_control))
        .ok_or_else(|| auth_failure(format!("the token server {token_url} sent no access_token")))?;
    let lifetime = answer
        .get("expires_in")
        .and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
        .map_or(UNDATED_TOKEN, Duration::from_secs);
    Ok((token.to_owned(), lifetime))
}

/// The form and headers of a client-credentials token request.
fn token_request(
    client_id: &str,
    secret: &str,
    scopes: &[String],
    audience: Option<&str>,
    params: &std::collections::BTreeMap<String, String>,
    client_auth: ClientAuth,
) -> (String, Vec<(String, String)>) {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials");
    if !scopes.is_empty() {
        form.append_pair("scope", &scopes.join(" "));
    }
    if let Some(audience) = audience {
        form.append_pair("audience", audience);
    }
    for (name, value) in params {
        form.append_pair(name, value);
    }
    let mut headers = Vec::new();
    match client_auth {
        ClientAuth::Basic => headers.push((
            "authorization".to_owned(),
            format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", urlencoded(client_id), urlencoded(secret)))
            ),
        )),
        ClientAuth::Body => {
            form.append_pair("client_id", client_id);
            form.append_pair("client_secret", secret);
        }
    }
    let form = form.finish();
    (form, headers)
}
