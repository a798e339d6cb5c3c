//! Transformations: an endpoint's jq program turning a message into the request that is
//! sent. The program reads `{eventType, channels, payload, tags}` (as filters do) and
//! gives either the body (any JSON) or `{body, headers?, method?, url?}`:
//!
//! - `url` may change only the path and query of the endpoint's URL: a relative
//!   reference (`/v2/hook?x=1`) or an absolute URL with the endpoint's scheme, host and
//!   port; anything else is refused. The address guard applies as to any delivery.
//! - `method` is `POST` (the default) or `PUT`.
//! - `headers` (strings) are added to the endpoint's own; the signature's headers and
//!   those HTTP manages (`host`, `content-length`, …) cannot be set.
//!
//! A program that fails, runs over its limits or asks for something refused is an
//! attempt of class `transformation`, not retried until the program changes.

use std::collections::{BTreeMap, HashMap};

use serde_json::value::RawValue;
use url::Url;

use crate::{
    entity::message,
    program::{self, Program},
    service::message::filter_input,
};

/// Headers a transformation may not set.
const RESERVED_HEADERS: &[&str] = &[
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "authorization",
];
/// At most this many headers from a transformation.
const MAX_HEADERS: usize = 32;
/// A header value from a transformation is at most this long.
const MAX_HEADER_VALUE: usize = 4096;

/// The keys of the request form of a transformation's output.
const REQUEST_KEYS: &[&str] = &["body", "headers", "method", "url"];

/// The request a transformation asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shaped {
    /// `POST` or `PUT`.
    pub method: &'static str,
    pub url: String,
    /// Added to the endpoint's own headers.
    pub headers: BTreeMap<String, String>,
    /// The exact bytes to sign and send.
    pub body: String,
}

/// Runs `program` over `msg` and reads its output as the request to `endpoint_url`;
/// `Err` is the reason for the attempt log.
pub async fn shape(program: &Program, msg: &message::Model, endpoint_url: &str) -> Result<Shaped, String> {
    let output = program::run_one(program, &filter_input(msg))
        .await
        .map_err(|failure| failure.to_string())?;
    interpret(output.as_deref(), endpoint_url)
}

/// Reads a transformation's output (JSON text, `None` when it gave none).
pub fn interpret(output: Option<&str>, endpoint_url: &str) -> Result<Shaped, String> {
    let Some(output) = output else {
        return Err("the transformation gave no output".to_owned());
    };
    let plain = || Shaped {
        method: "POST",
        url: endpoint_url.to_owned(),
        headers: BTreeMap::new(),
        body: output.to_owned(),
    };
    let Ok(fields) = serde_json::from_str::<HashMap<String, &RawValue>>(output) else {
        check_json(output)?;
        return Ok(plain());
    };
    if !fields.contains_key("body") || fields.keys().any(|k| !REQUEST_KEYS.contains(&k.as_str())) {
        return Ok(plain());
    }
    let string = |name: &str| -> Result<Option<String>, String> {
        fields
            .get(name)
            .map(|raw| {
                serde_json::from_str::<String>(raw.get())
                    .map_err(|_| format!("`{name}` must be a string, not {}", raw.get()))
            })
            .transpose()
    };
    let method = match string("method")?.map(|m| m.to_ascii_uppercase()).as_deref() {
        None | Some("POST") => "POST",
        Some("PUT") => "PUT",
        Some(other) => return Err(format!("`method` must be POST or PUT, not {other}")),
    };
    let url = match string("url")? {
        None => endpoint_url.to_owned(),
        Some(url) => same_origin(endpoint_url, &url)?,
    };
    let headers = match fields.get("headers") {
        None => BTreeMap::new(),
        Some(raw) => headers(raw.get())?,
    };
    let body = fields.get("body").map_or("null", |raw| raw.get()).to_owned();
    Ok(Shaped {
        method,
        url,
        headers,
        body,
    })
}

