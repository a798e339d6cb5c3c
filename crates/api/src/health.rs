//! `GET /api/v1/health`: is this process up, and can it reach its database?

use std::time::Duration;

use actix_web::{HttpResponse, web};
use domain::Context;
use serde_json::json;

pub(crate) async fn get(ctx: web::Data<Context>) -> HttpResponse {
    let reachable = matches!(
        tokio::time::timeout(Duration::from_secs(2), ctx.db.ping()).await,
        Ok(Ok(()))
    );
    if reachable {
        HttpResponse::Ok().json(json!({ "status": "ok", "database": "reachable" }))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({ "status": "unavailable", "database": "unreachable" }))
    }
}
