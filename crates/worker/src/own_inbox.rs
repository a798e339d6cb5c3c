//! Deliveries to Herald's own inspector inboxes (`{public_url}/in/{token}…`) are handed to
//! the inbox inside the process instead of going out on the network. So the quick start
//! can deliver to its own inboxes without `HERALD_ALLOW_PRIVATE_NETWORKS`, and since no
//! connection is made, the exception reaches nothing but an inbox: a URL is handed over
//! only when its scheme, host, port and path prefix are exactly the public URL's `/in/`,
//! and then it can only be recorded (or refused as an unknown inbox).

use std::time::{Duration, Instant};

use domain::{
    Context, Error,
    entity::attempt::ErrorKind,
    service::{
        delivery::Outcome,
        inspector::{self, Incoming, Recorded},
    },
};
use url::Url;

use crate::client::{self, Request};

/// Where Herald's own inboxes are, as this process's public URL spells them.
#[derive(Debug)]
struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
    /// The public URL's path with `/in/` after it.
    prefix: String,
}

/// Hands deliveries to Herald's own inboxes.
pub(crate) struct OwnInboxes {
    ctx: Context,
    origin: Origin,
}

/// An inbox URL taken apart.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Target<'u> {
    token: &'u str,
    /// `""` or `/…`: what follows the token.
    tail: &'u str,
    query: &'u str,
}

impl OwnInboxes {
    /// `None` when the process has no public URL (a bare `herald worker` without
    /// `HERALD_PUBLIC_URL`): then nothing is handed over.
    pub(crate) fn new(ctx: &Context) -> Option<Self> {
        Some(Self {
            ctx: ctx.clone(),
            origin: Origin::of(&ctx.settings.public_url)?,
        })
    }

    /// The inbox `url` names, if it is one of Herald's own.
    pub(crate) fn recognise<'u>(&self, url: &'u Url) -> Option<Target<'u>> {
        self.origin.recognise(url)
    }

    /// Records `req` in the inbox and answers as the inbox does, within `req`'s timeout.
    pub(crate) async fn deliver(&self, target: Target<'_>, req: Request<'_>) -> Outcome {
        let started = Instant::now();
        let outcome = |status: Option<u16>, body: Option<String>, error, retry_after| Outcome {
            url: req.url.to_owned(),
            response_status: status,
            response_body: body,
            duration: started.elapsed(),
            error,
            retry_after,
            request: None,
        };
        let header = |name: &str| {
            req.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let mut headers: Vec<(String, String)> = req
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        // What a receiver on the network would also have seen.
        headers.push(("host".to_owned(), self.origin.authority()));
        headers.push(("content-length".to_owned(), req.body.len().to_string()));
        let incoming = Incoming {
            method: req.method.as_str().to_owned(),
            path: target.tail.to_owned(),
            query: target.query.to_owned(),
            headers,
            body: req.body.clone().into_bytes(),
            content_type: header("content-type"),
            source_address: None,
        };
        let answer = match inspector::record(&self.ctx, target.token, incoming).await {
            Ok(Recorded::Answered(answer)) => answer,
            Ok(Recorded::Limited) => {
                let (body, error) = client::judged(
                    429,
                    "too many requests for this inbox; nothing was recorded".to_owned(),
                );
                return outcome(Some(429), Some(body), error, Some(Duration::from_secs(1)));
            }
            // A `herald listen` is relaying the inbox: its answer, within the endpoint's
            // timeout.
            Ok(Recorded::Relayed { tenant, request }) => {
                let deadline = Instant::now() + req.timeout.min(inspector::RELAY_WAIT);
                match inspector::await_answer(&self.ctx, &tenant, &request, deadline).await {
                    Ok(Some(answer)) => answer,
                    Ok(None) => {
                        return outcome(
                            None,
                            None,
                            Some((
                                ErrorKind::Timeout,
                                format!(
                                    "no answer from herald listen within {} s",
                                    req.timeout.min(inspector::RELAY_WAIT).as_secs()
                                ),
                            )),
                            None,
                        );
                    }
                    Err(e) => {
                        return outcome(
                            None,
                            None,
                            Some((ErrorKind::Other, format!("the inbox's relay failed: {e}"))),
                            None,
                        );
                    }
                }
            }
            Ok(_) => {
                return outcome(
                    None,
                    None,
                    Some((
                        ErrorKind::Other,
                        "the inbox cannot answer a delivery handed over inside Herald".to_owned(),
                    )),
                    None,
                );
            }
            Err(Error::NotFound(_)) => {
                let (body, error) = client::judged(
                    404,
                    "no inbox at this URL: it was deleted or has expired".to_owned(),
                );
                return outcome(Some(404), Some(body), error, None);
            }
            Err(e) => {
                return outcome(
                    None,
                    None,
                    Some((
                        ErrorKind::Other,
                        format!("the inbox could not record the delivery: {e}"),
                    )),
                    None,
                );
            }
        };
        // An inbox told to wait longer than the endpoint waits is a time-out, as it would
        // be on the network.
        if answer.delay >= req.timeout {
            tokio::time::sleep(req.timeout).await;
            return outcome(
                None,
                None,
                Some((
                    ErrorKind::Timeout,
                    format!("no response within {} s", req.timeout.as_secs()),
                )),
                None,
            );
        }
        tokio::time::sleep(answer.delay).await;
        let (body, error) = client::judged(answer.status, answer.body);
        outcome(Some(answer.status), Some(body), error, None)
    }
}

