//! The tenant's API tokens: the list, a new token shown once, and revocation.

use actix_web::{HttpRequest, http::StatusCode, web};
use askama::Template;
use chrono::Utc;
use domain::{Error, id::ApiTokenId, service::token, values::TokenLifetime};
use serde::Deserialize;

use crate::{
    error::see_other,
    form::{Csrf, Errors, Page, check, html, param},
    session::Signed,
    view::{Chrome, When},
};

pub(crate) struct TokenRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) created: When,
    pub(crate) last_used: Option<When>,
    pub(crate) expires: Option<When>,
    pub(crate) revoked: Option<When>,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    page: Chrome,
    tokens: Vec<TokenRow>,
    /// A token just created: shown this once.
    issued: String,
    name: String,
    errors: Errors,
}

async fn tokens_page(
    signed: &Signed,
    issued: String,
    name: String,
    errors: Errors,
    status: StatusCode,
) -> Page {
    let tokens = token::list(&signed.ctx.db, signed.tenant())
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id.to_string(),
            name: t.name,
            created: When::of(t.created_at),
            last_used: t.last_used_at.map(When::of),
            expires: t.expires_at.map(When::of),
            revoked: t.revoked_at.map(When::of),
        })
        .collect();
    html(
        status,
        &TokensPage {
            page: Chrome::new(&signed.live, "API tokens", "tokens"),
            tokens,
            issued,
            name,
            errors,
        },
    )
}

pub(crate) async fn list(signed: Signed) -> Page {
    tokens_page(
        &signed,
        String::new(),
        String::new(),
        Errors::default(),
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    /// Days until it expires; empty for never.
    #[serde(default)]
    days: String,
}

pub(crate) async fn create(signed: Signed, form: web::Form<TokenForm>) -> Page {
    check(&signed.live, &form.csrf, signed.require_admin())?;
    let expires = match form.days.trim() {
        "" => Ok(None),
        days => TokenLifetime::parse_text(days).map(|d| Some(Utc::now() + d.duration())),
    };
    let issued = match expires {
        Ok(expires) => {
            token::create(
                &signed.ctx,
                signed.tenant(),
                &form.name,
                expires,
                &signed.live.actor(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match issued {
        // Rendered, not redirected: the token exists only in this answer.
        Ok(issued) => {
            tokens_page(
                &signed,
                issued.token,
                String::new(),
                Errors::default(),
                StatusCode::OK,
            )
            .await
        }
        Err(e) => {
            let errors = Errors::from_error(e)?;
            tokens_page(
                &signed,
                String::new(),
                form.name.clone(),
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

pub(crate) async fn revoke(signed: Signed, req: HttpRequest, form: web::Form<Csrf>) -> Page {
    check(&signed.live, &form.csrf, signed.require_admin())?;
    let id = ApiTokenId::parse(param(&req, "token")).map_err(|_| Error::NotFound("API token"))?;
    token::revoke(&signed.ctx, signed.tenant(), &id, &signed.live.actor()).await?;
    Ok(see_other("/ui/tokens"))
}
