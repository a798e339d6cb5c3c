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

    /// This error and its causes, `outer: inner: innermost`, for logs.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }

    /// True for errors a caller caused (4xx); false for our own failures (5xx).
    pub fn is_expected(&self) -> bool {
        !matches!(
            self,
            Self::Database { .. } | Self::Internal { .. } | Self::Crypto(_)
        )
    }
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
