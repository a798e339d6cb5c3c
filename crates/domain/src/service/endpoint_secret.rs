//! Endpoint signing keys, sealed at rest under the main key. The endpoint id is the
//! associated data, so a sealed key only opens on its own endpoint. Rotation keeps the
//! keys it replaces signing alongside the new one for a grace period.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, QueryFilter, QueryOrder, Set};

use super::{
    audit::{self, Actor, Target},
    endpoint::{Owner, find_in_app},
};
use crate::{
    Context, DbContext, Error, Result,
    entity::{endpoint, endpoint_secret},
    id::{EndpointId, EndpointSecretId, TenantId},
    scope::TenantScoped,
    signing::SigningSecret,
    values::GracePeriod,
};

/// Seals `secret` and stores it as the endpoint's current key, in a write transaction of
/// its own.
pub async fn store(
    ctx: &Context,
    tenant: &TenantId,
    endpoint: &EndpointId,
    secret: &SigningSecret,
) -> Result<endpoint_secret::Model> {
    let txn = crate::db::begin_write(ctx).await?;
    let row = insert(ctx, &txn, tenant, endpoint, secret).await?;
    txn.commit().await.context("committing an endpoint secret")?;
    Ok(row)
}

/// [`store`] in the caller's transaction (creating an endpoint, rotating its key).
pub(crate) async fn insert<C: ConnectionTrait>(
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

/// The key that signs new deliveries.
pub async fn current_secret(
    ctx: &Context,
    tenant: &TenantId,
    endpoint: &endpoint::Model,
) -> Result<SigningSecret> {
    let rows = live_rows(&ctx.db, tenant, &endpoint.id, Utc::now()).await?;
    let row = rows
        .first()
        .ok_or_else(|| Error::internal("reading an endpoint secret", "no live key"))?;
    open(ctx, row)
}

/// A key shown to a person, with when it stops signing (`None` for the current key).
#[derive(Clone, Debug)]
pub struct Revealed {
    pub secret: SigningSecret,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The endpoint's live keys, current first, for `actor` to see; the look is recorded in the
/// audit log in the same transaction that reads them.
pub async fn reveal(
    ctx: &Context,
    tenant: &TenantId,
    endpoint: &endpoint::Model,
    actor: &Actor,
) -> Result<Vec<Revealed>> {
    let txn = crate::db::begin_write(ctx).await?;
    let rows = live_rows(&txn, tenant, &endpoint.id, Utc::now()).await?;
    audit::record(
        &txn,
        tenant,
        actor,
        "endpoint.secret.reveal",
        Target::new("endpoint", &endpoint.id),
        None,
    )
    .await?;
    let keys = rows
        .iter()
        .map(|row| {
            Ok(Revealed {
                secret: open(ctx, row)?,
                expires_at: row.expires_at,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    txn.commit().await.context("committing a secret reveal")?;
    Ok(keys)
}

/// Rotates the endpoint's key: the new key (the caller's, or a fresh one) signs from now
/// on; the keys it replaces keep signing alongside it until `grace` has passed.
pub async fn rotate_secret<'a>(
    ctx: &Context,
    tenant: &TenantId,
    owner: impl Into<Owner<'a>>,
    id_or_uid: &str,
    new_key: Option<SigningSecret>,
    grace: Option<GracePeriod>,
    actor: &Actor,
) -> Result<SigningSecret> {
    let grace = grace.unwrap_or_default().duration();
    let secret = match new_key {
        Some(key) => key,
        None => SigningSecret::generate()?,
    };
    let txn = crate::db::begin_write(ctx).await?;
    let model = find_in_app(&txn, tenant, owner, id_or_uid).await?;
    let now = Utc::now();
    let until: DateTime<Utc> = now + grace;
    // Keys already winding down keep their own (earlier) end.
    endpoint_secret::Entity::update_for_tenant(tenant)
        .col_expr(
            endpoint_secret::Column::ExpiresAt,
            sea_orm::sea_query::Expr::value(until),
        )
        .filter(endpoint_secret::Column::EndpointId.eq(model.id.clone()))
        .filter(
            Condition::any()
                .add(endpoint_secret::Column::ExpiresAt.is_null())
                .add(endpoint_secret::Column::ExpiresAt.gt(until)),
        )
        .exec(&txn)
        .await
        .context("retiring endpoint secrets")?;
    // Keys past their grace period are of no more use.
    endpoint_secret::Entity::delete_for_tenant(tenant)
        .filter(endpoint_secret::Column::EndpointId.eq(model.id.clone()))
        .filter(endpoint_secret::Column::ExpiresAt.lte(now))
        .exec(&txn)
        .await
        .context("removing expired endpoint secrets")?;
    insert(ctx, &txn, tenant, &model.id, &secret).await?;
    let details = serde_json::json!({ "grace_period_seconds": grace.num_seconds() });
    audit::record(
        &txn,
        tenant,
        actor,
        "endpoint.secret.rotate",
        Target::new("endpoint", &model.id),
        Some(details),
    )
    .await?;
    txn.commit().await.context("committing a secret rotation")?;
    Ok(secret)
}
