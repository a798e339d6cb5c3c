//! Herald's REST API under `/api/v1`: Svix-compatible handlers, thin over `domain`.
//!
//! Every authenticated route passes the [`gate::Gate`] (token, rate limit, idempotency);
//! handlers parse input into domain types, call one service, and shape the answer.

mod applications;
mod endpoints;
pub mod error;
mod event_types;
mod extract;
mod gate;
mod health;
mod messages;
mod metrics;
mod openapi;
mod operational;
mod portal;
mod wire;

use actix_web::{HttpResponse, middleware::from_fn, web};

pub use gate::Gate;
pub use openapi::document as openapi_document;

/// Settings the API needs beyond the domain's.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    /// Requests per second per tenant; 0 turns the limit off.
    pub rate_limit_per_second: u32,
    /// Serve `GET /metrics`.
    pub metrics: bool,
    /// If set, `/metrics` wants `Authorization: Bearer <this>`.
    pub metrics_token: Option<String>,
}

/// The API, built once per process and registered in every HTTP worker.
#[derive(Clone)]
pub struct Api {
    gate: web::Data<Gate>,
    metrics: Option<web::Data<metrics::Access>>,
}

impl Api {
    pub fn new(settings: &ApiSettings) -> Self {
        Self {
            gate: web::Data::new(Gate::new(settings.rate_limit_per_second)),
            metrics: settings
                .metrics
                .then(|| web::Data::new(metrics::Access::new(settings.metrics_token.as_deref()))),
        }
    }

    /// Registers `GET /metrics` alone (for `herald worker`'s metrics listener); does
    /// nothing when metrics are off.
    pub fn configure_metrics(&self, cfg: &mut web::ServiceConfig) {
        if let Some(access) = &self.metrics {
            cfg.app_data(access.clone())
                .route("/metrics", web::get().to(metrics::page));
        }
    }

    /// Registers every API route.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        use web::{delete, get, patch, post, put};
        let authenticated = web::scope("")
            .wrap(from_fn(gate::gate))
            .route("/app", get().to(applications::list))
            .route("/app", post().to(applications::create))
            .route("/app/{app_id}", get().to(applications::get))
            .route("/app/{app_id}", put().to(applications::put))
            .route("/app/{app_id}", patch().to(applications::patch))
            .route("/app/{app_id}", delete().to(applications::delete))
            .route("/event-type", get().to(event_types::list))
            .route("/event-type", post().to(event_types::create))
            .route("/event-type/{name}", get().to(event_types::get))
            .route("/event-type/{name}", put().to(event_types::put))
            .route("/event-type/{name}", patch().to(event_types::patch))
            .route("/event-type/{name}", delete().to(event_types::delete))
            .route("/app/{app_id}/endpoint", get().to(endpoints::list))
            .route("/app/{app_id}/endpoint", post().to(endpoints::create))
            .route("/app/{app_id}/endpoint/{ep}", get().to(endpoints::get))
            .route("/app/{app_id}/endpoint/{ep}", put().to(endpoints::put))
            .route("/app/{app_id}/endpoint/{ep}", patch().to(endpoints::patch))
            .route("/app/{app_id}/endpoint/{ep}", delete().to(endpoints::delete))
            .route(
                "/app/{app_id}/endpoint/{ep}/secret",
                get().to(endpoints::get_secret),
            )
            .route(
                "/app/{app_id}/endpoint/{ep}/secret/rotate",
                post().to(endpoints::rotate_secret),
            )
            .route(
                "/app/{app_id}/endpoint/{ep}/headers",
                get().to(endpoints::get_headers),
            )
            .route(
                "/app/{app_id}/endpoint/{ep}/headers",
                put().to(endpoints::put_headers),
            )
            .route(
                "/app/{app_id}/endpoint/{ep}/headers",
                patch().to(endpoints::patch_headers),
            )
            .route("/app/{app_id}/endpoint/{ep}/stats", get().to(endpoints::stats))
            .route("/app/{app_id}/endpoint/{ep}/line", get().to(endpoints::line))
            .route(
                "/app/{app_id}/endpoint/{ep}/line/release",
                post().to(endpoints::release_line),
            )
            .route(
                "/app/{app_id}/endpoint/{ep}/recover",
                post().to(endpoints::recover),
            )
            .route(
                "/app/{app_id}/endpoint/{ep}/msg",
                get().to(messages::messages_of_endpoint),
            )
            .route("/app/{app_id}/msg", get().to(messages::list))
            .route("/app/{app_id}/msg", post().to(messages::create))
            .route("/app/{app_id}/msg/{msg}", get().to(messages::get))
            .route(
                "/app/{app_id}/msg/{msg}/endpoint",
                get().to(messages::destinations_of_message),
            )
            .route(
                "/app/{app_id}/msg/{msg}/endpoint/{ep}/resend",
                post().to(messages::resend),
            )
            .route(
                "/app/{app_id}/msg/{msg}/attempt/{attempt}",
                get().to(messages::get_attempt),
            )
            .route(
                "/app/{app_id}/attempt/endpoint/{ep}",
                get().to(messages::attempts_by_endpoint),
            )
            .route(
                "/app/{app_id}/attempt/msg/{msg}",
                get().to(messages::attempts_by_message),
            )
            .route("/auth/app-portal-access/{app_id}", post().to(portal::access))
            .route("/operational-webhook/endpoint", get().to(operational::list))
            .route("/operational-webhook/endpoint", post().to(operational::create))
            .route("/operational-webhook/endpoint/{ep}", get().to(operational::get))
            .route("/operational-webhook/endpoint/{ep}", put().to(operational::put))
            .route(
                "/operational-webhook/endpoint/{ep}",
                delete().to(operational::delete),
            )
            .route(
                "/operational-webhook/endpoint/{ep}/secret",
                get().to(operational::get_secret),
            )
            .route(
                "/operational-webhook/endpoint/{ep}/secret/rotate",
                post().to(operational::rotate_secret),
            )
            .route(
                "/operational-webhook/endpoint/{ep}/headers",
                get().to(operational::get_headers),
            )
            .route(
                "/operational-webhook/endpoint/{ep}/headers",
                put().to(operational::put_headers),
            )
            .default_service(web::to(not_found));
        self.configure_metrics(cfg);
        cfg.app_data(self.gate.clone()).service(
            web::scope("/api/v1")
                .wrap(from_fn(metrics::observe))
                .route("/health", get().to(health::get))
                .route("/openapi.json", get().to(openapi::serve))
                .service(authenticated),
        );
    }
}

async fn not_found() -> actix_web::Result<HttpResponse> {
    Err(error::ApiError::http(
        actix_web::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such route in the Herald API",
    )
    .into())
}
