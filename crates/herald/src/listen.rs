//! `herald listen`: relays what an inspector inbox receives to a server on this machine,
//! and answers each request with that server's status and body, so a webhook receiver can
//! be developed on a laptop against real deliveries, with no tunnel.
//!
//! The listener long-polls Herald over HTTP(S) (`GET /in-relay/{token}`: the ids of the
//! requests waiting, or none after about 20 s), takes each one
//! (`POST /in-relay/{token}/{request_id}/claim`: the request, unless another listener took
//! it), forwards it at once, and posts the local answer back
//! (`POST /in-relay/{token}/{request_id}`), which Herald gives the request's sender if it
//! comes within 30 s of the request. The inbox's token is the credential; nothing else is
//! configured.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use clap::Args;
use reqwest::{
    Method, StatusCode,
    header::{HeaderMap, HeaderName, HeaderValue},
};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::cli::{UsageError, emit};

/// How long Herald holds a poll at most (it answers an empty list then); the poll's own
/// timeout leaves room beyond it.
const POLL_WAIT_MS: u64 = 20_000;
const POLL_TIMEOUT: Duration = Duration::from_secs(35);
const CLAIM_TIMEOUT: Duration = Duration::from_secs(10);
/// The local server's time to answer: a sender waits 30 s in all, and the answer must
/// still reach Herald.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(25);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// The waits between tries while Herald cannot be reached: doubled each time up to the
/// longest.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const LONGEST_BACKOFF: Duration = Duration::from_secs(30);
/// The most of a local answer's body Herald takes (its inbox answers' bound).
const MAX_ANSWER_BODY: usize = domain::service::inspector::MAX_RESPONSE_BODY;
/// Headers that belong to one connection, not to the request: the local request has its
/// own. `accept-encoding` goes too, because the local answer is relayed as text and must
/// come back uncompressed.
const HOP_BY_HOP: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "accept-encoding",
];

#[derive(Debug, Args)]
#[command(after_help = "\
While it runs, every request the inbox receives is forwarded to --to with its method, headers
and body unchanged (connection headers aside); the path after the inbox's token is appended to
the path of --to, and the query string is kept. The request's sender gets the local server's
status and body, if it answers within 25 s; otherwise 502 with the reason. One line is printed
per request: time, method, local path, local status, time taken. If Herald cannot be reached,
herald listen tries again by itself (waiting 1 s, then up to 30 s). Ctrl-C stops it.

Exit status: 0 stopped with Ctrl-C, 1 the inbox does not exist (or expired), 2 unusable
arguments.")]
pub struct ListenArgs {
    /// The inbox's URL as Herald shows it: `https://herald.example.com/in/<token>`.
    #[arg(value_name = "INBOX_URL")]
    inbox: String,
    /// The local URL to forward to, e.g. `http://localhost:3000/webhooks`.
    #[arg(long, value_name = "URL")]
    to: String,
}

/// Where the listener polls and answers.
#[derive(Debug)]
struct Relay {
    /// `{base}/in-relay/{token}`.
    url: Url,
}

impl Relay {
    /// `…/in/{token}` (with whatever path Herald is served under before `/in`) →
    /// `…/in-relay/{token}`.
    fn parse(inbox: &str) -> Result<Self, UsageError> {
        let wrong = || {
            UsageError::new(format!(
                "`{inbox}` is not an inbox URL: expected http(s)://HOST/in/TOKEN, as Herald shows it"
            ))
        };
        let mut url = Url::parse(inbox).map_err(|_| wrong())?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(wrong());
        }
        let segments: Vec<String> = url
            .path_segments()
            .map(|s| s.filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        let [prefix @ .., marker, token] = segments.as_slice() else {
            return Err(wrong());
        };
        let plausible = token.len() == 40
            && token
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if marker != "in" || !plausible {
            return Err(wrong());
        }
        let mut path: Vec<&str> = prefix.iter().map(String::as_str).collect();
        path.extend(["in-relay", token.as_str()]);
        url.set_path(&path.join("/"));
        url.set_query(None);
        url.set_fragment(None);
        Ok(Self { url })
    }

