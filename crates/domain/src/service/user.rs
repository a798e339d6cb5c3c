//! Dashboard users: an email, an argon2id hash, a role.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::audit::{self, Actor, Target};
use crate::{
    Context, DbContext, Error, Result,
    entity::user,
    id::{TenantId, UserId},
    scope::TenantScoped,
    values::{Email, Role},
};

/// Adds a dashboard user to `tenant`, with its audit entry, in one transaction.
pub async fn create(
    ctx: &Context,
    tenant: &TenantId,
    email: &Email,
    role: Role,
    password: String,
    actor: &Actor,
) -> Result<user::Model> {
    let txn = crate::db::begin_write(ctx).await?;
    let user = insert(&txn, tenant, email, role, password, actor).await?;
    txn.commit().await.context("committing a new user")?;
    Ok(user)
}

/// [`create`] in the caller's transaction (the first run's).
pub(crate) async fn insert<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    email: &Email,
    role: Role,
    password: String,
    actor: &Actor,
) -> Result<user::Model> {
    super::tenant::require(conn, tenant).await?;
    // The same lookup and the same work whether or not the email has an account elsewhere,
    // and nothing in the answer depends on it.
    let sibling = sibling_hash(conn, email).await?;
    let hash = super::blocking(move || crate::auth::hash_password(&password, sibling.as_deref())).await?;
    let now = Utc::now();
    let user = user::ActiveModel {
        id: Set(UserId::new()),
        tenant_id: Set(tenant.clone()),
        email: Set(email.as_str().to_owned()),
        password_hash: Set(hash),
        role: Set(role),
        created_at: Set(now),
        updated_at: Set(now),
        last_login_at: Set(None),
    }
    .insert(conn)
    .await
    .conflict_means(
        format!("a user with email {email} already exists in this tenant"),
        "creating a user",
    )?;
    let details = serde_json::json!({ "email": email.as_str(), "role": role.as_str() });
    audit::record(
        conn,
        tenant,
        actor,
        "user.create",
        Target::new("user", &user.id),
        Some(details),
    )
    .await?;
    Ok(user)
}

/// The stored hash of an account with this email in any tenant, whose salt a new account
/// of the same email shares (see `auth::hash_password`).
async fn sibling_hash<C: ConnectionTrait>(conn: &C, email: &Email) -> Result<Option<String>> {
    #[expect(
        clippy::disallowed_methods,
        reason = "accounts of one email share a salt across tenants; the hash never leaves this module"
    )]
    let sibling = user::Entity::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .order_by_asc(user::Column::Id)
        .one(conn)
        .await
        .context("finding an account's salt")?;
    Ok(sibling.map(|account| account.password_hash))
}

/// The tenant's users, by email.
pub async fn list<C: ConnectionTrait>(conn: &C, tenant: &TenantId) -> Result<Vec<user::Model>> {
    user::Entity::for_tenant(tenant)
        .order_by_asc(user::Column::Email)
        .all(conn)
        .await
        .context("listing users")
}

async fn find<C: ConnectionTrait>(conn: &C, tenant: &TenantId, id: &UserId) -> Result<user::Model> {
    user::Entity::find_in_tenant(tenant, id.clone())
        .one(conn)
        .await
        .context("loading a user")?
        .ok_or(Error::NotFound("user"))
}

/// Refuses a change that would leave the tenant without an admin. Inside the change's
/// transaction, with the tenant's admin rows locked (on PostgreSQL; SQLite writes one at a
/// time), so two admins removing each other at once cannot both succeed.
async fn keep_an_admin<C: ConnectionTrait>(conn: &C, tenant: &TenantId, leaving: &user::Model) -> Result<()> {
    if leaving.role != Role::Admin {
        return Ok(());
    }
    let admins = user::Entity::for_tenant(tenant)
        .filter(user::Column::Role.eq(Role::Admin))
        .lock_exclusive()
        .all(conn)
        .await
        .context("counting admins")?;
    if admins.len() <= 1 {
        return Err(Error::rejected(
            "this is the last admin; make someone else an admin first",
        ));
    }
    Ok(())
}

/// Changes a user's role; the last admin stays one. Their open sessions see the new role
/// at their next request.
pub async fn set_role(
    ctx: &Context,
    tenant: &TenantId,
    id: &UserId,
    role: Role,
    actor: &Actor,
) -> Result<user::Model> {
    let txn = crate::db::begin_write(ctx).await?;
    let conn = &txn;
    let existing = find(conn, tenant, id).await?;
    if existing.role == role {
        return Ok(existing);
    }
    keep_an_admin(conn, tenant, &existing).await?;
    let mut active: user::ActiveModel = existing.into();
    active.role = Set(role);
    active.updated_at = Set(Utc::now());
    let user = active.update(conn).await.context("changing a role")?;
    let details = serde_json::json!({ "email": user.email, "role": role.as_str() });
    audit::record(
        conn,
        tenant,
        actor,
        "user.role",
        Target::new("user", &user.id),
        Some(details),
    )
    .await?;
    txn.commit().await.context("changing a role")?;
    Ok(user)
}

/// Removes a user (their sessions go with them); the last admin stays.
pub async fn remove(ctx: &Context, tenant: &TenantId, id: &UserId, actor: &Actor) -> Result<()> {
    let txn = crate::db::begin_write(ctx).await?;
    let conn = &txn;
    let existing = find(conn, tenant, id).await?;
    keep_an_admin(conn, tenant, &existing).await?;
    let details = serde_json::json!({ "email": existing.email });
    existing.delete(conn).await.context("removing a user")?;
    audit::record(
        conn,
        tenant,
        actor,
        "user.remove",
        Target::new("user", id),
        Some(details),
    )
    .await?;
    txn.commit().await.context("removing a user")
}

/// Changes `user`'s own password after checking the current one, and ends their other
/// sessions (`keep` is the session the change came from).
pub async fn change_password(
    ctx: &Context,
    user: &user::Model,
    current: String,
    new: String,
    keep: &str,
) -> Result<()> {
    let hash = user.password_hash.clone();
    let known = super::blocking(move || Ok(crate::auth::verify_password(&hash, &current))).await?;
    if !known {
        return Err(Error::invalid("current_password", "is not your current password"));
    }
    let own = user.password_hash.clone();
    let hash = super::blocking(move || crate::auth::hash_password(&new, Some(&own))).await?;
    let txn = crate::db::begin_write(ctx).await?;
    let conn = &txn;
    let mut active: user::ActiveModel = user.clone().into();
    active.password_hash = Set(hash);
    active.updated_at = Set(Utc::now());
    active.update(conn).await.context("changing a password")?;
    crate::entity::session::Entity::delete_for_tenant(&user.tenant_id)
        .filter(crate::entity::session::Column::UserId.eq(user.id.clone()))
        .filter(crate::entity::session::Column::Id.ne(keep))
        .exec(conn)
        .await
        .context("ending other sessions")?;
    let actor = Actor::User {
        id: user.id.clone(),
        email: user.email.clone(),
    };
    audit::record(
        conn,
        &user.tenant_id,
        &actor,
        "user.password",
        Target::new("user", &user.id),
        None,
    )
    .await?;
    txn.commit().await.context("changing a password")
}
