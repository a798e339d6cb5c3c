//! A dashboard user's email address, the login name.

use std::fmt;

use crate::Error;

/// Trimmed and lower-cased, so `Ann@Example.com` and `ann@example.com` are one account.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(value: &str) -> Result<Self, Error> {
        let value = value.trim().to_lowercase();
        let invalid = |reason: &'static str| Error::invalid("email", reason);
        if value.len() > 254 {
            return Err(invalid("must be at most 254 characters"));
        }
        let Some((local, domain)) = value.split_once('@') else {
            return Err(invalid("must look like name@example.com"));
        };
        if local.is_empty() || domain.is_empty() || domain.contains('@') {
            return Err(invalid("must look like name@example.com"));
        }
        if value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ','))
        {
            return Err(invalid(
                "must not contain spaces, quotes, commas or angle brackets",
            ));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_rejects() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in ["", "ann", "@example.com", "ann@", "a@b@c", "a b@c.d", "<a@b.c>"] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }
}
