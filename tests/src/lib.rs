//! The test harness: a fresh database per test and the real server on port 0.
//!
//! With no `HERALD_TEST_DATABASE_URL`, every test gets its own SQLite file in a temporary
//! directory. With `HERALD_TEST_DATABASE_URL=postgres://USER@HOST/DB`, every test gets a
//! freshly created PostgreSQL database with a unique name, dropped when the test ends.
//! The same tests run on both. [`api`] calls the server's REST API as a tenant;
//! [`receiver`] is a real webhook receiver for deliveries to reach. Deliveries are made by
//! a live worker ([`local_app`]) where workers and time are the point, else by the test
//! itself, which drains the queue ([`queue_app`], [`TestApp::run_pending_deliveries`]).

pub mod api;
pub mod receiver;

use std::{path::PathBuf, time::Duration};

use domain::{
    Context,
    db::Backend,
    id::TenantId,
    service::{self, audit::Actor},
};
use herald::{
    config::{Secret, Settings},
    startup::{Application, Mode},
};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use tempfile::TempDir;

pub const DATABASE_ENV: &str = "HERALD_TEST_DATABASE_URL";

/// How often [`eventually`] looks again.
const POLL: Duration = Duration::from_millis(25);

/// Asks `check` until it yields a value or `within` has passed (then `None`): the one way
/// tests wait for something a live worker or the clock does.
pub async fn eventually<T>(within: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(found) = check().await {
            return Some(found);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Lets `window` pass: only for tests that show something does *not* happen (no retry
/// after a 410, no event about an operational delivery). No poll can prove an absence;
/// each window is longer than the schedule that would cause the thing.
pub async fn quiet_window(window: Duration) {
    tokio::time::sleep(window).await;
}

/// Installs the process-wide TLS provider, as `main` does.
pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // `HERALD_TEST_LOG=worker=debug` shows the server's logs in failing tests' output.
    if let Ok(filter) = std::env::var("HERALD_TEST_LOG") {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| herald::telemetry::init(&filter, herald::telemetry::LogFormat::Human));
    }
}

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    dir: TempDir,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        match std::env::var(DATABASE_ENV).ok().filter(|u| !u.is_empty()) {
            None => Self {
                url: format!("sqlite://{}", dir.path().join("herald.db").display()),
                backend: Backend::Sqlite,
                dir,
                postgres: None,
            },
            Some(admin_url) => {
                let name = format!(
                    "herald_test_{}",
                    ulid::Ulid::generate().to_string().to_lowercase()
                );
                let mut admin = PgConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| panic!("{DATABASE_ENV} is set but PostgreSQL is unreachable: {e}"));
                admin
                    .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .expect("creating a test database");
                let mut url = url::Url::parse(&admin_url).expect("HERALD_TEST_DATABASE_URL is not a URL");
                url.set_path(&name);
                Self {
                    url: url.to_string(),
                    backend: Backend::Postgres,
                    dir,
                    postgres: Some((admin_url, name)),
                }
            }
        }
    }

    /// A directory that lives as long as the database (for config files, logs).
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.postgres.take() {
            // Drop runs outside any async context we could borrow; use a runtime of our own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                runtime.block_on(async {
                    let mut admin = PgConnection::connect(&admin_url).await.ok()?;
                    admin
                        .execute(AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await
                        .ok()
                })
            })
            .join();
        }
    }
}

/// A tenant written as every schema since the first has it, for tests that run an older
/// schema (the tenant service writes the newest one's columns).
pub async fn old_tenant(conn: &sea_orm::DatabaseConnection, name: &str) -> TenantId {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let id = TenantId::new();
    let now = chrono::Utc::now();
    let sql = match conn.get_database_backend() {
        DbBackend::Postgres => {
            "INSERT INTO tenant (id, name, created_at, updated_at) VALUES ($1, $2, $3, $4)"
        }
        _ => "INSERT INTO tenant (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
    };
    conn.execute_raw(Statement::from_sql_and_values(
        conn.get_database_backend(),
        sql,
        [id.as_str().into(), name.into(), now.into(), now.into()],
    ))
    .await
    .expect("writing a tenant");
    id
}

