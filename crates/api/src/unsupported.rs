//! The routes of the official Svix SDKs that Herald does not serve. Each answers
//! `501 {code: "not_supported", detail}` naming the feature, so a caller learns at once that
//! the call reached Herald and why it did nothing, instead of a 404 that reads like a typo.
//! `tests/sdk/routes.txt` lists every route the SDKs call; a test checks each one is served
//! or listed here.

use actix_web::{HttpResponse, http::Method};

use crate::error::HttpErrorOut;

/// (method, path under `/api/v1`, the feature it belongs to).
pub(crate) const ROUTES: &[(Method, &str, &str)] = &[
    (
        Method::GET,
        "/app/{app_id}/endpoint/{ep}/attempt-stats",
        ATTEMPT_STATS,
    ),
    (Method::GET, "/app/{app_id}/events", EVENTS),
    (Method::GET, "/app/{app_id}/events/subscription/{sub}", EVENTS),
    (Method::POST, "/stats/usage/app", USAGE),
    (Method::PUT, "/stats/usage/event-types", USAGE),
    // Non-HTTP destinations and the ways to configure them.
    (Method::GET, "/app/{app_id}/destination", DESTINATIONS),
    (Method::POST, "/app/{app_id}/destination", DESTINATIONS),
    (Method::GET, "/app/{app_id}/destination/{dest}", DESTINATIONS),
    (Method::PUT, "/app/{app_id}/destination/{dest}", DESTINATIONS),
    (Method::PATCH, "/app/{app_id}/destination/{dest}", DESTINATIONS),
    (Method::DELETE, "/app/{app_id}/destination/{dest}", DESTINATIONS),
    (
        Method::POST,
        "/app/{app_id}/destination/{dest}/secret/rotate",
        DESTINATIONS,
    ),
    (
        Method::GET,
        "/app/{app_id}/destination/{dest}/transformation",
        DESTINATIONS,
    ),
    (
        Method::PATCH,
        "/app/{app_id}/destination/{dest}/transformation",
        DESTINATIONS,
    ),
    (Method::POST, "/app/{app_id}/autoconfig", AUTOCONFIG),
    (Method::GET, "/app/{app_id}/autoconfig/{id}", AUTOCONFIG),
    (Method::DELETE, "/app/{app_id}/autoconfig/{id}", AUTOCONFIG),
    (Method::POST, "/app/{app_id}/autoconfig/{id}/rotate", AUTOCONFIG),
    (
        Method::PUT,
        "/app/{app_id}/autoconfig/{id}/destination",
        AUTOCONFIG,
    ),
    (Method::PUT, "/app/{app_id}/autoconfig/{id}/endpoint", AUTOCONFIG),
    (Method::PUT, "/app/{app_id}/endpoint/{ep}/auto-config", AUTOCONFIG),
    (Method::GET, "/app/{app_id}/integration", INTEGRATIONS),
    (Method::POST, "/app/{app_id}/integration", INTEGRATIONS),
    (Method::GET, "/app/{app_id}/integration/{id}", INTEGRATIONS),
    (Method::PUT, "/app/{app_id}/integration/{id}", INTEGRATIONS),
    (Method::DELETE, "/app/{app_id}/integration/{id}", INTEGRATIONS),
    (
        Method::POST,
        "/app/{app_id}/integration/{id}/key/rotate",
        INTEGRATIONS,
    ),
    (Method::GET, "/app/{app_id}/poller/{sink}", POLLING),
    (
        Method::GET,
        "/app/{app_id}/poller/{sink}/consumer/{consumer}",
        POLLING,
    ),
    (
        Method::POST,
        "/app/{app_id}/poller/{sink}/consumer/{consumer}/seek",
        POLLING,
    ),
    (
        Method::GET,
        "/app/{app_id}/polling-endpoint/{sink}/consumer/{consumer}",
        POLLING,
    ),
    (
        Method::POST,
        "/app/{app_id}/polling-endpoint/{sink}/consumer/{consumer}/commit",
        POLLING,
    ),
    (Method::GET, "/connector", CONNECTORS),
    (Method::POST, "/connector", CONNECTORS),
    (Method::GET, "/connector/{id}", CONNECTORS),
    (Method::PUT, "/connector/{id}", CONNECTORS),
    (Method::PATCH, "/connector/{id}", CONNECTORS),
    (Method::DELETE, "/connector/{id}", CONNECTORS),
    // Svix Stream.
    (Method::GET, "/stream", STREAM),
    (Method::POST, "/stream", STREAM),
    (Method::GET, "/stream/{stream}", STREAM),
    (Method::PUT, "/stream/{stream}", STREAM),
    (Method::PATCH, "/stream/{stream}", STREAM),
    (Method::DELETE, "/stream/{stream}", STREAM),
    (Method::POST, "/stream/{stream}/events", STREAM),
    (Method::GET, "/stream/{stream}/sink", STREAM),
    (Method::POST, "/stream/{stream}/sink", STREAM),
    (Method::GET, "/stream/{stream}/sink/{sink}", STREAM),
    (Method::PUT, "/stream/{stream}/sink/{sink}", STREAM),
    (Method::PATCH, "/stream/{stream}/sink/{sink}", STREAM),
    (Method::DELETE, "/stream/{stream}/sink/{sink}", STREAM),
    (Method::GET, "/stream/{stream}/sink/{sink}/events", STREAM),
    (Method::GET, "/stream/{stream}/sink/{sink}/headers", STREAM),
    (Method::PATCH, "/stream/{stream}/sink/{sink}/headers", STREAM),
    (Method::GET, "/stream/{stream}/sink/{sink}/secret", STREAM),
    (Method::POST, "/stream/{stream}/sink/{sink}/secret/rotate", STREAM),
    (Method::GET, "/stream/{stream}/sink/{sink}/transformation", STREAM),
    (
        Method::PATCH,
        "/stream/{stream}/sink/{sink}/transformation",
        STREAM,
    ),
    (Method::GET, "/stream/event-type", STREAM),
    (Method::POST, "/stream/event-type", STREAM),
    (Method::GET, "/stream/event-type/{name}", STREAM),
    (Method::PUT, "/stream/event-type/{name}", STREAM),
    (Method::PATCH, "/stream/event-type/{name}", STREAM),
    (Method::DELETE, "/stream/event-type/{name}", STREAM),
    (Method::POST, "/auth/stream-logout", STREAM),
    (Method::POST, "/auth/stream-portal-access/{stream}", STREAM),
    (Method::POST, "/auth/stream/{stream}/expire-all", STREAM),
    (
        Method::GET,
        "/auth/stream/{stream}/sink/{sink}/poller/token",
        STREAM,
    ),
    (
        Method::POST,
        "/auth/stream/{stream}/sink/{sink}/poller/token/rotate",
        STREAM,
    ),
];

const ATTEMPT_STATS: &str = "attempt statistics by day (GET …/endpoint/{endpoint_id}/stats has the totals)";
const EVENTS: &str = "the events polling API";
const USAGE: &str = "usage statistics";
const DESTINATIONS: &str = "non-HTTP destinations";
const AUTOCONFIG: &str = "endpoint auto-configuration";
const INTEGRATIONS: &str = "integrations";
const POLLING: &str = "polling endpoints";
const CONNECTORS: &str = "connectors";
const STREAM: &str = "Svix Stream";

/// The answer of every route in [`ROUTES`].
pub(crate) fn answer(feature: &str) -> HttpResponse {
    HttpResponse::NotImplemented().json(HttpErrorOut {
        code: "not_supported".to_owned(),
        detail: format!("Herald does not support {feature}; the README lists what it serves"),
    })
}
