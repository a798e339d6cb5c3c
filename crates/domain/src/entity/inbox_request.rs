//! `inbox_request`: one request an inspector inbox recorded.

use sea_orm::{FromJsonQueryResult, entity::prelude::*};
use serde::{Deserialize, Serialize};

use crate::id::{InboxId, InboxRequestId, TenantId};

/// The request's headers in the order received (a name may repeat).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// The first value of the header `name` (compared without regard to case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Where a request relayed to `herald listen` stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum RelayState {
    /// Its sender waits; no listener has taken it yet.
    #[sea_orm(string_value = "waiting")]
    Waiting,
    /// A listener took it and is forwarding it to its local server.
    #[sea_orm(string_value = "forwarding")]
    Forwarding,
    /// The listener gave the local server's answer (`relay_status`, `relay_body`).
    #[sea_orm(string_value = "answered")]
    Answered,
    /// Its sender stopped waiting (and was answered 504) before an answer came.
    #[sea_orm(string_value = "expired")]
    Expired,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inbox_request")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: InboxRequestId,
    pub inbox_id: InboxId,
    pub tenant_id: TenantId,
    pub method: String,
    /// The path after the token (`""` or `/…`).
    #[sea_orm(column_type = "Text")]
    pub path: String,
    /// The query string, without `?`.
    #[sea_orm(column_type = "Text")]
    pub query: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub headers: Headers,
    /// The body as received, cut at the kept size when `truncated`.
    pub body: Vec<u8>,
    pub truncated: bool,
    pub content_type: Option<String>,
    pub source_address: Option<String>,
    pub received_at: DateTimeUtc,
    /// `None` for a request the inbox answered itself.
    pub relay_state: Option<RelayState>,
    pub relay_status: Option<i32>,
    #[sea_orm(column_type = "Text", nullable)]
    pub relay_body: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::scope::tenant_scoped!(Entity, Column::TenantId);
