//! Signing in and out.
//!
//! The sign-in form carries a CSRF token that matches a short-lived cookie (there is no
//! session yet to hold one). Failed and successful tries alike count against two limits,
//! per account and per client address, checked before the password is, so guessing costs
//! an attacker time and the server no hashing. Errors never say whether an account exists.

use std::num::NonZeroU32;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;

use crate::{
    error::{PageError, see_other},
    session::{self, PORTAL_COOKIE, USER_COOKIE},
};
use domain::service;

/// Cookie holding the sign-in form's CSRF token.
const LOGIN_COOKIE: &str = "herald_login";

/// Sign-in tries allowed per account per minute, and per client address per minute.
const PER_ACCOUNT_PER_MINUTE: u32 = 5;
const PER_ADDRESS_PER_MINUTE: u32 = 20;

/// Sign-in limits of one Herald process, shared by its HTTP worker threads.
pub(crate) struct Throttle {
    accounts: DefaultKeyedRateLimiter<String>,
    addresses: DefaultKeyedRateLimiter<String>,
}

impl Throttle {
    pub(crate) fn new() -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Self {
            accounts: RateLimiter::keyed(quota(PER_ACCOUNT_PER_MINUTE)),
            addresses: RateLimiter::keyed(quota(PER_ADDRESS_PER_MINUTE)),
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    email: String,
    error: Option<String>,
    /// When the password opened accounts in several tenants: one to choose.
    choices: Vec<Choice>,
}

/// An account a person may sign in to: its tenant's name and a ticket that signs it in.
struct Choice {
    tenant: String,
    ticket: String,
}

fn render(page: &LoginPage, status: StatusCode, req: &HttpRequest) -> Result<HttpResponse, PageError> {
    let ctx = session::context(req)?;
    let body = page
        .render()
        .map_err(|e| PageError::failed("rendering the sign-in page", e))?;
    Ok(HttpResponse::build(status)
        .cookie(session::cookie(
            req,
            &ctx,
            LOGIN_COOKIE,
            page.csrf.clone(),
            "/ui/login",
        ))
        .content_type("text/html; charset=utf-8")
        .body(body))
}

const STALE: &str = "The sign-in form was stale. Please try again.";

/// The form's token is the one the sign-in page set in its cookie (compared in constant
/// time, as every token is).
fn form_is_fresh(req: &HttpRequest, csrf: &str) -> bool {
    !csrf.is_empty()
        && req
            .cookie(LOGIN_COOKIE)
            .is_some_and(|c| domain::crypto::same(c.value().as_bytes(), csrf.as_bytes()))
}

/// The sign-in page again, with why the last try was refused.
fn refused(
    req: &HttpRequest,
    email: &str,
    error: &str,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let page = LoginPage {
        csrf: service::session::random_token()?,
        email: email.to_owned(),
        error: Some(error.to_owned()),
        choices: Vec::new(),
    };
    render(&page, status, req)
}

pub(crate) async fn login_page(req: HttpRequest) -> Result<HttpResponse, PageError> {
    let page = LoginPage {
        csrf: service::session::random_token()?,
        email: String::new(),
        error: None,
        choices: Vec::new(),
    };
    render(&page, StatusCode::OK, &req)
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

pub(crate) async fn login(
    req: HttpRequest,
    limits: web::Data<Throttle>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let again = |error: &str, status: StatusCode| refused(&req, &form.email, error, status);
    if !form_is_fresh(&req, &form.csrf) {
        return again(STALE, StatusCode::FORBIDDEN);
    }
    // The TCP peer, not a forwarded-for header a client could make up. Behind a proxy
    // that is the proxy: the per-account limit still holds for every account.
    let address = req
        .peer_addr()
        .map_or_else(|| "unknown".to_owned(), |peer| peer.ip().to_string());
    let account = form.email.trim().to_lowercase();
    if limits.accounts.check_key(&account).is_err() || limits.addresses.check_key(&address).is_err() {
        return again(
            "Too many sign-in attempts. Wait a minute, then try again.",
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let ctx = session::context(&req)?;
    let mut accounts = match service::session::authenticate(&ctx.db, &form.email, &form.password).await {
        Ok(accounts) => accounts,
        Err(domain::Error::Unauthenticated(_)) => {
            return again("Wrong email or password.", StatusCode::UNAUTHORIZED);
        }
        Err(e) => return Err(e.into()),
    };
    if accounts.len() == 1
        && let Some(user) = accounts.pop()
    {
        return signed_in(&req, &ctx, &user).await;
    }
    // The same password opens accounts in several tenants: the person picks one.
    let csrf = service::session::random_token()?;
    let mut choices = Vec::with_capacity(accounts.len());
    for account in &accounts {
        let tenant = service::tenant::get(&ctx.db, &account.tenant_id).await?;
        choices.push(Choice {
            tenant: tenant.name,
            ticket: service::session::choice_ticket(&ctx, account, &csrf)?,
        });
    }
    choices.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    let page = LoginPage {
        csrf,
        email: form.email.clone(),
        error: None,
        choices,
    };
    render(&page, StatusCode::OK, &req)
}

#[derive(Deserialize)]
pub(crate) struct ChoiceForm {
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    csrf: String,
}

/// Signs in to the account chosen on the sign-in page's list.
pub(crate) async fn choose(req: HttpRequest, form: web::Form<ChoiceForm>) -> Result<HttpResponse, PageError> {
    let again = |error: &str, status: StatusCode| refused(&req, "", error, status);
    if !form_is_fresh(&req, &form.csrf) {
        return again(STALE, StatusCode::FORBIDDEN);
    }
    let ctx = session::context(&req)?;
    match service::session::redeem_choice(&ctx, &form.ticket, &form.csrf).await {
        Ok(user) => signed_in(&req, &ctx, &user).await,
        Err(domain::Error::Unauthenticated(_)) => again(
            "That choice is no longer valid. Please sign in again.",
            StatusCode::UNAUTHORIZED,
        ),
        Err(e) => Err(e.into()),
    }
}

/// Starts `user`'s session and sends them to the dashboard.
async fn signed_in(
    req: &HttpRequest,
    ctx: &domain::Context,
    user: &domain::entity::user::Model,
) -> Result<HttpResponse, PageError> {
    let (token, _) = service::session::start_for_user(ctx, user).await?;
    let mut answer = see_other("/ui");
    answer
        .add_cookie(&session::cookie(req, ctx, USER_COOKIE, token, "/"))
        .map_err(|_| PageError::internal("setting the session cookie"))?;
    answer
        .add_cookie(&session::removal(LOGIN_COOKIE, "/ui/login"))
        .map_err(|_| PageError::internal("setting the session cookie"))?;
    Ok(answer)
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub(crate) csrf: String,
}

/// Ends the session (dashboard or portal) after checking the form's token.
pub(crate) async fn logout(req: HttpRequest, form: web::Form<CsrfForm>) -> Result<HttpResponse, PageError> {
    let portal = session::is_portal(&req);
    let (name, path, next) = if portal {
        (PORTAL_COOKIE, "/portal", "/portal")
    } else {
        (USER_COOKIE, "/", "/ui/login")
    };
    let ctx = session::context(&req)?;
    if let Some(cookie) = req.cookie(name)
        && let Some(live) = service::session::find(&ctx, cookie.value(), chrono::Utc::now()).await?
    {
        live.check_csrf(&form.csrf)?;
        service::session::end(&ctx, cookie.value()).await?;
    }
    let mut answer = see_other(next);
    answer
        .add_cookie(&session::removal(name, path))
        .map_err(|_| PageError::internal("clearing the session cookie"))?;
    Ok(answer)
}
