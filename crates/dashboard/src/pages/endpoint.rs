//! One endpoint's page: its settings, statistics, signing secrets, custom headers and
//! delivery log, and the forms that change, test, recover or delete it.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, http::StatusCode, web};
use askama::Template;
use chrono::Utc;
use domain::{
    Error,
    entity::endpoint as endpoint_entity,
    id::AttemptId,
    pagination::PageRequest,
    service::{
        attempt as attempts,
        endpoint::{self as endpoints, EndpointChanges, EndpointSettings},
        endpoint_headers, endpoint_health, endpoint_secret, event_type, inspector, message as messages,
    },
    values::{CustomHeaders, EndpointUrl, EventTypeFilter, EventTypeName, Timeout},
};
use serde::Deserialize;

use super::{
    app::endpoint_state,
    inspector::tried_link,
    log::{LogQuery, LogRow},
};
use crate::{
    error::{PageError, see_other},
    form::{Csrf, Errors, Page, check, html, list_field, number, param},
    options::{DeliveryView, OptionsForm, OptionsView},
    paging::{Pager, page_request},
    session::AppScope,
    view::{Chart, Chrome, When},
};

/// The fields of an endpoint form: "Add endpoint" on the application's page (which sends
/// fewer of them) and the edit form on the endpoint's page.
#[derive(Deserialize)]
pub(crate) struct EndpointForm {
    #[serde(default)]
    pub(super) csrf: String,
    #[serde(default)]
    pub(super) url: String,
    #[serde(default)]
    pub(super) description: String,
    #[serde(default)]
    pub(super) event_types: String,
    #[serde(default)]
    channels: String,
    #[serde(default)]
    rate_limit: String,
    #[serde(default)]
    timeout: String,
    /// A checkbox: present means "on".
    disabled: Option<String>,
    #[serde(flatten)]
    pub(super) options: OptionsForm,
}

/// The endpoint the form describes. The form has no uid, retry schedule or metadata: an
/// endpoint it creates has none.
impl TryFrom<&EndpointForm> for EndpointSettings {
    type Error = Error;

    fn try_from(form: &EndpointForm) -> Result<Self, Error> {
        let rate_limit = number::<u16>("rate_limit", &form.rate_limit, RATE)?
            .map(|rate| match rate {
                0 => Err(Error::invalid("rate_limit", format!("must be {RATE}"))),
                rate => Ok(rate),
            })
            .transpose()?;
        Ok(Self {
            description: form.description.trim().to_owned(),
            disabled: form.disabled.is_some(),
            event_types: EventTypeFilter::parse(&list_field(&form.event_types))?,
            channels: endpoints::parse_channels(&list_field(&form.channels))?,
            rate_limit,
            timeout: Timeout::parse_text(&form.timeout)?,
            ..Self::at(EndpointUrl::parse_field("url", form.url.trim())?)
        })
    }
}

const RATE: &str = "a whole number of requests per second from 1 to 65535";

pub(crate) struct SecretRow {
    pub(crate) key: String,
    pub(crate) label: String,
}

#[derive(Template)]
#[template(path = "endpoint.html")]
struct EndpointPage {
    page: Chrome,
    base: String,
    app_name: String,
    link: String,
    ep: EndpointView,
    stats: endpoint_health::Stats,
    chart: Chart,
    secrets: Vec<SecretRow>,
    revealed: bool,
    event_type_options: Vec<String>,
    attempts: Vec<LogRow>,
    pager: Pager,
    filter: LogQuery,
    /// The endpoint form's delivery options (`endpoint_options.html`).
    opts: OptionsView,
    delivery: DeliveryView,
    notice: &'static str,
    errors: Errors,
    /// The endpoint's jq programs (empty when it has none).
    jq_filter: String,
    jq_transformation: String,
}

/// The endpoint's fields as the edit form shows them.
pub(crate) struct EndpointView {
    pub(crate) url: String,
    pub(crate) description: String,
    pub(crate) event_types: String,
    pub(crate) channels: String,
    pub(crate) rate_limit: String,
    pub(crate) timeout: String,
    pub(crate) disabled: bool,
    pub(crate) disabled_reason: String,
    pub(crate) state: String,
    pub(crate) headers: Vec<(String, String)>,
    /// The editable headers as `Name: value` lines (sensitive ones left out).
    pub(crate) headers_text: String,
    pub(crate) options: OptionsView,
    /// `pending`, `verified` or `failed` when the application requires verification;
    /// empty when it does not.
    pub(crate) verification: String,
    /// Why the last challenge did not verify it, and when the next goes out.
    pub(crate) verification_reason: String,
    pub(crate) verification_next: String,
}

