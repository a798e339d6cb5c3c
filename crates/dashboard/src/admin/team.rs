//! The team: the tenant's users and their roles (the last admin stays one), people added
//! and removed, and one's own password.

use actix_web::{HttpRequest, http::StatusCode, web};
use askama::Template;
use domain::{
    Error,
    id::UserId,
    service::user,
    values::{Email, Role},
};
use serde::Deserialize;

use crate::{
    error::{PageError, see_other},
    form::{Csrf, Errors, Page, check, html, param},
    session::Signed,
    view::{Chrome, When},
};

pub(crate) struct UserRow {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) role: &'static str,
    pub(crate) last_login: Option<When>,
    pub(crate) is_me: bool,
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    page: Chrome,
    notice: &'static str,
    users: Vec<UserRow>,
    email: String,
    errors: Errors,
}

async fn team_page(signed: &Signed, email: String, errors: Errors, status: StatusCode) -> Page {
    team_page_with(signed, "", email, errors, status).await
}

async fn team_page_with(
    signed: &Signed,
    notice: &'static str,
    email: String,
    errors: Errors,
    status: StatusCode,
) -> Page {
    let me = signed.live.user().map(|u| u.id.clone());
    let users = user::list(&signed.ctx.db, signed.tenant())
        .await?
        .into_iter()
        .map(|u| UserRow {
            is_me: Some(&u.id) == me.as_ref(),
            id: u.id.to_string(),
            email: u.email,
            role: u.role.as_str(),
            last_login: u.last_login_at.map(When::of),
        })
        .collect();
    html(
        status,
        &TeamPage {
            page: Chrome::new(&signed.live, "Team", "team"),
            notice,
            users,
            email,
            errors,
        },
    )
}

#[derive(Deserialize)]
pub(crate) struct TeamQuery {
    password: Option<String>,
}

pub(crate) async fn list(signed: Signed, query: web::Query<TeamQuery>) -> Page {
    let notice = if query.password.is_some() {
        "Your password was changed, and your other sessions were signed out."
    } else {
        ""
    };
    team_page_with(&signed, notice, String::new(), Errors::default(), StatusCode::OK).await
}

#[derive(Deserialize)]
pub(crate) struct UserForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

pub(crate) async fn add_user(signed: Signed, form: web::Form<UserForm>) -> Page {
    check(&signed.live, &form.csrf, signed.require_admin())?;
    let form = form.into_inner();
    let added = match (Email::parse(form.email.trim()), form.role.parse::<Role>()) {
        (Ok(email), Ok(role)) => {
            user::create(
                &signed.ctx,
                signed.tenant(),
                &email,
                role,
                form.password,
                &signed.live.actor(),
            )
            .await
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match added {
        Ok(_) => Ok(see_other("/ui/team")),
        Err(e) => {
            let errors = Errors::from_error(e)?;
            team_page(&signed, form.email, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct RoleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
}

#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    password: String,
}

/// Anyone signed in, viewers too, may change their own password; their other sessions end.
pub(crate) async fn change_password(signed: Signed, form: web::Form<PasswordForm>) -> Page {
    check(&signed.live, &form.csrf, Ok(()))?;
    let form = form.into_inner();
    let me = signed
        .live
        .user()
        .cloned()
        .ok_or_else(|| PageError::internal("a dashboard session without its user"))?;
    let changed = user::change_password(
        &signed.ctx,
        &me,
        form.current_password,
        form.password,
        &signed.live.row.id,
    )
    .await
    .map_err(|e| match e {
        // The new password's field here, not the one of the "add a person" form.
        Error::Invalid { field, reason } if field == "password" => Error::invalid("own_password", reason),
        other => other,
    });
    match changed {
        Ok(()) => Ok(see_other("/ui/team?password=changed")),
        Err(e) => {
            team_page(
                &signed,
                String::new(),
                Errors::from_error(e)?,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

fn user_id(req: &HttpRequest) -> Result<UserId, PageError> {
    UserId::parse(param(req, "user")).map_err(|_| Error::NotFound("user").into())
}

pub(crate) async fn set_role(signed: Signed, req: HttpRequest, form: web::Form<RoleForm>) -> Page {
    check(&signed.live, &form.csrf, signed.require_admin())?;
    let id = user_id(&req)?;
    let changed = match form.role.parse::<Role>() {
        Ok(role) => user::set_role(&signed.ctx, signed.tenant(), &id, role, &signed.live.actor())
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    team_answer(&signed, changed).await
}

pub(crate) async fn remove_user(signed: Signed, req: HttpRequest, form: web::Form<Csrf>) -> Page {
    check(&signed.live, &form.csrf, signed.require_admin())?;
    let id = user_id(&req)?;
    let removed = user::remove(&signed.ctx, signed.tenant(), &id, &signed.live.actor()).await;
    team_answer(&signed, removed).await
}

/// Back to the team after a change to someone, or the team page with why it was refused
/// (the last admin must stay one).
async fn team_answer(signed: &Signed, outcome: Result<(), Error>) -> Page {
    match outcome {
        Ok(()) => Ok(see_other("/ui/team")),
        Err(e) => {
            team_page(
                signed,
                String::new(),
                Errors::from_error(e)?,
                StatusCode::CONFLICT,
            )
            .await
        }
    }
}
