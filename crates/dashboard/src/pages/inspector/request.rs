//! One request an inbox recorded, in full: what arrived, the body laid out for reading,
//! the Standard Webhooks verdict against an endpoint's keys or a pasted one, and the
//! capture `herald verify` reads.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use domain::{
    Error,
    entity::inbox_request,
    service::inspector::{self, Inbox, Key, Verdict},
    signing::SigningSecret,
};
use serde::Deserialize;

use super::{errors_of, inbox_link, size};
use crate::{
    error::PageError,
    form::{Errors, Page, check, html, param},
    session::Signed,
    view::{Chrome, When},
};

/// The body as the page shows it.
pub(crate) struct BodyView {
    /// `JSON`, `text`, `base64` (not UTF-8) or `empty`.
    pub(crate) kind: &'static str,
    pub(crate) text: String,
}

/// JSON laid out beyond this many times its own size (deep nesting indents every line)
/// is shown as received.
const MAX_GROWTH: usize = 4;

/// JSON text laid out with two-space indents. Its keys stay in the order received and its
/// numbers as written, which a parsed value would not keep. `None` when the layout
/// would grow past [`MAX_GROWTH`] times the text.
fn pretty_json(text: &str) -> Option<String> {
    let limit = text.len().saturating_mul(MAX_GROWTH).max(1024);
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    while let Some(c) = chars.next() {
        if out.len() > limit {
            return None;
        }
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars.next_if(|c| c.is_whitespace()).is_some() {}
                if let Some(close) = chars.next_if(|c| matches!(c, '}' | ']')) {
                    out.push(close);
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    Some(out)
}

impl BodyView {
    fn of(body: &[u8]) -> Self {
        if body.is_empty() {
            return Self {
                kind: "empty",
                text: String::new(),
            };
        }
        match std::str::from_utf8(body) {
            Ok(text) => match serde_json::from_str::<serde::de::IgnoredAny>(text)
                .ok()
                .and_then(|_| pretty_json(text))
            {
                Some(pretty) => Self {
                    kind: "JSON",
                    text: pretty,
                },
                None => Self {
                    kind: "text",
                    text: text.to_owned(),
                },
            },
            Err(_) => Self {
                kind: "base64",
                text: inspector::base64(body),
            },
        }
    }
}

/// The verdict, as the page says it.
pub(crate) struct VerdictView {
    pub(crate) valid: bool,
    pub(crate) text: String,
    /// Which key it was checked with.
    pub(crate) against: String,
}

impl VerdictView {
    fn of(verdict: Verdict, received: &inbox_request::Model, against: String) -> Self {
        match verdict {
            Verdict::Valid { msg_id, timestamp } => {
                let early = received.received_at.timestamp() - timestamp;
                let when = if early >= 0 {
                    format!("{early} s before it arrived")
                } else {
                    format!("{} s after it arrived, by the sender's clock", -early)
                };
                Self {
                    valid: true,
                    text: format!("Valid: signed {msg_id} {when}"),
                    against,
                }
            }
            Verdict::Invalid(why) => Self {
                valid: false,
                text: format!("Invalid: {why}"),
                against,
            },
        }
    }
}

#[derive(Template)]
#[template(path = "inspector_request.html")]
struct RequestPage {
    page: Chrome,
    inbox_name: String,
    inbox_link: String,
    link: String,
    id: String,
    method: String,
    target: String,
    source: String,
    when: When,
    content_type: String,
    size: String,
    truncated: bool,
    headers: Vec<(String, String)>,
    body: BodyView,
    /// `(id, label)` of the endpoints to check against, those delivering here first.
    endpoints: Vec<(String, String)>,
    chosen: String,
    verdict: Option<VerdictView>,
    errors: Errors,
}

/// Which key to check with: an endpoint's (by id), or a `whsec_…` key pasted in, which
/// goes by POST so that it stays out of addresses and logs.
#[derive(Deserialize, Default)]
pub(crate) struct KeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    secret: String,
}

impl KeyForm {
    /// The key, with words for it; `None` when the form names none.
    fn key(&self) -> Result<Option<(Key, String)>, Error> {
        let secret = self.secret.trim();
        if !secret.is_empty() {
            let key = SigningSecret::parse(secret)
                .map_err(|_| Error::invalid("secret", "is not a signing secret: `whsec_` and base64"))?;
            return Ok(Some((Key::Secret(key), "the pasted key".into())));
        }
        match self.endpoint.trim() {
            "" => Ok(None),
            id => Ok(Some((
                Key::Endpoint(id.to_owned()),
                format!("the keys of endpoint {id}"),
            ))),
        }
    }
}

async fn find(signed: &Signed, req: &HttpRequest) -> Result<(Inbox, inbox_request::Model), PageError> {
    let ctx = &signed.ctx;
    let inbox = inspector::get(ctx, signed.tenant(), param(req, "inbox")).await?;
    let found = inspector::request(ctx, signed.tenant(), inbox.model.id.as_str(), param(req, "id")).await?;
    Ok((inbox, found))
}

/// The page, with the verdict against the key `form` names; `pasted` when it must be a
/// pasted one (the key form's post).
async fn request_page(signed: &Signed, req: &HttpRequest, form: &KeyForm, pasted: bool) -> Page {
    let ctx = &signed.ctx;
    let tenant = signed.tenant();
    let (inbox, found) = find(signed, req).await?;
    let endpoints = inspector::endpoints_for(ctx, tenant, &inbox.url(ctx)).await?;
    // Without a choice, the first endpoint that delivers here is the likely sender.
    let chosen = match form.endpoint.trim() {
        "" if form.secret.trim().is_empty() => endpoints
            .iter()
            .find(|ep| inspector::delivers_to_inbox(ctx, ep, &inbox))
            .map(|ep| ep.id.to_string())
            .unwrap_or_default(),
        id => id.to_owned(),
    };
    let asked = KeyForm {
        endpoint: chosen.clone(),
        secret: form.secret.clone(),
        csrf: String::new(),
    };
    let key = if pasted && form.secret.trim().is_empty() {
        Err(Error::invalid("secret", "is empty: paste a `whsec_…` key"))
    } else {
        asked.key()
    };
    let (verdict, errors, status) = match key {
        Ok(None) => (None, Errors::default(), StatusCode::OK),
        Ok(Some((key, against))) => {
            match inspector::verify(ctx, tenant, inbox.model.id.as_str(), found.id.as_str(), key).await {
                Ok(verdict) => (
                    Some(VerdictView::of(verdict, &found, against)),
                    Errors::default(),
                    StatusCode::OK,
                ),
                Err(Error::NotFound("endpoint")) => {
                    let mut errors = Errors::default();
                    errors.set("key", "there is no such endpoint");
                    (None, errors, StatusCode::UNPROCESSABLE_ENTITY)
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) => (None, errors_of(e)?, StatusCode::UNPROCESSABLE_ENTITY),
    };
    let link = format!("{}/request/{}", inbox_link(&inbox), found.id);
    let r = found;
    html(
        status,
        &RequestPage {
            page: Chrome::new(&signed.live, format!("{} {}", r.method, r.id), "inspector"),
            inbox_name: inbox.model.name.clone(),
            inbox_link: inbox_link(&inbox),
            link,
            id: r.id.to_string(),
            target: target(&r),
            method: r.method.clone(),
            source: r.source_address.clone().unwrap_or_default(),
            when: When::of(r.received_at),
            content_type: r.content_type.clone().unwrap_or_default(),
            size: size(r.body.len()),
            truncated: r.truncated,
            headers: r.headers.0.clone(),
            body: BodyView::of(&r.body),
            endpoints: endpoints
                .into_iter()
                .map(|ep| {
                    let label = if ep.description.is_empty() {
                        format!("{} · {}", ep.url, ep.id)
                    } else {
                        format!("{} · {}", ep.description, ep.id)
                    };
                    (ep.id.to_string(), label)
                })
                .collect(),
            chosen,
            verdict,
            errors,
        },
    )
}

/// The path after the inbox's token, with its query.
fn target(r: &inbox_request::Model) -> String {
    let path = format!("/{}", r.path.trim_start_matches('/'));
    if r.query.is_empty() {
        path
    } else {
        format!("{path}?{}", r.query)
    }
}

#[derive(Deserialize)]
pub(crate) struct ShowQuery {
    #[serde(default)]
    endpoint: String,
}

/// The request, checked against `?endpoint=` or else the endpoint that delivers here.
pub(crate) async fn show(signed: Signed, req: HttpRequest, query: web::Query<ShowQuery>) -> Page {
    let form = KeyForm {
        endpoint: query.into_inner().endpoint,
        ..KeyForm::default()
    };
    request_page(&signed, &req, &form, false).await
}

/// The request, checked against the key the form gives. It changes nothing: viewers may.
pub(crate) async fn verify(signed: Signed, req: HttpRequest, form: web::Form<KeyForm>) -> Page {
    check(&signed.live, &form.csrf, Ok(()))?;
    request_page(&signed, &req, &form, true).await
}

/// The request as HTTP/1.1 put it on the wire, for `herald verify`: the request line, the
/// headers, a blank line, the body byte for byte. The request line names the path after
/// the token, not the token: a capture is made to be passed on, and the token lets
/// anyone post to the inbox.
fn capture_of(r: &inbox_request::Model) -> Vec<u8> {
    let mut out = format!("{} {} HTTP/1.1\r\n", r.method, target(r)).into_bytes();
    for (name, value) in &r.headers.0 {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&r.body);
    out
}

pub(crate) async fn capture(signed: Signed, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let (_, found) = find(&signed, &req).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain")
        .insert_header((
            "content-disposition",
            format!("attachment; filename=\"{}.txt\"", found.id),
        ))
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header(("cache-control", "no-store"))
        .body(capture_of(&found)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_laid_out_in_the_order_received() {
        let text = r#"{"b":1,"a":[1, 2.50,{}],"s":"x, {y}: \"z\"","e":[]}"#;
        assert_eq!(
            pretty_json(text).unwrap(),
            "{\n  \"b\": 1,\n  \"a\": [\n    1,\n    2.50,\n    {}\n  ],\n  \"s\": \"x, {y}: \\\"z\\\"\",\n  \"e\": []\n}"
        );
    }

    #[test]
    fn bodies_show_as_json_text_or_base64() {
        assert_eq!(BodyView::of(br#"{"a":1}"#).kind, "JSON");
        assert_eq!(BodyView::of(br#"{"a":"#).kind, "text", "cut JSON is text");
        assert_eq!(BodyView::of(b"a=1&b=2").kind, "text");
        let binary = BodyView::of(&[0xff, 0xfe, 0]);
        assert_eq!((binary.kind, binary.text.as_str()), ("base64", "//4A"));
        assert_eq!(BodyView::of(b"").kind, "empty");
        let deep = format!(
            "{}{}{}",
            "[".repeat(100),
            "1,".repeat(5000) + "1",
            "]".repeat(100)
        );
        assert_eq!(BodyView::of(deep.as_bytes()).kind, "text", "too deep to lay out");
    }
}
