//! The name of an event type, like `invoice.paid`.

use std::fmt;

use crate::Error;

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventTypeName(String);

impl EventTypeName {
    pub const MAX_LEN: usize = 256;

    /// `field` names the input for the error (`name`, `eventType`, `filterTypes.3`).
    pub fn parse_field(field: &'static str, value: &str) -> Result<Self, Error> {
        super::check_identifier(field, value, Self::MAX_LEN)?;
        Ok(Self(value.to_owned()))
    }

    pub fn parse(value: &str) -> Result<Self, Error> {
        Self::parse_field("name", value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for EventTypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EventTypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventTypeName({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_of_names() {
        let cases: &[(&str, bool)] = &[
            ("invoice.paid", true),
            ("user-signup_v2", true),
            ("a", true),
            (&"e".repeat(256), true),
            (&"e".repeat(257), false),
            ("", false),
            ("invoice paid", false),
            ("invoice/paid", false),
            ("invoice:paid", false),
            ("💸", false),
        ];
        for (name, ok) in cases {
            assert_eq!(EventTypeName::parse(name).is_ok(), *ok, "{name:?}");
        }
    }

    #[test]
    fn errors_name_the_field() {
        let err = EventTypeName::parse_field("eventType", "no way").unwrap_err();
        assert!(err.to_string().starts_with("invalid eventType:"), "{err}");
    }
}