impl Origin {
    fn of(public_url: &str) -> Option<Self> {
        let public = Url::parse(public_url).ok()?;
        Some(Self {
            scheme: public.scheme().to_owned(),
            host: public.host_str()?.to_owned(),
            port: public.port_or_known_default(),
            prefix: format!("{}/in/", public.path().trim_end_matches('/')),
        })
    }

    fn recognise<'u>(&self, url: &'u Url) -> Option<Target<'u>> {
        if url.scheme() != self.scheme
            || url.host_str() != Some(self.host.as_str())
            || url.port_or_known_default() != self.port
        {
            return None;
        }
        let rest = url.path().strip_prefix(self.prefix.as_str())?;
        let (token, tail) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        Some(Target {
            token,
            tail,
            query: url.query().unwrap_or(""),
        })
    }

    fn authority(&self) -> String {
        match self.port {
            Some(port) if Some(port) != default_port(&self.scheme) => format!("{}:{port}", self.host),
            _ => self.host.clone(),
        }
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target<'u>(origin: &Origin, url: &'u Url) -> Option<(&'u str, &'u str, &'u str)> {
        origin.recognise(url).map(|t| (t.token, t.tail, t.query))
    }

    #[test]
    fn only_the_public_urls_inbox_paths_are_recognised() {
        let origin = Origin::of("http://127.0.0.1:8080").unwrap();
        let url = |s: &str| Url::parse(s).unwrap();
        let token = "0123456789abcdef0123456789abcdef01234567";
        let own = url(&format!("http://127.0.0.1:8080/in/{token}"));
        assert_eq!(target(&origin, &own), Some((token, "", "")));
        let deeper = url(&format!("http://127.0.0.1:8080/in/{token}/hooks/a?x=1"));
        assert_eq!(target(&origin, &deeper), Some((token, "/hooks/a", "x=1")));
        for other in [
            // Another port, host, scheme or path of the same server.
            format!("http://127.0.0.1:8081/in/{token}"),
            format!("http://localhost:8080/in/{token}"),
            format!("http://127.0.0.2:8080/in/{token}"),
            format!("https://127.0.0.1:8080/in/{token}"),
            "http://127.0.0.1:8080/api/v1/app".to_owned(),
            "http://127.0.0.1:8080/inbox".to_owned(),
            // Dot segments are resolved before the path is read.
            format!("http://127.0.0.1:8080/in/{token}/../../api/v1/app"),
            "http://127.0.0.1:8080/in/%2e%2e/api/v1/app".to_owned(),
        ] {
            let parsed = url(&other);
            let got = target(&origin, &parsed);
            assert!(
                got.is_none() || got.is_some_and(|(t, _, _)| t != token && !t.contains('/')),
                "{other} was taken for an inbox: {got:?}"
            );
            if other.contains("api/v1") {
                assert_eq!(got, None, "{other} must go to the network (and its policy)");
            }
        }
    }

    #[test]
    fn a_public_url_with_a_path_and_a_default_port_is_matched_as_written() {
        let origin = Origin::of("https://hooks.example.com/herald/").unwrap();
        let url = Url::parse("https://hooks.example.com:443/herald/in/abc/x").unwrap();
        assert_eq!(target(&origin, &url), Some(("abc", "/x", "")));
        assert_eq!(origin.authority(), "hooks.example.com");
        let outside = Url::parse("https://hooks.example.com/in/abc").unwrap();
        assert_eq!(target(&origin, &outside), None);
        assert!(Origin::of("").is_none(), "no public URL, nothing handed over");
    }
}
