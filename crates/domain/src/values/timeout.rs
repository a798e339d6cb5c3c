//! How long a delivery to one endpoint waits for its response, and the delays between its
//! tries: an endpoint's own settings, checked against their bounds once, where they come in.

use crate::Error;

/// An endpoint's own response timeout: 1 to 60 whole seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeout(u8);

impl Timeout {
    pub const MIN_SECS: u8 = 1;
    pub const MAX_SECS: u8 = 60;

    pub fn parse(seconds: u64) -> Result<Self, Error> {
        u8::try_from(seconds)
            .ok()
            .filter(|s| (Self::MIN_SECS..=Self::MAX_SECS).contains(s))
            .map(Self)
            .ok_or_else(Self::out_of_range)
    }

    /// As typed in a form: `None` when blank; anything but a whole number in range gets
    /// the same answer as a number out of range.
    pub fn parse_text(seconds: &str) -> Result<Option<Self>, Error> {
        match seconds.trim() {
            "" => Ok(None),
            text => text
                .parse::<u64>()
                .map_err(|_| Self::out_of_range())
                .and_then(Self::parse)
                .map(Some),
        }
    }

    fn out_of_range() -> Error {
        Error::invalid(
            "timeout",
            format!(
                "must be between {} and {} seconds",
                Self::MIN_SECS,
                Self::MAX_SECS
            ),
        )
    }

    pub fn secs(self) -> u8 {
        self.0
    }
}

/// An endpoint's own retry schedule: the delays in seconds after each failed try, at most
/// 20 of 1 second to 1 day each; empty means a single try.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetrySchedule(Vec<u32>);

impl RetrySchedule {
    pub const MAX_RETRIES: usize = 20;
    pub const MAX_DELAY_SECS: u32 = 86_400;

    pub fn parse(delays: &[u64]) -> Result<Self, Error> {
        if delays.len() > Self::MAX_RETRIES {
            return Err(Error::invalid(
                "retry_schedule",
                format!("must hold at most {} delays", Self::MAX_RETRIES),
            ));
        }
        delays
            .iter()
            .enumerate()
            .map(|(i, &delay)| {
                u32::try_from(delay)
                    .ok()
                    .filter(|d| (1..=Self::MAX_DELAY_SECS).contains(d))
                    .ok_or_else(|| {
                        Error::invalid(
                            format!("retry_schedule.{i}"),
                            format!("must be between 1 and {} seconds", Self::MAX_DELAY_SECS),
                        )
                    })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn delays(&self) -> &[u32] {
        &self.0
    }

    pub fn into_delays(self) -> Vec<u32> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_hold_their_bounds() {
        assert_eq!(Timeout::parse(1).unwrap().secs(), 1);
        assert_eq!(Timeout::parse(60).unwrap().secs(), 60);
        for seconds in [0, 61, 256, 257, u64::MAX] {
            let err = Timeout::parse(seconds).unwrap_err().to_string();
            assert_eq!(
                err, "invalid timeout: must be between 1 and 60 seconds",
                "{seconds}"
            );
        }
    }

    #[test]
    fn typed_timeouts_are_whole_seconds_or_blank() {
        assert_eq!(Timeout::parse_text(" ").unwrap(), None);
        assert_eq!(Timeout::parse_text(" 9 ").unwrap(), Some(Timeout(9)));
        for text in ["0", "61", "1.5", "-1", "ten", "99999999999999999999"] {
            assert!(Timeout::parse_text(text).is_err(), "{text}");
        }
    }

    #[test]
    fn retry_schedules_hold_their_bounds() {
        assert_eq!(RetrySchedule::parse(&[]).unwrap().delays(), &[] as &[u32]);
        let full = vec![86_400; RetrySchedule::MAX_RETRIES];
        assert_eq!(RetrySchedule::parse(&full).unwrap().delays().len(), 20);
        let err = RetrySchedule::parse(&[1; 21]).unwrap_err().to_string();
        assert!(err.starts_with("invalid retry_schedule: "), "{err}");
        for (delays, at) in [
            (vec![5, 0], "retry_schedule.1"),
            (vec![86_401], "retry_schedule.0"),
            (vec![1, 2, u64::from(u32::MAX) + 6], "retry_schedule.2"),
        ] {
            let err = RetrySchedule::parse(&delays).unwrap_err().to_string();
            assert!(err.starts_with(&format!("invalid {at}: ")), "{delays:?}: {err}");
        }
    }
}
