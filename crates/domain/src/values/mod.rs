//! Parse-don't-validate value types: once made, each carries the proof that it is valid.

mod channel;
mod email;
mod endpoint_url;
mod event_type_name;
mod role;
mod uid;

pub use channel::{Channel, Channels};
pub use email::Email;
pub use endpoint_url::EndpointUrl;
pub use event_type_name::EventTypeName;
pub use role::Role;
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
