//! One application: its endpoints and recent messages, the "Add endpoint" form, and the
//! dashboard's own actions on it (rename, delete, a portal link). `/portal` opens here.

use actix_web::{HttpRequest, http::StatusCode, web};
use askama::Template;
use domain::{
    Error,
    entity::endpoint as endpoint_entity,
    pagination::PageRequest,
    service::{
        application as apps_service,
        endpoint::{self as endpoints, EndpointSettings, NewEndpoint},
        message as messages, portal, session as sessions,
    },
    values::CustomHeaders,
};
use serde::Deserialize;

use super::{apps::AppForm, endpoint::EndpointForm};
use crate::{
    error::{PageError, see_other},
    form::{Csrf, Errors, Page, check, html},
    options::OptionsView,
    session::{self, AppScope, PORTAL_COOKIE},
    view::{Chrome, When},
};

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

pub(super) fn endpoint_state(ep: &endpoint_entity::Model) -> String {
    if ep.disabled {
        "Disabled".into()
    } else if ep.failing_since.is_some() {
        "Failing".into()
    } else {
        "Enabled".into()
    }
}

pub(super) async fn app_page(
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
    html(
        status,
        &AppPage {
            page: Chrome::new(&scope.live, scope.app.name.clone(), scope.section()),
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

pub(crate) async fn show(scope: AppScope) -> Page {
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
        return show(scope).await;
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

pub(crate) async fn rename(scope: AppScope, form: web::Form<AppForm>) -> Page {
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

pub(crate) async fn delete(scope: AppScope, form: web::Form<Csrf>) -> Page {
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

pub(crate) async fn create_endpoint(scope: AppScope, form: web::Form<EndpointForm>) -> Page {
    check(&scope.live, &form.csrf, scope.require_write())?;
    let form = form.into_inner();
    let new = (|| -> Result<NewEndpoint, Error> {
        Ok(NewEndpoint {
            options: form.options.for_create()?,
            settings: EndpointSettings::try_from(&form)?,
            secret: None,
            headers: CustomHeaders::default(),
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
