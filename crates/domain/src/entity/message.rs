//! `message`: one event posted by a tenant to one application.

use sea_orm::entity::prelude::*;

use super::{FilteredOut, StringList};
use crate::id::{AppId, MessageId, TenantId};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: MessageId,
    pub tenant_id: TenantId,
    pub app_id: AppId,
    /// Tenant-chosen id, unique within the application (`eventId`).
    pub event_id: Option<String>,
    pub event_type: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub channels: Option<StringList>,
    #[sea_orm(column_type = "JsonBinary")]
    pub tags: Option<StringList>,
    /// The exact bytes signed and sent; `None` once retention has expired them.
    #[sea_orm(column_type = "Text")]
    pub payload: Option<String>,
    pub created_at: DateTimeUtc,
    /// When the tenant asked it to be delivered (`deliverAt`), if later than its
    /// acceptance: its destinations are first due then.
    pub deliver_at: Option<DateTimeUtc>,
    /// The endpoints whose filters kept the message from them, and why.
    #[sea_orm(column_type = "JsonBinary")]
    pub filtered: Option<FilteredOut>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::scope::tenant_scoped!(Entity, Column::TenantId);
