//! Inspector inboxes: the tenant's list with the form that makes one, an inbox's page (its
//! URL, how it answers, the requests it recorded, newest first) and "to a new inbox", the
//! first try that makes an inbox with an endpoint delivering to it. One request in full,
//! with its signature verdict, is in `inspector/request.rs`; the script's text form in
//! `inspector/script.rs`.

mod request;
mod script;

use actix_web::{HttpRequest, http::StatusCode, web};
use askama::Template;
use domain::{
    Error,
    id::{InboxId, InboxRequestId},
    service::inspector::{self, Inbox, InboxChanges, NewInbox, Response, Trial},
};
use serde::Deserialize;

pub(crate) use self::request::{capture, show as request, verify};
use self::script::{script_of, script_text};
use super::app::{NewEndpointView, app_page};
use crate::{
    error::{PageError, see_other},
    form::{Csrf, Errors, Page, check, html, number, param},
    paging::{Pager, page_request},
    session::{AppScope, Signed},
    view::{Chrome, When},
};

/// The lifetimes the create form offers, in seconds, with their words.
const EXPIRIES: [(i64, &str); 7] = [
    (3600, "1 hour"),
    (6 * 3600, "6 hours"),
    (86_400, "1 day"),
    (3 * 86_400, "3 days"),
    (7 * 86_400, "7 days"),
    (14 * 86_400, "14 days"),
    (30 * 86_400, "30 days"),
];

/// The form fields each reason belongs beside. The services name fields as the REST API
/// does; anything else is the general error's, as on every form.
fn errors_of(e: Error) -> Result<Errors, PageError> {
    if let Error::Invalid { field, reason } = &e {
        let form_field = match field.as_ref() {
            "name" => Some("name"),
            "expiresInSeconds" | "expiry" => Some("expiry"),
            "response.status" | "status" => Some("status"),
            "response.body" | "body" => Some("body"),
            "response.delayMs" | "delay" => Some("delay"),
            f if f.starts_with("script") => Some("script"),
            "endpoint" | "secret" => Some("key"),
            _ => None,
        };
        if let Some(form_field) = form_field {
            let mut errors = Errors::default();
            errors.set(form_field, reason.to_string());
            return Ok(errors);
        }
    }
    Errors::from_error(e)
}

/// An inbox's response from its form's text fields.
fn response_of(status: &str, body: &str, delay: &str) -> Result<Response, Error> {
    let status = number::<u16>("status", status, "a status from 200 to 599")?.unwrap_or(200);
    let delay = number::<u32>("delay", delay, "a whole number of milliseconds")?;
    Response::parse(status, Some(body.to_owned()), delay)
}

/// A first page has nothing newer: its way back (an iterator every page carries) goes.
fn first_page(pager: Pager, first: bool) -> Pager {
    if first {
        Pager {
            prev: String::new(),
            ..pager
        }
    } else {
        pager
    }
}

fn inbox_link(inbox: &Inbox) -> String {
    format!("/ui/inspector/{}", inbox.model.id)
}

pub(crate) struct InboxRow {
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) link: String,
    pub(crate) url: String,
    pub(crate) created: When,
    pub(crate) expires: When,
}

/// The create form's fields: the defaults, or as typed when they were refused.
pub(crate) struct NewInboxView {
    pub(crate) name: String,
    pub(crate) expiry: String,
    pub(crate) status: String,
    pub(crate) body: String,
    pub(crate) delay: String,
}

