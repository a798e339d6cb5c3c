//! `application`: one customer of a tenant; it owns endpoints and messages.

use sea_orm::entity::prelude::*;

use super::StringMap;
use crate::id::{AppId, TenantId};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "application")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: AppId,
    pub tenant_id: TenantId,
    /// Tenant-chosen id, unique within the tenant.
    pub uid: Option<String>,
    pub name: String,
    /// Messages per second to each of its endpoints (`throttleRate`), when they set none.
    pub rate_limit: Option<i32>,
    /// Days to keep payloads and response bodies, when not the global default.
    pub retention_days: Option<i32>,
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: StringMap,
    /// The tenant's hidden application for operational webhooks; never listed.
    pub operational: bool,
    /// New endpoints, and endpoints whose URL changes, get nothing until they echo a
    /// challenge (see `service::verification`).
    pub require_endpoint_verification: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::scope::tenant_scoped!(Entity, Column::TenantId);
