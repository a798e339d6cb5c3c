//! Background tasks, Svix's `qtask_…`: work over many rows that a request asks for and a
//! worker does. A request writes the task (`running`) with its audit entry in one
//! transaction; a worker claims it under a lease and runs it in chunks of [`CHUNK`] rows,
//! each chunk one transaction that applies its effect, saves the progress (`cursor`, the
//! counts in `data`) and renews the lease. A worker that dies leaves a task whose lease
//! runs out; the next claim resumes it after its cursor, so no chunk is done twice.
//!
//! | task | from | does |
//! |---|---|---|
//! | `endpoint.replay` | `replay-missing` | a delivery of every message of the window the endpoint would take now and never had |
//! | `endpoint.recover` | `recover` | the endpoint's failed deliveries of the window, tried again |
//! | `endpoint.bulk-replay` | `bulk-replay` | the endpoint's finished deliveries of the window that pass the filters, sent again |
//! | `application.purge_content` | `expunge-all-contents` | every payload of the application erased |

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
    sea_query::{Expr, LockBehavior, LockType},
};

use super::{
    application,
    attempt::StatusCodeClass,
    audit::{self, Actor, Target},
    endpoint as endpoints,
};
use crate::{
    Context, DbContext, Error, Result,
    db::Backend,
    entity::background_task::{self, Kind, Params, Progress, Status},
    id::{EndpointId, TaskId, TenantId},
    pagination::{self, PageRequest, Paged},
    scope::TenantScoped,
    values::{Channel, EventTypeName},
};

mod chunk;

/// Rows one chunk of a task handles, in one transaction.
pub const CHUNK: u64 = 500;

/// How long a claim holds a task. Every chunk renews it, so it only bounds how long the
/// task of a worker that died waits for another.
pub const LEASE: Duration = Duration::seconds(60);

/// Finished and failed tasks are kept this long, then deleted (as on Svix).
pub const KEPT: Duration = Duration::days(90);

/// The messages a task covers: created in `[since, until)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub since: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

impl Window {
    pub fn parse(since: DateTime<Utc>, until: Option<DateTime<Utc>>) -> Result<Self> {
        if until.is_some_and(|u| u <= since) {
            return Err(Error::invalid("until", "must be after `since`"));
        }
        Ok(Self { since, until })
    }
}

/// Which of the endpoint's deliveries a bulk replay sends again, besides its window.
#[derive(Clone, Debug, Default)]
pub struct ReplayFilter {
    pub event_types: Vec<EventTypeName>,
    pub channel: Option<Channel>,
    pub tag: Option<Channel>,
    /// Svix's `MessageStatus`: 0 success, 1 pending, 2 fail, 3 sending, 4 canceled.
    pub status: Option<u8>,
    pub status_code_class: Option<StatusCodeClass>,
}

impl ReplayFilter {
    /// Reads the filters of a `bulk-replay` body.
    pub fn parse(
        event_types: &[String],
        channel: Option<&str>,
        tag: Option<&str>,
        status: Option<i64>,
        status_code_class: Option<i64>,
    ) -> Result<Self> {
        let mut types: Vec<EventTypeName> = Vec::with_capacity(event_types.len());
        for (i, name) in event_types.iter().enumerate() {
            let parsed = EventTypeName::parse(name).map_err(|e| e.at(format!("eventTypes.{i}")))?;
            if types.contains(&parsed) {
                return Err(Error::invalid(
                    format!("eventTypes.{i}"),
                    format!("`{name}` is listed twice"),
                ));
            }
            types.push(parsed);
        }
        let status = match status {
            None => None,
            Some(n @ 0..=4) => u8::try_from(n).ok(),
            Some(_) => {
                return Err(Error::invalid(
                    "status",
                    "must be 0 (success), 1 (pending), 2 (fail), 3 (sending) or 4 (canceled)",
                ));
            }
        };
        let status_code_class = status_code_class
            .map(|class| StatusCodeClass::parse(&class.to_string()).map_err(|e| e.at("statusCodeClass")))
            .transpose()?;
        Ok(Self {
            event_types: types,
            channel: channel
                .map(|c| Channel::parse(c).map_err(|e| e.at("channel")))
                .transpose()?,
            tag: tag
                .map(|t| Channel::parse(t).map_err(|e| e.at("tag")))
                .transpose()?,
            status,
            status_code_class,
        })
    }
}

