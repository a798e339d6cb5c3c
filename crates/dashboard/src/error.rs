//! What a page answers when it cannot show what was asked: the sign-in page for someone
//! not signed in, otherwise an error page with a status and a sentence. Details of
//! internal failures go to the log, not the page.

use actix_web::{HttpResponse, ResponseError, http::StatusCode, http::header};
use askama::Template;

/// A 303 to `location`: what every successful form post answers.
pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

#[derive(Debug)]
pub(crate) enum PageError {
    /// Not signed in (or the session ended): go to the sign-in page.
    SignIn,
    /// A portal page without a live portal session.
    PortalExpired,
    Domain(domain::Error),
    /// A failure of ours while doing `context` (rendering a template, setting a cookie),
    /// with its cause kept for the log.
    Failed {
        context: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl PageError {
    pub(crate) fn internal(what: &'static str) -> Self {
        Self::Domain(domain::Error::internal(what, "unavailable"))
    }

    /// A failure of ours with its cause: `.map_err(|e| PageError::failed("rendering a page", e))`.
    pub(crate) fn failed(
        context: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Failed {
            context,
            source: Box::new(source),
        }
    }
}

impl From<domain::Error> for PageError {
    fn from(e: domain::Error) -> Self {
        Self::Domain(e)
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SignIn => f.write_str("sign in first"),
            Self::PortalExpired => f.write_str("the portal link is invalid or has expired"),
            Self::Domain(e) => e.fmt(f),
            Self::Failed { context, .. } => f.write_str(context),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: String,
    /// Shown on a 500, so that a report can name the log line.
    request_id: Option<String>,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        use domain::Error as E;
        match self {
            Self::SignIn => StatusCode::SEE_OTHER,
            Self::PortalExpired => StatusCode::UNAUTHORIZED,
            Self::Domain(E::NotFound(_)) => StatusCode::NOT_FOUND,
            Self::Domain(E::Conflict(_)) => StatusCode::CONFLICT,
            Self::Domain(E::Invalid { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Domain(E::Rejected(_)) => StatusCode::CONFLICT,
            Self::Domain(E::Unauthenticated(_)) => StatusCode::UNAUTHORIZED,
            Self::Domain(E::Forbidden(_)) => StatusCode::FORBIDDEN,
            Self::Domain(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Domain(_) | Self::Failed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if let Self::SignIn = self {
            return see_other("/ui/login");
        }
        let (title, message) = match self {
            Self::PortalExpired => (
                "Portal link expired",
                "This portal link is invalid or has expired. Ask the service that sent it for a new one."
                    .to_owned(),
            ),
            Self::Domain(domain::Error::NotFound(what)) => (
                "Not found",
                format!("There is no such {what}, or it is not yours to see."),
            ),
            Self::Domain(e) if e.is_unavailable() => {
                tracing::warn!(
                    request_id = %domain::error::request_id().unwrap_or_default(),
                    error = %e.chain(),
                    "the database is unavailable"
                );
                (
                    "Database unavailable",
                    "Herald cannot reach its database right now. Nothing was changed; try again in a moment."
                        .to_owned(),
                )
            }
            Self::Domain(e) if status.is_server_error() => logged(e.chain()),
            Self::Failed { context, source } => {
                logged(format!("{context}: {}", domain::error::chain(source.as_ref())))
            }
            Self::Domain(e) => ("That did not work", e.to_string()),
            Self::SignIn => ("Sign in", String::new()),
        };
        let page = ErrorPage {
            status: status.as_u16(),
            title,
            message,
            request_id: (status == StatusCode::INTERNAL_SERVER_ERROR)
                .then(domain::error::request_id)
                .flatten(),
        };
        let body = page.render().unwrap_or_else(|e| {
            tracing::error!(error = %domain::error::chain(&e), "rendering the error page");
            "error".into()
        });
        let mut answer = HttpResponse::build(status);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            answer.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS.to_string()));
        }
        answer.content_type("text/html; charset=utf-8").body(body)
    }
}

/// How long a browser is asked to wait while the database is unavailable.
const RETRY_AFTER_SECONDS: u64 = 5;

/// Logs an unexpected failure with its cause chain under the request's id; the page
/// says only that something went wrong, and the id.
fn logged(chain: String) -> (&'static str, String) {
    tracing::error!(
        request_id = %domain::error::request_id().unwrap_or_default(),
        error = %chain,
        "a dashboard page failed"
    );
    (
        "Something went wrong",
        "Herald could not do that. Try again; if it keeps failing, the server log says why.".to_owned(),
    )
}
