//! `idempotency_key`: the first response to a POST carrying an `idempotency-key` header,
//! replayed for the same key and token within the key's lifetime.

use sea_orm::entity::prelude::*;

use crate::id::TenantId;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_key")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: TenantId,
    /// Who sent it: the API token's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// SHA-256 of method, path and body: the same key with another request is refused.
    pub request_hash: String,
    /// `None` while the first request is still being answered.
    pub response_status: Option<i32>,
    /// The answer's body, sealed under the main key (it may carry a signing secret or a
    /// portal token); associated data from [`associated_data`]. `None` while unanswered
    /// and for an empty body.
    pub response_sealed: Option<Vec<u8>>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::scope::tenant_scoped!(Entity, Column::TenantId);

/// What a row's sealed answer is bound to: it opens only on the row it was stored in.
pub fn associated_data(tenant: &TenantId, scope: &str, key: &str) -> Vec<u8> {
    [tenant.as_str(), scope, key].join("\0").into_bytes()
}
