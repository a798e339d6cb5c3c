//! A tenant-chosen identifier for an application or endpoint.

use std::fmt;

use crate::{Error, id};

/// 1–256 characters of `[a-zA-Z0-9-_.]`, and not shaped like a Herald id, so that a
/// path segment is never ambiguous between id and uid.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Uid(String);

impl Uid {
    pub const MAX_LEN: usize = 256;

    pub fn parse(value: &str) -> Result<Self, Error> {
        super::check_identifier("uid", value, Self::MAX_LEN)?;
        if id::looks_like_id(value) {
            return Err(Error::invalid(
                "uid",
                "must not look like a Herald id (a prefix such as `app_` followed by a ULID)",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uid({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::AppId;

    #[test]
    fn accepts_the_svix_alphabet() {
        for ok in ["a", "customer-42", "Cust_42.eu", &"x".repeat(256)] {
            assert_eq!(Uid::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_with_a_reason() {
        for (bad, why) in [
            ("", "empty"),
            (&*"x".repeat(257), "at most 256"),
            ("has space", "may only contain"),
            ("slash/no", "may only contain"),
            ("ünï", "may only contain"),
            (&*AppId::new().to_string(), "look like a Herald id"),
        ] {
            let err = Uid::parse(bad).unwrap_err().to_string();
            assert!(
                err.starts_with("invalid uid:") && err.contains(why),
                "{bad:?}: {err}"
            );
        }
    }
}
