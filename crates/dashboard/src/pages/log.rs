//! The delivery log of an application (and its filters, which an endpoint's page shares):
//! attempts newest first, or the deliveries still pending.

use actix_web::{http::StatusCode, web};
use askama::Template;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use domain::{
    Error,
    entity::attempt,
    id::{AttemptId, DestinationId, EndpointId},
    pagination::PageRequest,
    service::{
        attempt::{self as attempts, AttemptFilter},
        endpoint as endpoints,
    },
    values::EventTypeName,
};
use serde::Deserialize;

use crate::{
    form::{Errors, Page, html},
    paging::{Pager, page_request, query_value},
    session::AppScope,
    view::{Chrome, When, attempt_status, destination_status},
};

/// The delivery log's filters, as query parameters.
#[derive(Deserialize, Default, Clone)]
pub(crate) struct LogQuery {
    /// `succeeded` or `failed`; anything else shows both.
    #[serde(default)]
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) event_type: String,
    /// `YYYY-MM-DD`, UTC, inclusive.
    #[serde(default)]
    pub(crate) since: String,
    #[serde(default)]
    pub(crate) until: String,
    /// The application-wide log only: one endpoint's id.
    #[serde(default)]
    pub(crate) endpoint: String,
    pub(crate) iterator: Option<String>,
    #[serde(default)]
    pub(crate) reveal: Option<String>,
    /// The endpoint page after "Release the line": `1` if it was stopped.
    #[serde(default)]
    pub(crate) released: Option<String>,
}

impl LogQuery {
    pub(super) fn day(field: &'static str, value: &str) -> Result<Option<DateTime<Utc>>, Error> {
        match value.trim() {
            "" => Ok(None),
            // Four-digit years only: the day after the last date chrono knows has no time.
            v => NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .ok()
                .filter(|d| (1..=9999).contains(&d.year()))
                .map(|d| Some(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()))
                .ok_or_else(|| Error::invalid(field, "must be a date like 2026-11-23")),
        }
    }

    pub(super) fn filter(&self) -> Result<AttemptFilter, Error> {
        Ok(AttemptFilter {
            status: match self.status.as_str() {
                "succeeded" => Some(attempt::Status::Success),
                "failed" => Some(attempt::Status::Fail),
                _ => None,
            },
            event_types: match self.event_type.trim() {
                "" => Vec::new(),
                t => vec![EventTypeName::parse_field("event_type", t)?],
            },
            after: Self::day("since", &self.since)?,
            before: Self::day("until", &self.until)?.map(|d| d + chrono::Duration::days(1)),
            endpoint: match self.endpoint.trim() {
                "" => None,
                id => Some(
                    EndpointId::parse(id)
                        .map_err(|_| Error::invalid("endpoint", "is not an endpoint of this application"))?,
                ),
            },
            ..AttemptFilter::default()
        })
    }

    pub(super) fn as_query(&self) -> String {
        format!(
            "status={}&event_type={}&since={}&until={}&endpoint={}&",
            query_value(&self.status),
            query_value(&self.event_type),
            query_value(&self.since),
            query_value(&self.until),
            query_value(&self.endpoint)
        )
    }

    fn is_filtered(&self) -> bool {
        [
            &self.status,
            &self.event_type,
            &self.since,
            &self.until,
            &self.endpoint,
        ]
        .iter()
        .any(|v| !v.trim().is_empty())
    }
}

pub(crate) struct LogRow {
    pub(crate) when: When,
    pub(crate) status: &'static str,
    pub(crate) code: String,
    pub(crate) duration: String,
    pub(crate) endpoint: String,
    pub(crate) message_link: String,
    pub(crate) message_id: String,
    pub(crate) reason: String,
}

impl LogRow {
    /// An attempt as a row of a log; `endpoint` is its URL where the log shows it.
    pub(super) fn attempt(base: &str, a: attempt::Model, endpoint: String) -> Self {
        Self {
            when: When::of(a.created_at),
            status: attempt_status(a.status),
            code: a
                .response_status
                .map(|c| c.to_string())
                .unwrap_or_else(|| "—".into()),
            duration: format!("{} ms", a.duration_ms),
            endpoint,
            message_link: format!("{base}/messages/{}", a.message_id),
            message_id: a.message_id.to_string(),
            reason: a.error_reason.unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "log.html")]
struct LogPage {
    page: Chrome,
    base: String,
    app_name: String,
    rows: Vec<LogRow>,
    endpoints: Vec<(String, String)>,
    pager: Pager,
    filter: LogQuery,
    filtered: bool,
    errors: Errors,
}

/// Attempts across the application, newest first, filtered by status (`pending` lists
/// deliveries still waiting), event type, endpoint and days; links to pages are stable.
pub(crate) async fn list(scope: AppScope, query: web::Query<LogQuery>) -> Page {
    let query = query.into_inner();
    let tenant = scope.tenant();
    let ctx = &scope.ctx;
    let eps = endpoints::list(
        &ctx.db,
        tenant,
        &scope.app.id,
        &PageRequest {
            limit: 250,
            ..PageRequest::default()
        },
    )
    .await?;
    let url_of = |id: &EndpointId| {
        eps.data
            .iter()
            .find(|e| &e.id == id)
            .map(|e| e.url.clone())
            .unwrap_or_default()
    };
    let mut errors = Errors::default();
    let (rows, pager) = match (query.status.as_str(), query.filter()) {
        (_, Err(e)) => {
            errors = Errors::from_error(e)?;
            (
                Vec::new(),
                Pager {
                    next: String::new(),
                    prev: String::new(),
                },
            )
        }
        ("pending", Ok(filter)) => {
            let request = page_request(query.iterator.as_deref(), 25, |k| DestinationId::parse(k).is_ok())?;
            let page =
                attempts::pending_of_app(&ctx.db, tenant, &scope.app.id, filter.endpoint.as_ref(), &request)
                    .await?;
            let pager = Pager::of(&page, &query.as_query());
            let rows = page
                .data
                .into_iter()
                .map(|d| LogRow {
                    when: When::of(d.next_try_at().unwrap_or(d.created_at)),
                    status: destination_status(d.status),
                    code: "—".into(),
                    duration: format!("{} tries so far", d.attempt_count),
                    endpoint: url_of(&d.endpoint_id),
                    message_link: format!("{}/messages/{}", scope.base, d.message_id),
                    message_id: d.message_id.to_string(),
                    reason: String::new(),
                })
                .collect();
            (rows, pager)
        }
        (_, Ok(filter)) => {
            let request = page_request(query.iterator.as_deref(), 25, |k| AttemptId::parse(k).is_ok())?;
            let page = attempts::list_by_app(ctx, tenant, &scope.app.id, &request, &filter).await?;
            let pager = Pager::of(&page, &query.as_query());
            let rows = page
                .data
                .into_iter()
                .map(|a| {
                    let endpoint = url_of(&a.endpoint_id);
                    LogRow::attempt(&scope.base, a, endpoint)
                })
                .collect();
            (rows, pager)
        }
    };
    html(
        StatusCode::OK,
        &LogPage {
            page: Chrome::new(
                &scope.live,
                format!("Delivery log of {}", scope.app.name),
                scope.section(),
            ),
            base: scope.base.clone(),
            app_name: scope.app.name.clone(),
            rows,
            endpoints: eps.data.into_iter().map(|e| (e.id.to_string(), e.url)).collect(),
            pager,
            filtered: query.is_filtered(),
            filter: query,
            errors,
        },
    )
}
