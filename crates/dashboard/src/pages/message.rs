//! One message: its payload, where it goes (and which filters kept it from where), every
//! attempt, and resending it to an endpoint.

use actix_web::{HttpRequest, http::StatusCode, web};
use askama::Template;
use domain::{
    Error,
    id::MessageId,
    pagination::PageRequest,
    service::{
        attempt::{self as attempts, AttemptFilter},
        message as messages,
    },
};
use serde::Deserialize;

use crate::{
    error::see_other,
    form::{Page, check, html, param},
    session::AppScope,
    view::{Chrome, When, attempt_status, destination_status},
};

pub(crate) struct DestinationRow {
    pub(crate) endpoint_id: String,
    pub(crate) url: String,
    pub(crate) link: String,
    pub(crate) status: &'static str,
    pub(crate) tries: i32,
}

pub(crate) struct MessageAttemptRow {
    pub(crate) when: When,
    pub(crate) status: &'static str,
    pub(crate) code: String,
    pub(crate) duration_ms: i64,
    pub(crate) url: String,
    pub(crate) response: String,
    pub(crate) reason: String,
    /// The exact request, when a transformation shaped it.
    pub(crate) request: Option<domain::entity::SentRequest>,
}

/// An endpoint whose filter kept a message from it.
pub(crate) struct FilteredRow {
    pub(crate) endpoint_id: String,
    pub(crate) link: String,
    pub(crate) reason: String,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    page: Chrome,
    base: String,
    app_name: String,
    id: String,
    event_type: String,
    event_id: String,
    channels: String,
    created: When,
    /// When it was scheduled for (`deliverAt`), if it was.
    scheduled: Option<When>,
    /// Pretty-printed; empty once retention erased it.
    payload: String,
    destinations: Vec<DestinationRow>,
    filtered: Vec<FilteredRow>,
    attempts: Vec<MessageAttemptRow>,
}

pub(crate) async fn show(scope: AppScope, req: HttpRequest) -> Page {
    let tenant = scope.tenant();
    let ctx = &scope.ctx;
    let wanted = param(&req, "msg");
    if MessageId::parse(wanted).is_err() {
        return Err(Error::NotFound("message").into());
    }
    let msg = messages::find(&ctx.db, tenant, &scope.app.id, wanted).await?;
    let payload = msg
        .payload
        .as_deref()
        .map(|p| {
            serde_json::from_str::<serde_json::Value>(p)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or_else(|| p.to_owned())
        })
        .unwrap_or_default();
    let all = PageRequest {
        limit: 100,
        ..PageRequest::default()
    };
    let destinations = attempts::destinations_of_message(&ctx.db, tenant, &msg, &all)
        .await?
        .data
        .into_iter()
        .map(|(d, ep)| DestinationRow {
            link: scope.endpoint_link(&ep),
            endpoint_id: ep.id.to_string(),
            url: ep.url,
            status: destination_status(d.status),
            tries: d.attempt_count,
        })
        .collect();
    let attempts = attempts::list_by_message(ctx, tenant, &msg, &all, &AttemptFilter::default())
        .await?
        .data
        .into_iter()
        .map(|a| MessageAttemptRow {
            when: When::of(a.created_at),
            status: attempt_status(a.status),
            code: a
                .response_status
                .map(|c| c.to_string())
                .unwrap_or_else(|| "—".into()),
            duration_ms: a.duration_ms,
            url: a.url,
            response: a.response_body.unwrap_or_default(),
            reason: a.error_reason.unwrap_or_default(),
            request: a.request,
        })
        .collect();
    let filtered = msg
        .filtered
        .clone()
        .map(|f| f.0)
        .unwrap_or_default()
        .into_iter()
        .map(|f| FilteredRow {
            link: format!("{}/endpoints/{}", scope.base, f.endpoint_id),
            endpoint_id: f.endpoint_id,
            reason: f.reason,
        })
        .collect();
    html(
        StatusCode::OK,
        &MessagePage {
            page: Chrome::new(&scope.live, format!("Message {}", msg.id), scope.section()),
            base: scope.base.clone(),
            app_name: scope.app.name.clone(),
            id: msg.id.to_string(),
            event_type: msg.event_type,
            event_id: msg.event_id.unwrap_or_default(),
            channels: msg.channels.map(|c| c.0.join(", ")).unwrap_or_default(),
            created: When::of(msg.created_at),
            scheduled: msg.deliver_at.map(When::of),
            payload,
            destinations,
            filtered,
            attempts,
        },
    )
}

#[derive(Deserialize)]
pub(crate) struct ResendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    endpoint: String,
}

pub(crate) async fn resend(scope: AppScope, req: HttpRequest, form: web::Form<ResendForm>) -> Page {
    check(&scope.live, &form.csrf, scope.require_write())?;
    let msg = param(&req, "msg");
    if MessageId::parse(msg).is_err() {
        return Err(Error::NotFound("message").into());
    }
    attempts::resend(
        &scope.ctx,
        scope.tenant(),
        &scope.app.id,
        msg,
        &form.endpoint,
        &scope.live.actor(),
    )
    .await?;
    Ok(see_other(&format!("{}/messages/{msg}", scope.base)))
}
