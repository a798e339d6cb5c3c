//! `session`: a signed-in dashboard user, or a customer in the portal of one application.

use sea_orm::entity::prelude::*;

use crate::id::{AppId, TenantId, UserId};

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session")]
pub struct Model {
    /// Hex SHA-256 of the cookie's token; the token itself is never stored.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: TenantId,
    /// Set for a dashboard session.
    pub user_id: Option<UserId>,
    /// Set for a portal session: the only application it may see.
    pub app_id: Option<AppId>,
    /// A read-only portal: its customer may look but not change endpoints.
    pub read_only: bool,
    /// The token every form of this session must carry.
    pub csrf: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("session::Model")
            .field("tenant_id", &self.tenant_id)
            .field("user_id", &self.user_id)
            .field("app_id", &self.app_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::scope::tenant_scoped!(Entity, Column::TenantId);