/// Settings for a test server: its own database, port 0, fixed fresh keys.
pub fn settings_for(db: &TestDb) -> Settings {
    Settings {
        database_url: db.url.clone(),
        database_max_connections: Some(5),
        listen: "127.0.0.1:0".into(),
        jwt_secret: Some(Secret::new(random_secret())),
        main_key: Some(Secret::new(
            domain::crypto::MainKey::generate().expect("random").encode(),
        )),
        http_workers: Some(1),
        // No deliveries unless a test asks: API tests' endpoints point at made-up hosts,
        // and tests never send traffic beyond loopback.
        serve_worker: false,
        ..Settings::default()
    }
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    domain::crypto::random_bytes(&mut bytes).expect("random");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The real server, in-process, on a fresh database.
pub struct TestApp {
    pub base_url: String,
    pub ctx: Context,
    pub settings: Settings,
    pub http: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
    // Dropped last: the database outlives the server.
    pub db: TestDb,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with settings changed by `adjust`.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        init();
        let db = TestDb::new().await;
        let mut settings = settings_for(&db);
        adjust(&mut settings);
        let app = Application::build(&settings, Mode::Serve)
            .await
            .expect("building the application");
        let base_url = format!("http://127.0.0.1:{}", app.port());
        let ctx = app.context().clone();
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("building an HTTP client");
        Self {
            base_url,
            ctx,
            settings,
            http,
            handle,
            db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// A new tenant and an API token for it.
    pub async fn tenant(&self, name: &str) -> (TenantId, String) {
        let tenant = service::tenant::create(&self.ctx, name)
            .await
            .expect("creating a tenant");
        let token = service::token::create(&self.ctx, &tenant.id, "test", None, &Actor::Cli)
            .await
            .expect("creating a token");
        (tenant.id, token.token)
    }

    /// Delivers what is due, as a worker would, until nothing is due any more; returns how
    /// many deliveries it took from the queue. When it returns, every try is recorded;
    /// retries scheduled for later are not waited for. For tests that need deliveries done rather than a worker
    /// (crates.io's `run_pending_background_jobs`): see [`queue_app`].
    pub async fn run_pending_deliveries(&self) -> usize {
        /// Rounds before the queue counts as never draining (each round is one claim).
        const MAX_ROUNDS: usize = 100;
        let settings = herald::startup::worker_settings(&self.settings).expect("worker settings");
        let mut tried = 0;
        for _ in 0..MAX_ROUNDS {
            match worker::run_due(&self.ctx, &settings).await {
                Ok(0) => return tried,
                Ok(n) => tried += n,
                Err(e) => panic!("delivering what is due failed: {e:#}"),
            }
        }
        panic!("the queue still had work due after {MAX_ROUNDS} rounds ({tried} tries)");
    }

    /// Sends the endpoint verification challenges due now, as a worker would, and
    /// records how they went; how many it sent.
    pub async fn run_due_challenges(&self) -> usize {
        let settings = herald::startup::worker_settings(&self.settings).expect("worker settings");
        worker::run_due_challenges(&self.ctx, &settings)
            .await
            .expect("sending due challenges")
    }
}

/// A server without a worker that may deliver to receivers on loopback, with two retries
/// a second apart: tests deliver with [`TestApp::run_pending_deliveries`].
pub async fn queue_app() -> TestApp {
    TestApp::spawn_with(|s| {
        s.allow_private_networks = "127.0.0.0/8".into();
        s.retry_schedule = "1s,1s".into();
    })
    .await
}

/// A server whose in-process worker delivers to receivers on loopback, with two retries
/// a second apart.
pub async fn local_app() -> TestApp {
    TestApp::spawn_with(|s| {
        s.serve_worker = true;
        s.allow_private_networks = "127.0.0.0/8".into();
        s.retry_schedule = "1s,1s".into();
    })
    .await
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // `stop` sends its command at once; the returned future only waits for it.
        drop(self.handle.stop(false));
    }
}

/// A delivery worker as `herald worker` runs it, in this process, on the database of
/// `settings`.
pub struct Worker {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Worker {
    pub async fn start(settings: &Settings) -> Self {
        let ctx = herald::startup::context(settings, String::new())
            .await
            .expect("opening the worker's database");
        let worker_settings = herald::startup::worker_settings(settings).expect("worker settings");
        let dispatcher = worker::Dispatcher::with_worker(worker_settings.concurrency);
        let ctx = herald::startup::with_dispatcher(ctx, &dispatcher);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(worker::run(ctx, dispatcher, worker_settings, async move {
            let _ = stopped.await;
        }));
        Self { stop, task }
    }

    /// Stops it as SIGTERM would, and waits until it has drained.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task
            .await
            .expect("the worker panicked")
            .expect("the worker failed");
    }
}

/// A second API process (`herald api`) on the database of `settings`, with its own
/// pools and caches, as another machine behind the load balancer would be.
pub struct OtherApi {
    pub base_url: String,
    handle: actix_web::dev::ServerHandle,
    http: reqwest::Client,
}

impl OtherApi {
    pub async fn spawn(settings: &Settings) -> Self {
        let app = Application::build(settings, Mode::Api)
            .await
            .expect("building a second API");
        let base_url = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        Self {
            base_url,
            handle,
            http: reqwest::Client::new(),
        }
    }

    /// POSTs `body` (or GETs without one) with `token`: the status and the JSON answer.
    pub async fn send(
        &self,
        token: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let url = format!("{}{path}", self.base_url);
        let req = match body {
            Some(body) => self.http.post(url).json(&body),
            None => self.http.get(url),
        };
        let res = req
            .bearer_auth(token)
            .send()
            .await
            .expect("calling the second API");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }
}

impl Drop for OtherApi {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// Which database this run uses, for test names in output.
pub fn backend_label() -> &'static str {
    if std::env::var(DATABASE_ENV).is_ok_and(|u| !u.is_empty()) {
        "postgres"
    } else {
        "sqlite"
    }
}
