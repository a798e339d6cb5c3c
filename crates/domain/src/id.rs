//! Typed, prefixed, time-sortable ids: `app_01JD…`, `msg_01JD…`.
//!
//! The body is a ULID, so ids sort by creation time; lists page and filter by id, and
//! `(endpoint_id, id)` is an index by endpoint and time. Ids made by one process in the
//! same millisecond still increase.

use std::{
    fmt,
    sync::{Mutex, PoisonError},
};

use chrono::{DateTime, TimeZone, Utc};
use ulid::{Generator, Ulid};

/// Every id prefix Herald hands out; a tenant-chosen `uid` may not look like one of them.
pub const PREFIXES: &[&str] = &[
    "org", "usr", "tok", "app", "evtype", "ep", "sec", "msg", "msgep", "atmpt", "aud", "sess", "opep",
    "qtask", "inbx", "inrq",
];

static GENERATOR: Mutex<Generator> = Mutex::new(Generator::new());

/// A new ULID, strictly greater than the previous one made by this process.
fn next_ulid() -> Ulid {
    let mut generator = GENERATOR.lock().unwrap_or_else(PoisonError::into_inner);
    generator.generate().unwrap_or_else(|_| Ulid::generate())
}

/// Why a string is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind} id (expected `{prefix}_` followed by 26 base32 characters)")]
pub struct IdError {
    pub kind: &'static str,
    pub prefix: &'static str,
    pub value: String,
}

/// An id's body as the API documents it: a ULID in Crockford's base32 (either case) that
/// fits 128 bits. Parsing takes exactly these.
pub const BODY_PATTERN: &str = "[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}";

/// Splits `prefix_BODY` into its ULID, if the prefix matches and the body follows
/// [`BODY_PATTERN`] (the ULID parser alone would also take a body too large for 128 bits,
/// dropping its top bits).
fn parse_body(value: &str, prefix: &str) -> Option<Ulid> {
    let body = value.strip_prefix(prefix)?.strip_prefix('_')?;
    let bytes = body.as_bytes();
    let crockford = |b: &u8| {
        b.is_ascii_digit()
            || (b.is_ascii_alphabetic() && !matches!(b.to_ascii_uppercase(), b'I' | b'L' | b'O' | b'U'))
    };
    if bytes.len() != ulid::ULID_LEN || !(b'0'..=b'7').contains(&bytes[0]) || !bytes.iter().all(crockford) {
        return None;
    }
    Ulid::from_string(body).ok()
}

/// True when `value` reads as one of Herald's ids (any kind).
pub fn looks_like_id(value: &str) -> bool {
    PREFIXES.iter().any(|prefix| parse_body(value, prefix).is_some())
}

/// The creation time encoded in an id's ULID body.
fn ulid_time(ulid: Ulid) -> DateTime<Utc> {
    let ms = i64::try_from(ulid.timestamp_ms()).unwrap_or(i64::MAX);
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// The smallest ULID at or after `at`.
fn lower_bound(at: DateTime<Utc>) -> Ulid {
    let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    Ulid::from_parts(ms, 0)
}

macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, sea_orm::DeriveValueType)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id for a row created now.
            #[allow(
                clippy::new_without_default,
                reason = "a fresh id is not a default: each call makes a different one"
            )]
            pub fn new() -> Self {
                Self(format!("{}_{}", $prefix, next_ulid()))
            }

            /// Parses an id of this kind; the body is normalised to upper case.
            pub fn parse(value: &str) -> Result<Self, IdError> {
                parse_body(value, $prefix)
                    .map(|ulid| Self(format!("{}_{}", $prefix, ulid)))
                    .ok_or_else(|| IdError { kind: $kind, prefix: $prefix, value: value.into() })
            }

            /// The smallest id of this kind that a row created at `at` can have:
            /// `id >= Id::first_at(t)` filters by creation time through the id index.
            pub fn first_at(at: DateTime<Utc>) -> Self {
                Self(format!("{}_{}", $prefix, lower_bound(at)))
            }

            /// When this id was made.
            pub fn created_at(&self) -> DateTime<Utc> {
                parse_body(&self.0, $prefix).map(ulid_time).unwrap_or_default()
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::parse(value)
            }
        }

        impl sea_orm::TryFromU64 for $name {
            fn try_from_u64(_: u64) -> Result<Self, sea_orm::DbErr> {
                Err(sea_orm::DbErr::ConvertFromU64(stringify!($name)))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                Self::parse(&value).map_err(serde::de::Error::custom)
            }
        }
    };
}

