//! `tenant`: an organisation using Herald. Not tenant-scoped: it *is* the scope.

use sea_orm::entity::prelude::*;

use crate::id::TenantId;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: TenantId,
    pub name: String,
    /// Whether new applications require endpoint verification unless told otherwise.
    pub require_endpoint_verification: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