impl Default for NewInboxView {
    fn default() -> Self {
        Self {
            name: String::new(),
            expiry: inspector::DEFAULT_EXPIRY.num_seconds().to_string(),
            status: "200".into(),
            body: String::new(),
            delay: String::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "inspector.html")]
struct ListPage {
    page: Chrome,
    inboxes: Vec<InboxRow>,
    pager: Pager,
    new: NewInboxView,
    expiries: Vec<(String, &'static str)>,
    errors: Errors,
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    iterator: Option<String>,
}

async fn list_page(
    signed: &Signed,
    iterator: Option<&str>,
    new: NewInboxView,
    errors: Errors,
    status: StatusCode,
) -> Page {
    let request = page_request(iterator, 25, |k| InboxId::parse(k).is_ok())?;
    let found = inspector::list(&signed.ctx, signed.tenant(), &request).await?;
    let pager = first_page(Pager::of(&found, ""), iterator.is_none());
    let inboxes = found
        .data
        .iter()
        .map(|inbox| InboxRow {
            name: inbox.model.name.clone(),
            id: inbox.model.id.to_string(),
            link: inbox_link(inbox),
            url: inbox.url(&signed.ctx),
            created: When::of(inbox.model.created_at),
            expires: When::of(inbox.model.expires_at),
        })
        .collect();
    html(
        status,
        &ListPage {
            page: Chrome::new(&signed.live, "Inspector", "inspector"),
            inboxes,
            pager,
            new,
            expiries: EXPIRIES
                .iter()
                .map(|(s, words)| (s.to_string(), *words))
                .collect(),
            errors,
        },
    )
}

pub(crate) async fn list(signed: Signed, query: web::Query<ListQuery>) -> Page {
    list_page(
        &signed,
        query.iterator.as_deref(),
        NewInboxView::default(),
        Errors::default(),
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct InboxForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    /// Seconds, one of [`EXPIRIES`] as the form offers them (any in the bounds is taken).
    #[serde(default)]
    expiry: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    body: String,
    /// Milliseconds.
    #[serde(default)]
    delay: String,
}

impl TryFrom<&InboxForm> for NewInbox {
    type Error = Error;

    fn try_from(form: &InboxForm) -> Result<Self, Error> {
        let expires_in = match number::<i64>("expiry", &form.expiry, "a number of seconds")? {
            None => inspector::DEFAULT_EXPIRY,
            Some(seconds) => inspector::parse_expiry(seconds)?,
        };
        Ok(Self {
            name: inspector::parse_name(form.name.trim().to_owned())?,
            response: response_of(&form.status, &form.body, &form.delay)?,
            script: None,
            expires_in,
        })
    }
}

pub(crate) async fn create(signed: Signed, form: web::Form<InboxForm>) -> Page {
    check(&signed.live, &form.csrf, signed.require_admin())?;
    let created = match NewInbox::try_from(&*form) {
        Ok(new) => inspector::create(&signed.ctx, signed.tenant(), new).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(inbox) => Ok(see_other(&inbox_link(&inbox))),
        Err(e) => {
            let form = form.into_inner();
            list_page(
                &signed,
                None,
                NewInboxView {
                    name: form.name,
                    expiry: form.expiry,
                    status: form.status,
                    body: form.body,
                    delay: form.delay,
                },
                errors_of(e)?,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

pub(crate) struct RequestRow {
    pub(crate) link: String,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) when: When,
    pub(crate) content_type: String,
    pub(crate) size: String,
    pub(crate) truncated: bool,
}

/// A number of bytes for people.
pub(crate) fn size(bytes: usize) -> String {
    match bytes {
        n if n < 1024 => format!("{n} B"),
        n if n < 1024 * 1024 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0)),
    }
}

/// How the inbox answers, as its form shows it.
pub(crate) struct ResponseView {
    pub(crate) status: String,
    pub(crate) body: String,
    pub(crate) delay: String,
    pub(crate) script: String,
}

impl ResponseView {
    fn of(inbox: &Inbox) -> Self {
        let m = &inbox.model;
        Self {
            status: m.response_status.to_string(),
            body: m.response_body.clone(),
            delay: m.response_delay_ms.to_string(),
            script: script_text(m.script.as_ref()),
        }
    }
}

/// An endpoint that delivers to the inbox, with its page.
pub(crate) struct Feeder {
    pub(crate) id: String,
    pub(crate) link: String,
    pub(crate) description: String,
    pub(crate) just_made: bool,
}

#[derive(Template)]
#[template(path = "inspector_inbox.html")]
struct InboxPage {
    page: Chrome,
    name: String,
    link: String,
    url: String,
    created: When,
    expires: When,
    response: ResponseView,
    /// "2 of 3 steps answered", or "" without a script.
    script_position: String,
    feeders: Vec<Feeder>,
    /// The endpoint a first try just made, when this page follows one.
    tried: Option<Feeder>,
    requests: Vec<RequestRow>,
    pager: Pager,
    /// The first page of requests, which a script keeps fresh.
    first_page: bool,
    errors: Errors,
}

#[derive(Deserialize, Default)]
pub(crate) struct InboxQuery {
    iterator: Option<String>,
    /// The endpoint a first try made (`to_new_inbox`).
    tried: Option<String>,
}

async fn find_inbox(signed: &Signed, req: &HttpRequest) -> Result<Inbox, PageError> {
    Ok(inspector::get(&signed.ctx, signed.tenant(), param(req, "inbox")).await?)
}

async fn inbox_page(
    signed: &Signed,
    inbox: &Inbox,
    query: &InboxQuery,
    typed: Option<ResponseView>,
    errors: Errors,
    status: StatusCode,
) -> Page {
    let ctx = &signed.ctx;
    let tenant = signed.tenant();
    let link = inbox_link(inbox);
    let request = page_request(query.iterator.as_deref(), 25, |k| {
        InboxRequestId::parse(k).is_ok()
    })?;
    let found = inspector::requests(ctx, tenant, inbox.model.id.as_str(), &request).await?;
    let pager = first_page(Pager::of(&found, ""), query.iterator.is_none());
    let requests = found
        .data
        .into_iter()
        .map(|r| RequestRow {
            link: format!("{link}/request/{}", r.id),
            path: if r.query.is_empty() {
                format!("/{}", r.path.trim_start_matches('/'))
            } else {
                format!("/{}?{}", r.path.trim_start_matches('/'), r.query)
            },
            method: r.method,
            when: When::of(r.received_at),
            content_type: r.content_type.unwrap_or_default(),
            size: size(r.body.len()),
            truncated: r.truncated,
        })
        .collect();
    let feeders: Vec<Feeder> = inspector::endpoints_for(ctx, tenant, &inbox.url(ctx))
        .await?
        .into_iter()
        .filter(|ep| inspector::delivers_to_inbox(ctx, ep, inbox))
        .map(|ep| Feeder {
            just_made: query.tried.as_deref() == Some(ep.id.as_str()),
            link: format!("/ui/apps/{}/endpoints/{}", ep.app_id, ep.id),
            id: ep.id.to_string(),
            description: ep.description,
        })
        .collect();
    let tried = feeders.iter().find(|f| f.just_made).map(|f| Feeder {
        id: f.id.clone(),
        link: f.link.clone(),
        description: f.description.clone(),
        just_made: true,
    });
    let m = &inbox.model;
    let script_position = m
        .script
        .as_ref()
        .map(|s| {
            let answered = usize::try_from(m.script_cursor).unwrap_or(0).min(s.0.len());
            format!("{answered} of {} steps answered", s.0.len())
        })
        .unwrap_or_default();
    html(
        status,
        &InboxPage {
            page: Chrome::new(&signed.live, m.name.clone(), "inspector"),
            name: m.name.clone(),
            url: inbox.url(ctx),
            created: When::of(m.created_at),
            expires: When::of(m.expires_at),
            response: typed.unwrap_or_else(|| ResponseView::of(inbox)),
            script_position,
            feeders,
            tried,
            requests,
            first_page: query.iterator.is_none(),
            pager,
            link,
            errors,
        },
    )
}

pub(crate) async fn show(signed: Signed, req: HttpRequest, query: web::Query<InboxQuery>) -> Page {
    let inbox = find_inbox(&signed, &req).await?;
    inbox_page(&signed, &inbox, &query, None, Errors::default(), StatusCode::OK).await
}

#[derive(Deserialize)]
pub(crate) struct ResponseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    delay: String,
    /// One step per line; blank removes the script.
    #[serde(default)]
    script: String,
}

/// Sets how the inbox answers; a script given starts again from its first step.
pub(crate) async fn answer(signed: Signed, req: HttpRequest, form: web::Form<ResponseForm>) -> Page {
    check(&signed.live, &form.csrf, signed.require_admin())?;
    let inbox = find_inbox(&signed, &req).await?;
    let changes = (|| -> Result<InboxChanges, Error> {
        Ok(InboxChanges {
            name: None,
            response: Some(response_of(&form.status, &form.body, &form.delay)?),
            script: Some(script_of(&form.script)?),
        })
    })();
    let changed = match changes {
        Ok(changes) => inspector::update(&signed.ctx, signed.tenant(), inbox.model.id.as_str(), changes)
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    match changed {
        Ok(()) => Ok(see_other(&inbox_link(&inbox))),
        Err(e) => {
            let form = form.into_inner();
            let typed = ResponseView {
                status: form.status,
                body: form.body,
                delay: form.delay,
                script: form.script,
            };
            inbox_page(
                &signed,
                &inbox,
                &InboxQuery::default(),
                Some(typed),
                errors_of(e)?,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

pub(crate) async fn delete(signed: Signed, req: HttpRequest, form: web::Form<Csrf>) -> Page {
    check(&signed.live, &form.csrf, signed.require_admin())?;
    inspector::delete(&signed.ctx, signed.tenant(), param(&req, "inbox")).await?;
    Ok(see_other("/ui/inspector"))
}

/// Where a first try goes on to: the new inbox, saying which endpoint delivers to it.
pub(crate) fn tried_link(trial: &Trial) -> String {
    format!("{}?tried={}", inbox_link(&trial.inbox), trial.endpoint.id)
}

/// "No receiver yet?" on an application's page: an endpoint of it that delivers to a new
/// inbox, subscribed to everything, and a test event sent there. Inboxes are the
/// tenant's: the portal has no such button, and a portal session that posts anyway finds
/// nothing here.
pub(crate) async fn trial_for_app(scope: AppScope, form: web::Form<Csrf>) -> Page {
    if scope.portal {
        return Err(Error::NotFound("page").into());
    }
    check(&scope.live, &form.csrf, scope.require_write())?;
    let tried = inspector::to_new_inbox(
        &scope.ctx,
        scope.tenant(),
        scope.app.id.as_str(),
        None,
        "herald.test",
        &scope.live.actor(),
    )
    .await;
    match tried {
        Ok(trial) => Ok(see_other(&tried_link(&trial))),
        Err(e) => {
            app_page(
                &scope,
                String::new(),
                NewEndpointView::default(),
                Errors::from_error(e)?,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(size(12), "12 B");
        assert_eq!(size(2048), "2.0 KiB");
        assert_eq!(size(3 * 1024 * 1024), "3.0 MiB");
    }
}
