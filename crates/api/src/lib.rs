//! Herald's REST API under `/api/v1`: Svix-compatible handlers, thin over `domain`.

mod health;

use actix_web::web;

/// Registers every API route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope("/api/v1").route("/health", web::get().to(health::get)));
}
