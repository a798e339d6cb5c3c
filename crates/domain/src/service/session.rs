//! Sessions of the dashboard and the customer portal.
//!
//! A session is a random 32-byte token in an HttpOnly cookie; the database keeps only its
//! SHA-256, the tenant, and who it is: a user (dashboard) or an application (portal).
//! Each session has its own CSRF token, which every form posts back. Signing out deletes
//! the row, so a copied cookie stops working at once; expired rows are deleted as they
//! are met and by [`purge_expired`].
//!
//! Sessions are found by their token alone, before the tenant is known, hence the
//! unscoped queries below.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};

use super::audit::{self, Actor, Target};
use crate::{
    Context, DbContext, Error, Result,
    crypto::{self, hex, random_bytes},
    entity::{session, user},
    values::{Email, Role},
};

/// How long a dashboard session lasts.
pub const USER_TTL: Duration = Duration::hours(12);

/// Who a live session belongs to.
#[derive(Clone, Debug)]
pub enum Holder {
    User(user::Model),
    /// A customer in the portal of one application.
    Portal {
        app: crate::id::AppId,
        read_only: bool,
    },
}

/// A live session.
#[derive(Clone, Debug)]
pub struct Live {
    pub row: session::Model,
    pub holder: Holder,
}

impl Live {
    /// The dashboard user, if this is a dashboard session.
    pub fn user(&self) -> Option<&user::Model> {
        match &self.holder {
            Holder::User(user) => Some(user),
            Holder::Portal { .. } => None,
        }
    }

    pub fn actor(&self) -> Actor {
        match &self.holder {
            Holder::User(user) => Actor::User {
                id: user.id.clone(),
                email: user.email.clone(),
            },
            Holder::Portal { app, .. } => Actor::Portal { app: app.clone() },
        }
    }

    /// Whether this session may change things (admins; portal customers unless the link
    /// was read-only).
    pub fn may_write(&self) -> bool {
        match &self.holder {
            Holder::User(user) => user.role == Role::Admin,
            Holder::Portal { read_only, .. } => !read_only,
        }
    }

    /// Refuses a change this session may not make, saying why: dashboard viewers only
    /// read, and a read-only portal link only shows.
    pub fn require_write(&self) -> Result<()> {
        match &self.holder {
            _ if self.may_write() => Ok(()),
            Holder::User(_) => Err(Error::forbidden(
                "viewers can look but not change anything; ask an admin",
            )),
            Holder::Portal { .. } => Err(Error::forbidden("this portal link is read-only")),
        }
    }

    /// Checks a form's CSRF token against the session's, in constant time.
    pub fn check_csrf(&self, presented: &str) -> Result<()> {
        if crypto::same(self.row.csrf.as_bytes(), presented.as_bytes()) {
            Ok(())
        } else {
            Err(Error::forbidden(
                "the form's security token is missing or stale; reload the page and try again",
            ))
        }
    }
}

/// A new random token, hex-encoded.
pub fn random_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    random_bytes(&mut bytes)?;
    Ok(hex(&bytes))
}

fn key_of(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// The user `email` names if `password` is theirs. Unknown emails cost as much time as
/// wrong passwords and fail with the same error, so the answer tells nothing about which
/// accounts exist.
pub async fn authenticate<C: ConnectionTrait>(conn: &C, email: &str, password: &str) -> Result<user::Model> {
    let wrong = || Error::unauthenticated("wrong email or password");
    let found = match Email::parse(email) {
        #[expect(
            clippy::disallowed_methods,
            reason = "sign-in finds the user before the tenant"
        )]
        Ok(email) => user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(conn)
            .await
            .context("finding a user")?,
        Err(_) => None,
    };
    let password = password.to_owned();
    let Some(user) = found else {
        super::blocking(move || {
            crate::auth::burn_password_check(&password);
            Ok(())
        })
        .await?;
        return Err(wrong());
    };
    let hash = user.password_hash.clone();
    let ok = super::blocking(move || Ok(crate::auth::verify_password(&hash, &password))).await?;
    if ok { Ok(user) } else { Err(wrong()) }
}

