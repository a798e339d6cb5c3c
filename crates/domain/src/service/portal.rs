//! Customer-portal access: a short-lived token for one application, and the link that
//! opens the portal with it.

use chrono::Utc;

use super::{
    application::{self, NewApplication},
    audit::{self, Actor, Target},
};
use crate::{Context, Error, Result, id::TenantId, values::PortalExpiry};

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
    let app = match (
        application::find(&ctx.db, tenant, app_id_or_uid).await,
        inline_app,
    ) {
        (Ok(app), _) => app,
        (Err(Error::NotFound(_)), Some(mut new)) if crate::id::AppId::parse(app_id_or_uid).is_err() => {
            if new.uid.is_none() {
                new.uid = Some(crate::values::Uid::parse(app_id_or_uid)?);
            }
            application::create(ctx, tenant, new, true, actor).await?.0
        }
        (Err(e), _) => return Err(e),
    };
    let now = Utc::now();
    let token = ctx
        .jwt
        .issue_portal_token(tenant, &app.id, now, now + ttl, read_only)?;
    audit::record(
        &ctx.db,
        tenant,
        actor,
        "portal.access",
        Target::new("application", &app.id),
        None,
    )
    .await?;
    let url = format!("{}/portal?token={token}", ctx.settings.public_url);
    Ok(PortalAccess { url, token })
}
