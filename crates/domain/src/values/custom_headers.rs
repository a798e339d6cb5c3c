//! An endpoint's custom headers: the rules a name and a value must meet (Herald's own and
//! HTTP's headers are off limits), and which ones are never shown back.

use std::collections::BTreeMap;

use crate::Error;

/// Headers a tenant may not set: Herald owns them, or HTTP does.
const RESERVED: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "user-agent",
    "expect",
];
const RESERVED_PREFIXES: &[&str] = &["webhook-", "svix-", "proxy-", "x-herald-"];
/// Headers whose values are never shown back, only their names.
const SENSITIVE: &[&str] = &["authorization", "cookie", "x-api-key", "x-auth-token"];

/// Custom headers sent with every delivery to an endpoint: at most 50, each a valid name
/// Herald and HTTP leave free, with a value of one line. Names are kept as given and
/// compared without case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustomHeaders(BTreeMap<String, String>);

impl CustomHeaders {
    pub const MAX: usize = 50;
    pub const MAX_VALUE_LEN: usize = 4096;
    pub const MAX_NAME_LEN: usize = 256;
    /// Names a tenant may not set (compared without case).
    pub const RESERVED_NAMES: &'static [&'static str] = RESERVED;
    /// Beginnings of names a tenant may not set (compared without case).
    pub const RESERVED_PREFIXES: &'static [&'static str] = RESERVED_PREFIXES;

    pub fn parse(headers: BTreeMap<String, String>) -> Result<Self, Error> {
        if headers.len() > Self::MAX {
            return Err(Error::invalid(
                "headers",
                format!("must hold at most {} headers", Self::MAX),
            ));
        }
        for (name, value) in &headers {
            Self::check(name, Some(value))?;
        }
        Ok(Self(headers))
    }

    /// Checks one header of a change: its name, and its value unless it is being removed.
    pub fn check(name: &str, value: Option<&str>) -> Result<(), Error> {
        let field = format!("headers.{name}");
        let lower = name.to_ascii_lowercase();
        let is_token = !name.is_empty()
            && name.len() <= Self::MAX_NAME_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !is_token {
            return Err(Error::invalid(field, "is not a valid HTTP header name"));
        }
        if RESERVED.contains(&lower.as_str()) || RESERVED_PREFIXES.iter().any(|p| lower.starts_with(p)) {
            return Err(Error::invalid(
                field,
                format!("`{name}` is set by Herald and cannot be overridden"),
            ));
        }
        if let Some(value) = value
            && (value.len() > Self::MAX_VALUE_LEN
                || value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0))
        {
            return Err(Error::invalid(
                field,
                format!(
                    "must be at most {} bytes with no line breaks",
                    Self::MAX_VALUE_LEN
                ),
            ));
        }
        Ok(())
    }

    /// Whether the value of header `name` is a secret, shown to no one.
    pub fn is_sensitive(name: &str) -> bool {
        SENSITIVE.contains(&name.to_ascii_lowercase().as_str())
    }

    pub fn into_map(self) -> BTreeMap<String, String> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(name: &str, value: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(name.to_owned(), value.to_owned())])
    }

    #[test]
    fn ordinary_headers_pass_as_given() {
        let headers = CustomHeaders::parse(one("X-Tenant", "acme")).unwrap();
        assert_eq!(headers.into_map(), one("X-Tenant", "acme"));
        assert!(CustomHeaders::parse(one("Authorization", &"a".repeat(4096))).is_ok());
    }

    #[test]
    fn reserved_and_malformed_headers_are_refused_by_name() {
        for name in [
            "Host",
            "content-type",
            "Webhook-Id",
            "svix-signature",
            "X-Herald-Try",
            "",
            "a b",
            "é",
        ] {
            let err = CustomHeaders::parse(one(name, "v")).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("invalid headers.{name}: ")),
                "{name:?}: {err}"
            );
        }
        assert!(CustomHeaders::parse(one(&"x".repeat(257), "v")).is_err());
    }

    #[test]
    fn values_are_one_line_of_bounded_length() {
        for value in ["a\r\nInjected: yes", "a\nb", "a\0b", &"a".repeat(4097)] {
            assert!(CustomHeaders::parse(one("X-Ok", value)).is_err(), "{value:?}");
        }
        assert!(
            CustomHeaders::check("X-Ok", None).is_ok(),
            "a removal has no value"
        );
    }

    #[test]
    fn at_most_fifty() {
        let many = |n: usize| (0..n).map(|i| (format!("X-{i}"), "v".to_owned())).collect();
        assert!(CustomHeaders::parse(many(50)).is_ok());
        let err = CustomHeaders::parse(many(51)).unwrap_err().to_string();
        assert_eq!(err, "invalid headers: must hold at most 50 headers");
    }

    #[test]
    fn secrets_are_known_without_case() {
        assert!(CustomHeaders::is_sensitive("AUTHORIZATION"));
        assert!(CustomHeaders::is_sensitive("x-api-key"));
        assert!(!CustomHeaders::is_sensitive("X-Tenant"));
    }
}
