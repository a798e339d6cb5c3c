//! Form plumbing every page shares: what a handler answers (`Page`, rendered by [`html`]),
//! the CSRF field and [`check`] before any change, field errors shown beside their fields,
//! and the parsers of text fields that several forms post.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode};
use askama::Template;
use domain::{Error, service::session as sessions};
use serde::Deserialize;

use crate::error::PageError;

pub(crate) type Page = Result<HttpResponse, PageError>;

pub(crate) fn html(status: StatusCode, page: &impl Template) -> Page {
    let body = page
        .render()
        .map_err(|e| PageError::failed("rendering a page", e))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .body(body))
}

/// Field errors of a form, by field name, for showing beside each field.
#[derive(Default)]
pub(crate) struct Errors(BTreeMap<String, String>);

impl Errors {
    /// The reason for `field`, or "" (templates test for emptiness).
    pub(crate) fn get(&self, field: &str) -> &str {
        self.0.get(field).map_or("", String::as_str)
    }

    /// Sets the reason shown beside `field`.
    pub(crate) fn set(&mut self, field: &str, reason: impl Into<String>) {
        self.0.insert(field.to_owned(), reason.into());
    }

    /// The error for the form as a whole (one without a field).
    pub(crate) fn general(&self) -> &str {
        self.get("")
    }

    pub(crate) fn from_error(e: Error) -> Result<Self, PageError> {
        let mut errors = Self::default();
        match e {
            Error::Invalid { field, reason } => {
                // The services name fields as the REST API does; the forms have their own
                // names. A field no form shows becomes an error of the whole form.
                let form_field = match field.as_ref() {
                    "auth.username" => "auth_username",
                    "auth.password" => "auth_password",
                    "auth.token" => "auth_token",
                    "auth.tokenUrl" => "oauth_token_url",
                    "auth.clientId" => "oauth_client_id",
                    "auth.clientSecret" => "oauth_client_secret",
                    "auth.scopes" => "oauth_scopes",
                    "auth.audience" => "oauth_audience",
                    "auth.params" => "oauth_params",
                    "auth.clientAuth" => "oauth_client_auth",
                    "tls.clientCert" => "tls_client_cert",
                    "tls.clientKey" => "tls_client_key",
                    "tls.caCert" => "tls_ca_cert",
                    other => match other.split('.').next().unwrap_or_default() {
                        "filterTypes" | "eventTypes" | "event_types" => "event_types",
                        "channels" => "channels",
                        "rateLimit" | "throttleRate" | "rate_limit" => "rate_limit",

                        "schemas" | "schema" => "schema",
                        known @ ("url" | "name" | "uid" | "event_type" | "since" | "until"
                        | "recover_since" | "description" | "days" | "role" | "email"
                        | "password" | "current_password" | "own_password" | "headers"
                        | "ordered" | "auth_type" | "filter" | "transformation" | "sample") => known,
                        _ => "",
                    },
                };
                let reason = if form_field.is_empty() {
                    format!("{field}: {reason}")
                } else {
                    reason.into_owned()
                };
                errors.0.insert(form_field.to_owned(), reason);
            }
            Error::Conflict(reason) | Error::Rejected(reason) => {
                errors.0.insert(String::new(), reason.into_owned());
            }
            other => return Err(other.into()),
        }
        Ok(errors)
    }
}

/// The fields every form posts besides its own.
#[derive(Deserialize)]
pub(crate) struct Csrf {
    #[serde(default)]
    pub(crate) csrf: String,
}

/// A change is allowed: the form carries the session's token, and the session may write.
pub(crate) fn check(
    live: &sessions::Live,
    csrf: &str,
    may_write: Result<(), PageError>,
) -> Result<(), PageError> {
    live.check_csrf(csrf)?;
    may_write
}

/// A segment of the request's path (`{ep}`, `{msg}`, …); "" when the route has none.
pub(crate) fn param<'a>(req: &'a HttpRequest, name: &str) -> &'a str {
    req.match_info().get(name).unwrap_or_default()
}

/// A comma-separated list, blanks dropped.
pub(crate) fn list_field(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A number, or `None` when the field is blank; `what` says what was expected.
pub(crate) fn number<T: std::str::FromStr>(
    field: &'static str,
    value: &str,
    what: &str,
) -> Result<Option<T>, Error> {
    match value.trim() {
        "" => Ok(None),
        v => v
            .parse()
            .map(Some)
            .map_err(|_| Error::invalid(field, format!("must be {what}"))),
    }
}