/// `replay-missing`: a task that queues a delivery to the endpoint of every message of
/// the window that it would take now (event types, channels, filter) and never had.
pub async fn replay_missing(
    ctx: &Context,
    tenant: &TenantId,
    app: &str,
    endpoint: &str,
    window: Window,
    actor: &Actor,
) -> Result<background_task::Model> {
    let asked = Asked::of_endpoint(Kind::Replay, app, endpoint, window);
    start(ctx, tenant, asked, None, actor).await
}

/// `recover`: a task that tries every failed delivery to the endpoint made in the window
/// once more (a manual try; it does not restart the retry schedule).
pub async fn recover(
    ctx: &Context,
    tenant: &TenantId,
    app: &str,
    endpoint: &str,
    window: Window,
    actor: &Actor,
) -> Result<background_task::Model> {
    let asked = Asked::of_endpoint(Kind::Recover, app, endpoint, window);
    start(ctx, tenant, asked, None, actor).await
}

/// [`recover`], run to the end by the caller itself rather than by a worker: the task is
/// written already claimed by the caller. Returns the finished task.
pub async fn recover_now(
    ctx: &Context,
    tenant: &TenantId,
    app: &str,
    endpoint: &str,
    window: Window,
    actor: &Actor,
) -> Result<background_task::Model> {
    let holder = format!("request-{}", ulid::Ulid::generate());
    let asked = Asked::of_endpoint(Kind::Recover, app, endpoint, window);
    let mut task = start(ctx, tenant, asked, Some(&holder), actor).await?;
    loop {
        match step(ctx, &holder, &mut task).await? {
            Step::More => {}
            Step::Done | Step::Lost => return Ok(task),
        }
    }
}

/// `bulk-replay`: a task that sends the endpoint's deliveries of messages of the window
/// again (a manual try each), those that passed the filters.
pub async fn bulk_replay(
    ctx: &Context,
    tenant: &TenantId,
    app: &str,
    endpoint: &str,
    window: Window,
    filter: ReplayFilter,
    actor: &Actor,
) -> Result<background_task::Model> {
    let asked = Asked {
        filter: Some(filter),
        ..Asked::of_endpoint(Kind::BulkReplay, app, endpoint, window)
    };
    start(ctx, tenant, asked, None, actor).await
}

/// `expunge-all-contents`: a task that erases the payload of every message the
/// application has now, as `DELETE …/msg/{msg}/content` does one.
pub async fn purge_content(
    ctx: &Context,
    tenant: &TenantId,
    app: &str,
    actor: &Actor,
) -> Result<background_task::Model> {
    start(ctx, tenant, Asked::new(Kind::PurgeContent, app), None, actor).await
}

/// What a new task was asked to do.
struct Asked<'a> {
    kind: Kind,
    app: &'a str,
    endpoint: Option<&'a str>,
    /// Its messages; all of the application's until now if none.
    window: Option<Window>,
    filter: Option<ReplayFilter>,
}

impl<'a> Asked<'a> {
    fn new(kind: Kind, app: &'a str) -> Self {
        Self {
            kind,
            app,
            endpoint: None,
            window: None,
            filter: None,
        }
    }

    /// A task about `endpoint`'s deliveries of the messages of `window`.
    fn of_endpoint(kind: Kind, app: &'a str, endpoint: &'a str, window: Window) -> Self {
        Self {
            endpoint: Some(endpoint),
            window: Some(window),
            ..Self::new(kind, app)
        }
    }

