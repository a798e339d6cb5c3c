//! The pages: overview, applications, one application, its endpoints and messages.
//! Handlers read with the session's tenant (and, in the portal, its one application),
//! change things only after [`check`] (CSRF, then role), and answer a form post with a
//! 303 to the page that shows the result. Bad input re-renders the page with the reason
//! beside the field and the input kept.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use domain::{
    Error,
    entity::{application, endpoint as endpoint_entity},
    id::{AttemptId, DestinationId, EndpointId, MessageId},
    pagination::{Order, PageRequest, Paged},
    service::{
        application::{self as apps_service, NewApplication},
        attempt::{self as attempts, AttemptFilter},
        endpoint::{self as endpoints, EndpointChanges, NewEndpoint},
        message as messages, portal, session as sessions,
    },
    values::{EndpointUrl, EventTypeName, Uid},
};
use serde::Deserialize;

use crate::{
    error::{PageError, see_other},
    options::{DeliveryView, OptionsForm, OptionsView},
    session::{self, AppScope, PORTAL_COOKIE, Signed},
    view::{Chart, Chrome, When, attempt_status, destination_status},
};

pub(crate) type Page = Result<HttpResponse, PageError>;

pub(crate) fn html(status: StatusCode, page: &impl Template) -> Page {
    let body = page
        .render()
        .map_err(|e| PageError::failed("rendering a page", e))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .body(body))
}

/// Field errors of a form, by field name, for showing beside each field.
#[derive(Default)]
pub(crate) struct Errors(BTreeMap<String, String>);

impl Errors {
    /// The reason for `field`, or "" (templates test for emptiness).
    pub(crate) fn get(&self, field: &str) -> &str {
        self.0.get(field).map_or("", String::as_str)
    }

    /// Sets the reason shown beside `field`.
    pub(crate) fn set(&mut self, field: &str, reason: impl Into<String>) {
        self.0.insert(field.to_owned(), reason.into());
    }

    /// The error for the form as a whole (one without a field).
    pub(crate) fn general(&self) -> &str {
        self.get("")
    }

    pub(crate) fn from_error(e: Error) -> Result<Self, PageError> {
        let mut errors = Self::default();
        match e {
            Error::Invalid { field, reason } => {
                // The services name fields as the REST API does; the forms have their own
                // names. A field no form shows becomes an error of the whole form.
                let form_field = match field.as_ref() {
                    "auth.username" => "auth_username",
                    "auth.password" => "auth_password",
                    "auth.token" => "auth_token",
                    "auth.tokenUrl" => "oauth_token_url",
                    "auth.clientId" => "oauth_client_id",
                    "auth.clientSecret" => "oauth_client_secret",
                    "auth.scopes" => "oauth_scopes",
                    "auth.audience" => "oauth_audience",
                    "auth.params" => "oauth_params",
                    "auth.clientAuth" => "oauth_client_auth",
                    "tls.clientCert" => "tls_client_cert",
                    "tls.clientKey" => "tls_client_key",
                    "tls.caCert" => "tls_ca_cert",
                    other => match other.split('.').next().unwrap_or_default() {
                        "filterTypes" | "eventTypes" | "event_types" => "event_types",
                        "channels" => "channels",
                        "rateLimit" | "throttleRate" | "rate_limit" => "rate_limit",
                        "timeoutSeconds" | "timeout" => "timeout",
                        "schemas" | "schema" => "schema",
                        known @ ("url" | "name" | "uid" | "event_type" | "since" | "until"
                        | "recover_since" | "description" | "days" | "role" | "email"
                        | "password" | "current_password" | "own_password" | "headers"
                        | "ordered" | "auth_type" | "filter" | "transformation" | "sample") => known,
                        _ => "",
                    },
                };
                let reason = if form_field.is_empty() {
                    format!("{field}: {reason}")
                } else {
                    reason.into_owned()
                };
                errors.0.insert(form_field.to_owned(), reason);
            }
            Error::Conflict(reason) | Error::Rejected(reason) => {
                errors.0.insert(String::new(), reason.into_owned());
            }
            other => return Err(other.into()),
        }
        Ok(errors)
    }
}