    /// `{base}/in-relay/{token}/{segments…}`.
    fn below(&self, segments: &[&str]) -> Url {
        let mut url = self.url.clone();
        url.path_segments_mut()
            .expect("an http(s) URL has a path")
            .extend(segments);
        url
    }
}

/// The local server.
#[derive(Debug)]
struct Target {
    url: Url,
}

impl Target {
    fn parse(to: &str) -> Result<Self, UsageError> {
        let url = Url::parse(to)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                UsageError::new(format!(
                    "--to `{to}` is not an http(s) URL, e.g. http://localhost:3000/webhooks"
                ))
            })?;
        Ok(Self { url })
    }

    /// The local URL for a request to `…/in/{token}{path}?{query}`.
    fn url_for(&self, path: &str, query: &str) -> Url {
        let mut url = self.url.clone();
        if !path.is_empty() {
            let joined = format!("{}{path}", url.path().trim_end_matches('/'));
            url.set_path(&joined);
        }
        let query = match (self.url.query().filter(|q| !q.is_empty()), query) {
            (None, "") => None,
            (Some(own), "") => Some(own.to_owned()),
            (None, theirs) => Some(theirs.to_owned()),
            (Some(own), theirs) => Some(format!("{own}&{theirs}")),
        };
        url.set_query(query.as_deref());
        url
    }
}

/// One request to forward, as Herald hands it over.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Relayed {
    id: String,
    method: String,
    path: String,
    query: String,
    headers: Vec<Header>,
    /// Base64.
    body: String,
    truncated: bool,
}

#[derive(Debug, Deserialize)]
struct Header {
    name: String,
    value: String,
}

#[derive(Debug, Deserialize)]
struct Waiting {
    waiting: Vec<String>,
}

#[derive(Debug, Serialize)]
struct AnswerOut<'a> {
    status: u16,
    body: &'a str,
}

/// Why a poll got no requests.
enum PollError {
    /// Herald does not know the inbox: no point trying again.
    Gone(String),
    /// Herald could not be reached, or could not answer now.
    Unreachable(String),
}

/// Relays until Ctrl-C (exit 0) or until Herald says the inbox is gone (an error).
pub async fn run(args: &ListenArgs) -> anyhow::Result<()> {
    let relay = Arc::new(Relay::parse(&args.inbox)?);
    let target = Arc::new(Target::parse(&args.to)?);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("making an HTTP client")?;
    tokio::select! {
        result = relay_until_gone(&client, &relay, &target, &args.inbox) => result,
        stopped = tokio::signal::ctrl_c() => {
            stopped.context("waiting for Ctrl-C")?;
            note("stopped");
            Ok(())
        }
    }
}

async fn relay_until_gone(
    client: &reqwest::Client,
    relay: &Arc<Relay>,
    target: &Arc<Target>,
    shown: &str,
) -> anyhow::Result<()> {
    let mut backoff = FIRST_BACKOFF;
    let mut connected = false;
    loop {
        // The first poll after (re)connecting returns at once, to say that Herald is there.
        let wait = if connected { POLL_WAIT_MS } else { 0 };
        match poll(client, relay, wait).await {
            Ok(waiting) => {
                if !connected {
                    note(&format!("listening on {shown}, forwarding to {}", target.url));
                    connected = true;
                    backoff = FIRST_BACKOFF;
                }
                // Taken before the next poll, which would name them again otherwise.
                let mut failed = false;
                for id in waiting {
                    match claim(client, relay, &id).await {
                        Claimed::Took(request) => {
                            let (client, relay, target) = (client.clone(), relay.clone(), target.clone());
                            tokio::spawn(async move { handle(&client, &relay, &target, request).await });
                        }
                        Claimed::Lost => {}
                        Claimed::Failed => failed = true,
                    }
                }
                // The next poll would name it again at once: not in a tight loop.
                if failed {
                    tokio::time::sleep(FIRST_BACKOFF).await;
                }
            }
            Err(PollError::Gone(reason)) => bail!("{reason}"),
            Err(PollError::Unreachable(reason)) => {
                if connected {
                    note(&format!("lost Herald ({reason}); reconnecting"));
                    connected = false;
                } else {
                    note(&format!(
                        "cannot reach Herald ({reason}); trying again in {} s",
                        backoff.as_secs()
                    ));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(LONGEST_BACKOFF);
                }
            }
        }
    }
}

