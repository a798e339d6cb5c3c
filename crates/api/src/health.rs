//! `GET /api/v1/health`: is this process up, and can it reach what it depends on? A 503
//! names each dependency that is down (today the one there is: the database).

use std::time::Duration;

use actix_web::{HttpResponse, http::header, web};
use domain::Context;
use serde_json::json;

use crate::error::RETRY_AFTER_SECONDS;

pub(crate) async fn get(ctx: web::Data<Context>) -> HttpResponse {
    let reachable = match tokio::time::timeout(Duration::from_secs(2), ctx.db.ping()).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %domain::error::chain(&e), "health: the database is unreachable");
            false
        }
        Err(_) => {
            tracing::warn!("health: the database did not answer within 2 s");
            false
        }
    };
    if reachable {
        HttpResponse::Ok().json(json!({ "status": "ok", "database": "reachable", "down": [] }))
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS.to_string()))
            .json(json!({ "status": "unavailable", "database": "unreachable", "down": ["database"] }))
    }
}
