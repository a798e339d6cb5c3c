//! `audit_event`: who did what to which thing, and when.

use sea_orm::entity::prelude::*;

use crate::id::{AuditEventId, TenantId};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: AuditEventId,
    pub tenant_id: TenantId,
    /// `user`, `token`, `portal`, `cli` or `system`.
    pub actor_kind: String,
    pub actor_id: Option<String>,
    /// Something a person recognises: an email, a token's name.
    pub actor_label: String,
    /// Dotted verb, like `endpoint.secret.rotate` or `token.revoke`.
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub details: Option<Json>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::scope::tenant_scoped!(Entity, Column::TenantId);
