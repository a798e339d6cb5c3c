//! The first run of `herald serve` on an empty database: a default tenant, an admin with
//! a random password, and an API token, made once and shown once.

use std::fmt;

use super::audit::Actor;
use crate::{
    Context, DbContext, Result,
    values::{Email, Role},
};

pub const ADMIN_EMAIL: &str = "admin@herald.local";

/// What the first run made; printed once, never stored in plain text.
pub struct FirstRun {
    pub tenant_id: crate::id::TenantId,
    pub email: String,
    pub password: String,
    pub token: String,
}

impl fmt::Debug for FirstRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FirstRun")
            .field("tenant_id", &self.tenant_id)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// Sets up an empty database; `None` when any tenant already exists.
pub async fn first_run(ctx: &Context) -> Result<Option<FirstRun>> {
    let txn = crate::db::begin_write(ctx).await?;
    if super::tenant::any_exists(&txn).await? {
        return Ok(None);
    }
    let tenant = super::tenant::insert(&txn, "Default").await?;
    let email = Email::parse(ADMIN_EMAIL)?;
    let password = super::random_password(20)?;
    super::user::insert(
        &txn,
        &tenant.id,
        &email,
        Role::Admin,
        password.clone(),
        &Actor::System,
    )
    .await?;
    let token = super::token::insert(ctx, &txn, &tenant.id, "first run", None, &Actor::System).await?;
    txn.commit().await.context("committing the first run")?;
    Ok(Some(FirstRun {
        tenant_id: tenant.id,
        email: email.to_string(),
        password,
        token: token.token,
    }))
}
