//! The audit log: who changed what in the tenant, newest first.

use actix_web::{http::StatusCode, web};
use askama::Template;
use domain::service::audit;
use serde::Deserialize;

use crate::{
    form::{Page, html},
    paging::{Pager, page_request},
    session::Signed,
    view::{Chrome, When},
};

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

pub(crate) async fn list(signed: Signed, query: web::Query<AuditQuery>) -> Page {
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
