//! Request extractors: JSON bodies with exact error locations, query strings, and the
//! authenticated tenant.

use std::{collections::BTreeMap, future::Future, pin::Pin};

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web::Bytes};
use chrono::{DateTime, Utc};
use domain::{
    pagination::{Order, PageRequest},
    service::token::ApiPrincipal,
};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};

/// The largest request body Herald reads.
pub(crate) const MAX_BODY: usize = 1024 * 1024;

/// Reads a whole body, answering 413 past [`MAX_BODY`].
pub(crate) async fn read_body(payload: &mut Payload) -> ApiResult<Bytes> {
    let mut body = actix_web::web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| match e {
            actix_web::error::PayloadError::Overflow => ApiError::too_large(MAX_BODY),
            other => ApiError::http(
                actix_web::http::StatusCode::BAD_REQUEST,
                "bad_request",
                format!("the request body could not be read: {other}"),
            ),
        })?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ApiError::too_large(MAX_BODY));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A JSON body. A body that is not JSON, or is JSON of the wrong shape, is a 422 whose
/// `loc` points at the offending field. Unknown fields are ignored.
#[derive(Debug)]
pub(crate) struct Body<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = ApiResult<Self>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if let Some(length) = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            && length > MAX_BODY
        {
            return Box::pin(async { Err(ApiError::too_large(MAX_BODY)) });
        }
        let mut payload = payload.take();
        Box::pin(async move {
            let bytes = read_body(&mut payload).await?;
            parse_json(&bytes).map(Body)
        })
    }
}

/// Parses JSON, turning serde's complaint into a located 422.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    if has_nul(bytes) {
        // PostgreSQL text cannot hold it; refuse it everywhere, the same on every database.
        return Err(ApiError::invalid(
            vec!["body".into()],
            "text may not contain the NUL character (\\u0000)",
            "value_error",
        ));
    }
    let text = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"null".as_slice()
    } else {
        bytes
    };
    // Every body Herald reads is an object, but a derived struct also takes the array of
    // its fields in order: `["a", "b"]` would otherwise make an application.
    if text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::invalid(
            vec!["body".into()],
            "expected a JSON object, found an array",
            "type_error.dict",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(text);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(located)?;
    de.end().map_err(|e| {
        ApiError::invalid(
            vec!["body".into()],
            without_position(&e),
            "value_error.jsondecode",
        )
    })?;
    Ok(value)
}

/// A raw NUL byte, or a `\u0000` escape (not itself an escaped backslash).
fn has_nul(bytes: &[u8]) -> bool {
    if bytes.contains(&0) {
        return true;
    }
    bytes.windows(6).enumerate().any(|(i, w)| {
        w.eq_ignore_ascii_case(b"\\u0000")
            && bytes[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 0
    })
}

/// serde's message ends with " at line 1 column 9"; the location says it better.
fn without_position(error: &serde_json::Error) -> String {
    let msg = error.to_string();
    msg.split(" at line ").next().unwrap_or(&msg).to_owned()
}

fn located(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    {
        let mut loc = vec![serde_json::Value::from("body")];
        for segment in error.path().iter() {
            match segment {
                serde_path_to_error::Segment::Seq { index } => loc.push((*index).into()),
                serde_path_to_error::Segment::Map { key } => loc.push(key.clone().into()),
                serde_path_to_error::Segment::Enum { variant } => loc.push(variant.clone().into()),
                serde_path_to_error::Segment::Unknown => {}
            }
        }
        let inner = error.into_inner();
        let msg = without_position(&inner);
        // A missing field is reported on its parent; point at the field itself.
        if let Some(field) = msg
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'))
        {
            loc.push(field.into());
            return ApiError::invalid(loc, "field required", "value_error.missing");
        }
        let kind = match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "value_error.jsondecode"
            }
            _ => "type_error",
        };
        ApiError::invalid(loc, msg, kind)
    }
}

/// The query string as name → values (repeated names and comma-separated lists both
/// give several values, as the different SDKs send them).
#[derive(Debug, Default)]
pub(crate) struct QueryParams(BTreeMap<String, Vec<String>>);

impl FromRequest for QueryParams {
    type Error = ApiError;
    type Future = std::future::Ready<ApiResult<Self>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (key, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
            map.entry(key.into_owned()).or_default().push(value.into_owned());
        }
        std::future::ready(Ok(Self(map)))
    }
}

fn query_invalid(name: &str, msg: impl Into<String>) -> ApiError {
    ApiError::invalid(vec!["query".into(), name.into()], msg, "value_error")
}

impl QueryParams {
    /// A text parameter; given empty, it is as if it were absent.
    pub(crate) fn one(&self, name: &str) -> Option<&str> {
        self.given(name).filter(|v| !v.is_empty())
    }

    /// A parameter as given, empty or not: a number, flag, time or order given empty is
    /// refused, not read as absent.
    pub(crate) fn given(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.last()).map(String::as_str)
    }

    /// Every value of a list parameter, whether repeated or comma-separated.
    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        self.0
            .get(name)
            .into_iter()
            .flatten()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }

    pub(crate) fn flag(&self, name: &str) -> ApiResult<Option<bool>> {
        match self.given(name) {
            None => Ok(None),
            Some("true" | "True" | "1") => Ok(Some(true)),
            Some("false" | "False" | "0") => Ok(Some(false)),
            Some(_) => Err(query_invalid(name, "must be true or false")),
        }
    }

    pub(crate) fn time(&self, name: &str) -> ApiResult<Option<DateTime<Utc>>> {
        self.given(name)
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        query_invalid(name, "must be an RFC 3339 timestamp, e.g. 2026-01-31T12:00:00Z")
                    })
            })
            .transpose()
    }

    pub(crate) fn number(&self, name: &str) -> ApiResult<Option<u64>> {
        self.given(name)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| query_invalid(name, "must be a non-negative integer"))
            })
            .transpose()
    }

    /// `limit`, `iterator` and `order`, checked; `check_key` vets an iterator's shape.
    pub(crate) fn page(
        &self,
        default_order: Order,
        check_key: impl Fn(&str) -> bool,
    ) -> ApiResult<PageRequest> {
        let order = match self.given("order") {
            None => default_order,
            Some("ascending") => Order::Ascending,
            Some("descending") => Order::Descending,
            Some(_) => return Err(query_invalid("order", "must be ascending or descending")),
        };
        let limit = self.number("limit")?;
        PageRequest::parse(limit, self.one("iterator"), order, check_key)
            .map_err(|e| ApiError::from(e.within("query")))
    }
}

/// The tenant behind the request's bearer token; the gate put it there.
#[derive(Clone, Debug)]
pub(crate) struct Caller(pub ApiPrincipal);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = std::future::Ready<ApiResult<Self>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<ApiPrincipal>()
                .cloned()
                .map(Caller)
                .ok_or_else(|| ApiError::unauthorized("missing bearer token")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::has_nul;

    #[test]
    fn finds_nul_characters_but_not_escaped_backslashes() {
        assert!(has_nul(br#"{"a": "x\u0000"}"#));
        assert!(has_nul(b"{\"a\": \"\0\"}"));
        assert!(has_nul(br#"{"a": "\\\u0000"}"#));
        assert!(!has_nul(br#"{"a": "\\u0000"}"#));
        assert!(!has_nul(br#"{"a": "u0000"}"#));
    }
}