async fn poll(client: &reqwest::Client, relay: &Relay, wait_ms: u64) -> Result<Vec<String>, PollError> {
    let mut url = relay.url.clone();
    url.query_pairs_mut().append_pair("wait", &wait_ms.to_string());
    let answer = client
        .get(url)
        .timeout(POLL_TIMEOUT)
        .send()
        .await
        .map_err(|e| PollError::Unreachable(reason_of(&e)))?;
    match answer.status() {
        StatusCode::OK => answer
            .json::<Waiting>()
            .await
            .map(|list| list.waiting)
            .map_err(|e| PollError::Unreachable(format!("unreadable answer: {}", reason_of(&e)))),
        StatusCode::NOT_FOUND => Err(PollError::Gone(
            "Herald knows no inbox at this URL (it may have expired or been deleted)".into(),
        )),
        status => Err(PollError::Unreachable(format!("Herald answered {status}"))),
    }
}

enum Claimed {
    Took(Relayed),
    /// Another listener took it first, or its sender stopped waiting: nothing to do.
    Lost,
    /// Herald could not be asked (said on stderr).
    Failed,
}

/// Takes the waiting request `id` for this listener.
async fn claim(client: &reqwest::Client, relay: &Relay, id: &str) -> Claimed {
    let answer = client
        .post(relay.below(&[id, "claim"]))
        .timeout(CLAIM_TIMEOUT)
        .send()
        .await;
    let problem = match answer {
        Ok(answer) if answer.status() == StatusCode::OK => match answer.json::<Relayed>().await {
            Ok(request) => return Claimed::Took(request),
            Err(e) => format!("unreadable answer: {}", reason_of(&e)),
        },
        Ok(answer) if answer.status() == StatusCode::CONFLICT => return Claimed::Lost,
        Ok(answer) => format!("Herald answered {}", answer.status()),
        Err(e) => reason_of(&e),
    };
    note(&format!("could not take request {id} ({problem})"));
    Claimed::Failed
}

/// Forwards one request, gives Herald the answer and prints the request's line.
async fn handle(client: &reqwest::Client, relay: &Relay, target: &Target, request: Relayed) {
    let started = Instant::now();
    let local = target.url_for(&request.path, &request.query);
    let (status, body, problem) = match forward(client, &local, &request).await {
        Ok((status, body)) => (status, body, None),
        Err(reason) => (502, format!("herald listen: {reason}"), Some(reason)),
    };
    let taken = started.elapsed().as_millis();
    let delivered = client
        .post(relay.below(&[&request.id]))
        .json(&AnswerOut { status, body: &body })
        .timeout(ANSWER_TIMEOUT)
        .send()
        .await;
    let undelivered = match delivered {
        Ok(answer) if answer.status().is_success() => None,
        Ok(answer) => {
            let status = answer.status();
            let detail = answer
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
                .unwrap_or_else(|| status.to_string());
            Some(detail)
        }
        Err(e) => Some(reason_of(&e)),
    };
    let mut line = format!(
        "{} {} {} {status} {taken}ms",
        chrono::Utc::now().format("%H:%M:%S"),
        request.method,
        path_and_query(&local),
    );
    if let Some(problem) = problem {
        line.push_str(&format!(" ({problem})"));
    }
    if let Some(undelivered) = undelivered {
        line.push_str(&format!(" [the answer did not reach Herald: {undelivered}]"));
    }
    emit(&line);
}

