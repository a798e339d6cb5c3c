//! Domain services: plain async functions over a connection. The tenant comes first.

pub mod application;
pub mod attempt;
pub mod audit;
pub mod bootstrap;
pub mod catalogue;
pub mod delivery;
pub mod endpoint;
pub mod endpoint_headers;
pub mod endpoint_health;
pub mod endpoint_secret;
pub mod event_type;
pub mod idempotency;
pub mod inspector;
pub mod intake;
pub mod message;
pub mod operational;
pub mod portal;
pub mod rekey;
pub mod retention;
pub mod session;
pub mod task;
pub mod tenant;
pub mod token;
pub mod trial;
pub mod user;
pub mod verification;

use crate::Error;

/// Runs CPU-heavy work (password hashing) off the async executor.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::internal("running blocking work", e))?
}

/// A random string of `len` letters and digits, for generated passwords.
pub(crate) fn random_password(len: usize) -> Result<String, Error> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        crate::crypto::random_bytes(&mut buf)?;
        // Rejection sampling keeps every character equally likely.
        let limit = 256 - (256 % ALPHABET.len());
        out.extend(
            buf.iter()
                .filter(|&&b| usize::from(b) < limit)
                .map(|&b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()]))
                .take(len - out.len()),
        );
    }
    Ok(out)
}
