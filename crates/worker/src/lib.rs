//! Herald's delivery engine: apalis workers that turn each queued [`DeliveryJob`] into a
//! signed HTTP request, record the attempt, and queue the next try when one is due.

mod client;
pub mod queue;

use std::{
    collections::HashMap,
    future::Future,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};

use apalis::prelude::{BoxDynError, Data, WorkerBuilder, WorkerBuilderExt};
use chrono::Utc;
use domain::{
    Context, DbContext,
    db::Backend,
    id::EndpointId,
    netpolicy::NetworkPolicy,
    queue::DeliveryJob,
    service::delivery::{self, Next, Plan},
    signing,
};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

pub use client::Sender;
pub use queue::{SqlQueue, setup};

/// How a worker process delivers.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// Deliveries in flight at once in this process.
    pub concurrency: usize,
    /// Delays in seconds between tries (after the first).
    pub schedule: Vec<u32>,
    /// Which addresses may be called.
    pub policy: NetworkPolicy,
    /// Per-request timeout unless the endpoint sets its own.
    pub default_timeout: Duration,
    /// How often an idle worker looks for due jobs.
    pub poll_interval: Duration,
    /// Also send the `svix-id`, `svix-timestamp`, `svix-signature` spellings.
    pub svix_headers: bool,
    /// An endpoint that has failed every try for this long is disabled.
    pub disable_after: chrono::Duration,
    /// After a stop signal, how long deliveries in flight may take to finish.
    pub shutdown_timeout: Duration,
    /// Payloads and response bodies older than this are erased (unless an application
    /// sets its own period).
    pub retention: chrono::Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            concurrency: 16,
            schedule: delivery::DEFAULT_SCHEDULE.to_vec(),
            policy: NetworkPolicy::default(),
            default_timeout: Duration::from_secs(15),
            poll_interval: Duration::from_millis(50),
            svix_headers: true,
            disable_after: delivery::DEFAULT_DISABLE_AFTER,
            shutdown_timeout: Duration::from_secs(30),
            retention: domain::service::retention::DEFAULT_RETENTION,
        }
    }
}

/// What a job handler works with.
struct Engine {
    ctx: Context,
    settings: WorkerSettings,
    sender: Sender,
    limiters: Mutex<HashMap<EndpointId, (u32, Arc<DefaultDirectRateLimiter>)>>,
    endpoints: delivery::EndpointCache,
}

/// How long a worker trusts its copy of an endpoint (see [`delivery::EndpointCache`]).
const ENDPOINT_CACHE_TTL: Duration = Duration::from_secs(1);

/// apalis' heartbeat. Short, because apalis 1.0 can miss the wake-up of an idle poller
/// (seen under load: a due job waited for the next heartbeat, 30 s by default); each beat
/// also polls. A worker silent for `HEARTBEAT × MISSED_HEARTBEATS` (30 s) is presumed
/// dead and its jobs go to others.
const HEARTBEAT: Duration = Duration::from_secs(2);
const MISSED_HEARTBEATS: usize = 15;

/// How long a job waits in place for its endpoint's rate limit before it is put back.
const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(2);

impl Engine {
    fn limiter(&self, endpoint: &EndpointId, per_second: u32) -> Option<Arc<DefaultDirectRateLimiter>> {
        let rate = NonZeroU32::new(per_second)?;
        let mut limiters = self
            .limiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = limiters
            .entry(endpoint.clone())
            .or_insert_with(|| (per_second, Arc::new(RateLimiter::direct(Quota::per_second(rate)))));
        if entry.0 != per_second {
            *entry = (per_second, Arc::new(RateLimiter::direct(Quota::per_second(rate))));
        }
        Some(entry.1.clone())
    }

