//! The domain's one error type. It knows nothing of HTTP: `api` maps it to responses in
//! one place, `dashboard` renders it on one page.

use std::borrow::Cow;

use sea_orm::{DbErr, SqlErr};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The thing does not exist, or belongs to another tenant (the two look the same).
    #[error("{0} not found")]
    NotFound(&'static str),

    /// The write would break a uniqueness rule.
    #[error("{0}")]
    Conflict(Cow<'static, str>),

    /// One input field is wrong. `field` is a dotted path into the input
    /// (`url`, `channels.2`); `reason` is a sentence for the person who sent it.
    #[error("invalid {field}: {reason}")]
    Invalid {
        field: Cow<'static, str>,
        reason: Cow<'static, str>,
    },

    /// The request is well-formed but not allowed in the resource's current state.
    #[error("{0}")]
    Rejected(Cow<'static, str>),

    /// Missing or bad credentials.
    #[error("{0}")]
    Unauthenticated(Cow<'static, str>),

    /// Credentials are fine but the role may not do this.
    #[error("{0}")]
    Forbidden(Cow<'static, str>),

    /// A stored secret cannot be opened with the configured main key.
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),

    /// The database failed while doing `context`.
    #[error("database error while {context}")]
    Database {
        context: &'static str,
        #[source]
        source: DbErr,
    },

    /// Anything else unexpected, with what we were doing.
    #[error("{context}: {message}")]
    Internal { context: &'static str, message: String },
}

impl Error {
    pub fn invalid(field: impl Into<Cow<'static, str>>, reason: impl Into<Cow<'static, str>>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Conflict(message.into())
    }

    pub fn rejected(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Rejected(message.into())
    }

    pub fn unauthenticated(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Unauthenticated(message.into())
    }

    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Forbidden(message.into())
    }

    pub fn internal(context: &'static str, error: impl std::fmt::Display) -> Self {
        Self::Internal {
            context,
            message: error.to_string(),
        }
    }

    /// Prefixes the field path of an `Invalid` error, e.g. `uid` inside `application`.
    pub fn within(self, parent: &str) -> Self {
        match self {
            Self::Invalid { field, reason } => Self::Invalid {
                field: format!("{parent}.{field}").into(),
                reason,
            },
            other => other,
        }
    }

    /// Points an `Invalid` error at another field, e.g. `channel` → `channels.3`.
    pub fn at(self, field: impl Into<Cow<'static, str>>) -> Self {
        match self {
            Self::Invalid { reason, .. } => Self::Invalid {
                field: field.into(),
                reason,
            },
            other => other,
        }
    }

    /// This error and its causes, `outer: inner: innermost`, for logs (see [`chain`]).
    pub fn chain(&self) -> String {
        chain(self)
    }

    /// True when the database could not be reached (no connection, the connection broke,
    /// the server is shutting down): the request may succeed if tried again later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Database { source, .. } if unreachable(source))
    }

    /// True for errors a caller caused (4xx); false for our own failures (5xx).
    pub fn is_expected(&self) -> bool {
        !matches!(
            self,
            Self::Database { .. } | Self::Internal { .. } | Self::Crypto(_)
        )
    }
}

/// Any error and its `source()` causes, `outer: inner: innermost`: the one way every
/// unexpected failure is written to the log, so the cause (a `DbErr`, a template error)
/// survives beside the context it happened in.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        // Wrappers that print their cause in their own message would repeat it.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

/// Whether a database failure means "cannot reach the database" rather than "the
/// statement failed".
fn unreachable(error: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => match &**e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            // PostgreSQL's "connection exception" (08…) and "operator intervention"
            // (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now).
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
            _ => false,
        },
        _ => false,
    }
}

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `work` as the handling of the request `id`: inside it, [`request_id`] names it,
/// so an unexpected error is logged and answered under the same id.
pub async fn with_request_id<F: Future>(id: String, work: F) -> F::Output {
    REQUEST_ID.scope(id, work).await
}

/// The id of the request being handled, if any (see [`with_request_id`]).
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// `.context("loading endpoint")` on database results: the one place a unique-key
/// violation becomes [`Error::Conflict`].
pub trait DbContext<T> {
    fn context(self, context: &'static str) -> Result<T>;

    /// Like `context`, but a unique-key violation reads `message`.
    fn conflict_means(self, message: impl Into<Cow<'static, str>>, context: &'static str) -> Result<T>;
}

impl<T> DbContext<T> for std::result::Result<T, DbErr> {
    fn context(self, context: &'static str) -> Result<T> {
        self.map_err(|source| match source.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                Error::Conflict(format!("conflict while {context}: the resource already exists").into())
            }
            _ => Error::Database { context, source },
        })
    }

    fn conflict_means(self, message: impl Into<Cow<'static, str>>, context: &'static str) -> Result<T> {
        self.map_err(|source| match source.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Error::Conflict(message.into()),
            _ => Error::Database { context, source },
        })
    }
}
