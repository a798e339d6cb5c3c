//! What every service call needs besides its arguments: the database, the keys, and the
//! settings the domain acts on.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{
    auth::JwtKeys,
    crypto::Keyring,
    db::{Backend, WriteGate},
    dispatch::SharedDispatch,
    metrics::Metrics,
};

/// Domain-level settings, filled from the binary's configuration.
#[derive(Clone, Debug)]
pub struct DomainSettings {
    /// The URL people reach Herald at (`http://127.0.0.1:8080`), for links Herald prints
    /// or returns (dashboard, customer portal).
    pub public_url: String,
}

#[derive(Clone)]
pub struct Context {
    pub db: DatabaseConnection,
    pub backend: Backend,
    pub jwt: Arc<JwtKeys>,
    pub keyring: Arc<Keyring>,
    pub settings: Arc<DomainSettings>,
    /// Takes turns between this process's write transactions (SQLite; see
    /// [`crate::db::begin_write`]).
    pub writes: WriteGate,
    /// Who hears about deliveries made due, after their commit.
    pub dispatch: SharedDispatch,
    /// Writes accepted messages, many at a time under load.
    pub intake: crate::service::intake::Intake,
    /// This process's short-lived copies of tokens and applications.
    pub caches: Arc<crate::cache::Caches>,
    /// This process's Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// How fast this process lets inspector inboxes record.
    pub inbox_limits: Arc<crate::service::inspector::InboxLimits>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}