    async fn deliver(&self, job: DeliveryJob) -> domain::Result<()> {
        let plan = match delivery::plan(&self.ctx, &self.endpoints, &job).await? {
            Next::Send(plan) => plan,
            Next::Skip(why) => {
                tracing::debug!(destination = %job.destination, why, "nothing to deliver");
                return Ok(());
            }
        };
        let rate = plan
            .endpoint
            .rate_limit
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or(0);
        if let Some(limiter) = self.limiter(&plan.endpoint.id, rate)
            && tokio::time::timeout(MAX_THROTTLE_WAIT, limiter.until_ready())
                .await
                .is_err()
        {
            // Over the endpoint's rate for a while: try again shortly; not an attempt.
            self.ctx.metrics.limited("endpoint");
            let later = DeliveryJob {
                run_at: Some(Utc::now() + chrono::Duration::seconds(1)),
                ..job
            };
            let txn = domain::db::begin_write(&self.ctx.db).await?;
            self.ctx.queue.enqueue(&txn, &[later]).await?;
            txn.commit().await.context("requeueing a throttled delivery")?;
            return Ok(());
        }
        let outcome = self.sender.send(self.request(&plan)).await;
        self.observe(&plan, &outcome);
        tracing::info!(
            tenant = %job.tenant,
            endpoint = %plan.endpoint.id,
            message = %plan.message.id,
            status = ?outcome.response_status,
            ok = outcome.succeeded(),
            "delivery attempt"
        );
        let schedule = plan
            .endpoint
            .retry_schedule
            .as_ref()
            .map(|d| d.0.clone())
            .unwrap_or_else(|| self.settings.schedule.clone());
        let policy = delivery::Policy {
            schedule: &schedule,
            disable_after: self.settings.disable_after,
        };
        let recorded = delivery::record(&self.ctx, &job.tenant, &plan, job.trigger, &outcome, policy).await;
        if !outcome.succeeded() || plan.endpoint.failing_since.is_some() || recorded.is_err() {
            // The try may have changed the endpoint (failing mark, disabled): read it afresh.
            self.endpoints.forget(&plan.endpoint.id);
        }
        recorded?;
        Ok(())
    }

    fn observe(&self, plan: &Plan, outcome: &delivery::Outcome) {
        let metrics = &self.ctx.metrics;
        let (result, error) = match &outcome.error {
            None => ("success", "none"),
            Some((kind, _)) => ("fail", kind.as_str()),
        };
        metrics
            .deliveries
            .get_or_create(&domain::metrics::DeliveryLabels {
                outcome: result,
                error,
            })
            .inc();
        metrics.attempt_duration.observe(outcome.duration.as_secs_f64());
        if outcome.succeeded() {
            let waited = Utc::now() - plan.message.created_at;
            metrics
                .delivery_latency
                .observe(waited.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6);
        }
    }

    fn request<'a>(&self, plan: &'a Plan) -> client::Request<'a> {
        let body = plan.message.payload.clone().unwrap_or_else(|| "{}".to_owned());
        let timestamp = Utc::now().timestamp();
        let id = plan.message.id.to_string();
        let signature = signing::signature_header(&plan.keys, &id, timestamp, body.as_bytes());
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                "user-agent".to_owned(),
                concat!("Herald/", env!("CARGO_PKG_VERSION")).to_owned(),
            ),
            ("webhook-id".to_owned(), id.clone()),
            ("webhook-timestamp".to_owned(), timestamp.to_string()),
            ("webhook-signature".to_owned(), signature.clone()),
        ];
        if self.settings.svix_headers {
            headers.push(("svix-id".to_owned(), id));
            headers.push(("svix-timestamp".to_owned(), timestamp.to_string()));
            headers.push(("svix-signature".to_owned(), signature));
        }
        headers.extend(
            plan.endpoint
                .headers
                .0
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        let timeout = plan
            .endpoint
            .timeout_secs
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(self.settings.default_timeout);
        client::Request {
            url: &plan.endpoint.url,
            headers,
            body,
            timeout,
        }
    }
}

async fn handle(job: DeliveryJob, engine: Data<Arc<Engine>>) -> Result<(), BoxDynError> {
    engine.deliver(job).await.map_err(|e| {
        tracing::error!(error = %e, "a delivery job failed");
        Box::new(e) as BoxDynError
    })
}