/// jaq writes every value as JSON except a few numbers (`nan`, infinities).
fn check_json(output: &str) -> Result<(), String> {
    serde_json::from_str::<&RawValue>(output)
        .map(|_| ())
        .map_err(|_| format!("the transformation's output is not JSON: {}", shorten(output)))
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// `asked` resolved against the endpoint's URL, if it keeps its scheme, host and port.
fn same_origin(endpoint_url: &str, asked: &str) -> Result<String, String> {
    let base = Url::parse(endpoint_url).map_err(|e| format!("the endpoint's URL does not parse: {e}"))?;
    let url = base
        .join(asked)
        .map_err(|e| format!("`url` {asked:?} is not a URL: {e}"))?;
    if url.scheme() != base.scheme()
        || url.host_str() != base.host_str()
        || url.port_or_known_default() != base.port_or_known_default()
    {
        return Err(format!(
            "`url` may change only the path and query of the endpoint's URL, not its scheme, host or port ({asked:?})"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("`url` may not carry credentials".to_owned());
    }
    let mut url = url;
    url.set_fragment(None);
    Ok(url.to_string())
}

fn headers(raw: &str) -> Result<BTreeMap<String, String>, String> {
    let map: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(raw).map_err(|_| "`headers` must be an object of strings".to_owned())?;
    if map.len() > MAX_HEADERS {
        return Err(format!("at most {MAX_HEADERS} headers"));
    }
    map.into_iter()
        .map(|(name, value)| {
            let serde_json::Value::String(value) = value else {
                return Err(format!("header `{name}` must be a string"));
            };
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if name.is_empty() || !name.chars().all(token) {
                return Err(format!("`{name}` is not a header name"));
            }
            let lower = name.to_ascii_lowercase();
            if RESERVED_HEADERS.contains(&lower.as_str()) {
                return Err(format!("header `{name}` is set by Herald and cannot be changed"));
            }
            if value.len() > MAX_HEADER_VALUE || value.chars().any(|c| c.is_control() && c != '\t') {
                return Err(format!("header `{name}` has a value HTTP cannot carry"));
            }
            Ok((lower, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EP: &str = "https://hooks.example.com/in/acme?k=1";

    #[test]
    fn any_json_is_the_body() {
        for output in [
            r#"{"text":"hi"}"#,
            "[1,2]",
            "\"plain\"",
            "3",
            r#"{"body":1,"other":2}"#,
        ] {
            let shaped = interpret(Some(output), EP).unwrap();
            assert_eq!(
                (shaped.method, shaped.url.as_str(), shaped.body.as_str()),
                ("POST", EP, output)
            );
        }
        assert!(interpret(None, EP).is_err());
        assert!(interpret(Some("NaN"), EP).is_err());
    }

    #[test]
    fn the_request_form_sets_method_url_and_headers() {
        let shaped = interpret(
            Some(
                r#"{"body":{"b": 1,"a":2},"method":"put","url":"/v2/x?y=1#f","headers":{"X-Kind":"slack"}}"#,
            ),
            EP,
        )
        .unwrap();
        assert_eq!(shaped.method, "PUT");
        assert_eq!(shaped.url, "https://hooks.example.com/v2/x?y=1");
        assert_eq!(
            shaped.body, r#"{"b": 1,"a":2}"#,
            "the body's bytes as the program wrote them"
        );
        assert_eq!(shaped.headers.get("x-kind").map(String::as_str), Some("slack"));
        let same = interpret(
            Some(r#"{"body":1,"url":"https://hooks.example.com:443/other"}"#),
            EP,
        )
        .unwrap();
        assert_eq!(same.url, "https://hooks.example.com/other");
    }

    #[test]
    fn the_host_scheme_and_port_stay() {
        for url in [
            "https://evil.example.com/x",
            "//evil.example.com/x",
            "http://hooks.example.com/x",
            "https://hooks.example.com:8443/x",
            "https://user:pw@hooks.example.com/x",
            "http://169.254.169.254/latest/meta-data",
        ] {
            let output = serde_json::json!({"body": 1, "url": url}).to_string();
            assert!(interpret(Some(&output), EP).is_err(), "{url}");
        }
        for bad in [
            r#"{"body":1,"method":"GET"}"#,
            r#"{"body":1,"method":3}"#,
            r#"{"body":1,"headers":{"webhook-signature":"v1,x"}}"#,
            r#"{"body":1,"headers":{"Authorization":"x"}}"#,
            r#"{"body":1,"headers":{"x":"a\nb"}}"#,
            r#"{"body":1,"headers":{"bad name":"a"}}"#,
            r#"{"body":1,"headers":{"x":1}}"#,
            r#"{"body":1,"headers":[]}"#,
        ] {
            assert!(interpret(Some(bad), EP).is_err(), "{bad}");
        }
    }
}