/// The fields every form posts besides its own.
#[derive(Deserialize)]
pub(crate) struct Csrf {
    #[serde(default)]
    pub(crate) csrf: String,
}

/// A change is allowed: the form carries the session's token, and the session may write.
pub(crate) fn check(
    live: &sessions::Live,
    csrf: &str,
    may_write: Result<(), PageError>,
) -> Result<(), PageError> {
    live.check_csrf(csrf)?;
    may_write
}

pub(crate) fn param<'a>(req: &'a HttpRequest, name: &str) -> &'a str {
    req.match_info().get(name).unwrap_or_default()
}

/// Links to the next and previous pages of a list.
pub(crate) struct Pager {
    pub(crate) next: String,
    pub(crate) prev: String,
}

impl Pager {
    pub(crate) fn of<T>(page: &Paged<T>, base_query: &str) -> Self {
        let link = |iterator: &Option<String>| {
            iterator
                .as_ref()
                .map(|it| format!("?{base_query}iterator={it}"))
                .unwrap_or_default()
        };
        Self {
            // A last page has no iterator; a first page reached going back keeps its way
            // forward although it is `done`.
            next: link(&page.iterator),
            prev: link(&page.prev_iterator),
        }
    }
}

pub(crate) fn page_request(
    iterator: Option<&str>,
    limit: u64,
    is_key: impl Fn(&str) -> bool,
) -> Result<PageRequest, PageError> {
    Ok(PageRequest::parse(
        Some(limit),
        iterator,
        Order::Descending,
        is_key,
    )?)
}

/// Escapes a value for a query string (the few characters that matter in ours).
pub(crate) fn query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// ---------------------------------------------------------------- overview

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
    let troubled = endpoints::troubled(&signed.ctx.db, &tenant, 10)
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

// ---------------------------------------------------------------- applications

pub(crate) struct AppRow {
    pub(crate) name: String,
    pub(crate) uid: String,
    pub(crate) link: String,
    pub(crate) created: When,
}

#[derive(Template)]
#[template(path = "apps.html")]
struct AppsPage {
    page: Chrome,
    q: String,
    apps: Vec<AppRow>,
    pager: Pager,
    name: String,
    uid: String,
    errors: Errors,
}

#[derive(Deserialize)]
pub(crate) struct AppsQuery {
    #[serde(default)]
    q: String,
    iterator: Option<String>,
}

async fn apps_page(
    signed: &Signed,
    query: &AppsQuery,
    name: String,
    uid: String,
    errors: Errors,
    status: StatusCode,
) -> Page {
    let request = page_request(query.iterator.as_deref(), 20, |k| {
        domain::id::AppId::parse(k).is_ok()
    })?;
    let found = apps_service::search(&signed.ctx.db, signed.tenant(), &query.q, &request).await?;
    let pager = Pager::of(&found, &format!("q={}&", query_value(&query.q)));
    let apps = found
        .data
        .into_iter()
        .map(|a: application::Model| AppRow {
            link: format!("/ui/apps/{}", a.id),
            uid: a.uid.unwrap_or_default(),
            created: When::of(a.created_at),
            name: a.name,
        })
        .collect();
    html(
        status,
        &AppsPage {
            page: Chrome::new(&signed.live, "Applications", "apps"),
            q: query.q.clone(),
            apps,
            pager,
            name,
            uid,
            errors,
        },
    )
}

