//! Startup as a library: open the database, check or apply migrations, resolve keys, bind
//! the HTTP server, start the worker. `main.rs` and the tests both go through here.

use std::{net::TcpListener, sync::Arc, time::Duration};

use actix_web::{
    App, HttpServer,
    dev::Server,
    middleware::{NormalizePath, from_fn},
    web,
};
use anyhow::{Context as _, bail};
use domain::{
    Context, DomainSettings, db, dispatch,
    service::{delivery, inspector::InboxLimits, intake::Intake},
};
use migrations::{Migrator, MigratorTrait};

use crate::{config::Settings, secrets};

/// Which parts of Herald this process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// API, dashboard and worker in one process; applies migrations itself.
    Serve,
    /// API and dashboard only; the schema must be migrated already.
    Api,
}

/// Connections of the message writer: one per batch it may have in flight.
const INTAKE_CONNECTIONS: u32 = domain::service::intake::PARALLEL_POSTGRES as u32;

/// Opens the database and builds the service context. Nobody hears of work it makes
/// due ([`dispatch::Quiet`]): a process that accepts or delivers messages replaces that
/// with its [`worker::Dispatcher`] (see [`with_dispatcher`]).
pub async fn context(settings: &Settings, public_url: String) -> anyhow::Result<Context> {
    let keys = secrets::resolve(settings)?;
    let conn = connect(settings).await?;
    let backend = db::Backend::of(&settings.database_url)?;
    let writes = db::WriteGate::for_backend(backend);
    // On PostgreSQL the message writer has connections of its own, opened here on the
    // main runtime (see `Application::build` on why runtimes matter); SQLite connections
    // belong to no runtime.
    let intake_db = match backend {
        db::Backend::Postgres => db::connect(&settings.database_url, INTAKE_CONNECTIONS).await?,
        db::Backend::Sqlite => conn.clone(),
    };
    Ok(Context {
        backend,
        intake: Intake::start(intake_db, backend, writes.clone()),
        writes,
        dispatch: Arc::new(dispatch::Quiet),
        caches: Arc::default(),
        db: conn,
        jwt: Arc::new(keys.jwt()),
        keyring: Arc::new(keys.keyring()),
        settings: Arc::new(DomainSettings { public_url }),
        metrics: Arc::default(),
        inbox_limits: Arc::new(InboxLimits::new(
            settings.inbox_rate_limit,
            settings.inbox_tenant_rate_limit,
        )),
    })
}

/// `ctx`, telling `dispatcher` of the work it makes due.
pub fn with_dispatcher(ctx: Context, dispatcher: &worker::Dispatcher) -> Context {
    Context {
        dispatch: Arc::new(dispatcher.clone()),
        ..ctx
    }
}

pub async fn connect(settings: &Settings) -> anyhow::Result<sea_orm::DatabaseConnection> {
    Ok(db::connect(&settings.database_url, settings.max_connections()).await?)
}

/// Applies every pending migration; returns how many ran.
pub async fn migrate(conn: &sea_orm::DatabaseConnection) -> anyhow::Result<usize> {
    let pending = Migrator::get_pending_migrations(conn)
        .await
        .context("reading the migration table")?
        .len();
    Migrator::up(conn, None).await.context("applying migrations")?;
    Ok(pending)
}

/// Refuses to run on a schema older than this binary.
pub async fn require_migrated(conn: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    let pending = Migrator::get_pending_migrations(conn)
        .await
        .context("reading the migration table")?
        .len();
    if pending > 0 {
        bail!(
            "the database schema is behind this version of Herald ({pending} migrations pending): run `herald migrate`"
        );
    }
    Ok(())
}

/// The worker's settings, from Herald's.
pub fn worker_settings(settings: &Settings) -> anyhow::Result<worker::WorkerSettings> {
    Ok(worker::WorkerSettings {
        concurrency: settings.worker_concurrency.max(1),
        schedule: delivery::parse_schedule(&settings.retry_schedule)
            .map_err(|e| anyhow::anyhow!("HERALD_RETRY_SCHEDULE: {e}"))?,
        policy: domain::netpolicy::NetworkPolicy::parse(&settings.allow_private_networks)
            .map_err(|e| anyhow::anyhow!("HERALD_ALLOW_PRIVATE_NETWORKS: {e}"))?,
        svix_headers: settings.svix_headers,
        disable_after: delivery::parse_period("endpoint_disable_after", &settings.endpoint_disable_after)
            .map_err(|e| anyhow::anyhow!("HERALD_ENDPOINT_DISABLE_AFTER: {e}"))?,
        shutdown_timeout: delivery::parse_period(
            "worker_shutdown_timeout",
            &settings.worker_shutdown_timeout,
        )
        .map_err(|e| anyhow::anyhow!("HERALD_WORKER_SHUTDOWN_TIMEOUT: {e}"))?
        .to_std()
        .unwrap_or(Duration::from_secs(30)),
        retention: delivery::parse_period("retention", &settings.retention)
            .map_err(|e| anyhow::anyhow!("HERALD_RETENTION: {e}"))?,
        poll_interval: delivery::parse_period("worker_poll_interval", &settings.worker_poll_interval)
            .map_err(|e| anyhow::anyhow!("HERALD_WORKER_POLL_INTERVAL: {e}"))?
            .to_std()
            .unwrap_or(Duration::from_secs(1)),
        ..worker::WorkerSettings::default()
    })
}

