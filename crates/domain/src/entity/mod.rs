//! sea-orm entities, one file per table of DESIGN.md, plus the JSON column types they
//! share. Every tenant-owned entity implements [`crate::scope::TenantScoped`].

pub mod api_token;
pub mod application;
pub mod attempt;
pub mod audit_event;
pub mod destination;
pub mod endpoint;
pub mod endpoint_secret;
pub mod event_type;
pub mod idempotency_key;
pub mod message;
pub mod session;
pub mod tenant;
pub mod user;

use std::collections::BTreeMap;

use sea_orm::FromJsonQueryResult;
use serde::{Deserialize, Serialize};

/// A JSON object of strings: metadata, custom headers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct StringMap(pub BTreeMap<String, String>);

/// A JSON array of strings: event type filters, channels, tags.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct StringList(pub Vec<String>);

/// A retry schedule: delays in seconds between tries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct Delays(pub Vec<u32>);
