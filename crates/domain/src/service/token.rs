//! API tokens: JWTs whose `jti` names a row here, so they can be listed and revoked.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder, Set};

use super::audit::{self, Actor, Target};
use crate::{
    Context, DbContext, Error, Result,
    entity::api_token,
    id::{ApiTokenId, TenantId},
    scope::TenantScoped,
};

/// `last_used_at` is written at most this often per token, not on every request.
const LAST_USED_RESOLUTION: Duration = Duration::seconds(60);

/// A freshly issued token: the only moment the JWT exists in Herald's hands.
pub struct IssuedToken {
    pub record: api_token::Model,
    pub token: String,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// Who a request is from, once its bearer token checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiPrincipal {
    pub tenant: TenantId,
    pub token: ApiTokenId,
    pub token_name: String,
}

impl ApiPrincipal {
    pub fn actor(&self) -> Actor {
        Actor::Token {
            id: self.token.clone(),
            name: self.token_name.clone(),
        }
    }
}

pub fn parse_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 256 {
        return Err(Error::invalid("name", "must be 1 to 256 characters"));
    }
    Ok(name.to_owned())
}

/// Records a token row with its audit entry, in one transaction, and signs its JWT.
pub async fn create(
    ctx: &Context,
    tenant: &TenantId,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
    actor: &Actor,
) -> Result<IssuedToken> {
    let txn = crate::db::begin_write(ctx).await?;
    let issued = insert(ctx, &txn, tenant, name, expires_at, actor).await?;
    txn.commit().await.context("committing a new API token")?;
    Ok(issued)
}

/// [`create`] in the caller's transaction (the first run's).
pub(crate) async fn insert<C: ConnectionTrait>(
    ctx: &Context,
    conn: &C,
    tenant: &TenantId,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
    actor: &Actor,
) -> Result<IssuedToken> {
    super::tenant::require(conn, tenant).await?;
    let now = Utc::now();
    let record = api_token::ActiveModel {
        id: Set(ApiTokenId::new()),
        tenant_id: Set(tenant.clone()),
        name: Set(parse_name(name)?),
        created_by: Set(Some(actor.label())),
        created_at: Set(now),
        expires_at: Set(expires_at),
        last_used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(conn)
    .await
    .context("recording an API token")?;
    let token = ctx.jwt.issue_api_token(tenant, &record.id, now, expires_at)?;
    audit::record(
        conn,
        tenant,
        actor,
        "token.create",
        Target::new("api_token", &record.id),
        None,
    )
    .await?;
    Ok(IssuedToken { record, token })
}

/// Checks a bearer token: signature, audience, expiry, and that its row exists and is
/// not revoked. Every failure is `Unauthenticated` with a reason. The row is read at most
/// once per [`TOKEN_TTL`](crate::cache::TOKEN_TTL) per process: a revocation made in
/// this process counts at once, one made in another within that time.
pub async fn authenticate(ctx: &Context, bearer: &str) -> Result<ApiPrincipal> {
    let claims = ctx.jwt.verify_api_token(bearer)?;
    let now = Utc::now();
    let record = match ctx.caches.tokens.get(&claims.jti) {
        Some(record) if record.tenant_id == claims.sub => record,
        _ => {
            let record = api_token::Entity::find_in_tenant(&claims.sub, claims.jti.clone())
                .one(&ctx.db)
                .await
                .context("loading an API token")?
                .ok_or_else(|| Error::unauthenticated("the token is not known to this Herald"))?;
            if record.revoked_at.is_none()
                && record
                    .last_used_at
                    .is_none_or(|at| now - at > LAST_USED_RESOLUTION)
            {
                api_token::Entity::update_for_tenant(&record.tenant_id)
                    .filter(api_token::Column::Id.eq(record.id.clone()))
                    .col_expr(api_token::Column::LastUsedAt, now.into())
                    .exec(&ctx.db)
                    .await
                    .context("noting an API token's use")?;
            }
            ctx.caches.tokens.put(record.id.clone(), record.clone());
            record
        }
    };
    if record.revoked_at.is_some() {
        return Err(Error::unauthenticated("the token has been revoked"));
    }
    if record.expires_at.is_some_and(|at| at <= now) {
        return Err(Error::unauthenticated("the token has expired"));
    }
    Ok(ApiPrincipal {
        tenant: record.tenant_id,
        token: record.id,
        token_name: record.name,
    })
}

pub async fn list<C: ConnectionTrait>(conn: &C, tenant: &TenantId) -> Result<Vec<api_token::Model>> {
    api_token::Entity::for_tenant(tenant)
        .order_by_desc(api_token::Column::Id)
        .all(conn)
        .await
        .context("listing API tokens")
}

/// Revokes a token: at once in this process, within
/// [`TOKEN_TTL`](crate::cache::TOKEN_TTL) in others. Revoking twice is not an error.
pub async fn revoke(ctx: &Context, tenant: &TenantId, id: &ApiTokenId, actor: &Actor) -> Result<()> {
    let conn = &ctx.db;
    let record = api_token::Entity::find_in_tenant(tenant, id.clone())
        .one(conn)
        .await
        .context("loading an API token")?
        .ok_or(Error::NotFound("API token"))?;
    if record.revoked_at.is_none() {
        let mut active: api_token::ActiveModel = record.into();
        active.revoked_at = Set(Some(Utc::now()));
        active.update(conn).await.context("revoking an API token")?;
        audit::record(
            conn,
            tenant,
            actor,
            "token.revoke",
            Target::new("api_token", id),
            None,
        )
        .await?;
    }
    ctx.caches.tokens.forget(id);
    Ok(())
}