pub(crate) async fn apps(signed: Signed, query: web::Query<AppsQuery>) -> Page {
    apps_page(
        &signed,
        &query,
        String::new(),
        String::new(),
        Errors::default(),
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct AppForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    uid: String,
}

fn new_application(form: &AppForm) -> Result<NewApplication, Error> {
    Ok(NewApplication {
        name: apps_service::parse_name(&form.name)?,
        uid: match form.uid.trim() {
            "" => None,
            uid => Some(Uid::parse(uid)?),
        },
        rate_limit: None,
        retention_days: None,
        metadata: BTreeMap::new(),
    })
}

pub(crate) async fn create_app(signed: Signed, form: web::Form<AppForm>) -> Page {
    check(&signed.live, &form.csrf, signed.require_admin())?;
    let created = match new_application(&form) {
        Ok(new) => apps_service::create(&signed.ctx, signed.tenant(), new, false, &signed.live.actor()).await,
        Err(e) => Err(e),
    };
    match created {
        Ok((app, _)) => Ok(see_other(&format!("/ui/apps/{}", app.id))),
        Err(e) => {
            let query = AppsQuery {
                q: String::new(),
                iterator: None,
            };
            let form = form.into_inner();
            apps_page(
                &signed,
                &query,
                form.name,
                form.uid,
                Errors::from_error(e)?,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

// ---------------------------------------------------------------- one application

pub(crate) struct EndpointRow {
    pub(crate) url: String,
    pub(crate) link: String,
    pub(crate) description: String,
    pub(crate) state: String,
}

pub(crate) struct MessageRow {
    pub(crate) id: String,
    pub(crate) link: String,
    pub(crate) event_type: String,
    pub(crate) created: When,
}

#[derive(Template)]
#[template(path = "app.html")]
struct AppPage {
    page: Chrome,
    base: String,
    name: String,
    id: String,
    uid: String,
    endpoints: Vec<EndpointRow>,
    messages: Vec<MessageRow>,
    portal_link: String,
    new: NewEndpointView,
    opts: OptionsView,
    errors: Errors,
}

/// The "Add endpoint" form's fields: empty, or as typed when they were refused.
#[derive(Default)]
pub(crate) struct NewEndpointView {
    pub(crate) url: String,
    pub(crate) description: String,
    pub(crate) event_types: String,
    pub(crate) options: OptionsView,
}

fn endpoint_state(ep: &endpoint_entity::Model) -> String {
    if ep.disabled {
        "Disabled".into()
    } else if ep.failing_since.is_some() {
        "Failing".into()
    } else {
        "Enabled".into()
    }
}

async fn app_page(
    scope: &AppScope,
    portal_link: String,
    mut new: NewEndpointView,
    errors: Errors,
    status: StatusCode,
) -> Page {
    let tenant = scope.tenant();
    let eps = endpoints::list(
        &scope.ctx.db,
        tenant,
        &scope.app.id,
        &PageRequest {
            limit: 100,
            ..PageRequest::default()
        },
    )
    .await?;
    let endpoints = eps
        .data
        .into_iter()
        .map(|ep| EndpointRow {
            link: scope.endpoint_link(&ep),
            state: endpoint_state(&ep),
            description: ep.description,
            url: ep.url,
        })
        .collect();
    let recent = messages::list(
        &scope.ctx,
        tenant,
        &scope.app.id,
        &PageRequest {
            limit: 20,
            ..PageRequest::default()
        },
        &messages::MessageFilter::default(),
    )
    .await?;
    let messages = recent
        .data
        .into_iter()
        .map(|m| MessageRow {
            link: format!("{}/messages/{}", scope.base, m.id),
            id: m.id.to_string(),
            event_type: m.event_type,
            created: When::of(m.created_at),
        })
        .collect();
    let section = if scope.portal { "portal" } else { "apps" };
    html(
        status,
        &AppPage {
            page: Chrome::new(&scope.live, scope.app.name.clone(), section),
            base: scope.base.clone(),
            name: scope.app.name.clone(),
            id: scope.app.id.to_string(),
            uid: scope.app.uid.clone().unwrap_or_default(),
            endpoints,
            messages,
            portal_link,
            opts: std::mem::take(&mut new.options),
            new,
            errors,
        },
    )
}

pub(crate) async fn app(scope: AppScope) -> Page {
    app_page(
        &scope,
        String::new(),
        NewEndpointView::default(),
        Errors::default(),
        StatusCode::OK,
    )
    .await
}

/// `/portal?token=…` trades the link's token for a session cookie and drops the token
/// from the address bar; `/portal` alone shows the application.
pub(crate) async fn portal_entry(req: HttpRequest, query: web::Query<PortalQuery>) -> Page {
    let Some(token) = query.token.as_deref() else {
        let scope = <AppScope as actix_web::FromRequest>::extract(&req).await?;
        return app(scope).await;
    };
    let ctx = session::context(&req)?;
    let (cookie, _) = sessions::start_for_portal(&ctx, token)
        .await
        .map_err(|_| PageError::PortalExpired)?;
    let mut answer = see_other("/portal");
    answer
        .add_cookie(&session::cookie(&req, &ctx, PORTAL_COOKIE, cookie, "/portal"))
        .map_err(|e| PageError::failed("setting the portal cookie", e))?;
    Ok(answer)
}

#[derive(Deserialize)]
pub(crate) struct PortalQuery {
    token: Option<String>,
}

/// Dashboard-only actions answer "not found" in the portal.
fn dashboard_only(scope: &AppScope) -> Result<(), PageError> {
    if scope.portal {
        Err(Error::NotFound("page").into())
    } else {
        Ok(())
    }
}

pub(crate) async fn rename_app(scope: AppScope, form: web::Form<AppForm>) -> Page {
    dashboard_only(&scope)?;
    check(&scope.live, &form.csrf, scope.require_write())?;
    let name = match apps_service::parse_name(&form.name) {
        Ok(name) => name,
        Err(e) => {
            return app_page(
                &scope,
                String::new(),
                NewEndpointView::default(),
                Errors::from_error(e)?,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let changes = apps_service::ApplicationChanges {
        name: Some(name),
        ..Default::default()
    };
    apps_service::patch(
        &scope.ctx,
        scope.tenant(),
        scope.app.id.as_str(),
        changes,
        &scope.live.actor(),
    )
    .await?;
    Ok(see_other(&scope.base))
}

pub(crate) async fn delete_app(scope: AppScope, form: web::Form<Csrf>) -> Page {
    dashboard_only(&scope)?;
    check(&scope.live, &form.csrf, scope.require_write())?;
    apps_service::delete(
        &scope.ctx,
        scope.tenant(),
        scope.app.id.as_str(),
        &scope.live.actor(),
    )
    .await?;
    Ok(see_other("/ui/apps"))
}

pub(crate) async fn portal_link(scope: AppScope, form: web::Form<Csrf>) -> Page {
    dashboard_only(&scope)?;
    check(&scope.live, &form.csrf, scope.require_write())?;
    let access = portal::issue(
        &scope.ctx,
        scope.tenant(),
        scope.app.id.as_str(),
        None,
        None,
        false,
        &scope.live.actor(),
    )
    .await?;
    app_page(
        &scope,
        access.url,
        NewEndpointView::default(),
        Errors::default(),
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct EndpointForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    event_types: String,
    #[serde(default)]
    channels: String,
    #[serde(default)]
    rate_limit: String,
    #[serde(default)]
    timeout: String,
    /// A checkbox: present means "on".
    disabled: Option<String>,
    #[serde(flatten)]
    options: OptionsForm,
}

/// A comma-separated list, blanks dropped; `None` when empty.
fn list_field(value: &str) -> Option<Vec<String>> {
    let items: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    (!items.is_empty()).then_some(items)
}

fn event_types(value: &str) -> Result<Option<Vec<EventTypeName>>, Error> {
    list_field(value)
        .map(|names| {
            names
                .iter()
                .map(|n| EventTypeName::parse_field("event_types", n))
                .collect()
        })
        .transpose()
}

fn number<T: std::str::FromStr>(field: &'static str, value: &str, what: &str) -> Result<Option<T>, Error> {
    match value.trim() {
        "" => Ok(None),
        v => v
            .parse()
            .map(Some)
            .map_err(|_| Error::invalid(field, format!("must be {what}"))),
    }
}

pub(crate) async fn create_endpoint(scope: AppScope, form: web::Form<EndpointForm>) -> Page {
    check(&scope.live, &form.csrf, scope.require_write())?;
    let form = form.into_inner();
    let new = (|| -> Result<NewEndpoint, Error> {
        let options = form.options.for_create()?;
        Ok(NewEndpoint {
            url: EndpointUrl::parse_field("url", form.url.trim())?,
            uid: None,
            description: form.description.trim().to_owned(),
            disabled: false,
            event_types: event_types(&form.event_types)?,
            channels: None,
            rate_limit: None,
            timeout_secs: None,
            retry_schedule: None,
            metadata: BTreeMap::new(),
            secret: None,
            headers: BTreeMap::new(),
            ordered: options.ordered,
            access: options.access,
            filter: None,
            transformation: None,
        })
    })();
    let created = match new {
        Ok(new) => {
            endpoints::create(
                &scope.ctx,
                scope.tenant(),
                scope.app.id.as_str(),
                new,
                &scope.live.actor(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match created {
        Ok(ep) => Ok(see_other(&scope.endpoint_link(&ep))),
        Err(e) => {
            let errors = Errors::from_error(e)?;
            app_page(
                &scope,
                String::new(),
                NewEndpointView {
                    options: OptionsView::from_form(None, &form.options),
                    url: form.url,
                    description: form.description,
                    event_types: form.event_types,
                },
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

// ---------------------------------------------------------------- one endpoint

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
    stats: endpoints::Stats,
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
                    let shown = if endpoints::is_sensitive_header(k) {
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
                .filter(|(k, _)| !endpoints::is_sensitive_header(k))
                .map(|(k, v)| format!("{k}: {v}\n"))
                .collect(),
            options: OptionsView::of(Some(ep)),
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
    fn day(field: &'static str, value: &str) -> Result<Option<DateTime<Utc>>, Error> {
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

    fn filter(&self) -> Result<AttemptFilter, Error> {
        Ok(AttemptFilter {
            status: match self.status.as_str() {
                "succeeded" => Some(domain::entity::attempt::Status::Success),
                "failed" => Some(domain::entity::attempt::Status::Fail),
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

    fn as_query(&self) -> String {
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
    let stats = endpoints::stats(&ctx.db, tenant, ep, None, None).await?;
    let hours = attempts::hourly(&ctx.db, tenant, Some(&ep.id), 24, Utc::now()).await?;
    let revealed = query.reveal.is_some();
    let secrets = if revealed {
        // A key lets its holder sign as Herald: viewers and read-only links may not see it,
        // and every look is on the record.
        scope.require_write()?;
        let rows = domain::service::endpoint_secret::live_rows(&ctx.db, tenant, &ep.id, Utc::now()).await?;
        domain::service::audit::record(
            &ctx.db,
            tenant,
            &scope.live.actor(),
            "endpoint.secret.reveal",
            domain::service::audit::Target::new("endpoint", &ep.id),
            None,
        )
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SecretRow {
                    key: domain::service::endpoint_secret::open(ctx, row)?.to_whsec(),
                    label: match row.expires_at {
                        None => "current".to_owned(),
                        Some(at) => format!("previous, signs until {}", When::of(at).utc),
                    },
                })
            })
            .collect::<Result<Vec<_>, Error>>()?
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
    let mut options: Vec<String> = domain::service::event_type::list(
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
    let section = if scope.portal { "portal" } else { "apps" };
    html(
        status,
        &EndpointPage {
            page: Chrome::new(&scope.live, ep.url.clone(), section),
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

pub(crate) async fn endpoint(scope: AppScope, req: HttpRequest, query: web::Query<LogQuery>) -> Page {
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

pub(crate) async fn edit_endpoint(scope: AppScope, req: HttpRequest, form: web::Form<EndpointForm>) -> Page {
    check(&scope.live, &form.csrf, scope.require_write())?;
    let ep = find_endpoint(&scope, &req).await?;
    let form = form.into_inner();
    let changes = (|| -> Result<EndpointChanges, Error> {
        let options = form.options.for_edit(&ep)?;
        Ok(EndpointChanges {
            ordered: options.ordered,
            access: options.access,
            url: Some(EndpointUrl::parse_field("url", form.url.trim())?),
            description: Some(form.description.trim().to_owned()),
            disabled: Some(form.disabled.is_some()),
            event_types: Some(event_types(&form.event_types)?),
            channels: Some(
                list_field(&form.channels)
                    .map(|c| domain::values::Channels::parse("channels", &c, messages::MAX_CHANNELS * 2))
                    .transpose()?,
            ),
            rate_limit: Some(
                number::<u16>(
                    "rate_limit",
                    &form.rate_limit,
                    "a whole number of requests per second from 1 to 65535",
                )?
                .map(|rate| match rate {
                    0 => Err(Error::invalid(
                        "rate_limit",
                        "must be a whole number of requests per second from 1 to 65535",
                    )),
                    rate => Ok(rate),
                })
                .transpose()?,
            ),
            timeout_secs: Some(
                number::<u64>("timeout", &form.timeout, "a whole number of seconds")?
                    .map(endpoints::parse_timeout)
                    .transpose()
                    .map_err(|_| Error::invalid("timeout", "must be between 1 and 60 seconds"))?,
            ),
            ..EndpointChanges::default()
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

pub(crate) async fn delete_endpoint(scope: AppScope, req: HttpRequest, form: web::Form<Csrf>) -> Page {
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
    endpoints::rotate_secret(
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

#[derive(Deserialize)]
pub(crate) struct TestForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    event_type: String,
}

pub(crate) async fn send_test(scope: AppScope, req: HttpRequest, form: web::Form<TestForm>) -> Page {
    check(&scope.live, &form.csrf, scope.require_write())?;
    let ep = find_endpoint(&scope, &req).await?;
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

// ---------------------------------------------------------------- the delivery log

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
    fn attempt(base: &str, a: domain::entity::attempt::Model, endpoint: String) -> Self {
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
pub(crate) async fn log(scope: AppScope, query: web::Query<LogQuery>) -> Page {
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
    let section = if scope.portal { "portal" } else { "apps" };
    html(
        StatusCode::OK,
        &LogPage {
            page: Chrome::new(
                &scope.live,
                format!("Delivery log of {}", scope.app.name),
                section,
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
        .filter(|name| !endpoints::is_sensitive_header(name))
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
            endpoints::set_headers(
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

// ---------------------------------------------------------------- one message

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
    /// Pretty-printed; empty once retention erased it.
    payload: String,
    destinations: Vec<DestinationRow>,
    filtered: Vec<FilteredRow>,
    attempts: Vec<MessageAttemptRow>,
}

pub(crate) async fn message(scope: AppScope, req: HttpRequest) -> Page {
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
    let section = if scope.portal { "portal" } else { "apps" };
    html(
        StatusCode::OK,
        &MessagePage {
            page: Chrome::new(&scope.live, format!("Message {}", msg.id), section),
            base: scope.base.clone(),
            app_name: scope.app.name.clone(),
            id: msg.id.to_string(),
            event_type: msg.event_type,
            event_id: msg.event_id.unwrap_or_default(),
            channels: msg.channels.map(|c| c.0.join(", ")).unwrap_or_default(),
            created: When::of(msg.created_at),
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
