//! Herald's OpenAPI 3.1 document, generated from the handlers and wire types.

use actix_web::HttpResponse;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::{applications, endpoints, environment, error, event_types, messages, operational, portal, tasks};

#[derive(OpenApi)]
#[openapi(
    info(title = "Herald API", description = "Svix-compatible webhook sending API."),
    modifiers(&Bearer),
    security(("HTTPBearer" = [])),
    paths(
        applications::list, applications::create, applications::get, applications::put,
        applications::patch, applications::delete,
        event_types::list, event_types::create, event_types::get, event_types::put,
        event_types::patch, event_types::delete, event_types::import_openapi,
        environment::export, environment::import,
        endpoints::list, endpoints::create, endpoints::get, endpoints::put, endpoints::patch,
        endpoints::delete, endpoints::get_secret, endpoints::rotate_secret, endpoints::get_headers,
        endpoints::put_headers, endpoints::patch_headers, endpoints::stats, endpoints::recover,
        endpoints::line, endpoints::release_line, endpoints::javascript_transformation,
        endpoints::set_javascript_transformation,
        messages::create, messages::list, messages::get, messages::attempts_by_endpoint,
        messages::attempts_by_message, messages::get_attempt, messages::destinations_of_message,
        messages::messages_of_endpoint, messages::resend, messages::send_example, messages::precheck, messages::expunge_content,
        messages::expunge_attempt_content,
        portal::access, portal::expire_all, portal::logout, portal::whoami,
        operational::list, operational::create, operational::get, operational::put,
        operational::delete, operational::get_secret, operational::rotate_secret,
        operational::get_headers, operational::put_headers,
        tasks::list, tasks::get, tasks::replay_missing, tasks::bulk_replay, tasks::expunge_all_contents,
        tasks::bulk_expunge,
    ),
    components(schemas(error::HttpErrorOut, error::HttpValidationError, error::ValidationError))
)]
struct HeraldApi;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "HTTPBearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// The document, pretty-printed: what `/api/v1/openapi.json` serves and what
/// `openapi.json` at the repository root must equal.
pub fn document() -> String {
    HeraldApi::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

pub(crate) async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}
