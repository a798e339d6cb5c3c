//! Herald's server-rendered pages: the tenant dashboard (`/ui`) and the customer portal
//! (`/portal`). Plain HTML forms and links that work with JavaScript off; a little script
//! (`static/herald.js`) adds copy buttons and confirmations.
//!
//! Every page that shows one application's things serves both audiences: under
//! `/ui/apps/{app}` for a signed-in user of the tenant, under `/portal` for a customer
//! whose portal session names that one application (see [`session::AppScope`]).

mod auth;
mod error;
mod pages;
mod session;
mod view;

use actix_web::{HttpRequest, HttpResponse, http::header, web};

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
        .route("/ui/logout", web::post().to(auth::logout))
        .route("/ui", web::get().to(pages::overview))
        .route("/ui/apps", web::get().to(pages::apps))
        .route("/ui/apps", web::post().to(pages::create_app))
        .route("/portal/logout", web::post().to(auth::logout))
        .route("/portal", web::get().to(pages::portal_entry));
    // The pages of one application, for the dashboard and for the portal.
    for base in ["/ui/apps/{app}", "/portal/app"] {
        cfg.route(base, web::get().to(pages::app))
            .route(&format!("{base}/rename"), web::post().to(pages::rename_app))
            .route(&format!("{base}/delete"), web::post().to(pages::delete_app))
            .route(&format!("{base}/portal-link"), web::post().to(pages::portal_link))
            .route(
                &format!("{base}/endpoints"),
                web::post().to(pages::create_endpoint),
            )
            .route(
                &format!("{base}/endpoints/{{ep}}"),
                web::get().to(pages::endpoint),
            )
            .route(
                &format!("{base}/endpoints/{{ep}}/edit"),
                web::post().to(pages::edit_endpoint),
            )
            .route(
                &format!("{base}/endpoints/{{ep}}/delete"),
                web::post().to(pages::delete_endpoint),
            )
            .route(
                &format!("{base}/endpoints/{{ep}}/rotate"),
                web::post().to(pages::rotate_secret),
            )
            .route(
                &format!("{base}/endpoints/{{ep}}/test"),
                web::post().to(pages::send_test),
            )
            .route(
                &format!("{base}/endpoints/{{ep}}/recover"),
                web::post().to(pages::recover),
            )
            .route(&format!("{base}/messages/{{msg}}"), web::get().to(pages::message))
            .route(
                &format!("{base}/messages/{{msg}}/resend"),
                web::post().to(pages::resend),
            );
    }
}

/// The stylesheet and script, compiled into the binary so `herald serve` needs no files
/// beside it. Their names carry a version, so browsers may keep them for a day.
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
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, kind))
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(body)
}
