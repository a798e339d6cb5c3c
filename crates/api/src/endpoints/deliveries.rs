//! An endpoint's deliveries: counts by status, recovery of failed ones, and where they
//! stand with its rate and its line (Herald's extension).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::{
    Context,
    service::{delivery::lane, endpoint as endpoints, endpoint_health},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppEp;
use crate::{
    error::{ApiResult, HttpErrorOut},
    extract::{Body, Caller, QueryParams},
};

#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct EndpointStats {
    pub success: i64,
    pub pending: i64,
    pub sending: i64,
    pub fail: i64,
    pub canceled: i64,
}

#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path), ("since" = Option<String>, Query), ("until" = Option<String>, Query)),
    responses((status = 200, body = EndpointStats), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn stats(
    ctx: web::Data<Context>,
    caller: Caller,
    path: AppEp,
    query: QueryParams,
) -> ApiResult<HttpResponse> {
    let (since, until) = (query.time("since")?, query.time("until")?);
    let ep = endpoints::find_in_app(&ctx.db, &caller.0.tenant, &path.0, &path.1).await?;
    let s = endpoint_health::stats(&ctx.db, &caller.0.tenant, &ep, since, until).await?;
    Ok(HttpResponse::Ok().json(EndpointStats {
        success: s.success,
        pending: s.pending,
        sending: s.sending,
        fail: s.fail,
        canceled: 0,
    }))
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
pub(crate) struct RecoverIn {
    /// Failed deliveries of messages sent at or after this time are tried again.
    pub since: DateTime<Utc>,
    /// …and before this time, if given.
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RecoverOut {
    pub id: String,
    /// `running` until a worker has queued the tries (`GET /api/v1/background-task/{id}`).
    pub status: &'static str,
    pub task: &'static str,
    pub updated_at: DateTime<Utc>,
}

/// Starts a background task that queues a new try of every failed delivery to the
/// endpoint in the window.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover", tag = "Endpoint",
    request_body = RecoverIn,
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 202, body = RecoverOut), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn recover(
    ctx: web::Data<Context>,
    caller: Caller,
    path: AppEp,
    Body(input): Body<RecoverIn>,
) -> ApiResult<HttpResponse> {
    let window = domain::service::task::Window::parse(input.since, input.until)?;
    let task = domain::service::task::recover(
        &ctx,
        &caller.0.tenant,
        &path.0,
        &path.1,
        window,
        &caller.0.actor(),
    )
    .await?;
    tracing::info!(task = %task.id, endpoint = %path.1, "recovery started");
    Ok(HttpResponse::Accepted().json(RecoverOut {
        id: task.id.to_string(),
        status: task.status.as_str(),
        task: task.task.as_str(),
        updated_at: task.updated_at,
    }))
}

/// Where an endpoint's deliveries stand with its rate and its line.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LineOut {
    /// The message at the head of the line (ordered endpoints).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// Unfinished deliveries behind the head.
    pub behind: i64,
    /// The finally failed message that stopped the line, if it is stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<String>,
    /// Deliveries held back by the endpoint's rate.
    pub held_by_rate: i64,
    /// When the rate lets the next delivery go, if that is later than now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_turn: Option<DateTime<Utc>>,
}

/// Herald's extension: the endpoint's line (ordered delivery) and rate, as they stand.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/line", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 200, body = LineOut), (status = 404, body = HttpErrorOut)))]
pub(crate) async fn line(ctx: web::Data<Context>, caller: Caller, path: AppEp) -> ApiResult<HttpResponse> {
    let ep = endpoints::find_in_app(&ctx.db, &caller.0.tenant, &path.0, &path.1).await?;
    let s = lane::standing(&ctx.db, ctx.backend, &caller.0.tenant, &ep, Utc::now()).await?;
    Ok(HttpResponse::Ok().json(LineOut {
        head: s.head.map(|m| m.to_string()),
        behind: s.behind,
        stopped_by: s.stopped_by.map(|m| m.to_string()),
        held_by_rate: s.held_by_rate,
        next_turn: s.next_turn,
    }))
}

/// Herald's extension: restarts a line stopped by a failed message (`orderedOnFailure:
/// stop`); the next message goes and the failed one stays failed. 409 when the line is
/// not stopped.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/line/release", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 204), (status = 404, body = HttpErrorOut), (status = 409, body = HttpErrorOut)))]
pub(crate) async fn release_line(
    ctx: web::Data<Context>,
    caller: Caller,
    path: AppEp,
) -> ApiResult<HttpResponse> {
    let ep = endpoints::find_in_app(&ctx.db, &caller.0.tenant, &path.0, &path.1).await?;
    if !lane::release(&ctx, &caller.0.tenant, &ep, &caller.0.actor()).await? {
        return Err(domain::Error::Conflict("the endpoint's line is not stopped".into()).into());
    }
    Ok(HttpResponse::NoContent().finish())
}
