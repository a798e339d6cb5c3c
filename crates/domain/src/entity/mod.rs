//! sea-orm entities, one file per table of DESIGN.md, plus the JSON column types they
//! share. Every tenant-owned entity implements [`crate::scope::TenantScoped`].

pub mod api_token;
pub mod application;
pub mod attempt;
pub mod audit_event;
pub mod background_task;
pub mod destination;
pub mod endpoint;
pub mod endpoint_secret;
pub mod event_type;
pub mod idempotency_key;
pub mod inbox;
pub mod inbox_request;
pub mod message;
pub mod portal_cutoff;
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

/// Why a message went to none of these endpoints although they take its type and
/// channels: their filters said no, failed or ran over their limits (`message.filtered`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct FilteredOut(pub Vec<FilteredBy>);

/// One endpoint whose filter kept a message from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilteredBy {
    pub endpoint_id: String,
    /// `false` (the filter said no), or what failed or which limit it reached.
    pub reason: String,
}

/// The exact request of a try whose transformation shaped it (`attempt.request`):
/// what the receiver saw, credentials left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct SentRequest {
    pub method: String,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

/// A retry schedule: delays in seconds between tries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct Delays(pub Vec<u32>);
