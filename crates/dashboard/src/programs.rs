//! An endpoint's jq programs (filter and transformation) on their own page of the
//! endpoint, with a "try it" panel that runs on the server: pick a recent message or an
//! event type's example, press Try, and see whether the filter matches and the request
//! the transformation makes, before anything is saved. Works without JavaScript.

use actix_web::{HttpRequest, http::StatusCode, web};
use askama::Template;
use domain::{
    Error,
    entity::endpoint::Model,
    program::Program,
    service::{
        endpoint::{self as endpoints, EndpointChanges},
        trial::{self, SampleChoice, Trial, Verdict},
    },
};
use serde::Deserialize;

use crate::{
    error::see_other,
    form::{Errors, Page, check, html},
    pages::endpoint::find_endpoint,
    session::AppScope,
    view::Chrome,
};

#[derive(Template)]
#[template(path = "endpoint_programs.html")]
struct ProgramsPage {
    page: Chrome,
    base: String,
    app_name: String,
    /// The endpoint page.
    link: String,
    url: String,
    filter: String,
    transformation: String,
    samples: Vec<SampleChoice>,
    sample: String,
    tried: Option<TrialView>,
    notice: &'static str,
    errors: Errors,
}

/// A trial as the page shows it.
struct TrialView {
    sample: String,
    /// Empty when the endpoint has no filter.
    verdict: String,
    matched: bool,
    reason: String,
    /// Whether a transformation ran.
    transformed: bool,
    error: String,
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl TrialView {
    fn of(sample: &str, trial: Trial) -> Self {
        let (verdict, matched, reason) = match trial.filter {
            None => (String::new(), true, String::new()),
            Some(Verdict::Matched) => ("Matched".to_owned(), true, String::new()),
            Some(Verdict::NotMatched(reason)) => ("Not matched".to_owned(), false, reason),
        };
        let mut view = Self {
            sample: sample.to_owned(),
            verdict,
            matched,
            reason,
            transformed: trial.transformation.is_some(),
            error: String::new(),
            method: String::new(),
            url: String::new(),
            headers: Vec::new(),
            body: String::new(),
        };
        match trial.transformation {
            None => {}
            Some(Err(e)) => view.error = e,
            Some(Ok(shaped)) => {
                view.method = shaped.method.to_owned();
                view.url = shaped.url;
                view.headers = shaped.headers.into_iter().collect();
                view.body = serde_json::from_str::<serde_json::Value>(&shaped.body)
                    .ok()
                    .and_then(|v| serde_json::to_string_pretty(&v).ok())
                    .unwrap_or(shaped.body);
            }
        }
        view
    }
}

#[derive(Deserialize)]
pub(crate) struct ProgramsQuery {
    saved: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct ProgramsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    filter: String,
    #[serde(default)]
    transformation: String,
    #[serde(default)]
    sample: String,
    /// `try` or `save`.
    #[serde(default)]
    action: String,
}

/// A textarea as a program: blank is none.
fn typed(field: &'static str, source: &str) -> Result<Option<Program>, Error> {
    let source = source.replace("\r\n", "\n");
    if source.trim().is_empty() {
        return Ok(None);
    }
    Program::parse(field, &source).map(Some)
}

async fn render(
    scope: &AppScope,
    ep: &Model,
    form: (String, String, String),
    tried: Option<TrialView>,
    notice: &'static str,
    errors: Errors,
    status: StatusCode,
) -> Page {
    let samples = trial::samples(&scope.ctx, scope.tenant(), ep).await?;
    let (filter, transformation, sample) = form;
    let sample = if sample.is_empty() {
        samples.first().map(|s| s.key.clone()).unwrap_or_default()
    } else {
        sample
    };
    let section = if scope.portal { "portal" } else { "apps" };
    html(
        status,
        &ProgramsPage {
            page: Chrome::new(
                &scope.live,
                format!("Filter and transformation · {}", ep.url),
                section,
            ),
            base: scope.base.clone(),
            app_name: scope.app.name.clone(),
            link: scope.endpoint_link(ep),
            url: ep.url.clone(),
            filter,
            transformation,
            samples,
            sample,
            tried,
            notice,
            errors,
        },
    )
}

/// The page again with the form as it was sent and why it was refused.
async fn refused(scope: &AppScope, ep: &Model, form: (String, String, String), errors: Errors) -> Page {
    render(
        scope,
        ep,
        form,
        None,
        "",
        errors,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

pub(crate) async fn page(scope: AppScope, req: HttpRequest, query: web::Query<ProgramsQuery>) -> Page {
    let ep = find_endpoint(&scope, &req).await?;
    let form = (
        ep.filter.clone().unwrap_or_default(),
        ep.transformation.clone().unwrap_or_default(),
        String::new(),
    );
    let notice = if query.saved.is_some() { "Saved." } else { "" };
    render(&scope, &ep, form, None, notice, Errors::default(), StatusCode::OK).await
}

/// Try (anyone who can see the endpoint: nothing is written) or save (writers).
pub(crate) async fn submit(scope: AppScope, req: HttpRequest, form: web::Form<ProgramsForm>) -> Page {
    let form = form.into_inner();
    let saving = form.action == "save";
    if saving {
        check(&scope.live, &form.csrf, scope.require_write())?;
    } else {
        check(&scope.live, &form.csrf, Ok(()))?;
    }
    let ep = find_endpoint(&scope, &req).await?;
    let programs =
        typed("filter", &form.filter).and_then(|f| Ok((f, typed("transformation", &form.transformation)?)));
    let kept = (
        form.filter.clone(),
        form.transformation.clone(),
        form.sample.clone(),
    );
    let (filter, transformation) = match programs {
        Ok(programs) => programs,
        Err(e) => {
            let errors = Errors::from_error(e)?;
            return refused(&scope, &ep, kept, errors).await;
        }
    };
    if saving {
        let changes = EndpointChanges {
            filter: Some(filter),
            transformation: Some(transformation),
            ..EndpointChanges::default()
        };
        return match endpoints::patch(
            &scope.ctx,
            scope.tenant(),
            scope.app.id.as_str(),
            ep.id.as_str(),
            changes,
            &scope.live.actor(),
        )
        .await
        {
            Ok(ep) => Ok(see_other(&format!(
                "{}/programs?saved=1",
                scope.endpoint_link(&ep)
            ))),
            Err(e) => {
                let errors = Errors::from_error(e)?;
                refused(&scope, &ep, kept, errors).await
            }
        };
    }
    let sample = match trial::sample(&scope.ctx, scope.tenant(), &scope.app.id, &form.sample).await {
        Ok(sample) => sample,
        Err(e @ (Error::Invalid { .. } | Error::NotFound(_))) => {
            let mut errors = Errors::from_error(match e {
                Error::NotFound(what) => Error::invalid("sample", format!("{what} not found")),
                other => other,
            })?;
            errors.set("sample", "pick a recent message or an event type's example");
            return refused(&scope, &ep, kept, errors).await;
        }
        Err(e) => return Err(e.into()),
    };
    let outcome = trial::run(filter.as_ref(), transformation.as_ref(), &sample, &ep.url).await;
    let label = format!("{} ({})", sample.event_type, form.sample);
    let tried = TrialView::of(&label, outcome);
    render(
        &scope,
        &ep,
        kept,
        Some(tried),
        "",
        Errors::default(),
        StatusCode::OK,
    )
    .await
}
