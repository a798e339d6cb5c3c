//! `inbox`: an inspector inbox, its sealed token and how it answers.

use sea_orm::{FromJsonQueryResult, entity::prelude::*};
use serde::{Deserialize, Serialize};

use crate::id::{InboxId, TenantId};

/// One answer of a scripted inbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u32>,
    /// Hold the request for the longest delay allowed, as a receiver that never answers
    /// in time would.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timeout: bool,
}

/// The answers an inbox gives in turn before falling back to its own response.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct Script(pub Vec<Step>);

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: InboxId,
    pub tenant_id: TenantId,
    pub name: String,
    /// Lower-case hex SHA-256 of the token in the inbox's URL.
    pub token_hash: String,
    /// The token, sealed under the main key with the inbox id as associated data.
    pub token_sealed: Vec<u8>,
    pub response_status: i32,
    #[sea_orm(column_type = "Text")]
    pub response_body: String,
    pub response_delay_ms: i32,
    #[sea_orm(column_type = "JsonBinary")]
    pub script: Option<Script>,
    /// How many steps of the script have been answered.
    pub script_cursor: i32,
    /// When a `herald listen` last asked for this inbox's requests: while recent, requests
    /// are relayed to it rather than answered by the inbox.
    pub listened_at: Option<DateTimeUtc>,
    pub expires_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("inbox::Model")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("name", &self.name)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::scope::tenant_scoped!(Entity, Column::TenantId);
