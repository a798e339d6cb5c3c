//! Herald's server-rendered pages: the tenant dashboard (`/ui`) and the customer portal
//! (`/portal`).

use actix_web::{HttpResponse, web};

/// Registers every page route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/",
        web::get().to(|| async { HttpResponse::Found().insert_header(("location", "/ui")).finish() }),
    );
}
