//! `idempotency-key` on POSTs: the first request with a key does the work and its answer
//! is kept for 12 hours; a repeat with the same key and token gets that answer again
//! and writes nothing. Kept answers are sealed under the main key: a rotate answer holds
//! a signing secret, a portal-access answer a bearer token.

use chrono::{Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, QueryFilter, Set};

use crate::{
    Context, DbContext, Error, Result,
    entity::{idempotency_key, idempotency_key::associated_data},
    id::TenantId,
    scope::TenantScoped,
};

/// How long an answer is replayed.
pub const KEEP_FOR: Duration = Duration::hours(12);
/// A claim with no answer after this long belongs to a request that died; it is retaken.
const ABANDONED_AFTER: Duration = Duration::minutes(2);
pub const MAX_KEY_LEN: usize = 256;

/// What to do with a request that carries a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// First time: do the work, then [`complete`] (or [`release`] on failure).
    Fresh,
    /// Seen before: answer this again.
    Replay { status: u16, body: String },
    /// The first request with this key is still running.
    InFlight,
    /// The key was used for a different request.
    Mismatch,
}

pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(
            "idempotency-key",
            format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
        ));
    }
    Ok(())
}

fn row(tenant: &TenantId, scope: &str, key: &str) -> sea_orm::Select<idempotency_key::Entity> {
    idempotency_key::Entity::for_tenant(tenant)
        .filter(idempotency_key::Column::Scope.eq(scope))
        .filter(idempotency_key::Column::Key.eq(key))
}

/// Claims `key` for a request whose method, path and body hash to `request_hash`.
pub async fn claim(
    ctx: &Context,
    tenant: &TenantId,
    scope: &str,
    key: &str,
    request_hash: &str,
) -> Result<Claim> {
    let conn = &ctx.db;
    let now = Utc::now();
    for _ in 0..2 {
        let inserted = idempotency_key::ActiveModel {
            tenant_id: Set(tenant.clone()),
            scope: Set(scope.to_owned()),
            key: Set(key.to_owned()),
            request_hash: Set(request_hash.to_owned()),
            response_status: Set(None),
            response_sealed: Set(None),
            created_at: Set(now),
            expires_at: Set(now + KEEP_FOR),
        }
        .insert(conn)
        .await;
        match inserted.context("claiming an idempotency key") {
            Ok(_) => return Ok(Claim::Fresh),
            Err(Error::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        let Some(existing) = row(tenant, scope, key)
            .one(conn)
            .await
            .context("loading an idempotency key")?
        else {
            continue;
        };
        let stale = existing.expires_at <= now
            || (existing.response_status.is_none() && existing.created_at + ABANDONED_AFTER <= now);
        if stale {
            idempotency_key::Entity::delete_for_tenant(tenant)
                .filter(idempotency_key::Column::Scope.eq(scope))
                .filter(idempotency_key::Column::Key.eq(key))
                .filter(idempotency_key::Column::CreatedAt.eq(existing.created_at))
                .exec(conn)
                .await
                .context("expiring an idempotency key")?;
            continue;
        }
        if existing.request_hash != request_hash {
            return Ok(Claim::Mismatch);
        }
        return Ok(match (existing.response_status, existing.response_sealed) {
            (Some(status), sealed) => Claim::Replay {
                status: u16::try_from(status).unwrap_or(200),
                body: match sealed {
                    Some(sealed) => {
                        let plain = ctx.keyring.open(&sealed, &associated_data(tenant, scope, key))?;
                        String::from_utf8(plain).map_err(|e| Error::internal("opening a kept answer", e))?
                    }
                    None => String::new(),
                },
            },
            (None, _) => Claim::InFlight,
        });
    }
    Ok(Claim::InFlight)
}

/// Keeps the answer to a claimed key, its body sealed.
pub async fn complete(
    ctx: &Context,
    tenant: &TenantId,
    scope: &str,
    key: &str,
    status: u16,
    body: &[u8],
) -> Result<()> {
    let sealed = if body.is_empty() {
        None
    } else {
        Some(ctx.keyring.seal(body, &associated_data(tenant, scope, key))?)
    };
    idempotency_key::Entity::update_for_tenant(tenant)
        .col_expr(
            idempotency_key::Column::ResponseStatus,
            sea_orm::sea_query::Expr::value(i32::from(status)),
        )
        .col_expr(
            idempotency_key::Column::ResponseSealed,
            sea_orm::sea_query::Expr::value(sealed),
        )
        .filter(idempotency_key::Column::Scope.eq(scope))
        .filter(idempotency_key::Column::Key.eq(key))
        .exec(&ctx.db)
        .await
        .context("keeping an idempotent answer")?;
    Ok(())
}

/// Gives a claimed key back (the request failed on our side; a retry may do the work).
pub async fn release(ctx: &Context, tenant: &TenantId, scope: &str, key: &str) -> Result<()> {
    let txn = crate::db::begin_write(ctx).await?;
    idempotency_key::Entity::delete_for_tenant(tenant)
        .filter(idempotency_key::Column::Scope.eq(scope))
        .filter(idempotency_key::Column::Key.eq(key))
        .exec(&txn)
        .await
        .context("releasing an idempotency key")?;
    txn.commit().await.context("committing a key release")?;
    Ok(())
}
