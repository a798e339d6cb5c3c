//! Endpoint signing keys, sealed at rest under the main key. The endpoint id is the
//! associated data, so a sealed key only opens on its own endpoint.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, QueryFilter, QueryOrder, Set};

use crate::{
    Context, DbContext, Result,
    entity::endpoint_secret,
    id::{EndpointId, EndpointSecretId, TenantId},
    scope::TenantScoped,
    signing::SigningSecret,
};

/// Seals `secret` and stores it as the endpoint's current key.
pub async fn store<C: ConnectionTrait>(
    ctx: &Context,
    conn: &C,
    tenant: &TenantId,
    endpoint: &EndpointId,
    secret: &SigningSecret,
) -> Result<endpoint_secret::Model> {
    let ciphertext = ctx
        .keyring
        .seal(secret.as_bytes(), endpoint.as_str().as_bytes())?;
    endpoint_secret::ActiveModel {
        id: Set(EndpointSecretId::new()),
        tenant_id: Set(tenant.clone()),
        endpoint_id: Set(endpoint.clone()),
        ciphertext: Set(ciphertext),
        created_at: Set(Utc::now()),
        expires_at: Set(None),
    }
    .insert(conn)
    .await
    .context("storing an endpoint secret")
}

/// Opens one stored key.
pub fn open(ctx: &Context, row: &endpoint_secret::Model) -> Result<SigningSecret> {
    Ok(SigningSecret::from_bytes(
        ctx.keyring
            .open(&row.ciphertext, row.endpoint_id.as_str().as_bytes())?,
    ))
}

/// The keys that sign deliveries at `now`: the current key first, then keys still in a
/// rotation's grace period, newest first.
pub async fn live_rows<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    endpoint: &EndpointId,
    now: DateTime<Utc>,
) -> Result<Vec<endpoint_secret::Model>> {
    let mut rows = endpoint_secret::Entity::for_tenant(tenant)
        .filter(endpoint_secret::Column::EndpointId.eq(endpoint.clone()))
        .filter(
            Condition::any()
                .add(endpoint_secret::Column::ExpiresAt.is_null())
                .add(endpoint_secret::Column::ExpiresAt.gt(now)),
        )
        .order_by_desc(endpoint_secret::Column::Id)
        .all(conn)
        .await
        .context("loading endpoint secrets")?;
    // The current key (no expiry) signs first.
    rows.sort_by_key(|row| row.expires_at.is_some());
    Ok(rows)
}

/// The opened keys that sign deliveries at `now`, current first.
pub async fn live_keys<C: ConnectionTrait>(
    ctx: &Context,
    conn: &C,
    tenant: &TenantId,
    endpoint: &EndpointId,
    now: DateTime<Utc>,
) -> Result<Vec<SigningSecret>> {
    live_rows(conn, tenant, endpoint, now)
        .await?
        .iter()
        .map(|row| open(ctx, row))
        .collect()
}
