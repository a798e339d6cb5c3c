//! Customer-portal access: a short-lived token for one application, and the link that
//! opens the portal with it.

use chrono::Utc;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
    sea_query::{Expr, OnConflict},
};

use super::{
    application::{self, NewApplication},
    audit::{self, Actor, Target},
};
use crate::{
    Context, DbContext, Error, Result,
    entity::{portal_cutoff, session},
    id::{AppId, TenantId},
    scope::TenantScoped,
    values::{PortalExpiry, WithdrawalGrace},
};

#[derive(Clone)]
pub struct PortalAccess {
    pub url: String,
    pub token: String,
}

impl std::fmt::Debug for PortalAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalAccess").finish_non_exhaustive()
    }
}

/// Issues portal access to one application, creating it first from `inline_app` when
/// the path names a uid that does not exist yet.
pub async fn issue(
    ctx: &Context,
    tenant: &TenantId,
    app_id_or_uid: &str,
    inline_app: Option<NewApplication>,
    ttl: Option<PortalExpiry>,
    read_only: bool,
    actor: &Actor,
) -> Result<PortalAccess> {
    let ttl = ttl.unwrap_or_default().duration();
    // The application (made here if asked) and the audit entry in one transaction.
    let txn = crate::db::begin_write(ctx).await?;
    let app = match (application::find(&txn, tenant, app_id_or_uid).await, inline_app) {
        (Ok(app), _) => app,
        (Err(Error::NotFound(_)), Some(mut new)) if crate::id::AppId::parse(app_id_or_uid).is_err() => {
            if new.uid.is_none() {
                new.uid = Some(crate::values::Uid::parse(app_id_or_uid)?);
            }
            application::insert(&txn, tenant, new, actor).await?
        }
        (Err(e), _) => return Err(e),
    };
    let now = Utc::now();
    let token = ctx
        .jwt
        .issue_portal_token(tenant, &app.id, now, now + ttl, read_only)?;
    audit::record(
        &txn,
        tenant,
        actor,
        "portal.access",
        Target::new("application", &app.id),
        None,
    )
    .await?;
    txn.commit().await.context("issuing portal access")?;
    let url = format!("{}/portal?token={token}", ctx.settings.public_url);
    Ok(PortalAccess { url, token })
}

/// The withdrawal of an application's portal links, if there was one.
pub(crate) async fn cutoff<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    app: &AppId,
) -> Result<Option<portal_cutoff::Model>> {
    portal_cutoff::Entity::find_in_tenant(tenant, app.clone())
        .one(conn)
        .await
        .context("reading an application's portal cutoff")
}

/// Withdraws every portal link of an application issued until now (Svix's expire-all):
/// after `grace` (at once without) they open nothing, and the portal sessions open now end.
/// Links issued afterwards work as usual.
pub async fn expire_all(
    ctx: &Context,
    tenant: &TenantId,
    app_id_or_uid: &str,
    grace: WithdrawalGrace,
    actor: &Actor,
) -> Result<()> {
    let app = application::find(&ctx.db, tenant, app_id_or_uid).await?;
    let txn = crate::db::begin_write(ctx).await?;
    let now = Utc::now();
    let effective_at = now + grace.duration();
    let dead_before = cutoff(&txn, tenant, &app.id)
        .await?
        .and_then(|earlier| earlier.dead_before_next(now));
    portal_cutoff::Entity::insert(portal_cutoff::ActiveModel {
        app_id: Set(app.id.clone()),
        tenant_id: Set(tenant.clone()),
        issued_before: Set(now),
        effective_at: Set(effective_at),
        dead_before: Set(dead_before),
    })
    .on_conflict(
        OnConflict::column(portal_cutoff::Column::AppId)
            .update_columns([
                portal_cutoff::Column::IssuedBefore,
                portal_cutoff::Column::EffectiveAt,
                portal_cutoff::Column::DeadBefore,
            ])
            .to_owned(),
    )
    .exec(&txn)
    .await
    .context("withdrawing portal links")?;
    session::Entity::update_for_tenant(tenant)
        .col_expr(session::Column::ExpiresAt, Expr::value(effective_at))
        .filter(session::Column::AppId.eq(app.id.clone()))
        .filter(session::Column::ExpiresAt.gt(effective_at))
        .exec(&txn)
        .await
        .context("ending portal sessions")?;
    let details = serde_json::json!({ "graceSeconds": grace.duration().num_seconds() });
    audit::record(
        &txn,
        tenant,
        actor,
        "portal.expire_all",
        Target::new("application", &app.id),
        Some(details),
    )
    .await?;
    txn.commit().await.context("withdrawing portal links")
}
