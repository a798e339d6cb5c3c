//! Short-lived copies of what every accepted message would otherwise read again: the
//! API token behind a bearer, and an application with its endpoints. Each is checked
//! where it matters, so a copy can never make Herald do what the database no longer
//! allows for longer than stated: a token copy lives [`TOKEN_TTL`] (a revocation in this
//! process drops it at once), and an application's copy is verified against the
//! database in the very statement that writes the message (see
//! [`service::intake`](crate::service::intake)).

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use crate::{
    entity::{api_token, application, endpoint},
    id::{ApiTokenId, TenantId},
    service::message::Filters,
};

/// How long a token's row is trusted: a revocation made by another process is honoured
/// at most this much later.
pub const TOKEN_TTL: Duration = Duration::from_secs(1);
/// How long an application's copy is kept. Its use is checked at each write, so this
/// only bounds memory and the misses that find it changed.
pub const APP_TTL: Duration = Duration::from_secs(10);

/// Entries beyond this many make a map drop its expired ones.
const SWEEP_AT: usize = 10_000;

/// A map whose entries expire.
pub struct Expiring<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> Expiring<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::default(),
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let (at, value) = entries.get(key)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    pub fn put(&self, key: K, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= SWEEP_AT {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
        }
        entries.insert(key, (Instant::now(), value));
    }

    pub fn forget(&self, key: &K) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}

/// An application as accepting a message needs it.
#[derive(Clone, Debug)]
pub struct AppCopy {
    pub app: application::Model,
    /// Its enabled endpoints.
    pub endpoints: Vec<endpoint::Model>,
    /// Their filters, compiled once for every message accepted with this copy.
    pub filters: Filters,
    /// What the database said of the application and all its endpoints when this copy
    /// was read; a write is refused if it says otherwise then.
    pub fingerprint: String,
}

/// This process's copies.
pub struct Caches {
    pub tokens: Expiring<ApiTokenId, api_token::Model>,
    /// By tenant and the id or uid the request named.
    pub apps: Expiring<(TenantId, String), AppCopy>,
}

impl Default for Caches {
    fn default() -> Self {
        Self {
            tokens: Expiring::new(TOKEN_TTL),
            apps: Expiring::new(APP_TTL),
        }
    }
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_their_time_unless_forgotten() {
        let map = Expiring::new(Duration::from_secs(60));
        map.put("a", 1);
        map.put("b", 2);
        assert_eq!(map.get(&"a"), Some(1));
        map.forget(&"a");
        assert_eq!(map.get(&"a"), None);
        assert_eq!(map.get(&"b"), Some(2));
        let expired = Expiring::new(Duration::ZERO);
        expired.put("a", 1);
        assert_eq!(expired.get(&"a"), None, "an entry older than its time is gone");
    }
}
