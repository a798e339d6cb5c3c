//! Dashboard users: an email, an argon2id hash, a role.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};

use super::audit::{self, Actor, Target};
use crate::{
    DbContext, Result,
    entity::user,
    id::{TenantId, UserId},
    values::{Email, Role},
};

pub async fn create<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    email: &Email,
    role: Role,
    password: String,
    actor: &Actor,
) -> Result<user::Model> {
    super::tenant::get(conn, tenant).await?;
    let hash = super::blocking(move || crate::auth::hash_password(&password)).await?;
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
        format!("a user with email {email} already exists"),
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
