//! Tenant scoping in data access. Every query of a tenant-owned table starts here, so no
//! query can forget the tenant: `clippy.toml` forbids sea-orm's unscoped `find`,
//! `find_by_id`, `update_many`, `delete_many` and `delete_by_id` everywhere else.

use sea_orm::{ColumnTrait, DeleteMany, EntityTrait, PrimaryKeyTrait, QueryFilter, Select, UpdateMany};

use crate::id::TenantId;

pub trait TenantScoped: EntityTrait {
    /// The `tenant_id` column of this table.
    fn tenant_column() -> Self::Column;

    /// Every row of this table that belongs to `tenant`.
    #[expect(
        clippy::disallowed_methods,
        reason = "the scoped `find`: it adds the tenant filter"
    )]
    fn for_tenant(tenant: &TenantId) -> Select<Self> {
        Self::find().filter(Self::tenant_column().eq(tenant.clone()))
    }

    /// The row with primary key `id`, if it belongs to `tenant`.
    #[expect(
        clippy::disallowed_methods,
        reason = "the scoped `find_by_id`: it adds the tenant filter"
    )]
    fn find_in_tenant<K>(tenant: &TenantId, id: K) -> Select<Self>
    where
        K: Into<<Self::PrimaryKey as PrimaryKeyTrait>::ValueType>,
    {
        Self::find_by_id(id).filter(Self::tenant_column().eq(tenant.clone()))
    }

    /// An update of rows of `tenant` only; add filters to narrow it.
    #[expect(
        clippy::disallowed_methods,
        reason = "the scoped `update_many`: it adds the tenant filter"
    )]
    fn update_for_tenant(tenant: &TenantId) -> UpdateMany<Self> {
        Self::update_many().filter(Self::tenant_column().eq(tenant.clone()))
    }

    /// A delete of rows of `tenant` only; add filters to narrow it.
    #[expect(
        clippy::disallowed_methods,
        reason = "the scoped `delete_many`: it adds the tenant filter"
    )]
    fn delete_for_tenant(tenant: &TenantId) -> DeleteMany<Self> {
        Self::delete_many().filter(Self::tenant_column().eq(tenant.clone()))
    }
}

/// `tenant_scoped!(Entity, Column::TenantId)` in each tenant-owned entity module.
macro_rules! tenant_scoped {
    ($entity:ty, $column:expr) => {
        impl $crate::scope::TenantScoped for $entity {
            fn tenant_column() -> Self::Column {
                $column
            }
        }
    };
}
pub(crate) use tenant_scoped;
