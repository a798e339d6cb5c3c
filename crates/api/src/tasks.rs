//! Background tasks: `/api/v1/background-task`, and the routes that start one (an
//! endpoint's `replay-missing` and `bulk-replay`, an application's
//! `expunge-all-contents`), plus `msg/bulk-expunge`, which Svix answers at once.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::{
    Context,
    entity::background_task::{self, Kind, Status},
    id::TaskId,
    pagination::Order,
    service::{
        application as apps, attempt as attempts,
        task::{self as tasks, ReplayFilter, TaskFilter, Window},
    },
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    error::{ApiError, ApiResult, HttpErrorOut, HttpValidationError},
    extract::{Body, Caller, QueryParams},
    wire::ListResponse,
};

/// A background task: what it is, where it stands, and what it has done (`data`:
/// `messagesSent` for replays and recoveries, `messagesPurged` for expunges, and
/// `error` once failed).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BackgroundTaskOut {
    /// `qtask_…`
    pub id: String,
    /// `running`, `finished` or `failed`.
    pub status: &'static str,
    /// `endpoint.replay`, `endpoint.recover`, `endpoint.bulk-replay` or
    /// `application.purge_content`.
    pub task: &'static str,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub updated_at: DateTime<Utc>,
}

impl From<background_task::Model> for BackgroundTaskOut {
    fn from(t: background_task::Model) -> Self {
        let mut data = serde_json::to_value(&t.data).unwrap_or_else(|_| serde_json::json!({}));
        if let (Some(error), Some(fields)) = (&t.error, data.as_object_mut()) {
            fields.insert("error".into(), error.clone().into());
        }
        Self {
            id: t.id.to_string(),
            status: t.status.as_str(),
            task: t.task.as_str(),
            data,
            updated_at: t.updated_at,
        }
    }
}

/// The answer to a request that started a task (Svix's `ReplayOut`,
/// `ExpungeAllContentsOut`, `RecoverOut`): the task as it stands, without its counts.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskStartedOut {
    pub id: String,
    pub status: &'static str,
    pub task: &'static str,
    pub updated_at: DateTime<Utc>,
}

fn started(t: &background_task::Model) -> HttpResponse {
    HttpResponse::Accepted().json(TaskStartedOut {
        id: t.id.to_string(),
        status: t.status.as_str(),
        task: t.task.as_str(),
        updated_at: t.updated_at,
    })
}

/// Every task name of Svix's API; those Herald never runs filter to an empty list.
pub(crate) const SVIX_TASKS: &[&str] = &[
    "endpoint.replay",
    "endpoint.recover",
    "application.stats",
    "message.broadcast",
    "sdk.generate",
    "event-type.aggregate",
    "application.purge_content",
    "endpoint.bulk-replay",
];

fn query_invalid(name: &str, msg: &str) -> ApiError {
    ApiError::invalid(vec!["query".into(), name.into()], msg, "value_error")
}

#[utoipa::path(get, path = "/api/v1/background-task", tag = "Background Task",
    params(("status" = Option<String>, Query, description = "`running`, `finished` or `failed`"),
        ("task" = Option<String>, Query, description = "a task type, e.g. `endpoint.replay`"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 250), ("iterator" = Option<String>, Query),
        ("order" = Option<String>, Query, description = "`ascending` or `descending` (the default)")),
    responses((status = 200, body = ListResponse<BackgroundTaskOut>), (status = 401, body = HttpErrorOut),
        (status = 422, body = HttpValidationError)))]
/// The tenant's background tasks, newest first unless asked otherwise.
pub(crate) async fn list(
    ctx: web::Data<Context>,
    caller: Caller,
    query: QueryParams,
) -> ApiResult<HttpResponse> {
    let page = query.page(Order::Descending, |k| TaskId::parse(k).is_ok())?;
    let status = match query.given("status") {
        None => None,
        Some("running") => Some(Status::Running),
        Some("finished") => Some(Status::Finished),
        Some("failed") => Some(Status::Failed),
        Some(_) => return Err(query_invalid("status", "must be running, finished or failed")),
    };
    let kind = match query.one("task") {
        None => None,
        Some(name) => match [Kind::Replay, Kind::Recover, Kind::BulkReplay, Kind::PurgeContent]
            .into_iter()
            .find(|k| k.as_str() == name)
        {
            Some(kind) => Some(kind),
            None if SVIX_TASKS.contains(&name) => {
                return Ok(HttpResponse::Ok().json(ListResponse::<BackgroundTaskOut> {
                    data: Vec::new(),
                    iterator: None,
                    prev_iterator: None,
                    done: true,
                }));
            }
            None => return Err(query_invalid("task", "is not a background task type")),
        },
    };
    let found = tasks::list(&ctx.db, &caller.0.tenant, &page, TaskFilter { status, kind }).await?;
    Ok(HttpResponse::Ok().json(ListResponse::from_page(found, BackgroundTaskOut::from)))
}