/// The local server's status and body (as text, cut at what Herald takes), or why there
/// is none.
async fn forward(client: &reqwest::Client, local: &Url, request: &Relayed) -> Result<(u16, String), String> {
    if request.truncated {
        return Err("the request's body was larger than Herald keeps; not forwarded".into());
    }
    let method = Method::from_bytes(request.method.as_bytes())
        .map_err(|_| format!("`{}` is not an HTTP method", request.method))?;
    let body = base64::engine::general_purpose::STANDARD
        .decode(&request.body)
        .map_err(|_| "Herald sent a body that is not base64".to_owned())?;
    let mut headers = HeaderMap::new();
    for header in &request.headers {
        if HOP_BY_HOP.iter().any(|h| header.name.eq_ignore_ascii_case(h)) {
            continue;
        }
        // What arrived over HTTP parses again; anything else is left out.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(header.name.as_bytes()),
            HeaderValue::from_str(&header.value),
        ) {
            headers.append(name, value);
        }
    }
    let answer = client
        .request(method, local.clone())
        .headers(headers)
        .body(body)
        .timeout(FORWARD_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("no answer from {}: {}", origin(local), reason_of(&e)))?;
    let status = answer.status().as_u16();
    let bytes = answer
        .bytes()
        .await
        .map_err(|e| format!("the answer of {} broke off: {}", origin(local), reason_of(&e)))?;
    Ok((status, text_within(&bytes, MAX_ANSWER_BODY)))
}

/// `bytes` as text (invalid UTF-8 replaced), cut on a character boundary to `limit` bytes.
fn text_within(bytes: &[u8], limit: usize) -> String {
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    if text.len() > limit {
        let mut end = limit;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

fn path_and_query(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// What went wrong with an HTTP call, in a few words.
fn reason_of(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".into();
    }
    // The innermost cause says it best ("Connection refused (os error 111)").
    let mut cause: &dyn std::error::Error = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    if error.is_connect() {
        format!("cannot connect: {cause}")
    } else {
        cause.to_string()
    }
}

/// A line about the listener itself (not a request) on stderr, so stdout holds only the
/// requests' lines.
fn note(line: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "herald listen: {line}").and_then(|()| err.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn an_inbox_url_gives_its_relay_under_the_same_prefix() {
        let relay = Relay::parse(&format!("https://h.example/in/{TOKEN}")).unwrap();
        assert_eq!(relay.url.as_str(), format!("https://h.example/in-relay/{TOKEN}"));
        let relay = Relay::parse(&format!("http://h.example:8080/herald/in/{TOKEN}/?x=1")).unwrap();
        assert_eq!(
            relay.url.as_str(),
            format!("http://h.example:8080/herald/in-relay/{TOKEN}")
        );
        assert_eq!(
            relay.below(&["inrq_1", "claim"]).as_str(),
            format!("http://h.example:8080/herald/in-relay/{TOKEN}/inrq_1/claim")
        );
        for wrong in [
            "h.example/in/abc".to_owned(),
            format!("ftp://h.example/in/{TOKEN}"),
            format!("https://h.example/out/{TOKEN}"),
            "https://h.example/in/not-a-token".to_owned(),
            format!("https://h.example/in/{TOKEN}/more"),
        ] {
            assert!(Relay::parse(&wrong).is_err(), "{wrong}");
        }
    }

    #[test]
    fn the_path_after_the_token_goes_after_the_local_path_and_queries_join() {
        let target = Target::parse("http://localhost:3000/webhooks/").unwrap();
        assert_eq!(target.url_for("", "").as_str(), "http://localhost:3000/webhooks/");
        assert_eq!(
            target.url_for("/orders/7", "a=1&b=2").as_str(),
            "http://localhost:3000/webhooks/orders/7?a=1&b=2"
        );
        let target = Target::parse("http://localhost:3000/hooks?src=herald").unwrap();
        assert_eq!(
            target.url_for("/x", "a=1").as_str(),
            "http://localhost:3000/hooks/x?src=herald&a=1"
        );
        assert!(Target::parse("localhost:3000").is_err());
    }

    #[test]
    fn a_long_answer_is_cut_on_a_character_boundary() {
        assert_eq!(text_within("héllo".as_bytes(), 2), "h");
        assert_eq!(text_within("héllo".as_bytes(), 3), "hé");
        assert_eq!(text_within(b"ok", 10), "ok");
    }
}
