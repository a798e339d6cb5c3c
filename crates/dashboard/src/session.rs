//! Who is asking: the session cookie, read once per request into an extractor.
//!
//! - [`Signed`]: a signed-in dashboard user; anyone else is sent to the sign-in page.
//! - [`AppScope`]: the one application a page is about, with the session allowed to see
//!   it: a dashboard user of its tenant (`/ui/apps/{app}/…`) or a portal customer of
//!   exactly that application (`/portal/…`). Anything else answers as "not found".

use std::future::Future;
use std::pin::Pin;

use actix_web::{
    FromRequest, HttpRequest,
    cookie::{Cookie, SameSite, time},
    dev::Payload,
    web,
};
use chrono::Utc;
use domain::{
    Context,
    entity::application,
    id::TenantId,
    service::{self, session::Live},
};

use crate::error::PageError;

/// The dashboard's session cookie.
pub(crate) const USER_COOKIE: &str = "herald_session";
/// The portal's session cookie (sent only under `/portal`).
pub(crate) const PORTAL_COOKIE: &str = "herald_portal";

/// Whether cookies must be `Secure`: the request came over https (directly or, as a
/// proxy says, `X-Forwarded-Proto`), or Herald's public URL is https.
fn secure(req: &HttpRequest, ctx: &Context) -> bool {
    req.connection_info().scheme() == "https" || ctx.settings.public_url.starts_with("https://")
}

/// A session cookie: HttpOnly, SameSite=Lax, Secure over https, gone with the session.
pub(crate) fn cookie(
    req: &HttpRequest,
    ctx: &Context,
    name: &'static str,
    value: String,
    path: &'static str,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path(path)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(req, ctx))
        .finish()
}

/// A cookie that deletes `name`.
pub(crate) fn removal(name: &'static str, path: &'static str) -> Cookie<'static> {
    let mut gone = Cookie::build(name, "").path(path).finish();
    gone.set_max_age(time::Duration::ZERO);
    gone
}

pub(crate) fn context(req: &HttpRequest) -> Result<web::Data<Context>, PageError> {
    req.app_data::<web::Data<Context>>()
        .cloned()
        .ok_or_else(|| PageError::internal("the service context is not configured"))
}

/// Whether this request is a portal page.
pub(crate) fn is_portal(req: &HttpRequest) -> bool {
    req.path() == "/portal" || req.path().starts_with("/portal/")
}

async fn live(req: &HttpRequest, name: &str) -> Result<Option<Live>, PageError> {
    let Some(token) = req.cookie(name) else {
        return Ok(None);
    };
    let ctx = context(req)?;
    Ok(service::session::find(&ctx, token.value(), Utc::now()).await?)
}

/// A signed-in dashboard user.
pub(crate) struct Signed {
    pub(crate) live: Live,
    pub(crate) ctx: web::Data<Context>,
}

impl Signed {
    pub(crate) fn tenant(&self) -> &TenantId {
        &self.live.row.tenant_id
    }

    /// Admins only: refuses viewers on the server, whatever the page showed.
    pub(crate) fn require_admin(&self) -> Result<(), PageError> {
        Ok(self.live.require_write()?)
    }
}

impl FromRequest for Signed {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match live(&req, USER_COOKIE).await? {
                Some(live) if live.user().is_some() => Ok(Self {
                    live,
                    ctx: context(&req)?,
                }),
                _ => Err(PageError::SignIn),
            }
        })
    }
}

/// One application and a session allowed to see it.
pub(crate) struct AppScope {
    pub(crate) live: Live,
    pub(crate) ctx: web::Data<Context>,
    pub(crate) app: application::Model,
    /// Where this application's pages live: `/ui/apps/{id}` or `/portal/app`.
    pub(crate) base: String,
    pub(crate) portal: bool,
}

impl AppScope {
    pub(crate) fn tenant(&self) -> &TenantId {
        &self.live.row.tenant_id
    }

    /// The page of one of this application's endpoints.
    pub(crate) fn endpoint_link(&self, ep: &domain::entity::endpoint::Model) -> String {
        format!("{}/endpoints/{}", self.base, ep.id)
    }

    /// The navigation section its pages belong to.
    pub(crate) fn section(&self) -> &'static str {
        if self.portal { "portal" } else { "apps" }
    }

    /// Refuses dashboard viewers and read-only portal links.
    pub(crate) fn require_write(&self) -> Result<(), PageError> {
        Ok(self.live.require_write()?)
    }
}

impl FromRequest for AppScope {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let ctx = context(&req)?;
            if is_portal(&req) {
                let Some(live) = live(&req, PORTAL_COOKIE).await? else {
                    return Err(PageError::PortalExpired);
                };
                let service::session::Holder::Portal { app, .. } = &live.holder else {
                    return Err(PageError::PortalExpired);
                };
                let app = service::application::find(&ctx.db, &live.row.tenant_id, app.as_str()).await?;
                return Ok(Self {
                    live,
                    ctx,
                    app,
                    base: "/portal/app".into(),
                    portal: true,
                });
            }
            let Some(live) = live(&req, USER_COOKIE).await?.filter(|l| l.user().is_some()) else {
                return Err(PageError::SignIn);
            };
            let wanted = req.match_info().get("app").unwrap_or_default();
            let app = service::application::find(&ctx.db, &live.row.tenant_id, wanted).await?;
            let base = format!("/ui/apps/{}", app.id);
            Ok(Self {
                live,
                ctx,
                app,
                base,
                portal: false,
            })
        })
    }
}