async fn insert<C: ConnectionTrait>(
    conn: &C,
    tenant: &crate::id::TenantId,
    holder: &Holder,
    expires_at: DateTime<Utc>,
) -> Result<(String, session::Model)> {
    let token = random_token()?;
    let (user_id, app_id, read_only) = match holder {
        Holder::User(user) => (Some(user.id.clone()), None, false),
        Holder::Portal { app, read_only } => (None, Some(app.clone()), *read_only),
    };
    let row = session::ActiveModel {
        id: Set(key_of(&token)),
        tenant_id: Set(tenant.clone()),
        user_id: Set(user_id),
        app_id: Set(app_id),
        read_only: Set(read_only),
        csrf: Set(random_token()?),
        created_at: Set(Utc::now()),
        expires_at: Set(expires_at),
    }
    .insert(conn)
    .await
    .context("starting a session")?;
    Ok((token, row))
}

/// Starts a dashboard session for `user`; returns the cookie's token.
pub async fn start_for_user<C: ConnectionTrait>(conn: &C, user: &user::Model) -> Result<(String, Live)> {
    let now = Utc::now();
    let holder = Holder::User(user.clone());
    let (token, row) = insert(conn, &user.tenant_id, &holder, now + USER_TTL).await?;
    #[expect(clippy::disallowed_methods, reason = "the user row was just authenticated")]
    user::Entity::update_many()
        .col_expr(user::Column::LastLoginAt, sea_orm::sea_query::Expr::value(now))
        .filter(user::Column::Id.eq(user.id.clone()))
        .exec(conn)
        .await
        .context("recording a sign-in")?;
    audit::record(
        conn,
        &user.tenant_id,
        &Actor::User {
            id: user.id.clone(),
            email: user.email.clone(),
        },
        "user.sign_in",
        Target::new("user", &user.id),
        None,
    )
    .await?;
    Ok((token, Live { row, holder }))
}

/// Trades a portal link's token for a portal session that ends when the token would.
pub async fn start_for_portal(ctx: &Context, portal_token: &str) -> Result<(String, Live)> {
    let claims = ctx.jwt.verify_portal_token(portal_token)?;
    // The application must still exist (and belong to the token's tenant).
    let app = super::application::find(&ctx.db, &claims.org, claims.sub.as_str()).await?;
    let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now);
    let holder = Holder::Portal {
        app: app.id,
        read_only: claims.read_only,
    };
    let (token, row) = insert(&ctx.db, &claims.org, &holder, expires_at).await?;
    Ok((token, Live { row, holder }))
}

/// The live session a cookie's token names, with its user re-read (a role change or a
/// removed user takes effect at once).
pub async fn find<C: ConnectionTrait>(conn: &C, token: &str, now: DateTime<Utc>) -> Result<Option<Live>> {
    #[expect(
        clippy::disallowed_methods,
        reason = "a session is found before its tenant is known"
    )]
    let Some(row) = session::Entity::find_by_id(key_of(token))
        .one(conn)
        .await
        .context("finding a session")?
    else {
        return Ok(None);
    };
    if row.expires_at <= now {
        end(conn, token).await?;
        return Ok(None);
    }
    let holder = match (&row.user_id, &row.app_id) {
        (Some(user_id), _) => {
            #[expect(clippy::disallowed_methods, reason = "scoped by the session's tenant below")]
            let user = user::Entity::find_by_id(user_id.clone())
                .filter(user::Column::TenantId.eq(row.tenant_id.clone()))
                .one(conn)
                .await
                .context("finding a session's user")?;
            match user {
                Some(user) => Holder::User(user),
                None => return Ok(None),
            }
        }
        (None, Some(app)) => Holder::Portal {
            app: app.clone(),
            read_only: row.read_only,
        },
        (None, None) => return Ok(None),
    };
    Ok(Some(Live { row, holder }))
}

/// Ends the session a cookie's token names (signing out).
pub async fn end<C: ConnectionTrait>(conn: &C, token: &str) -> Result<()> {
    #[expect(clippy::disallowed_methods, reason = "a session is found by its token alone")]
    session::Entity::delete_by_id(key_of(token))
        .exec(conn)
        .await
        .context("ending a session")?;
    Ok(())
}

/// Deletes every expired session; returns how many.
pub async fn purge_expired<C: ConnectionTrait>(conn: &C, now: DateTime<Utc>) -> Result<u64> {
    #[expect(clippy::disallowed_methods, reason = "expired sessions of every tenant go")]
    let done = session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lte(now))
        .exec(conn)
        .await
        .context("deleting expired sessions")?;
    Ok(done.rows_affected)
}