impl EndpointView {
    fn of(ep: &endpoint_entity::Model) -> Self {
        Self {
            url: ep.url.clone(),
            description: ep.description.clone(),
            event_types: ep
                .filter_types
                .as_ref()
                .map(|t| t.0.join(", "))
                .unwrap_or_default(),
            channels: ep.channels.as_ref().map(|c| c.0.join(", ")).unwrap_or_default(),
            rate_limit: ep.rate_limit.map(|r| r.to_string()).unwrap_or_default(),
            timeout: ep.timeout_secs.map(|t| t.to_string()).unwrap_or_default(),
            disabled: ep.disabled,
            disabled_reason: ep.disabled_reason.clone().unwrap_or_default(),
            state: endpoint_state(ep),
            headers: ep
                .headers
                .0
                .iter()
                .map(|(k, v)| {
                    let shown = if CustomHeaders::is_sensitive(k) {
                        "••••••".to_owned()
                    } else {
                        v.clone()
                    };
                    (k.clone(), shown)
                })
                .collect(),
            headers_text: ep
                .headers
                .0
                .iter()
                .filter(|(k, _)| !CustomHeaders::is_sensitive(k))
                .map(|(k, v)| format!("{k}: {v}\n"))
                .collect(),
            options: OptionsView::of(Some(ep)),
            verification: ep.verification.map(|v| v.as_str().to_owned()).unwrap_or_default(),
            verification_reason: ep.verification_error.clone().unwrap_or_default(),
            verification_next: ep
                .verification_due_at
                .map(|at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default(),
        }
    }

    /// What the user typed, over the stored endpoint's other facts.
    fn from_form(ep: &endpoint_entity::Model, form: &EndpointForm) -> Self {
        Self {
            url: form.url.clone(),
            description: form.description.clone(),
            event_types: form.event_types.clone(),
            channels: form.channels.clone(),
            rate_limit: form.rate_limit.clone(),
            timeout: form.timeout.clone(),
            disabled: form.disabled.is_some(),
            options: OptionsView::from_form(Some(ep), &form.options),
            ..Self::of(ep)
        }
    }
}

async fn endpoint_page(
    scope: &AppScope,
    ep: &endpoint_entity::Model,
    query: LogQuery,
    form: Option<EndpointView>,
    errors: Errors,
    status: StatusCode,
) -> Page {
    let tenant = scope.tenant();
    let ctx = &scope.ctx;
    let stats = endpoint_health::stats(&ctx.db, tenant, ep, None, None).await?;
    let hours = attempts::hourly(&ctx.db, tenant, Some(&ep.id), 24, Utc::now()).await?;
    let revealed = query.reveal.is_some();
    let secrets = if revealed {
        // A key lets its holder sign as Herald: viewers and read-only links may not see it,
        // and every look is on the record.
        scope.require_write()?;
        endpoint_secret::reveal(ctx, tenant, ep, &scope.live.actor())
            .await?
            .into_iter()
            .map(|key| SecretRow {
                key: key.secret.to_whsec(),
                label: match key.expires_at {
                    None => "current".to_owned(),
                    Some(at) => format!("previous, signs until {}", When::of(at).utc),
                },
            })
            .collect()
    } else {
        Vec::new()
    };
    let (log, pager, errors) = match query.filter() {
        Ok(filter) => {
            let request = page_request(query.iterator.as_deref(), 25, |k| AttemptId::parse(k).is_ok())?;
            let page = attempts::list_by_endpoint(ctx, tenant, ep, &request, &filter).await?;
            let pager = Pager::of(&page, &query.as_query());
            (page.data, pager, errors)
        }
        Err(e) => (
            Vec::new(),
            Pager {
                next: String::new(),
                prev: String::new(),
            },
            Errors::from_error(e)?,
        ),
    };
    let attempts = log
        .into_iter()
        .map(|a| LogRow::attempt(&scope.base, a, String::new()))
        .collect();
    let mut options: Vec<String> = event_type::list(
        &ctx.db,
        tenant,
        &PageRequest {
            limit: 100,
            ..PageRequest::default()
        },
        false,
    )
    .await?
    .data
    .into_iter()
    .map(|t| t.name)
    .collect();
    options.insert(0, "herald.test".into());
    let delivery = DeliveryView::of(scope, ep).await?;
    let notice = match query.released.as_deref() {
        Some("1") => "The line was released: the next message goes now.",
        Some(_) => "The line was not stopped; there was nothing to release.",
        None => "",
    };
    let mut view = form.unwrap_or_else(|| EndpointView::of(ep));
    let opts = std::mem::take(&mut view.options);
    html(
        status,
        &EndpointPage {
            page: Chrome::new(&scope.live, ep.url.clone(), scope.section()),
            base: scope.base.clone(),
            app_name: scope.app.name.clone(),
            link: scope.endpoint_link(ep),
            ep: view,
            stats,
            chart: Chart::of(&hours),
            secrets,
            revealed,
            event_type_options: options,
            attempts,
            pager,
            filter: query,
            opts,
            delivery,
            notice,
            errors,
            jq_filter: ep.filter.clone().unwrap_or_default(),
            jq_transformation: ep.transformation.clone().unwrap_or_default(),
        },
    )
}

/// Answers an endpoint form: on to `outcome`'s page after the change, or the endpoint page
/// again with the reason beside its field (and `typed`, what the user typed, kept).
async fn endpoint_answer(
    scope: &AppScope,
    ep: &endpoint_entity::Model,
    outcome: Result<String, Error>,
    typed: Option<EndpointView>,
) -> Page {
    match outcome {
        Ok(next) => Ok(see_other(&next)),
        Err(e) => {
            let errors = Errors::from_error(e)?;
            endpoint_page(
                scope,
                ep,
                LogQuery::default(),
                typed,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

pub(crate) async fn find_endpoint(
    scope: &AppScope,
    req: &HttpRequest,
) -> Result<endpoint_entity::Model, PageError> {
    Ok(endpoints::find(&scope.ctx.db, scope.tenant(), &scope.app.id, param(req, "ep")).await?)
}

pub(crate) async fn show(scope: AppScope, req: HttpRequest, query: web::Query<LogQuery>) -> Page {
    let ep = find_endpoint(&scope, &req).await?;
    endpoint_page(
        &scope,
        &ep,
        query.into_inner(),
        None,
        Errors::default(),
        StatusCode::OK,
    )
    .await
}

pub(crate) async fn edit(scope: AppScope, req: HttpRequest, form: web::Form<EndpointForm>) -> Page {
    check(&scope.live, &form.csrf, scope.require_write())?;
    let ep = find_endpoint(&scope, &req).await?;
    let form = form.into_inner();
    let changes = (|| -> Result<EndpointChanges, Error> {
        let options = form.options.for_edit(&ep)?;
        let settings = EndpointSettings::try_from(&form)?;
        // The form has no uid, retry schedule or metadata: those stay as they are.
        Ok(EndpointChanges {
            uid: None,
            retry_schedule: None,
            metadata: None,
            ..EndpointChanges::replacing(settings, options)
        })
    })();
    let changed = match changes {
        Ok(changes) => {
            endpoints::patch(
                &scope.ctx,
                scope.tenant(),
                scope.app.id.as_str(),
                ep.id.as_str(),
                changes,
                &scope.live.actor(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    let typed = EndpointView::from_form(&ep, &form);
    endpoint_answer(
        &scope,
        &ep,
        changed.map(|_| scope.endpoint_link(&ep)),
        Some(typed),
    )
    .await
}

pub(crate) async fn delete(scope: AppScope, req: HttpRequest, form: web::Form<Csrf>) -> Page {
    check(&scope.live, &form.csrf, scope.require_write())?;
    let ep = find_endpoint(&scope, &req).await?;
    endpoints::delete(
        &scope.ctx,
        scope.tenant(),
        scope.app.id.as_str(),
        ep.id.as_str(),
        &scope.live.actor(),
    )
    .await?;
    Ok(see_other(&scope.base))
}

pub(crate) async fn rotate_secret(scope: AppScope, req: HttpRequest, form: web::Form<Csrf>) -> Page {
    check(&scope.live, &form.csrf, scope.require_write())?;
    let ep = find_endpoint(&scope, &req).await?;
    endpoint_secret::rotate_secret(
        &scope.ctx,
        scope.tenant(),
        scope.app.id.as_str(),
        ep.id.as_str(),
        None,
        None,
        &scope.live.actor(),
    )
    .await?;
    Ok(see_other(&format!(
        "{}/endpoints/{}?reveal=1#secret",
        scope.base, ep.id
    )))
}

/// "Verify again": a new challenge now, its tries from the start (dashboard and portal).
pub(crate) async fn restart_verification(scope: AppScope, req: HttpRequest, form: web::Form<Csrf>) -> Page {
    check(&scope.live, &form.csrf, scope.require_write())?;
    let ep = find_endpoint(&scope, &req).await?;
    domain::service::verification::restart(
        &scope.ctx,
        scope.tenant(),
        scope.app.id.as_str(),
        ep.id.as_str(),
        &scope.live.actor(),
    )
    .await?;
    Ok(see_other(&format!(
        "{}/endpoints/{}#verification",
        scope.base, ep.id
    )))
}

#[derive(Deserialize)]
pub(crate) struct TestForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    event_type: String,
    /// The button pressed: `inbox` sends to a new inspector inbox instead.
    #[serde(default)]
    to: String,
}

/// Sends a test event to this endpoint, or, with "to a new inbox", makes an inbox and an
/// endpoint beside this one that delivers to it (same event types and channels) and sends
/// the test event there. Inboxes are the tenant's: not for the portal.
pub(crate) async fn send_test(scope: AppScope, req: HttpRequest, form: web::Form<TestForm>) -> Page {
    if form.to == "inbox" && scope.portal {
        return Err(Error::NotFound("page").into());
    }
    check(&scope.live, &form.csrf, scope.require_write())?;
    let ep = find_endpoint(&scope, &req).await?;
    if form.to == "inbox" {
        let tried = inspector::to_new_inbox(
            &scope.ctx,
            scope.tenant(),
            scope.app.id.as_str(),
            Some(ep.id.as_str()),
            &form.event_type,
            &scope.live.actor(),
        )
        .await;
        return endpoint_answer(&scope, &ep, tried.map(|t| tried_link(&t)), None).await;
    }
    let sent = match EventTypeName::parse_field("event_type", form.event_type.trim()) {
        Ok(event_type) => {
            messages::send_test(&scope.ctx, scope.tenant(), &ep, event_type, &scope.live.actor()).await
        }
        Err(e) => Err(e),
    };
    let next = sent.map(|msg| format!("{}/messages/{}", scope.base, msg.id));
    endpoint_answer(&scope, &ep, next, None).await
}

#[derive(Deserialize)]
pub(crate) struct RecoverForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    since: String,
}

pub(crate) async fn recover(scope: AppScope, req: HttpRequest, form: web::Form<RecoverForm>) -> Page {
    check(&scope.live, &form.csrf, scope.require_write())?;
    let ep = find_endpoint(&scope, &req).await?;
    let since = match LogQuery::day("recover_since", &form.since) {
        Ok(Some(since)) => Ok(since),
        Ok(None) => Err(Error::invalid("recover_since", "pick the day to recover from")),
        Err(e) => Err(e),
    };
    let done = match since {
        Ok(since) => attempts::recover(
            &scope.ctx,
            scope.tenant(),
            &scope.app.id,
            ep.id.as_str(),
            since,
            None,
            &scope.live.actor(),
        )
        .await
        .map(|_| ()),
        Err(e) => Err(e),
    };
    endpoint_answer(&scope, &ep, done.map(|()| scope.endpoint_link(&ep)), None).await
}

#[derive(Deserialize)]
pub(crate) struct HeadersForm {
    #[serde(default)]
    csrf: String,
    /// One `Name: value` per line.
    #[serde(default)]
    headers: String,
}

/// Sets the endpoint's custom headers from the lines of the form.
pub(crate) async fn edit_headers(scope: AppScope, req: HttpRequest, form: web::Form<HeadersForm>) -> Page {
    check(&scope.live, &form.csrf, scope.require_write())?;
    let ep = find_endpoint(&scope, &req).await?;
    // Headers the form no longer lists go, except sensitive ones, which the form never
    // shows: those stay unless a line names them (`Authorization:` alone removes it).
    let mut headers: BTreeMap<String, Option<String>> = ep
        .headers
        .0
        .keys()
        .filter(|name| !CustomHeaders::is_sensitive(name))
        .map(|name| (name.clone(), None))
        .collect();
    let mut parsed = Ok(());
    for (n, line) in form.headers.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) => {
                let value = Some(value.trim().to_owned()).filter(|v| !v.is_empty());
                headers.insert(name.trim().to_owned(), value);
            }
            None => {
                parsed = Err(Error::invalid(
                    "headers",
                    format!("line {} is not `Name: value`", n + 1),
                ));
                break;
            }
        }
    }
    let changed = match parsed {
        Ok(()) => {
            endpoint_headers::set_headers(
                &scope.ctx,
                scope.tenant(),
                scope.app.id.as_str(),
                ep.id.as_str(),
                headers,
                false,
                &scope.live.actor(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    endpoint_answer(&scope, &ep, changed.map(|_| scope.endpoint_link(&ep)), None).await
}