    /// Its parameters, the window's end fixed at `now` when none was given, so that a task
    /// resumed later covers the same messages.
    fn params(&self, endpoint: Option<EndpointId>, now: DateTime<Utc>) -> Params {
        let filter = self.filter.clone().unwrap_or_default();
        Params {
            endpoint_id: endpoint,
            since: self.window.map(|w| w.since),
            until: Some(self.window.and_then(|w| w.until).unwrap_or(now)),
            event_types: filter.event_types.iter().map(|t| t.as_str().to_owned()).collect(),
            channel: filter.channel.as_ref().map(|c| c.as_str().to_owned()),
            tag: filter.tag.as_ref().map(|t| t.as_str().to_owned()),
            status: filter.status,
            status_code_class: filter.status_code_class.map(StatusCodeClass::value),
        }
    }
}

/// Writes the task `asked` for, with its audit entry, in one transaction, and tells this
/// process's workers. With `holder`, the task is written claimed by it.
async fn start(
    ctx: &Context,
    tenant: &TenantId,
    asked: Asked<'_>,
    holder: Option<&str>,
    actor: &Actor,
) -> Result<background_task::Model> {
    let now = Utc::now();
    let txn = crate::db::begin_write(ctx).await?;
    let app = application::find(&txn, tenant, asked.app).await?;
    let endpoint = match asked.endpoint {
        Some(endpoint) => Some(endpoints::find(&txn, tenant, &app.id, endpoint).await?),
        None => None,
    };
    let task = background_task::Model {
        id: TaskId::new(),
        tenant_id: tenant.clone(),
        app_id: Some(app.id.clone()),
        task: asked.kind,
        status: Status::Running,
        params: asked.params(endpoint.as_ref().map(|ep| ep.id.clone()), now),
        data: Progress::none(asked.kind),
        cursor: None,
        error: None,
        claimed_by: holder.map(str::to_owned),
        lease_until: holder.map(|_| now + LEASE),
        created_at: now,
        updated_at: now,
    };
    background_task::Entity::insert(background_task::ActiveModel::from(task.clone()))
        .exec_without_returning(&txn)
        .await
        .context("storing a background task")?;
    let target = match &endpoint {
        Some(ep) => Target::new("endpoint", &ep.id),
        None => Target::new("application", &app.id),
    };
    let details = serde_json::json!({ "task": task.id, "params": task.params });
    audit::record(&txn, tenant, actor, asked.kind.as_str(), target, Some(details)).await?;
    txn.commit().await.context("committing a background task")?;
    if holder.is_none() {
        ctx.dispatch.wake_tasks();
    }
    Ok(task)
}

impl Progress {
    /// The counts of a task of `kind` that has done nothing yet.
    fn none(kind: Kind) -> Self {
        match kind {
            Kind::Replay | Kind::Recover | Kind::BulkReplay => Self {
                messages_sent: Some(0),
                messages_purged: None,
            },
            Kind::PurgeContent => Self {
                messages_sent: None,
                messages_purged: Some(0),
            },
        }
    }

    fn add(&mut self, kind: Kind, done: u64) {
        let count = match kind {
            Kind::Replay | Kind::Recover | Kind::BulkReplay => &mut self.messages_sent,
            Kind::PurgeContent => &mut self.messages_purged,
        };
        *count = Some(count.unwrap_or(0) + done);
    }
}

/// One of the tenant's tasks; another tenant's, or a malformed id, is not found.
pub async fn get<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
) -> Result<background_task::Model> {
    let id = TaskId::parse(id).map_err(|_| Error::NotFound("background task"))?;
    background_task::Entity::find_in_tenant(tenant, id)
        .one(conn)
        .await
        .context("loading a background task")?
        .ok_or(Error::NotFound("background task"))
}

/// Filters of the task list.
#[derive(Clone, Copy, Debug, Default)]
pub struct TaskFilter {
    pub status: Option<Status>,
    pub kind: Option<Kind>,
}

/// The tenant's tasks, in the page's order (newest first unless asked otherwise).
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    page: &PageRequest,
    filter: TaskFilter,
) -> Result<Paged<background_task::Model>> {
    let mut select = background_task::Entity::for_tenant(tenant);
    if let Some(status) = filter.status {
        select = select.filter(background_task::Column::Status.eq(status));
    }
    if let Some(kind) = filter.kind {
        select = select.filter(background_task::Column::Task.eq(kind));
    }
    pagination::fetch(conn, select, background_task::Column::Id, page, |t| {
        t.id.to_string()
    })
    .await
}

