//! `endpoint_secret`: one signing key of an endpoint, sealed under the main key.
//! `expires_at` is `None` for the current key and set for keys in a rotation's grace.

use sea_orm::entity::prelude::*;

use crate::id::{EndpointId, EndpointSecretId, TenantId};

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "endpoint_secret")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: EndpointSecretId,
    pub tenant_id: TenantId,
    pub endpoint_id: EndpointId,
    /// See `crate::crypto`: version, main key id, nonce, sealed key bytes.
    pub ciphertext: Vec<u8>,
    pub created_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("endpoint_secret::Model")
            .field("id", &self.id)
            .field("endpoint_id", &self.endpoint_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::scope::tenant_scoped!(Entity, Column::TenantId);
