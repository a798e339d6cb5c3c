//! Outbound HTTP: one pooled client whose resolver refuses addresses the network policy
//! forbids, so the check applies to the address actually connected to.

use std::{
    error::Error as StdError,
    fmt,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use domain::{
    entity::attempt::ErrorKind,
    netpolicy::{Blocked, NetworkPolicy},
    service::delivery::{MAX_RESPONSE_BODY, Outcome},
};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::own_inbox::OwnInboxes;

#[derive(Debug)]
struct BlockedError(Blocked);

impl fmt::Display for BlockedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl StdError for BlockedError {}

#[derive(Debug)]
struct DnsError(String);

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for DnsError {}

/// Resolves with the system resolver, then drops every address the policy refuses; if
/// none is left, the connection fails with the policy's reason.
struct GuardedResolver {
    policy: Arc<NetworkPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| {
                    Box::new(DnsError(format!("DNS lookup of {host} failed: {e}")))
                        as Box<dyn StdError + Send + Sync>
                })?
                .collect();
            if found.is_empty() {
                return Err(Box::new(DnsError(format!("DNS lookup of {host} found no address"))) as _);
            }
            let mut refused = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| match policy.check(addr.ip()) {
                    Ok(()) => true,
                    Err(blocked) => {
                        refused.get_or_insert(blocked);
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), refused) {
                (true, Some(blocked)) => Err(Box::new(BlockedError(blocked)) as _),
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

/// Sends deliveries.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    policy: Arc<NetworkPolicy>,
    connections: usize,
    /// Herald's own inboxes, reached without the network.
    own_inboxes: Option<Arc<OwnInboxes>>,
}

/// One request to make.
pub struct Request<'a> {
    /// `POST`, or `PUT` when a transformation asks for it.
    pub method: reqwest::Method,
    pub url: &'a str,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub timeout: Duration,
}

impl Sender {
    /// A client that keeps up to `connections` idle connections per host: as many as
    /// deliveries may be in flight, so a busy endpoint does not see connections closed
    /// and opened again between deliveries.
    pub fn new(policy: NetworkPolicy, connections: usize) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(policy);
        let client = Self::builder(&policy, connections).build()?;
        Ok(Self {
            client,
            policy,
            connections,
            own_inboxes: None,
        })
    }

    /// This sender, handing deliveries to Herald's own inbox URLs over to `own`.
    pub(crate) fn handing_over(self, own: Option<OwnInboxes>) -> Self {
        Self {
            own_inboxes: own.map(Arc::new),
            ..self
        }
    }

    /// Every client's settings: no redirects, no proxy, the guarded resolver.
    fn builder(policy: &Arc<NetworkPolicy>, connections: usize) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(connections.max(1))
            .dns_resolver(GuardedResolver {
                policy: policy.clone(),
            })
    }

    /// A client like the shared one that also presents a TLS client certificate and
    /// trusts `ca` (PEM), for one endpoint; or why it cannot be made.
    pub fn with_tls(
        &self,
        identity: Option<(&str, &str)>,
        ca: Option<&str>,
    ) -> Result<reqwest::Client, String> {
        let mut builder = Self::builder(&self.policy, self.connections);
        if let Some((cert, key)) = identity {
            let pem = format!("{}\n{}", key.trim(), cert.trim());
            let identity = reqwest::Identity::from_pem(pem.as_bytes())
                .map_err(|e| format!("the TLS client certificate or key is unusable: {e}"))?;
            builder = builder.identity(identity);
        }
        if let Some(ca) = ca {
            for cert in reqwest::Certificate::from_pem_bundle(ca.as_bytes())
                .map_err(|e| format!("the endpoint's CA certificate is unusable: {e}"))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        builder
            .build()
            .map_err(|e| format!("the endpoint's TLS settings are unusable: {e}"))
    }

    /// The address of `url` if it is an IP literal the policy refuses (literals skip the
    /// resolver).
    fn refused_literal(&self, url: &reqwest::Url) -> Option<String> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            _ => return None,
        };
        self.policy.check(ip).err().map(|blocked| blocked.to_string())
    }

    /// Posts a form to an OAuth token endpoint through the guarded client: the body and
    /// status, or why there is none.
    pub async fn post_form(
        &self,
        url: &str,
        headers: &[(String, String)],
        form: String,
        timeout: Duration,
    ) -> Result<(u16, String), (ErrorKind, String)> {
        if let Some(refused) = reqwest::Url::parse(url)
            .ok()
            .and_then(|url| self.refused_literal(&url))
        {
            return Err((ErrorKind::Blocked, refused));
        }
        let mut builder = self
            .client
            .post(url)
            .timeout(timeout)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(form);
        for (name, value) in headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let response = builder.send().await.map_err(|e| classify(&e, timeout))?;
        let status = response.status().as_u16();
        Ok((status, read_limited(response).await))
    }

    /// Sends one request and describes what happened; never fails.
    pub async fn send(&self, req: Request<'_>) -> Outcome {
        self.send_on(&self.client, req).await
    }

    /// [`Self::send`] through `client` (one made by [`Self::with_tls`]).
    pub async fn send_on(&self, client: &reqwest::Client, req: Request<'_>) -> Outcome {
        let started = Instant::now();
        let outcome = |status: Option<u16>,
                       body: Option<String>,
                       error: Option<(ErrorKind, String)>,
                       retry_after| Outcome {
            url: req.url.to_owned(),
            response_status: status,
            response_body: body,
            duration: started.elapsed(),
            error,
            retry_after,
            request: None,
        };
        if let Ok(url) = reqwest::Url::parse(req.url) {
            if let Some(own) = &self.own_inboxes
                && let Some(target) = own.recognise(&url)
            {
                return own.deliver(target, req).await;
            }
            if let Some(refused) = self.refused_literal(&url) {
                return outcome(None, None, Some((ErrorKind::Blocked, refused)), None);
            }
        }
        let mut builder = client
            .request(req.method.clone(), req.url)
            .timeout(req.timeout)
            .body(req.body.clone());
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let response = match builder.send().await {
            Ok(response) => response,
            Err(e) => return outcome(None, None, Some(classify(&e, req.timeout)), None),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
            .filter(|_| status.as_u16() == 429 || status.as_u16() == 503);
        let (body, error) = judged(status.as_u16(), read_limited(response).await);
        outcome(Some(status.as_u16()), Some(body), error, retry_after)
    }
}

