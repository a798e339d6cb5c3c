//! The overview: the tenant's last 24 hours of deliveries and the endpoints that need
//! attention.

use actix_web::http::StatusCode;
use askama::Template;
use chrono::Utc;
use domain::service::{attempt as attempts, endpoint_health};

use crate::{
    form::{Page, html},
    session::Signed,
    view::{Chart, Chrome, When},
};

pub(crate) struct TroubleRow {
    pub(crate) url: String,
    pub(crate) link: String,
    pub(crate) app: String,
    pub(crate) state: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    page: Chrome,
    succeeded: u64,
    failed: u64,
    rate: String,
    chart: Chart,
    troubled: Vec<TroubleRow>,
}

pub(crate) async fn overview(signed: Signed) -> Page {
    let tenant = signed.tenant().clone();
    let hours = attempts::hourly(&signed.ctx.db, &tenant, None, 24, Utc::now()).await?;
    let succeeded: u64 = hours.iter().map(|h| h.succeeded).sum();
    let failed: u64 = hours.iter().map(|h| h.failed).sum();
    let rate = match succeeded + failed {
        0 => "—".to_owned(),
        total => format!("{:.1} %", succeeded as f64 * 100.0 / total as f64),
    };
    let troubled = endpoint_health::troubled(&signed.ctx.db, &tenant, 10)
        .await?
        .into_iter()
        .map(|(ep, app)| TroubleRow {
            link: format!("/ui/apps/{}/endpoints/{}", app.id, ep.id),
            state: match (&ep.disabled, &ep.failing_since) {
                (true, _) => ep.disabled_reason.clone().unwrap_or_else(|| "disabled".into()),
                (false, Some(since)) => format!("failing since {}", When::of(*since).utc),
                (false, None) => String::new(),
            },
            url: ep.url,
            app: app.name,
        })
        .collect();
    html(
        StatusCode::OK,
        &OverviewPage {
            page: Chrome::new(&signed.live, "Overview", "overview"),
            succeeded,
            failed,
            rate,
            chart: Chart::of(&hours),
            troubled,
        },
    )
}
