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

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
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

/// The accounts `email` names whose password is `password`: one usually, several when the
/// person has an account in several tenants with the same password (the caller lets them
/// choose), none when the email is unknown or the password wrong. Every account of an email
/// shares one salt, so the check is one hash whether the email has no account, one or
/// many: the time it takes tells nothing about which accounts exist.
pub async fn authenticate<C: ConnectionTrait>(
    conn: &C,
    email: &str,
    password: &str,
) -> Result<Vec<user::Model>> {
    let accounts = match Email::parse(email) {
        #[expect(
            clippy::disallowed_methods,
            reason = "sign-in finds the user before the tenant"
        )]
        Ok(email) => user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .order_by_asc(user::Column::Id)
            .all(conn)
            .await
            .context("finding a user")?,
        Err(_) => Vec::new(),
    };
    let password = password.to_owned();
    let hashes: Vec<String> = accounts.iter().map(|a| a.password_hash.clone()).collect();
    let matches = super::blocking(move || {
        let hashes: Vec<&str> = hashes.iter().map(String::as_str).collect();
        Ok(crate::auth::matching_passwords(&hashes, &password))
    })
    .await?;
    let matched: Vec<user::Model> = accounts
        .into_iter()
        .zip(matches)
        .filter_map(|(account, matched)| matched.then_some(account))
        .collect();
    if matched.is_empty() {
        return Err(Error::unauthenticated("wrong email or password"));
    }
    Ok(matched)
}

/// How long the choice offered to a person whose password opens several accounts stays good.
const CHOICE_LIFETIME: Duration = Duration::minutes(5);
/// Associated data of a sealed choice, so no other sealed value passes for one.
const CHOICE_PURPOSE: &[u8] = b"herald/sign-in-choice";

#[derive(Serialize, Deserialize)]
struct Choice {
    /// The account.
    user: crate::id::UserId,
    /// The sign-in form's token the choice was offered with.
    csrf: String,
    /// When it stops being good (Unix seconds).
    expires: i64,
    /// A digest of the account's password hash: a password changed since makes it void.
    password: String,
}

/// A ticket that signs `account` in without its password being typed again: the sign-in
/// page offers one per account when a password opens accounts in several tenants. Sealed
/// under the main key, bound to the sign-in form's token `csrf`, good for five minutes.
pub fn choice_ticket(ctx: &Context, account: &user::Model, csrf: &str) -> Result<String> {
    let choice = Choice {
        user: account.id.clone(),
        csrf: csrf.to_owned(),
        expires: (Utc::now() + CHOICE_LIFETIME).timestamp(),
        password: key_of(&account.password_hash),
    };
    let plain = serde_json::to_vec(&choice).map_err(|e| Error::internal("writing a sign-in choice", e))?;
    Ok(URL_SAFE_NO_PAD.encode(ctx.keyring.seal(&plain, CHOICE_PURPOSE)?))
}

/// The account a [`choice_ticket`] names, when the ticket is sound, fresh, was offered with
/// the form token `csrf`, and its account still exists with the same password.
pub async fn redeem_choice(ctx: &Context, ticket: &str, csrf: &str) -> Result<user::Model> {
    let stale = || Error::unauthenticated("this choice is no longer valid; sign in again");
    let choice: Choice = URL_SAFE_NO_PAD
        .decode(ticket)
        .ok()
        .and_then(|sealed| ctx.keyring.open(&sealed, CHOICE_PURPOSE).ok())
        .and_then(|plain| serde_json::from_slice(&plain).ok())
        .ok_or_else(stale)?;
    if !crypto::same(choice.csrf.as_bytes(), csrf.as_bytes()) || choice.expires < Utc::now().timestamp() {
        return Err(stale());
    }
    #[expect(
        clippy::disallowed_methods,
        reason = "the ticket, sealed by this server, names the account"
    )]
    let account = user::Entity::find_by_id(choice.user)
        .one(&ctx.db)
        .await
        .context("finding a chosen account")?
        .ok_or_else(stale)?;
    if key_of(&account.password_hash) != choice.password {
        return Err(stale());
    }
    Ok(account)
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

/// Starts a dashboard session for `user`, recording the sign-in on the user and in the
/// audit log in the same transaction; returns the cookie's token.
pub async fn start_for_user(ctx: &Context, user: &user::Model) -> Result<(String, Live)> {
    let now = Utc::now();
    let holder = Holder::User(user.clone());
    let txn = crate::db::begin_write(ctx).await?;
    let (token, row) = insert(&txn, &user.tenant_id, &holder, now + USER_TTL).await?;
    #[expect(clippy::disallowed_methods, reason = "the user row was just authenticated")]
    user::Entity::update_many()
        .col_expr(user::Column::LastLoginAt, sea_orm::sea_query::Expr::value(now))
        .filter(user::Column::Id.eq(user.id.clone()))
        .exec(&txn)
        .await
        .context("recording a sign-in")?;
    audit::record(
        &txn,
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
    txn.commit().await.context("committing a sign-in")?;
    Ok((token, Live { row, holder }))
}

/// Trades a portal link's token for a portal session that ends when the token would.
pub async fn start_for_portal(ctx: &Context, portal_token: &str) -> Result<(String, Live)> {
    let claims = ctx.jwt.verify_portal_token(portal_token)?;
    // The application must still exist (and belong to the token's tenant).
    let app = super::application::find(&ctx.db, &claims.org, claims.sub.as_str()).await?;
    let mut expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now);
    // Links withdrawn by an expire-all open nothing once it is in force, and sessions
    // opened before then end with it.
    let issued = claims
        .iat_ms
        .and_then(DateTime::from_timestamp_millis)
        .or_else(|| DateTime::from_timestamp(claims.iat, 0))
        .unwrap_or_default();
    if let Some(cutoff) = super::portal::cutoff(&ctx.db, &claims.org, &app.id).await? {
        let now = Utc::now();
        if cutoff.refuses(issued, now) {
            return Err(Error::unauthenticated("this portal link was withdrawn"));
        }
        if issued < cutoff.issued_before {
            expires_at = expires_at.min(cutoff.effective_at);
        }
    }
    let holder = Holder::Portal {
        app: app.id,
        read_only: claims.read_only,
    };
    let (token, row) = insert(&ctx.db, &claims.org, &holder, expires_at).await?;
    Ok((token, Live { row, holder }))
}

/// The live session a cookie's token names, with its user re-read (a role change or a
/// removed user takes effect at once). An expired session it meets is ended.
pub async fn find(ctx: &Context, token: &str, now: DateTime<Utc>) -> Result<Option<Live>> {
    let conn = &ctx.db;
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
        end(ctx, token).await?;
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
pub async fn end(ctx: &Context, token: &str) -> Result<()> {
    let txn = crate::db::begin_write(ctx).await?;
    #[expect(clippy::disallowed_methods, reason = "a session is found by its token alone")]
    session::Entity::delete_by_id(key_of(token))
        .exec(&txn)
        .await
        .context("ending a session")?;
    txn.commit().await.context("committing a sign-out")?;
    Ok(())
}

/// Deletes every expired session; returns how many.
pub async fn purge_expired(ctx: &Context, now: DateTime<Utc>) -> Result<u64> {
    let txn = crate::db::begin_write(ctx).await?;
    #[expect(clippy::disallowed_methods, reason = "expired sessions of every tenant go")]
    let done = session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lte(now))
        .exec(&txn)
        .await
        .context("deleting expired sessions")?;
    txn.commit().await.context("committing a session purge")?;
    Ok(done.rows_affected)
}