/// A response's body as the log keeps it, and what its status says of the try.
pub(crate) fn judged(status: u16, mut body: String) -> (String, Option<(ErrorKind, String)>) {
    // NUL cannot be stored in a PostgreSQL text column: a receiver must not be able to
    // make its own attempts unrecordable.
    if body.contains('\0') {
        body = body.replace('\0', "\u{FFFD}");
    }
    let status = reqwest::StatusCode::from_u16(status).unwrap_or(reqwest::StatusCode::BAD_GATEWAY);
    let error = if status.is_success() {
        None
    } else if status.is_redirection() {
        Some((
            ErrorKind::Redirect,
            format!("HTTP {status}: redirects are not followed; use the final URL"),
        ))
    } else {
        Some((ErrorKind::HttpStatus, format!("HTTP {status}")))
    };
    (body, error)
}

/// The body, up to [`MAX_RESPONSE_BODY`] bytes (cut at a character boundary).
async fn read_limited(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = MAX_RESPONSE_BODY.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_RESPONSE_BODY {
            break;
        }
    }
    let mut text = String::from_utf8_lossy(&body).into_owned();
    if body.len() >= MAX_RESPONSE_BODY {
        text.push_str("\n[truncated at 64 KiB]");
    }
    text
}

fn classify(error: &reqwest::Error, timeout: Duration) -> (ErrorKind, String) {
    let mut source: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(blocked) = e.downcast_ref::<BlockedError>() {
            return (ErrorKind::Blocked, blocked.to_string());
        }
        if let Some(dns) = e.downcast_ref::<DnsError>() {
            return (ErrorKind::Dns, dns.to_string());
        }
        source = e.source();
    }
    let chain = {
        let mut parts = vec![error.to_string()];
        let mut s = error.source();
        while let Some(e) = s {
            parts.push(e.to_string());
            s = e.source();
        }
        parts.join(": ")
    };
    if error.is_timeout() {
        (
            ErrorKind::Timeout,
            format!("no response within {} s", timeout.as_secs()),
        )
    } else if chain.to_ascii_lowercase().contains("certificate")
        || chain.contains("tls")
        || chain.contains("TLS")
    {
        (ErrorKind::Tls, format!("TLS failed: {chain}"))
    } else if error.is_connect() {
        (ErrorKind::Connect, format!("could not connect: {chain}"))
    } else {
        (ErrorKind::Other, chain)
    }
}
