//! Channels: free-form labels on messages that endpoints can filter by.

use std::fmt;

use crate::Error;

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Channel(String);

impl Channel {
    pub const MAX_LEN: usize = 128;

    pub fn parse(value: &str) -> Result<Self, Error> {
        super::check_identifier("channel", value, Self::MAX_LEN)?;
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Channel({})", self.0)
    }
}

/// A non-empty set of distinct channels, at most `max` of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channels(Vec<Channel>);

impl Channels {
    /// Endpoints may listen to at most 10 channels, messages carry at most 5 (Svix' limits).
    pub fn parse(field: &'static str, values: &[String], max: usize) -> Result<Self, Error> {
        if values.is_empty() {
            return Err(Error::invalid(
                field,
                "must hold at least one channel, or be omitted",
            ));
        }
        if values.len() > max {
            return Err(Error::invalid(field, format!("must hold at most {max} channels")));
        }
        let mut channels: Vec<Channel> = Vec::with_capacity(values.len());
        for (i, value) in values.iter().enumerate() {
            let channel = Channel::parse(value).map_err(|e| e.at(format!("{field}.{i}")))?;
            if channels.contains(&channel) {
                return Err(Error::invalid(
                    format!("{field}.{i}"),
                    format!("`{value}` is listed twice"),
                ));
            }
            channels.push(channel);
        }
        Ok(Self(channels))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Channel> {
        self.0.iter()
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|c| c.0.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_distinct_channels() {
        let c = Channels::parse("channels", &strings(&["project_1", "group.2"]), 5).unwrap();
        assert_eq!(c.to_strings(), strings(&["project_1", "group.2"]));
    }

    #[test]
    fn errors_point_at_the_element() {
        let err = Channels::parse("channels", &strings(&["ok", "not ok"]), 5).unwrap_err();
        assert!(err.to_string().starts_with("invalid channels.1:"), "{err}");
        let err = Channels::parse("channels", &strings(&["a", "a"]), 5).unwrap_err();
        assert!(err.to_string().starts_with("invalid channels.1:"), "{err}");
        assert!(Channels::parse("channels", &[], 5).is_err());
        assert!(Channels::parse("channels", &strings(&["a", "b", "c"]), 2).is_err());
        assert!(Channels::parse("channels", &strings(&[&"c".repeat(129)]), 2).is_err());
    }
}
