//! Lengths of time a caller asks for in whole seconds: checked against their range when
//! parsed, before anything turns them into a duration (which panics out of range).

use chrono::Duration;

use crate::Error;

/// How long an endpoint's old signing key keeps signing after a rotation: 0 to 7 days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GracePeriod(Duration);

impl GracePeriod {
    pub const DEFAULT_SECS: i64 = 24 * 3600;
    pub const MAX_SECS: i64 = 7 * 24 * 3600;

    pub fn parse(seconds: i64) -> Result<Self, Error> {
        if !(0..=Self::MAX_SECS).contains(&seconds) {
            return Err(Error::invalid(
                "gracePeriodSeconds",
                format!("must be between 0 and {} seconds", Self::MAX_SECS),
            ));
        }
        Ok(Self(Duration::seconds(seconds)))
    }

    pub fn duration(self) -> Duration {
        self.0
    }
}

impl Default for GracePeriod {
    fn default() -> Self {
        Self(Duration::seconds(Self::DEFAULT_SECS))
    }
}

/// How long the portal links withdrawn by an expire-all keep working: 0 (none) to 7 days.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WithdrawalGrace(Duration);

impl WithdrawalGrace {
    pub const MAX_SECS: i64 = 7 * 24 * 3600;

    pub fn parse(seconds: i64) -> Result<Self, Error> {
        if !(0..=Self::MAX_SECS).contains(&seconds) {
            return Err(Error::invalid(
                "expiry",
                format!("must be between 0 and {} seconds", Self::MAX_SECS),
            ));
        }
        Ok(Self(Duration::seconds(seconds)))
    }

    pub fn duration(self) -> Duration {
        self.0
    }
}

/// How long a customer-portal link works: 1 minute to 7 days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortalExpiry(Duration);

impl PortalExpiry {
    pub const DEFAULT_SECS: i64 = 3600;
    pub const MIN_SECS: i64 = 60;
    pub const MAX_SECS: i64 = 7 * 24 * 3600;

    pub fn parse(seconds: i64) -> Result<Self, Error> {
        if !(Self::MIN_SECS..=Self::MAX_SECS).contains(&seconds) {
            return Err(Error::invalid(
                "expiry",
                format!(
                    "must be between {} and {} seconds",
                    Self::MIN_SECS,
                    Self::MAX_SECS
                ),
            ));
        }
        Ok(Self(Duration::seconds(seconds)))
    }

    pub fn duration(self) -> Duration {
        self.0
    }
}

impl Default for PortalExpiry {
    fn default() -> Self {
        Self(Duration::seconds(Self::DEFAULT_SECS))
    }
}

/// How long an API token made on the dashboard works: 1 to 3650 days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenLifetime(Duration);

impl TokenLifetime {
    pub const MAX_DAYS: i64 = 3650;

    pub fn parse(days: i64) -> Result<Self, Error> {
        if !(1..=Self::MAX_DAYS).contains(&days) {
            return Err(Self::out_of_range());
        }
        Ok(Self(Duration::days(days)))
    }

    /// As typed in a form: anything but a whole number in range gets the same answer.
    pub fn parse_text(days: &str) -> Result<Self, Error> {
        days.trim()
            .parse::<i64>()
            .map_err(|_| Self::out_of_range())
            .and_then(Self::parse)
    }

    fn out_of_range() -> Error {
        Error::invalid(
            "days",
            format!(
                "must be a whole number of days from 1 to {}, or empty",
                Self::MAX_DAYS
            ),
        )
    }

    pub fn duration(self) -> Duration {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_are_refused_without_panicking() {
        for n in [i64::MIN, -1, i64::MAX, 1_000_000_000_000_000_000] {
            assert!(GracePeriod::parse(n).is_err(), "{n}");
            assert!(PortalExpiry::parse(n).is_err(), "{n}");
            assert!(TokenLifetime::parse(n).is_err(), "{n}");
        }
        assert_eq!(GracePeriod::parse(0).unwrap().duration(), Duration::zero());
        assert!(GracePeriod::parse(GracePeriod::MAX_SECS).is_ok());
        assert!(GracePeriod::parse(GracePeriod::MAX_SECS + 1).is_err());
        assert!(PortalExpiry::parse(59).is_err());
        assert!(PortalExpiry::parse(60).is_ok());
        assert!(PortalExpiry::parse(PortalExpiry::MAX_SECS + 1).is_err());
        assert!(TokenLifetime::parse(0).is_err());
        assert!(TokenLifetime::parse(3650).is_ok());
        for text in ["1e30", "-9223372036854775808", "99999999999999999999", "x"] {
            assert!(TokenLifetime::parse_text(text).is_err(), "{text}");
        }
    }
}
