//! Parse-don't-validate value types: once made, each carries the proof that it is valid.

pub mod access;
mod channel;
mod custom_headers;
mod email;
mod endpoint_url;
mod event_type_filter;
mod event_type_name;
mod period;
mod role;
mod timeout;
mod uid;

pub use access::{Access, AccessInput, AuthInput, TlsInput};
pub use channel::{Channel, Channels};
pub use custom_headers::CustomHeaders;
pub use email::Email;
pub use endpoint_url::EndpointUrl;
pub use event_type_filter::EventTypeFilter;
pub use event_type_name::EventTypeName;
pub use period::{GracePeriod, PortalExpiry, TokenLifetime, WithdrawalGrace};
pub use role::Role;
pub use timeout::{RetrySchedule, Timeout};
pub use uid::Uid;

use crate::Error;

/// `^[a-zA-Z0-9\-_.]+$` with a length limit: the Svix rule for uids, event type names
/// and channels.
pub(crate) fn check_identifier(field: &'static str, value: &str, max_len: usize) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value.len() > max_len {
        return Err(Error::invalid(
            field,
            format!("must be at most {max_len} characters"),
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(Error::invalid(
            field,
            format!("may only contain letters, digits, '-', '_' and '.' (found {bad:?})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Svix pattern `^[a-zA-Z0-9\-_.]+$`, at most `max` long, written out plainly.
    fn svix_accepts(value: &str, max: usize) -> bool {
        !value.is_empty()
            && value.len() <= max
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    }

    /// Many generated strings: each parser agrees with the published pattern on every one.
    #[test]
    fn identifiers_follow_the_svix_pattern() {
        const ALPHABET: &[char] = &[
            'a', 'Z', '0', '9', '-', '_', '.', ' ', '/', '\\', 'é', '\u{0}', '%', '#', '?', '"', '\n', '😀',
        ];
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let len = match next() % 10 {
                0 => 0,
                1 => 250 + (next() % 10) as usize,
                _ => 1 + (next() % 12) as usize,
            };
            let value: String = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            assert_eq!(
                EventTypeName::parse(&value).is_ok(),
                svix_accepts(&value, 256),
                "event type {value:?}"
            );
            assert_eq!(
                Channel::parse(&value).is_ok(),
                svix_accepts(&value, 128),
                "channel {value:?}"
            );
            // Uids also refuse what looks like a Herald id; none of these strings can.
            assert_eq!(
                Uid::parse(&value).is_ok(),
                svix_accepts(&value, 256),
                "uid {value:?}"
            );
        }
    }

    #[test]
    fn endpoint_urls_table() {
        for (url, ok) in [
            ("https://example.com", true),
            ("http://localhost:3000/hook", true),
            ("https://xn--bcher-kva.example/", true),
            ("https://example.com/a?b=c&d=e", true),
            ("ftp://example.com", false),
            ("https://user:pw@example.com", false),
            ("https://example.com/#frag", false),
            ("example.com", false),
            ("https://", false),
            (" https://example.com", false),
            ("javascript:alert(1)", false),
            ("", false),
        ] {
            assert_eq!(EndpointUrl::parse(url).is_ok(), ok, "{url:?}");
        }
    }
}