/// Claims the oldest running task no worker holds (never claimed, or its lease ran out)
/// for `worker`, for [`LEASE`]. Tasks of every tenant: each carries its tenant into all
/// that is done with it.
pub async fn claim(
    ctx: &Context,
    worker: &str,
    now: DateTime<Utc>,
) -> Result<Option<background_task::Model>> {
    let due = || {
        #[expect(
            clippy::disallowed_methods,
            reason = "workers take due tasks of every tenant; each claimed task carries its tenant"
        )]
        background_task::Entity::find()
            .filter(background_task::Column::Status.eq(Status::Running))
            .filter(
                Condition::any()
                    .add(background_task::Column::LeaseUntil.is_null())
                    .add(background_task::Column::LeaseUntil.lte(now)),
            )
            .order_by_asc(background_task::Column::Id)
            .limit(1)
    };
    // A look without the write lock first: mostly there is nothing to claim.
    if due()
        .one(&ctx.db)
        .await
        .context("looking for due background tasks")?
        .is_none()
    {
        return Ok(None);
    }
    let txn = crate::db::begin_write(ctx).await?;
    let mut due = due();
    if ctx.backend == Backend::Postgres {
        // Workers claiming at once skip each other's rows instead of waiting for them.
        due = due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let Some(found) = due.one(&txn).await.context("finding a due background task")? else {
        return Ok(None);
    };
    let mut active = background_task::ActiveModel::from(found);
    active.claimed_by = Set(Some(worker.to_owned()));
    active.lease_until = Set(Some(now + LEASE));
    active.updated_at = Set(now);
    let claimed = active.update(&txn).await.context("claiming a background task")?;
    txn.commit().await.context("claiming a background task")?;
    Ok(Some(claimed))
}

/// What a step of a task came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A chunk was done and saved; there may be more.
    More,
    /// The last chunk was done: the task is finished.
    Done,
    /// The task is no longer this worker's (its lease was taken over, or it was deleted
    /// with its application): nothing was done.
    Lost,
}

/// Runs the next chunk of `task`, held by `worker`: applies it, saves the progress and
/// renews the lease in one transaction, so a chunk is done once or not at all. `task`
/// is updated to what was saved.
pub async fn step(ctx: &Context, worker: &str, task: &mut background_task::Model) -> Result<Step> {
    let now = Utc::now();
    // A replay decides what the endpoint would take (its filter runs) before the write
    // lock is taken; only the task's holder moves its cursor, so the plan stays valid.
    let plan = match task.task {
        Kind::Replay => Some(chunk::replay_plan(&ctx.db, task, now).await?),
        Kind::Recover | Kind::BulkReplay | Kind::PurgeContent => None,
    };
    let txn = crate::db::begin_write(ctx).await?;
    // First, and in the same transaction: is the task still ours? This also holds its row.
    let held = background_task::Entity::update_for_tenant(&task.tenant_id)
        .col_expr(
            background_task::Column::LeaseUntil,
            Expr::value(Some(now + LEASE)),
        )
        .filter(background_task::Column::Id.eq(task.id.clone()))
        .filter(background_task::Column::Status.eq(Status::Running))
        .filter(background_task::Column::ClaimedBy.eq(worker))
        .exec(&txn)
        .await
        .context("renewing a background task's lease")?;
    if held.rows_affected == 0 {
        return Ok(Step::Lost);
    }
    let chunk = match (task.task, plan) {
        (Kind::Replay, Some(plan)) => chunk::replay_apply(&txn, task, plan).await?,
        (Kind::Recover, _) => chunk::recover(&txn, task, now).await?,
        (Kind::BulkReplay, _) => chunk::bulk_replay(&txn, ctx.backend, task, now).await?,
        (Kind::PurgeContent, _) => chunk::purge(&txn, task).await?,
        (Kind::Replay, None) => {
            return Err(Error::internal(
                "running a background task",
                "a replay without its plan",
            ));
        }
    };
    let finished = chunk.seen < CHUNK as usize;
    let mut data = task.data.clone();
    data.add(task.task, chunk.done);
    let mut active = background_task::ActiveModel::from(task.clone());
    active.data = Set(data);
    active.cursor = Set(chunk.last.or_else(|| task.cursor.clone()));
    active.updated_at = Set(now);
    if finished {
        active.status = Set(Status::Finished);
        active.claimed_by = Set(None);
        active.lease_until = Set(None);
    } else {
        active.lease_until = Set(Some(now + LEASE));
    }
    let saved = active
        .update(&txn)
        .await
        .context("saving a background task's progress")?;
    txn.commit()
        .await
        .context("committing a chunk of a background task")?;
    *task = saved;
    if chunk.done > 0 && task.task != Kind::PurgeContent {
        ctx.dispatch.wake(now);
    }
    Ok(if finished { Step::Done } else { Step::More })
}

