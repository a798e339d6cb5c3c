//! The tenant's applications: a searchable list, and the form that adds one.

use std::collections::BTreeMap;

use actix_web::{http::StatusCode, web};
use askama::Template;
use domain::{
    Error,
    entity::application,
    service::application::{self as apps_service, NewApplication},
    values::Uid,
};
use serde::Deserialize;

use crate::{
    error::see_other,
    form::{Errors, Page, check, html},
    paging::{Pager, page_request, query_value},
    session::Signed,
    view::{Chrome, When},
};

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
    /// The tenant's default for new applications: require endpoint verification.
    verification_default: bool,
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
    let verification_default = domain::service::tenant::get(&signed.ctx.db, signed.tenant())
        .await?
        .require_endpoint_verification;
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
            verification_default,
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
pub(crate) struct DefaultsForm {
    #[serde(default)]
    csrf: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    require_verification: Option<String>,
}

/// The tenant's defaults for new applications (admins only).
pub(crate) async fn set_defaults(signed: Signed, form: web::Form<DefaultsForm>) -> Page {
    check(&signed.live, &form.csrf, signed.require_admin())?;
    domain::service::tenant::set_verification_default(
        &signed.ctx,
        signed.tenant(),
        form.require_verification.is_some(),
        &signed.live.actor(),
    )
    .await?;
    Ok(see_other("/ui/apps#defaults"))
}

#[derive(Deserialize)]
pub(crate) struct AppForm {
    #[serde(default)]
    pub(super) csrf: String,
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    uid: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    require_verification: Option<String>,
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
        require_endpoint_verification: Some(form.require_verification.is_some()),
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
