//! Herald's OpenAPI 3.1 document, generated from the handlers and wire types, with the
//! rules the server enforces on input written in (`constraints`).

mod constraints;

use actix_web::HttpResponse;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::{
    applications, endpoints, environment, error, event_types, inspector, messages, operational, portal, tasks,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Herald API", description = "Svix-compatible webhook sending API. No text in a request body may contain the NUL character (`\\u0000`)."),
    modifiers(&Bearer, &ErrorAnswers),
    security(("HTTPBearer" = [])),
    paths(
        applications::list, applications::create, applications::get, applications::put,
        applications::patch, applications::delete,
        event_types::list, event_types::create, event_types::get, event_types::put,
        event_types::patch, event_types::delete, event_types::import_openapi,
        environment::export, environment::import,
        endpoints::list, endpoints::create, endpoints::get, endpoints::put, endpoints::patch,
        endpoints::delete, endpoints::get_secret, endpoints::rotate_secret, endpoints::restart_verification,
        endpoints::get_headers,
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
        inspector::create, inspector::list, inspector::get, inspector::patch, inspector::delete,
        inspector::requests, inspector::request, inspector::verify,
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

/// The answers every operation may give besides its own, so that the document lists every
/// status the server can send: the gate's (401 without a valid token, 429 over the
/// tenant's rate, 503 while the database is away), 404 for a path naming something
/// absent, 409 for any write (a unique value taken; on a POST also an `idempotency-key`
/// still in flight), 422 for any POST (an `idempotency-key` reused for another request)
/// and for bad input, 413 for a body over 1 MiB.
struct ErrorAnswers;

impl Modify for ErrorAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{
            ContentBuilder, PathItem, Ref, ResponseBuilder,
            path::{Operation, ParameterIn},
        };
        let answer = |description: &str, schema: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(schema)))
                        .build(),
                )
                .build()
        };
        let add = |op: &mut Operation, path: &str, post: bool, write: bool| {
            let has_body = op.request_body.is_some();
            let has_query = op
                .parameters
                .iter()
                .flatten()
                .any(|p| p.parameter_in == ParameterIn::Query);
            let mut wanted = vec![
                ("401", answer("No valid API token.", "HttpErrorOut")),
                (
                    "429",
                    answer("Over the tenant's request rate; retry later.", "HttpErrorOut"),
                ),
                (
                    "503",
                    answer("The database is unavailable; retry later.", "HttpErrorOut"),
                ),
            ];
            if path.contains('{') {
                wanted.push((
                    "404",
                    answer("Nothing of that id in this tenant.", "HttpErrorOut"),
                ));
            }
            if write {
                wanted.push((
                    "409",
                    answer(
                        "A conflict: a request with this idempotency-key is in flight, or a unique value is taken.",
                        "HttpErrorOut",
                    ),
                ));
            }
            if post || has_body || has_query {
                wanted.push((
                    "422",
                    answer(
                        "The input is not valid; `detail` says where and why.",
                        "HttpValidationError",
                    ),
                ));
            }
            if has_body {
                wanted.push(("413", answer("The body is over 1 MiB.", "HttpErrorOut")));
            }
            for (status, response) in wanted {
                op.responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| response.into());
            }
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let PathItem {
                get,
                put,
                post,
                delete,
                patch,
                ..
            } = item;
            for op in [get, delete].into_iter().flatten() {
                add(op, path, false, false);
            }
            for op in [put, patch].into_iter().flatten() {
                add(op, path, false, true);
            }
            if let Some(op) = post {
                add(op, path, true, true);
            }
        }
    }
}

/// The document, pretty-printed: what `/api/v1/openapi.json` serves and what
/// `openapi.json` at the repository root must equal.
pub fn document() -> String {
    let written = serde_json::to_value(HeraldApi::openapi()).and_then(|mut doc| {
        let missing = constraints::apply(&mut doc);
        debug_assert!(missing.is_empty(), "rules without a field: {missing:?}");
        serde_json::to_string_pretty(&doc)
    });
    written.unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

pub(crate) async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}
