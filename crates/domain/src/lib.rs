//! Herald's domain: entities, typed ids, value types, services, signing and policies.
//!
//! Knows nothing of actix, askama, apalis or reqwest (a test in `tests/` holds that line).
//! Every service function takes the tenant first and reaches tenant-owned rows only
//! through [`scope::TenantScoped`].

pub mod auth;
pub mod cache;
pub mod context;
pub mod crypto;
pub mod db;
pub mod dispatch;
pub mod entity;
pub mod error;
pub mod id;
pub mod metrics;
pub mod netpolicy;
pub mod pagination;
pub mod program;
pub mod scope;
pub mod service;
pub mod signing;
pub mod values;

pub use context::{Context, DomainSettings};
pub use error::{DbContext, Error, Result};
