//! Tenants: the organisations using Herald.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryOrder, QuerySelect, Set};

use crate::{Context, DbContext, Error, Result, entity::tenant, id::TenantId};

/// Checks a tenant's display name: 1–256 characters once trimmed.
pub fn parse_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::invalid("name", "must not be empty"));
    }
    if name.chars().count() > 256 {
        return Err(Error::invalid("name", "must be at most 256 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid("name", "must not contain control characters"));
    }
    Ok(name.to_owned())
}

/// Adds a tenant named `name`, in a write transaction of its own.
pub async fn create(ctx: &Context, name: &str) -> Result<tenant::Model> {
    let txn = crate::db::begin_write(ctx).await?;
    let tenant = insert(&txn, name).await?;
    txn.commit().await.context("committing a new tenant")?;
    Ok(tenant)
}

/// [`create`] in the caller's transaction (the first run's).
pub(crate) async fn insert<C: ConnectionTrait>(conn: &C, name: &str) -> Result<tenant::Model> {
    let now = Utc::now();
    tenant::ActiveModel {
        id: Set(TenantId::new()),
        name: Set(parse_name(name)?),
        require_endpoint_verification: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(conn)
    .await
    .context("creating a tenant")
}

/// Whether the tenant's new applications require endpoint verification when their
/// creator does not say (the dashboard's default on the applications page).
pub async fn set_verification_default(
    ctx: &Context,
    tenant: &TenantId,
    required: bool,
    actor: &super::audit::Actor,
) -> Result<tenant::Model> {
    let txn = crate::db::begin_write(ctx).await?;
    let mut active: tenant::ActiveModel = get(&txn, tenant).await?.into();
    active.require_endpoint_verification = Set(required);
    active.updated_at = Set(Utc::now());
    let model = active
        .update(&txn)
        .await
        .context("changing a tenant's defaults")?;
    super::audit::record(
        &txn,
        tenant,
        actor,
        "tenant.verification_default",
        super::audit::Target::new("tenant", &model.id),
        Some(serde_json::json!({ "requireEndpointVerification": required })),
    )
    .await?;
    txn.commit().await.context("committing a tenant's defaults")?;
    Ok(model)
}

// The tenant table is the scope itself, so it is read without one.
#[expect(clippy::disallowed_methods, reason = "tenants are not tenant-owned")]
pub async fn get<C: ConnectionTrait>(conn: &C, id: &TenantId) -> Result<tenant::Model> {
    tenant::Entity::find_by_id(id.clone())
        .one(conn)
        .await
        .context("loading a tenant")?
        .ok_or(Error::NotFound("tenant"))
}

/// `NotFound` unless the tenant exists (its id alone is read).
#[expect(clippy::disallowed_methods, reason = "tenants are not tenant-owned")]
pub(crate) async fn require<C: ConnectionTrait>(conn: &C, id: &TenantId) -> Result<()> {
    let found: Option<TenantId> = tenant::Entity::find_by_id(id.clone())
        .select_only()
        .column(tenant::Column::Id)
        .into_tuple()
        .one(conn)
        .await
        .context("finding a tenant")?;
    found.map(|_| ()).ok_or(Error::NotFound("tenant"))
}

#[expect(clippy::disallowed_methods, reason = "tenants are not tenant-owned")]
pub async fn list<C: ConnectionTrait>(conn: &C) -> Result<Vec<tenant::Model>> {
    tenant::Entity::find()
        .order_by_asc(tenant::Column::Id)
        .all(conn)
        .await
        .context("listing tenants")
}

#[expect(clippy::disallowed_methods, reason = "tenants are not tenant-owned")]
pub async fn any_exists<C: ConnectionTrait>(conn: &C) -> Result<bool> {
    Ok(tenant::Entity::find()
        .count(conn)
        .await
        .context("counting tenants")?
        > 0)
}
