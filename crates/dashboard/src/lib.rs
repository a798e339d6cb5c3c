//! Herald's server-rendered pages: the tenant dashboard (`/ui`) and the customer portal
//! (`/portal`). Plain HTML forms and links that work with JavaScript off; a little script
//! (`static/herald.js`) adds copy buttons and confirmations.
//!
//! Every page that shows one application's things serves both audiences: under
//! `/ui/apps/{app}` for a signed-in user of the tenant, under `/portal` for a customer
//! whose portal session names that one application (see [`session::AppScope`]).

mod admin;
mod auth;
mod error;
mod form;
mod options;
mod pages;
mod paging;
mod programs;
mod session;
mod view;

use actix_web::{
    HttpRequest, HttpResponse,
    http::header,
    web::{self, get, post},
};

/// The pages' state of one Herald process; [`Dashboard::configure`] registers them on
/// each HTTP worker.
#[derive(Clone)]
pub struct Dashboard {
    throttle: web::Data<auth::Throttle>,
}

impl Default for Dashboard {
    fn default() -> Self {
        Self::new()
    }
}

impl Dashboard {
    pub fn new() -> Self {
        Self {
            throttle: web::Data::new(auth::Throttle::new()),
        }
    }

    /// Registers every page route.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(self.throttle.clone());
        routes(cfg);
    }
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(|| async { error::see_other("/ui") }))
        .route("/static/{file}", web::get().to(asset))
        .route("/ui/login", web::get().to(auth::login_page))
        .route("/ui/login", web::post().to(auth::login))
        .route("/ui/login/choose", web::post().to(auth::choose))
        .route("/ui/logout", web::post().to(auth::logout))
        .route("/ui", web::get().to(pages::overview::overview))
        .route("/ui/apps", web::get().to(pages::apps::apps))
        .route("/ui/apps", web::post().to(pages::apps::create_app))
        .route("/ui/apps/defaults", web::post().to(pages::apps::set_defaults))
        .route("/ui/event-types", get().to(admin::event_types::list))
        .route("/ui/event-types", post().to(admin::event_types::create))
        .route("/ui/event-types/{name}", get().to(admin::event_types::show))
        .route("/ui/event-types/{name}/edit", post().to(admin::event_types::edit))
        .route(
            "/ui/event-types/{name}/archive",
            post().to(admin::event_types::archive),
        )
        .route("/ui/tokens", get().to(admin::tokens::list))
        .route("/ui/tokens", post().to(admin::tokens::create))
        .route("/ui/tokens/{token}/revoke", post().to(admin::tokens::revoke))
        .route("/ui/team", get().to(admin::team::list))
        .route("/ui/team", post().to(admin::team::add_user))
        .route("/ui/team/{user}/role", post().to(admin::team::set_role))
        .route("/ui/team/{user}/remove", post().to(admin::team::remove_user))
        .route("/ui/audit", get().to(admin::audit::list))
        .route("/ui/inspector", get().to(pages::inspector::list))
        .route("/ui/inspector", post().to(pages::inspector::create))
        .route("/ui/inspector/{inbox}", get().to(pages::inspector::show))
        .route(
            "/ui/inspector/{inbox}/answer",
            post().to(pages::inspector::answer),
        )
        .route(
            "/ui/inspector/{inbox}/delete",
            post().to(pages::inspector::delete),
        )
        .route(
            "/ui/inspector/{inbox}/request/{id}",
            get().to(pages::inspector::request),
        )
        .route(
            "/ui/inspector/{inbox}/request/{id}/verify",
            post().to(pages::inspector::verify),
        )
        .route(
            "/ui/inspector/{inbox}/request/{id}/capture",
            get().to(pages::inspector::capture),
        )
        .route("/ui/account/password", post().to(admin::team::change_password))
        .route("/portal/logout", web::post().to(auth::logout))
        .route("/portal", web::get().to(pages::app::portal_entry));
    // The pages of one application, for the dashboard and for the portal.
    for base in ["/ui/apps/{app}", "/portal/app"] {
        let at = |suffix: &str| format!("{base}{suffix}");
        cfg.route(base, get().to(pages::app::show))
            .route(&at("/log"), get().to(pages::log::list))
            .route(&at("/rename"), post().to(pages::app::rename))
            .route(&at("/delete"), post().to(pages::app::delete))
            .route(&at("/portal-link"), post().to(pages::app::portal_link))
            .route(&at("/endpoints"), post().to(pages::app::create_endpoint))
            .route(&at("/inbox-trial"), post().to(pages::inspector::trial_for_app))
            .route(&at("/endpoints/{ep}"), get().to(pages::endpoint::show))
            .route(&at("/endpoints/{ep}/edit"), post().to(pages::endpoint::edit))
            .route(
                &at("/endpoints/{ep}/headers"),
                post().to(pages::endpoint::edit_headers),
            )
            .route(&at("/endpoints/{ep}/delete"), post().to(pages::endpoint::delete))
            .route(
                &at("/endpoints/{ep}/rotate"),
                post().to(pages::endpoint::rotate_secret),
            )
            .route(&at("/endpoints/{ep}/test"), post().to(pages::endpoint::send_test))
            .route(
                &at("/endpoints/{ep}/verification"),
                post().to(pages::endpoint::restart_verification),
            )
            .route(
                &at("/endpoints/{ep}/recover"),
                post().to(pages::endpoint::recover),
            )
            .route(&at("/endpoints/{ep}/release"), post().to(options::release))
            .route(&at("/endpoints/{ep}/programs"), get().to(programs::page))
            .route(&at("/endpoints/{ep}/programs"), post().to(programs::submit))
            .route(&at("/messages/{msg}"), get().to(pages::message::show))
            .route(&at("/messages/{msg}/resend"), post().to(pages::message::resend));
    }
}

/// The stylesheet and script, compiled into the binary so `herald serve` needs no files
/// beside it. Browsers keep them for an hour, then revalidate with the ETag (the version
/// of Herald and the size), answered 304 while they are unchanged.
async fn asset(req: HttpRequest) -> HttpResponse {
    let (body, kind): (&'static str, &str) = match req.match_info().get("file") {
        Some("herald.css") => (
            include_str!("../../../static/herald.css"),
            "text/css; charset=utf-8",
        ),
        Some("herald.js") => (
            include_str!("../../../static/herald.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return HttpResponse::NotFound().finish(),
    };
    let etag = format!("\"{}-{}\"", env!("CARGO_PKG_VERSION"), body.len());
    let cached = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut answer = if cached {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    answer
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header(("x-content-type-options", "nosniff"));
    if cached {
        answer.finish()
    } else {
        answer.insert_header((header::CONTENT_TYPE, kind)).body(body)
    }
}