/// The API's settings, from Herald's.
pub fn api_settings(settings: &Settings) -> api::ApiSettings {
    api::ApiSettings {
        rate_limit_per_second: settings.api_rate_limit,
        metrics: settings.metrics,
        metrics_token: settings.metrics_token.as_ref().map(|t| t.expose().to_owned()),
    }
}

/// For `herald worker`: serves `/metrics` alone on `settings.metrics_listen`, if set.
pub fn worker_metrics_server(settings: &Settings, context: &Context) -> anyhow::Result<Option<Server>> {
    let Some(listen) = settings.metrics_listen.as_deref() else {
        return Ok(None);
    };
    let api = api::Api::new(&api_settings(settings));
    let data = web::Data::new(context.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(from_fn(crate::middleware::guard))
            .configure(|cfg| api.configure_metrics(cfg))
    })
    .workers(1)
    .bind(listen)
    .with_context(|| format!("cannot listen on {listen} (HERALD_METRICS_LISTEN)"))?
    .disable_signals()
    .run();
    Ok(Some(server))
}

/// A running HTTP server (and, in `serve` mode, worker).
pub struct Application {
    port: u16,
    server: Server,
    context: Context,
    worker: Option<InProcessWorker>,
}

/// The delivery worker `herald serve` runs beside the HTTP server.
struct InProcessWorker {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// How long it may take to drain after the stop.
    drain: Duration,
}

impl Application {
    /// Binds `settings.listen` (port 0 picks a free port) and prepares everything; the
    /// server starts answering once awaited through [`Application::run_until_stopped`]
    /// or spawned.
    pub async fn build(settings: &Settings, mode: Mode) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.listen)
            .with_context(|| format!("cannot listen on {} (HERALD_LISTEN)", settings.listen))?;
        let address = listener.local_addr().context("reading the bound address")?;
        let public_url = settings.public_url.clone().unwrap_or_else(|| {
            let host = if address.ip().is_unspecified() {
                "127.0.0.1".to_string()
            } else {
                address.ip().to_string()
            };
            let host = if address.is_ipv6() && !address.ip().is_unspecified() {
                format!("[{host}]")
            } else {
                host
            };
            format!("http://{host}:{}", address.port())
        });
        let context = context(settings, public_url.trim_end_matches('/').to_owned()).await?;
        let worker_settings = worker_settings(settings)?;
        let in_process = mode == Mode::Serve && settings.serve_worker;
        let dispatcher = if in_process {
            worker::Dispatcher::with_worker(worker_settings.concurrency)
        } else {
            worker::Dispatcher::announcing(&context.db, context.backend)
        };
        let context = with_dispatcher(context, &dispatcher);
        match mode {
            Mode::Serve => {
                migrate(&context.db).await?;
            }
            Mode::Api => require_migrated(&context.db).await?,
        }

        let data = web::Data::new(context.clone());
        let api = api::Api::new(&api_settings(settings));
        let pages = dashboard::Dashboard::new();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .wrap(from_fn(crate::middleware::guard))
                // `/api/v1/app/` is `/api/v1/app`, as on the Svix server.
                .wrap(NormalizePath::trim())
                .configure(|cfg| api.configure(cfg))
                .configure(|cfg| pages.configure(cfg))
        })
        .listen(listener)
        .context("starting the HTTP server")?
        .shutdown_timeout(30);
        if let Some(workers) = settings.http_workers {
            server = server.workers(workers.max(1));
        }
        let worker = if in_process {
            // On PostgreSQL the worker has a pool of its own: a connection belongs to the
            // runtime that opened it, and the HTTP server's runtimes end at shutdown
            // while the worker still drains and records.
            let worker_context = match context.backend {
                db::Backend::Postgres => Context {
                    db: connect(settings).await?,
                    ..context.clone()
                },
                db::Backend::Sqlite => context.clone(),
            };
            let (stop, mut stopped) = tokio::sync::watch::channel(false);
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            let drain = worker_settings.shutdown_timeout;
            let task = tokio::spawn(worker::run(worker_context, dispatcher, worker_settings, shutdown));
            Some(InProcessWorker { stop, task, drain })
        } else {
            None
        };
        Ok(Self {
            port: address.port(),
            server: server.run(),
            context,
            worker,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn context(&self) -> &Context {
        &self.context
    }

    pub fn public_url(&self) -> &str {
        &self.context.settings.public_url
    }

    /// A handle that stops the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT or SIGTERM (or a stop through [`Application::handle`]).
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = self.server.await.context("running the HTTP server");
        if let Some(InProcessWorker { stop, task, drain }) = self.worker {
            let _ = stop.send(true);
            // The worker bounds its own drain; this is a backstop.
            match tokio::time::timeout(drain + Duration::from_secs(5), task).await {
                Ok(Ok(Err(e))) => tracing::error!(error = %e, "the delivery worker failed"),
                Ok(Err(e)) => tracing::error!(error = %e, "the delivery worker panicked"),
                Err(_) => tracing::warn!("the delivery worker did not stop in time"),
                Ok(Ok(Ok(()))) => {}
            }
        }
        served
    }
}