typed_id!(
    /// A tenant: one organisation using Herald.
    TenantId, "org", "tenant"
);
typed_id!(
    /// A dashboard user.
    UserId, "usr", "user"
);
typed_id!(
    /// An API token; also the `jti` claim of the JWT.
    ApiTokenId, "tok", "API token"
);
typed_id!(
    /// An application: one customer of a tenant.
    AppId, "app", "application"
);
typed_id!(
    /// An event type.
    EventTypeId, "evtype", "event type"
);
typed_id!(
    /// An endpoint: a URL that receives webhooks.
    EndpointId, "ep", "endpoint"
);
typed_id!(
    /// One signing key of an endpoint.
    EndpointSecretId, "sec", "endpoint secret"
);
typed_id!(
    /// A message: one event posted to one application.
    MessageId, "msg", "message"
);
typed_id!(
    /// The delivery state of one message to one endpoint.
    DestinationId, "msgep", "destination"
);
typed_id!(
    /// One HTTP try of a destination.
    AttemptId, "atmpt", "attempt"
);
typed_id!(
    /// One line of the audit log.
    AuditEventId, "aud", "audit event"
);
typed_id!(
    /// A background task (bulk replay, recovery, expunge), as Svix calls it: `qtask_…`.
    TaskId, "qtask", "background task"
);
typed_id!(
    /// An inspector inbox: a URL of Herald's that records what it receives.
    InboxId, "inbx", "inbox"
);
typed_id!(
    /// One request an inbox recorded.
    InboxRequestId, "inrq", "inbox request"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_carry_their_prefix_and_parse_back() {
        let id = AppId::new();
        assert!(id.as_str().starts_with("app_"));
        assert_eq!(id.as_str().len(), 4 + 26);
        assert_eq!(AppId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(id.to_string().parse::<AppId>(), Ok(id));
    }

    #[test]
    fn ids_made_in_sequence_sort_in_sequence() {
        let ids: Vec<MessageId> = (0..1000).map(|_| MessageId::new()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }

    #[test]
    fn parsing_rejects_the_wrong_prefix_and_bad_bodies() {
        let app = AppId::new();
        assert!(EndpointId::parse(app.as_str()).is_err());
        assert!(AppId::parse("app_").is_err());
        assert!(AppId::parse("app_123").is_err());
        assert!(AppId::parse("app01ARZ3NDEKTSV4RRFFQ69G5FAV").is_err());
        // 'U' is not in Crockford's alphabet.
        assert!(AppId::parse("app_01ARZ3NDEKTSV4RRFFQ69G5FAU").is_err());
        let err = MessageId::parse("nope").unwrap_err();
        assert!(err.to_string().contains("message id"), "{err}");
    }

    #[test]
    fn bodies_too_large_for_128_bits_are_refused() {
        assert!(AppId::parse("app_7ZZZZZZZZZZZZZZZZZZZZZZZZZ").is_ok());
        assert!(AppId::parse("app_8ZZZZZZZZZZZZZZZZZZZZZZZZZ").is_err());
        assert!(AppId::parse("app_8000000000000000000000000").is_err());
    }

    #[test]
    fn lower_case_bodies_normalise_to_the_stored_form() {
        let id = AppId::new();
        let lower = format!("app_{}", &id.as_str()[4..].to_lowercase());
        assert_eq!(AppId::parse(&lower), Ok(id));
    }

    #[test]
    fn an_id_knows_when_it_was_made() {
        let before = Utc::now() - chrono::Duration::milliseconds(1);
        let id = AttemptId::new();
        let after = Utc::now() + chrono::Duration::milliseconds(1);
        assert!(before <= id.created_at() && id.created_at() <= after);
        assert!(AttemptId::first_at(before) <= id);
        assert!(AttemptId::first_at(after) > id);
    }

    #[test]
    fn serde_round_trips_and_rejects_other_kinds() {
        let id = EndpointId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<EndpointId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<AppId>(&json).is_err());
    }

    #[test]
    fn looks_like_id_knows_every_prefix() {
        assert!(looks_like_id(TenantId::new().as_str()));
        assert!(looks_like_id(DestinationId::new().as_str()));
        assert!(!looks_like_id("my-customer-42"));
        assert!(!looks_like_id("app_not-an-id"));
    }
}
