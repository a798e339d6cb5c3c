//! `api_token`: a bearer token's record. The JWT itself is never stored: its `jti` is
//! this row's id, and revoking the row refuses the token.

use sea_orm::entity::prelude::*;

use crate::id::{ApiTokenId, TenantId};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_token")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: ApiTokenId,
    pub tenant_id: TenantId,
    pub name: String,
    /// A user id, or `cli` / `first-run` for tokens made outside the dashboard.
    pub created_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::scope::tenant_scoped!(Entity, Column::TenantId);