/// Marks `task` failed for `reason`, if `worker` still holds it.
pub async fn fail(ctx: &Context, worker: &str, task: &background_task::Model, reason: &str) -> Result<()> {
    let now = Utc::now();
    let txn = crate::db::begin_write(ctx).await?;
    background_task::Entity::update_for_tenant(&task.tenant_id)
        .col_expr(background_task::Column::Status, Expr::value(Status::Failed))
        .col_expr(
            background_task::Column::Error,
            Expr::value(Some(reason.to_owned())),
        )
        .col_expr(background_task::Column::ClaimedBy, Expr::value(None::<String>))
        .col_expr(
            background_task::Column::LeaseUntil,
            Expr::value(None::<DateTime<Utc>>),
        )
        .col_expr(background_task::Column::UpdatedAt, Expr::value(now))
        .filter(background_task::Column::Id.eq(task.id.clone()))
        .filter(background_task::Column::ClaimedBy.eq(worker))
        .exec(&txn)
        .await
        .context("failing a background task")?;
    txn.commit().await.context("failing a background task")
}

/// Lets go of `task` at once (a worker stopping), so another worker need not wait for
/// its lease to run out; its progress stays.
/// Deletes the tasks of every tenant that finished or failed more than [`KEPT`] before
/// `now`; running tasks stay, however old. Returns how many went.
pub async fn purge_finished(ctx: &Context, now: DateTime<Utc>) -> Result<u64> {
    let txn = crate::db::begin_write(ctx).await?;
    #[expect(clippy::disallowed_methods, reason = "the sweep covers every tenant")]
    let gone = background_task::Entity::delete_many()
        .filter(background_task::Column::Status.is_in([Status::Finished, Status::Failed]))
        .filter(background_task::Column::UpdatedAt.lt(now - KEPT))
        .exec(&txn)
        .await
        .context("deleting old background tasks")?;
    txn.commit()
        .await
        .context("committing the deletion of old background tasks")?;
    Ok(gone.rows_affected)
}

pub async fn release(ctx: &Context, worker: &str, task: &background_task::Model) -> Result<()> {
    let txn = crate::db::begin_write(ctx).await?;
    background_task::Entity::update_for_tenant(&task.tenant_id)
        .col_expr(background_task::Column::ClaimedBy, Expr::value(None::<String>))
        .col_expr(
            background_task::Column::LeaseUntil,
            Expr::value(None::<DateTime<Utc>>),
        )
        .filter(background_task::Column::Id.eq(task.id.clone()))
        .filter(background_task::Column::Status.eq(Status::Running))
        .filter(background_task::Column::ClaimedBy.eq(worker))
        .exec(&txn)
        .await
        .context("releasing a background task")?;
    txn.commit().await.context("releasing a background task")
}

/// What a failed task says about why: the error for the tenant to read, or, for an
/// unexpected one (logged by the caller), no internals.
pub fn failure_reason(error: &Error) -> String {
    match error {
        Error::NotFound(_) | Error::Conflict(_) | Error::Invalid { .. } | Error::Rejected(_) => {
            error.to_string()
        }
        _ => "an internal error stopped the task".to_owned(),
    }
}
