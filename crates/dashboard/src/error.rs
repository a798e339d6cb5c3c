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
}

impl PageError {
    pub(crate) fn internal(what: &'static str) -> Self {
        Self::Domain(domain::Error::internal(what, "unavailable"))
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
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: String,
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
            Self::Domain(_) => StatusCode::INTERNAL_SERVER_ERROR,
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
            Self::Domain(e) if status.is_server_error() => {
                tracing::error!(error = %e, "a dashboard page failed");
                (
                    "Something went wrong",
                    "Herald could not do that. Try again; if it keeps failing, the server log says why."
                        .to_owned(),
                )
            }
            Self::Domain(e) => ("That did not work", e.to_string()),
            Self::SignIn => ("Sign in", String::new()),
        };
        let page = ErrorPage {
            status: status.as_u16(),
            title,
            message,
        };
        let body = page.render().unwrap_or_else(|_| "error".into());
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body)
    }
}