#[utoipa::path(get, path = "/api/v1/background-task/{task_id}", tag = "Background Task",
    params(("task_id" = String, Path)),
    responses((status = 200, body = BackgroundTaskOut), (status = 401, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut)))]
/// One background task.
pub(crate) async fn get(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let found = tasks::get(&ctx.db, &caller.0.tenant, &path).await?;
    Ok(HttpResponse::Ok().json(BackgroundTaskOut::from(found)))
}

/// A window of messages: created at or after `since`, and before `until` (now if absent).
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ReplayIn {
    pub since: DateTime<Utc>,
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
}

#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/replay-missing", tag = "Endpoint",
    request_body = ReplayIn,
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 202, body = TaskStartedOut), (status = 401, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
/// Starts an `endpoint.replay` task: every message of the window that the endpoint would
/// take (its event types, channels and filter) and never had is delivered to it.
pub(crate) async fn replay_missing(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<(String, String)>,
    Body(input): Body<ReplayIn>,
) -> ApiResult<HttpResponse> {
    let window = Window::parse(input.since, input.until)?;
    let task = tasks::replay_missing(
        &ctx,
        &caller.0.tenant,
        &path.0,
        &path.1,
        window,
        &caller.0.actor(),
    )
    .await?;
    Ok(started(&task))
}

/// A window of messages and which of the endpoint's deliveries of them to send again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BulkReplayIn {
    pub since: DateTime<Utc>,
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    /// The delivery's status: 0 success, 1 pending, 2 fail, 3 sending, 4 canceled. Only
    /// finished deliveries (0, 2) are sent again: the others are on their way already, and
    /// Herald cancels none.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 4)]
    pub status: Option<i64>,
    /// Deliveries with a try whose response was of this class: 0 (no response), 100 … 500.
    #[serde(default)]
    pub status_code_class: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/bulk-replay", tag = "Endpoint",
    request_body = BulkReplayIn,
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 202, body = TaskStartedOut), (status = 401, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
/// Starts an `endpoint.bulk-replay` task: the endpoint's deliveries of the window's
/// messages, successful and failed, that pass the filters are sent again.
pub(crate) async fn bulk_replay(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<(String, String)>,
    Body(input): Body<BulkReplayIn>,
) -> ApiResult<HttpResponse> {
    let window = Window::parse(input.since, input.until)?;
    let filter = ReplayFilter::parse(
        input.event_types.as_deref().unwrap_or_default(),
        input.channel.as_deref(),
        input.tag.as_deref(),
        input.status,
        input.status_code_class,
    )?;
    let task = tasks::bulk_replay(
        &ctx,
        &caller.0.tenant,
        &path.0,
        &path.1,
        window,
        filter,
        &caller.0.actor(),
    )
    .await?;
    Ok(started(&task))
}

#[utoipa::path(post, path = "/api/v1/app/{app_id}/msg/expunge-all-contents", tag = "Message",
    params(("app_id" = String, Path)),
    responses((status = 202, body = TaskStartedOut), (status = 401, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut)))]
/// Starts an `application.purge_content` task: the payload of every message the
/// application has now is erased, as `DELETE …/msg/{msg_id}/content` erases one.
pub(crate) async fn expunge_all_contents(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let task = tasks::purge_content(&ctx, &caller.0.tenant, &path, &caller.0.actor()).await?;
    Ok(started(&task))
}

/// The messages whose payloads to erase, by id or `eventId`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct BulkExpungeContentsIn {
    #[serde(default)]
    pub ids: Vec<String>,
}

/// For each id asked for: `expunged`, or `not-found`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BulkExpungeContentsOut {
    #[schema(value_type = BTreeMap<String, String>)]
    pub results: BTreeMap<String, &'static str>,
}

#[utoipa::path(post, path = "/api/v1/app/{app_id}/msg/bulk-expunge", tag = "Message",
    request_body = BulkExpungeContentsIn,
    params(("app_id" = String, Path)),
    responses((status = 200, body = BulkExpungeContentsOut), (status = 401, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
/// Erases the payloads of the named messages now, as `DELETE …/msg/{msg_id}/content`
/// erases one; they can no longer be resent or replayed.
pub(crate) async fn bulk_expunge(
    ctx: web::Data<Context>,
    caller: Caller,
    path: web::Path<String>,
    Body(input): Body<BulkExpungeContentsIn>,
) -> ApiResult<HttpResponse> {
    let app = apps::find(&ctx.db, &caller.0.tenant, &path).await?;
    let results =
        attempts::expunge_messages(&ctx, &caller.0.tenant, &app.id, &input.ids, &caller.0.actor()).await?;
    let results = results
        .into_iter()
        .map(|(name, found)| (name, if found { "expunged" } else { "not-found" }))
        .collect();
    Ok(HttpResponse::Ok().json(BulkExpungeContentsOut { results }))
}
