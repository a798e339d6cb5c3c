//! The tenant's own pages: event types, API tokens, the team, and the audit log. Only
//! dashboard users reach them; every change is for admins (see [`check`]).

use actix_web::{HttpRequest, http::StatusCode, web};
use askama::Template;
use chrono::Utc;
use domain::{
    Error,
    entity::event_type,
    id::{ApiTokenId, UserId},
    pagination::{Order, PageRequest},
    service::{
        audit,
        event_type::{self as event_types, EventTypeChanges, NewEventType},
        token, user,
    },
    values::{Email, EventTypeName, Role, TokenLifetime},
};
use serde::Deserialize;

use crate::{
    error::{PageError, see_other},
    pages::{Csrf, Errors, Page, Pager, check, html, page_request, param},
    session::Signed,
    view::{Chrome, When},
};

// ---------------------------------------------------------------- event types

pub(crate) struct EventTypeRow {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) archived: bool,
    pub(crate) link: String,
}

#[derive(Template)]
#[template(path = "event_types.html")]
struct EventTypesPage {
    page: Chrome,
    editing: bool,
    types: Vec<EventTypeRow>,
    archived: bool,
    pager: Pager,
    form: EventTypeForm,
    errors: Errors,
}

#[derive(Deserialize, Default)]
pub(crate) struct EventTypesQuery {
    #[serde(default)]
    archived: Option<String>,
    iterator: Option<String>,
}

#[derive(Deserialize, Default)]
pub(crate) struct EventTypeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: String,
    /// JSON Schema of version 1, as text.
    #[serde(default)]
    pub(crate) schema: String,
}

fn parse_schema(text: &str) -> Result<Option<serde_json::Value>, Error> {
    match text.trim() {
        "" => Ok(None),
        text => {
            let schema: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| Error::invalid("schema", format!("is not JSON: {e}")))?;
            if !schema.is_object() {
                return Err(Error::invalid("schema", "must be a JSON object (a JSON Schema)"));
            }
            event_types::parse_schemas(serde_json::json!({ "1": schema }))
        }
    }
}

async fn event_types_page(
    signed: &Signed,
    query: &EventTypesQuery,
    form: EventTypeForm,
    errors: Errors,
    status: StatusCode,
) -> Page {
    let archived = query.archived.is_some();
    let request = PageRequest::parse(Some(50), query.iterator.as_deref(), Order::Ascending, |k| {
        EventTypeName::parse(k).is_ok()
    })?;
    let found = event_types::list(&signed.ctx.db, signed.tenant(), &request, archived).await?;
    let pager = Pager::of(&found, if archived { "archived=1&" } else { "" });
    let types = found
        .data
        .into_iter()
        .map(|t: event_type::Model| EventTypeRow {
            link: format!("/ui/event-types/{}", t.name),
            name: t.name,
            description: t.description,
            archived: t.archived,
        })
        .collect();
    html(
        status,
        &EventTypesPage {
            page: Chrome::new(&signed.live, "Event types", "event-types"),
            editing: false,
            types,
            archived,
            pager,
            form,
            errors,
        },
    )
}

pub(crate) async fn event_types_list(signed: Signed, query: web::Query<EventTypesQuery>) -> Page {
    event_types_page(
        &signed,
        &query,
        EventTypeForm::default(),
        Errors::default(),
        StatusCode::OK,
    )
    .await
}

