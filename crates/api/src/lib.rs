//! Herald's REST API under `/api/v1`: Svix-compatible handlers, thin over `domain`.
//!
//! Every authenticated route passes the [`gate::Gate`] (token, rate limit, idempotency);
//! handlers parse input into domain types, call one service, and shape the answer.

mod applications;
mod endpoints;
mod environment;
pub mod error;
mod event_types;
mod extract;
mod gate;
mod health;
mod inspector;
mod messages;
mod metrics;
mod openapi;
mod operational;
mod portal;
mod tasks;
mod unsupported;
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

    /// Registers every API route. The routes of one path form one resource, so a method
    /// the path does not have answers 405 with `Allow`; the SDK routes Herald does not serve
    /// answer 501 (see [`unsupported`]).
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        use actix_web::http::Method;
        use web::to;
        const GET: Method = Method::GET;
        const POST: Method = Method::POST;
        const PUT: Method = Method::PUT;
        const PATCH: Method = Method::PATCH;
        const DELETE: Method = Method::DELETE;
        let mut table: Vec<(&'static str, Vec<(Method, actix_web::Route)>)> = vec![
            (
                "/app",
                vec![(GET, to(applications::list)), (POST, to(applications::create))],
            ),
            (
                "/app/{app_id}",
                vec![
                    (GET, to(applications::get)),
                    (PUT, to(applications::put)),
                    (PATCH, to(applications::patch)),
                    (DELETE, to(applications::delete)),
                ],
            ),
            (
                "/event-type",
                vec![(GET, to(event_types::list)), (POST, to(event_types::create))],
            ),
            (
                "/event-type/import/openapi",
                vec![(POST, to(event_types::import_openapi))],
            ),
            ("/environment/export", vec![(POST, to(environment::export))]),
            ("/environment/import", vec![(POST, to(environment::import))]),
            (
                "/event-type/{name}",
                vec![
                    (GET, to(event_types::get)),
                    (PUT, to(event_types::put)),
                    (PATCH, to(event_types::patch)),
                    (DELETE, to(event_types::delete)),
                ],
            ),
            (
                "/app/{app_id}/endpoint",
                vec![(GET, to(endpoints::list)), (POST, to(endpoints::create))],
            ),
            (
                "/app/{app_id}/endpoint/{ep}",
                vec![
                    (GET, to(endpoints::get)),
                    (PUT, to(endpoints::put)),
                    (PATCH, to(endpoints::patch)),
                    (DELETE, to(endpoints::delete)),
                ],
            ),
            (
                "/app/{app_id}/endpoint/{ep}/secret",
                vec![(GET, to(endpoints::get_secret))],
            ),
            (
                "/app/{app_id}/endpoint/{ep}/secret/rotate",
                vec![(POST, to(endpoints::rotate_secret))],
            ),
            (
                "/app/{app_id}/endpoint/{ep}/verification",
                vec![(POST, to(endpoints::restart_verification))],
            ),
            (
                "/app/{app_id}/endpoint/{ep}/headers",
                vec![
                    (GET, to(endpoints::get_headers)),
                    (PUT, to(endpoints::put_headers)),
                    (PATCH, to(endpoints::patch_headers)),
                ],
            ),
            (
                "/app/{app_id}/endpoint/{ep}/stats",
                vec![(GET, to(endpoints::stats))],
            ),
            (
                "/app/{app_id}/endpoint/{ep}/line",
                vec![(GET, to(endpoints::line))],
            ),
            (
                "/app/{app_id}/endpoint/{ep}/line/release",
                vec![(POST, to(endpoints::release_line))],
            ),
            (
                "/app/{app_id}/endpoint/{ep}/recover",
                vec![(POST, to(endpoints::recover))],
            ),
            (
                "/app/{app_id}/endpoint/{ep}/replay-missing",
                vec![(POST, to(tasks::replay_missing))],
            ),
            (
                "/app/{app_id}/endpoint/{ep}/bulk-replay",
                vec![(POST, to(tasks::bulk_replay))],
            ),
            (
                "/app/{app_id}/endpoint/{ep}/transformation",
                vec![
                    (GET, to(endpoints::javascript_transformation)),
                    (PATCH, to(endpoints::set_javascript_transformation)),
                ],
            ),
            (
                "/app/{app_id}/endpoint/{ep}/transformation/simulate",
                vec![(POST, to(endpoints::javascript_transformation))],
            ),
            (
                "/app/{app_id}/endpoint/{ep}/msg",
                vec![(GET, to(messages::messages_of_endpoint))],
            ),
            (
                "/app/{app_id}/msg",
                vec![(GET, to(messages::list)), (POST, to(messages::create))],
            ),
            (
                "/app/{app_id}/msg/precheck/active",
                vec![(POST, to(messages::precheck))],
            ),
            (
                "/app/{app_id}/endpoint/{ep}/send-example",
                vec![(POST, to(messages::send_example))],
            ),
            (
                "/app/{app_id}/msg/expunge-all-contents",
                vec![(POST, to(tasks::expunge_all_contents))],
            ),
            (
                "/app/{app_id}/msg/bulk-expunge",
                vec![(POST, to(tasks::bulk_expunge))],
            ),
            ("/app/{app_id}/msg/{msg}", vec![(GET, to(messages::get))]),
            (
                "/app/{app_id}/msg/{msg}/content",
                vec![(DELETE, to(messages::expunge_content))],
            ),
            (
                "/app/{app_id}/msg/{msg}/attempt/{attempt}/content",
                vec![(DELETE, to(messages::expunge_attempt_content))],
            ),
            (
                "/app/{app_id}/msg/{msg}/endpoint",
                vec![(GET, to(messages::destinations_of_message))],
            ),
            (
                "/app/{app_id}/msg/{msg}/endpoint/{ep}/resend",
                vec![(POST, to(messages::resend))],
            ),
            (
                "/app/{app_id}/msg/{msg}/attempt/{attempt}",
                vec![(GET, to(messages::get_attempt))],
            ),
            (
                "/app/{app_id}/attempt/endpoint/{ep}",
                vec![(GET, to(messages::attempts_by_endpoint))],
            ),
            (
                "/app/{app_id}/attempt/msg/{msg}",
                vec![(GET, to(messages::attempts_by_message))],
            ),
            (
                "/inspector",
                vec![(GET, to(inspector::list)), (POST, to(inspector::create))],
            ),
            (
                "/inspector/{inbox_id}",
                vec![
                    (GET, to(inspector::get)),
                    (PATCH, to(inspector::patch)),
                    (DELETE, to(inspector::delete)),
                ],
            ),
            (
                "/inspector/{inbox_id}/request",
                vec![(GET, to(inspector::requests))],
            ),
            (
                "/inspector/{inbox_id}/request/{request_id}",
                vec![(GET, to(inspector::request))],
            ),
            (
                "/inspector/{inbox_id}/request/{request_id}/verify",
                vec![(POST, to(inspector::verify))],
            ),
            ("/background-task", vec![(GET, to(tasks::list))]),
            ("/background-task/{task_id}", vec![(GET, to(tasks::get))]),
            (
                "/auth/app-portal-access/{app_id}",
                vec![(POST, to(portal::access))],
            ),
            (
                "/auth/app/{app_id}/expire-all",
                vec![(POST, to(portal::expire_all))],
            ),
            ("/auth/logout", vec![(POST, to(portal::logout))]),
            ("/auth/whoami", vec![(GET, to(portal::whoami))]),
            (
                "/operational-webhook/endpoint",
                vec![(GET, to(operational::list)), (POST, to(operational::create))],
            ),
            (
                "/operational-webhook/endpoint/{ep}",
                vec![
                    (GET, to(operational::get)),
                    (PUT, to(operational::put)),
                    (DELETE, to(operational::delete)),
                ],
            ),
            (
                "/operational-webhook/endpoint/{ep}/secret",
                vec![(GET, to(operational::get_secret))],
            ),
            (
                "/operational-webhook/endpoint/{ep}/secret/rotate",
                vec![(POST, to(operational::rotate_secret))],
            ),
            (
                "/operational-webhook/endpoint/{ep}/headers",
                vec![
                    (GET, to(operational::get_headers)),
                    (PUT, to(operational::put_headers)),
                ],
            ),
        ];
        for (method, path, feature) in unsupported::ROUTES {
            let route = to(move || async move { unsupported::answer(feature) });
            match table.iter_mut().find(|(p, _)| p == path) {
                Some((_, routes)) => routes.push((method.clone(), route)),
                None => table.push((path, vec![(method.clone(), route)])),
            }
        }
        // A literal segment before a parameter in the same place: `/app/{app_id}/msg/bulk-expunge`
        // must be tried before `/app/{app_id}/msg/{msg}`.
        table.sort_by_key(|(path, _)| path.matches('{').count());
        let mut authenticated = web::scope("").wrap(from_fn(gate::gate));
        for (path, routes) in table {
            authenticated = authenticated.service(resource(path, routes));
        }
        let authenticated = authenticated.default_service(web::to(not_found));
        self.configure_metrics(cfg);
        // `herald listen` takes an inbox's requests and answers them; the token is the credential.
        cfg.service(
            web::scope("/in-relay")
                .service(resource("/{token}", vec![(GET, to(inspector::relay::poll))]))
                .service(resource(
                    "/{token}/{request_id}/claim",
                    vec![(POST, to(inspector::relay::claim))],
                ))
                .service(resource(
                    "/{token}/{request_id}",
                    vec![(POST, to(inspector::relay::answer))],
                )),
        );
        // Inspector inboxes receive outside the API: any method, no bearer token.
        cfg.service(
            web::scope("/in")
                .service(web::resource(["/{token}", "/{token}/{tail:.*}"]).to(inspector::receive)),
        );
        cfg.app_data(self.gate.clone()).service(
            web::scope("/api/v1")
                .wrap(from_fn(metrics::observe))
                .service(resource("/health", vec![(GET, to(health::get))]))
                .service(resource("/openapi.json", vec![(GET, to(openapi::serve))]))
                .service(authenticated),
        );
    }
}

/// One path's routes, and a 405 naming the methods it has for any other.
fn resource(path: &str, routes: Vec<(actix_web::http::Method, actix_web::Route)>) -> actix_web::Resource {
    let allowed = routes
        .iter()
        .map(|(method, _)| method.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut resource = web::resource(path);
    for (method, route) in routes {
        resource = resource.route(route.method(method));
    }
    resource.default_service(web::to(move |req: actix_web::HttpRequest| {
        let allowed = allowed.clone();
        async move {
            HttpResponse::MethodNotAllowed()
                .insert_header((actix_web::http::header::ALLOW, allowed.clone()))
                .json(error::HttpErrorOut {
                    code: "method_not_allowed".to_owned(),
                    detail: format!("{} is not allowed here; this path allows {allowed}", req.method()),
                })
        }
    }))
}

async fn not_found() -> actix_web::Result<HttpResponse> {
    Err(error::ApiError::http(
        actix_web::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such route in the Herald API",
    )
    .into())
}
