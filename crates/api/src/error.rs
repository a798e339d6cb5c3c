//! Every failure leaves the API in one of two shapes, as Svix's do: `{code, detail}`, or
//! for bad input `422 {detail: [{loc, msg, type}]}`.

use std::fmt;

use actix_web::{HttpResponse, ResponseError, http::StatusCode, http::header};
use serde::Serialize;
use utoipa::ToSchema;

/// `{code, detail}`: a machine-readable code and a sentence for the person reading it.
#[derive(Debug, Serialize, ToSchema)]
pub struct HttpErrorOut {
    pub code: String,
    pub detail: String,
}

/// One problem with the input: where (`["body", "channels", 2]`), what, and its kind.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ValidationError {
    #[schema(schema_with = location)]
    pub loc: Vec<serde_json::Value>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// The schema of `loc`: field names and list indexes.
fn location() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
    ArrayBuilder::new()
        .items(
            OneOfBuilder::new()
                .item(ObjectBuilder::new().schema_type(Type::String))
                .item(ObjectBuilder::new().schema_type(Type::Integer)),
        )
        .build()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HttpValidationError {
    pub detail: Vec<ValidationError>,
}

/// An API failure, ready to answer with.
#[derive(Debug)]
pub enum ApiError {
    /// `{code, detail}` with this status.
    Http {
        status: StatusCode,
        code: &'static str,
        detail: String,
        retry_after: Option<u64>,
    },
    /// 422 with the list of problems.
    Validation(Vec<ValidationError>),
}

impl ApiError {
    pub fn http(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self::Http {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::http(StatusCode::UNAUTHORIZED, "authentication_failed", detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::http(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    pub fn too_large(limit: usize) -> Self {
        Self::http(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    /// A 422 about one place in the input.
    pub fn invalid(loc: Vec<serde_json::Value>, msg: impl Into<String>, kind: &str) -> Self {
        Self::Validation(vec![ValidationError {
            loc,
            msg: msg.into(),
            kind: kind.into(),
        }])
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http { status, detail, .. } => write!(f, "{status}: {detail}"),
            Self::Validation(errors) => {
                write!(f, "422: ")?;
                for e in errors {
                    write!(f, "{:?} {}; ", e.loc, e.msg)?;
                }
                Ok(())
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Http { status, .. } => *status,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Http {
                status,
                code,
                detail,
                retry_after,
            } => {
                let mut response = HttpResponse::build(*status);
                if let Some(seconds) = retry_after {
                    response.insert_header((header::RETRY_AFTER, seconds.to_string()));
                }
                response.json(HttpErrorOut {
                    code: (*code).to_owned(),
                    detail: detail.clone(),
                })
            }
            Self::Validation(errors) => HttpResponse::UnprocessableEntity().json(HttpValidationError {
                detail: errors.clone(),
            }),
        }
    }
}

/// A field path from the domain (`channels.2`) as a `loc` (`["body", "channels", 2]`).
fn loc_of(root: &str, field: &str) -> Vec<serde_json::Value> {
    std::iter::once(serde_json::Value::from(root))
        .chain(
            field
                .split('.')
                .filter(|p| !p.is_empty())
                .map(|part| match part.parse::<u64>() {
                    Ok(index) => serde_json::Value::from(index),
                    Err(_) => serde_json::Value::from(part),
                }),
        )
        .collect()
}

impl From<domain::Error> for ApiError {
    fn from(error: domain::Error) -> Self {
        use domain::Error as E;
        match error {
            E::NotFound(what) => Self::not_found(what),
            E::Conflict(detail) => Self::http(StatusCode::CONFLICT, "conflict", detail),
            E::Invalid { field, reason } => {
                // Query-string inputs name themselves `query.<name>`.
                let loc = match field.strip_prefix("query.") {
                    Some(rest) => loc_of("query", rest),
                    None => loc_of("body", &field),
                };
                Self::invalid(loc, reason, "value_error")
            }
            E::Rejected(detail) => Self::http(StatusCode::BAD_REQUEST, "bad_request", detail),
            E::Unauthenticated(detail) => Self::unauthorized(detail),
            E::Forbidden(detail) => Self::http(StatusCode::FORBIDDEN, "forbidden", detail),
            other if other.is_unavailable() => {
                tracing::warn!(
                    request_id = %domain::error::request_id().unwrap_or_default(),
                    error = %other.chain(),
                    "the database is unavailable"
                );
                Self::Http {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    code: "database_unavailable",
                    detail: "Herald cannot reach its database right now; try again shortly".into(),
                    retry_after: Some(RETRY_AFTER_SECONDS),
                }
            }
            other => Self::internal(&other),
        }
    }
}

/// How long a client is asked to wait before retrying while the database is unavailable.
pub const RETRY_AFTER_SECONDS: u64 = 5;

impl ApiError {
    /// An opaque 500 for a failure of ours: `error` and its whole cause chain go to the
    /// log under the request's id, and the answer names only that id.
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        let request_id = domain::error::request_id().unwrap_or_default();
        tracing::error!(%request_id, error = %domain::error::chain(error), "request failed");
        Self::http(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            format!(
                "Herald could not complete the request; it has been logged under request id {request_id}"
            ),
        )
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_fields_become_locations() {
        let ApiError::Validation(errors) = ApiError::from(domain::Error::invalid("channels.2", "bad")) else {
            panic!("expected a validation error");
        };
        assert_eq!(
            errors[0].loc,
            vec![serde_json::json!("body"), "channels".into(), 2.into()]
        );
        let ApiError::Validation(errors) = ApiError::from(domain::Error::invalid("query.limit", "bad"))
        else {
            panic!("expected a validation error");
        };
        assert_eq!(errors[0].loc, vec![serde_json::json!("query"), "limit".into()]);
    }
}