pub(crate) async fn create_event_type(signed: Signed, form: web::Form<EventTypeForm>) -> Page {
    check(&signed.live, &form.csrf, signed.require_admin())?;
    let form = form.into_inner();
    let new = (|| -> Result<NewEventType, Error> {
        Ok(NewEventType {
            name: EventTypeName::parse_field("name", form.name.trim())?,
            description: event_types::parse_description(form.description.trim())?,
            schemas: parse_schema(&form.schema)?,
            archived: false,
            deprecated: false,
            feature_flags: Vec::new(),
            group_name: None,
        })
    })();
    let created = match new {
        Ok(new) => event_types::create(&signed.ctx, signed.tenant(), new, &signed.live.actor()).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(t) => Ok(see_other(&format!("/ui/event-types/{}", t.name))),
        Err(e) => {
            let errors = Errors::from_error(e)?;
            event_types_page(
                &signed,
                &EventTypesQuery::default(),
                form,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

#[derive(Template)]
#[template(path = "event_type.html")]
struct EventTypePage {
    page: Chrome,
    editing: bool,
    link: String,
    archived: bool,
    example: String,
    form: EventTypeForm,
    errors: Errors,
}

async fn event_type_page(
    signed: &Signed,
    t: &event_type::Model,
    form: Option<EventTypeForm>,
    errors: Errors,
    status: StatusCode,
) -> Page {
    let schema = t
        .schemas
        .as_ref()
        .and_then(|s| s.get("1"))
        .and_then(|s| serde_json::to_string_pretty(s).ok())
        .unwrap_or_default();
    let example = event_types::example(t.schemas.as_ref(), 0)
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_default();
    html(
        status,
        &EventTypePage {
            page: Chrome::new(&signed.live, t.name.clone(), "event-types"),
            editing: true,
            link: format!("/ui/event-types/{}", t.name),
            archived: t.archived,
            example,
            form: form.unwrap_or(EventTypeForm {
                csrf: String::new(),
                name: t.name.clone(),
                description: t.description.clone(),
                schema,
            }),
            errors,
        },
    )
}

pub(crate) async fn event_type(signed: Signed, req: HttpRequest) -> Page {
    let t = event_types::find(&signed.ctx.db, signed.tenant(), param(&req, "name")).await?;
    event_type_page(&signed, &t, None, Errors::default(), StatusCode::OK).await
}

pub(crate) async fn edit_event_type(
    signed: Signed,
    req: HttpRequest,
    form: web::Form<EventTypeForm>,
) -> Page {
    check(&signed.live, &form.csrf, signed.require_admin())?;
    let t = event_types::find(&signed.ctx.db, signed.tenant(), param(&req, "name")).await?;
    let form = form.into_inner();
    let changes = (|| -> Result<EventTypeChanges, Error> {
        Ok(EventTypeChanges {
            description: Some(event_types::parse_description(form.description.trim())?),
            schemas: Some(parse_schema(&form.schema)?),
            ..EventTypeChanges::default()
        })
    })();
    let changed = match changes {
        Ok(changes) => {
            event_types::patch(
                &signed.ctx,
                signed.tenant(),
                &t.name,
                changes,
                &signed.live.actor(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match changed {
        Ok(t) => Ok(see_other(&format!("/ui/event-types/{}", t.name))),
        Err(e) => {
            let errors = Errors::from_error(e)?;
            let form = EventTypeForm {
                name: t.name.clone(),
                ..form
            };
            event_type_page(&signed, &t, Some(form), errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

pub(crate) async fn archive_event_type(signed: Signed, req: HttpRequest, form: web::Form<Csrf>) -> Page {
    check(&signed.live, &form.csrf, signed.require_admin())?;
    let t = event_types::find(&signed.ctx.db, signed.tenant(), param(&req, "name")).await?;
    if t.archived {
        let changes = EventTypeChanges {
            archived: Some(false),
            ..EventTypeChanges::default()
        };
        event_types::patch(
            &signed.ctx,
            signed.tenant(),
            &t.name,
            changes,
            &signed.live.actor(),
        )
        .await?;
    } else {
        event_types::delete(&signed.ctx, signed.tenant(), &t.name, false, &signed.live.actor()).await?;
    }
    Ok(see_other(&format!("/ui/event-types/{}", t.name)))
}

// ---------------------------------------------------------------- API tokens

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

pub(crate) async fn tokens(signed: Signed) -> Page {
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

pub(crate) async fn create_token(signed: Signed, form: web::Form<TokenForm>) -> Page {
    check(&signed.live, &form.csrf, signed.require_admin())?;
    let expires = match form.days.trim() {
        "" => Ok(None),
        days => TokenLifetime::parse_text(days).map(|d| Some(Utc::now() + d.duration())),
    };
    let issued = match expires {
        Ok(expires) => {
            token::create(
                &signed.ctx,
                &signed.ctx.db,
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

pub(crate) async fn revoke_token(signed: Signed, req: HttpRequest, form: web::Form<Csrf>) -> Page {
    check(&signed.live, &form.csrf, signed.require_admin())?;
    let id = ApiTokenId::parse(param(&req, "token")).map_err(|_| Error::NotFound("API token"))?;
    token::revoke(&signed.ctx, signed.tenant(), &id, &signed.live.actor()).await?;
    Ok(see_other("/ui/tokens"))
}

// ---------------------------------------------------------------- team

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

pub(crate) async fn team(signed: Signed, query: web::Query<TeamQuery>) -> Page {
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

fn parse_role(role: &str) -> Result<Role, Error> {
    match role {
        "admin" => Ok(Role::Admin),
        "viewer" => Ok(Role::Viewer),
        _ => Err(Error::invalid("role", "must be admin or viewer")),
    }
}

pub(crate) async fn add_user(signed: Signed, form: web::Form<UserForm>) -> Page {
    check(&signed.live, &form.csrf, signed.require_admin())?;
    let form = form.into_inner();
    let added = match (Email::parse(form.email.trim()), parse_role(&form.role)) {
        (Ok(email), Ok(role)) => {
            user::create(
                &signed.ctx.db,
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
    let changed = match parse_role(&form.role) {
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

// ---------------------------------------------------------------- audit log

pub(crate) struct AuditRow {
    pub(crate) when: When,
    pub(crate) who: String,
    pub(crate) action: String,
    pub(crate) target: String,
    pub(crate) details: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    page: Chrome,
    events: Vec<AuditRow>,
    pager: Pager,
}

#[derive(Deserialize)]
pub(crate) struct AuditQuery {
    iterator: Option<String>,
}

pub(crate) async fn audit_log(signed: Signed, query: web::Query<AuditQuery>) -> Page {
    let request = page_request(query.iterator.as_deref(), 50, |k| {
        domain::id::AuditEventId::parse(k).is_ok()
    })?;
    let found = audit::list(&signed.ctx.db, signed.tenant(), &request).await?;
    let pager = Pager::of(&found, "");
    let events = found
        .data
        .into_iter()
        .map(|e| AuditRow {
            when: When::of(e.created_at),
            who: format!("{} ({})", e.actor_label, e.actor_kind),
            action: e.action,
            target: match e.target_id {
                Some(id) => format!("{} {id}", e.target_kind),
                None => e.target_kind,
            },
            details: e.details.map(|d| d.to_string()).unwrap_or_default(),
        })
        .collect();
    html(
        StatusCode::OK,
        &AuditPage {
            page: Chrome::new(&signed.live, "Audit log", "audit"),
            events,
            pager,
        },
    )
}