/// Runs a delivery worker until `shutdown` resolves; it then claims no more jobs, and the
/// deliveries in flight get `settings.shutdown_timeout` to finish (a delivery cut off
/// then is run again by another worker once its lease runs out). A worker that dies of
/// an error (the database went away, say) is started again a moment later.
pub async fn run<S>(ctx: Context, settings: WorkerSettings, shutdown: S) -> anyhow::Result<()>
where
    S: Future<Output = ()> + Send + 'static,
{
    let sender = Sender::new(settings.policy.clone())?;
    let drain = settings.shutdown_timeout;
    let engine = Arc::new(Engine {
        ctx: ctx.clone(),
        settings,
        sender,
        limiters: Mutex::default(),
        endpoints: delivery::EndpointCache::new(ENDPOINT_CACHE_TTL),
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    tokio::spawn(retention_loop(
        ctx.clone(),
        engine.settings.retention,
        stopped.clone(),
    ));
    loop {
        let mut rx = stopped.clone();
        let signal = async move {
            let _ = rx.wait_for(|s| *s).await;
            Ok::<(), std::io::Error>(())
        };
        let mut rx = stopped.clone();
        let deadline = async move {
            let _ = rx.wait_for(|s| *s).await;
            tokio::time::sleep(drain).await;
        };
        let result = tokio::select! {
            result = run_once(&ctx, engine.clone(), signal) => result,
            () = deadline => {
                tracing::warn!(
                    seconds = drain.as_secs(),
                    "deliveries still in flight at the shutdown deadline were cut off; their jobs run again after the lease"
                );
                return Ok(());
            }
        };
        if *stopped.borrow() {
            return result;
        }
        match result {
            Err(e) => tracing::error!(error = %e, "the delivery worker stopped; restarting it"),
            Ok(()) => tracing::warn!("the delivery worker stopped unasked; restarting it"),
        }
        let mut rx = stopped.clone();
        if tokio::time::timeout(Duration::from_secs(1), rx.wait_for(|s| *s))
            .await
            .is_ok()
        {
            return Ok(());
        }
    }
}

/// The first retention sweep runs this long after start, then every `SWEEP_EVERY`.
const FIRST_SWEEP: Duration = Duration::from_secs(60);
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Erases expired payloads and response bodies now and then, until the stop signal.
/// Several workers may sweep at once; erasing is idempotent.
async fn retention_loop(
    ctx: Context,
    retention: chrono::Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut wait = FIRST_SWEEP;
    loop {
        if tokio::time::timeout(wait, stopped.wait_for(|s| *s)).await.is_ok() {
            return;
        }
        if let Err(e) = domain::service::retention::sweep(&ctx, retention, Utc::now()).await {
            tracing::error!(error = %e, "the retention sweep failed; it runs again later");
        }
        if let Err(e) = domain::service::session::purge_expired(&ctx.db, Utc::now()).await {
            tracing::error!(error = %e, "deleting expired dashboard sessions failed; it runs again later");
        }
        wait = SWEEP_EVERY;
    }
}

async fn run_once<F>(ctx: &Context, engine: Arc<Engine>, signal: F) -> anyhow::Result<()>
where
    F: Future<Output = Result<(), std::io::Error>> + Send + 'static,
{
    use apalis::prelude::BackendExt;
    // Unique per run: apalis refuses a name still registered by a recent worker.
    let name = format!("herald-{}", ulid::Ulid::generate());
    let concurrency = engine.settings.concurrency.max(1);
    let poll = engine.settings.poll_interval;
    match ctx.backend {
        Backend::Sqlite => {
            let storage =
                apalis_sqlite::SqliteStorage::<DeliveryJob>::new(ctx.db.get_sqlite_connection_pool())
                    .with_config(
                        apalis_sqlite::Config::default()
                            .queue(queue::QUEUE)
                            .heartbeat_interval(HEARTBEAT)
                            .missed_heartbeats(MISSED_HEARTBEATS),
                    );
            WorkerBuilder::new(name)
                .backend(storage.poll_with_interval(poll))
                .concurrency(concurrency)
                .data(engine)
                .build(handle)
                .run_until(signal)
                .await?;
        }
        Backend::Postgres => {
            let storage =
                apalis_postgres::PostgresStorage::<DeliveryJob>::new(ctx.db.get_postgres_connection_pool())
                    .with_config(
                        apalis_postgres::Config::default()
                            .queue(queue::QUEUE)
                            .heartbeat_interval(HEARTBEAT)
                            .missed_heartbeats(MISSED_HEARTBEATS),
                    );
            WorkerBuilder::new(name)
                .backend(storage.poll_with_interval(poll))
                .concurrency(concurrency)
                .data(engine)
                .build(handle)
                .run_until(signal)
                .await?;
        }
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn signalled() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
