//! `event_type`: a named kind of event, like `invoice.paid`, with its JSON schemas.

use sea_orm::entity::prelude::*;

use crate::id::{EventTypeId, TenantId};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_type")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: EventTypeId,
    pub tenant_id: TenantId,
    /// Unique within the tenant.
    pub name: String,
    pub description: String,
    /// `{"1": {JSON schema}}`, keyed by version, as the Svix API has it.
    #[sea_orm(column_type = "JsonBinary")]
    pub schemas: Option<Json>,
    /// Archived types stay valid in filters but are hidden from lists by default.
    pub archived: bool,
    pub deprecated: bool,
    /// Feature flags the event type is released under, sorted.
    #[sea_orm(column_type = "JsonBinary")]
    pub feature_flags: Option<super::StringList>,
    /// The group the event type is listed under.
    pub group_name: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::scope::tenant_scoped!(Entity, Column::TenantId);
