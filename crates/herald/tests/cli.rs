//! The `herald` command-line contract, on the built binary: commands that make something
//! print only its id or token on stdout; every error is one line on stderr and a non-zero
//! exit; `serve` prints its first-run login once and keeps tokens valid across restarts.

// Tests fail by panicking; helpers here unwrap like test bodies do.
#![allow(clippy::unwrap_used)]

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Write},
    process::{Child, Command, Output, Stdio},
    sync::{Arc, Mutex, mpsc},
    time::{Duration, Instant},
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use domain::{
    auth,
    entity::{destination, user},
    id::TenantId,
    scope::TenantScoped,
    service::token,
};
use herald::{
    config::{Secret, Settings},
    startup,
};
use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
use tests::{TestDb, eventually, init};

/// The binary, pointed at `db`. On PostgreSQL the keys must be configured; on SQLite
/// they are left out so the binary generates and keeps its own.
fn herald(db: &TestDb) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
    cmd.current_dir(db.dir())
        .env("HERALD_DATABASE_URL", &db.url)
        .env("HERALD_LOG", "warn");
    for (name, _) in
        std::env::vars().filter(|(n, _)| n.starts_with("HERALD_") && n != "HERALD_TEST_DATABASE_URL")
    {
        cmd.env_remove(name);
    }
    cmd.env("HERALD_DATABASE_URL", &db.url);
    if db.backend == domain::db::Backend::Postgres {
        cmd.env("HERALD_JWT_SECRET", "cli-test-jwt-secret-0123456789abcdef")
            .env("HERALD_MAIN_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    }
    cmd
}

/// The settings the binary used, so the test can open the same database with the same keys.
fn settings_of(db: &TestDb) -> Settings {
    let mut settings = Settings {
        database_url: db.url.clone(),
        ..Settings::default()
    };
    if db.backend == domain::db::Backend::Postgres {
        settings.jwt_secret = Some(Secret::new("cli-test-jwt-secret-0123456789abcdef"));
        settings.main_key = Some(Secret::new("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="));
    }
    settings
}

fn run(cmd: &mut Command, stdin: Option<&str>) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        // A command that fails before reading its input closes the pipe first: EPIPE
        // here is that command's business, judged by its exit status and stderr.
        let _ = pipe.write_all(input.as_bytes());
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Exactly one line on stdout.
fn only_line(output: &Output) -> String {
    let text = stdout(output);
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got {text:?}");
    lines[0].to_owned()
}

async fn migrated(db: &TestDb) {
    let out = run(herald(db).arg("migrate"), None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn new_tenant(db: &TestDb, name: &str) -> String {
    only_line(&run(herald(db).args(["tenant", "create", name]), None))
}

#[tokio::test]
async fn migrate_then_tenant_create_prints_only_the_id() {
    init();
    let db = TestDb::new().await;
    migrated(&db).await;
    let id = new_tenant(&db, "Acme Inc.");
    let tenant = TenantId::parse(&id).expect("stdout is a tenant id");

    let conn = startup::connect(&settings_of(&db)).await.unwrap();
    let stored = domain::service::tenant::get(&conn, &tenant).await.unwrap();
    assert_eq!(stored.name, "Acme Inc.");
}

#[tokio::test]
async fn token_create_prints_only_a_working_token() {
    init();
    let db = TestDb::new().await;
    migrated(&db).await;
    let tenant = new_tenant(&db, "Acme");
    let jwt = only_line(&run(
        herald(&db).args(["token", "create", &tenant, "--name", "ci-bot"]),
        None,
    ));
    assert_eq!(jwt.split('.').count(), 3, "a JWT: {jwt}");

    let ctx = startup::context(&settings_of(&db), String::new()).await.unwrap();
    let claims = ctx.jwt.verify_api_token(&jwt).unwrap();
    assert_eq!(claims.sub.as_str(), tenant);
    let principal = token::authenticate(&ctx, &jwt).await.unwrap();
    assert_eq!(principal.token, claims.jti, "jti is the recorded token's id");
    assert_eq!(principal.token_name, "ci-bot");
}

#[tokio::test]
async fn user_create_reads_the_password_from_stdin_and_stores_argon2id() {
    init();
    let db = TestDb::new().await;
    migrated(&db).await;
    let tenant = new_tenant(&db, "Acme");
    let out = run(
        herald(&db).args([
            "user",
            "create",
            &tenant,
            "Ann@Example.com",
            "--role",
            "viewer",
            "--password-stdin",
        ]),
        Some("correct horse battery\n"),
    );
    let id = only_line(&out);
    assert!(id.starts_with("usr_"), "{id}");

    let conn = startup::connect(&settings_of(&db)).await.unwrap();
    let users = user::Entity::for_tenant(&TenantId::parse(&tenant).unwrap())
        .all(&conn)
        .await
        .unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].email, "ann@example.com");
    assert_eq!(users[0].role, domain::values::Role::Viewer);
    assert!(users[0].password_hash.starts_with("$argon2id$"));
    assert!(auth::verify_password(
        &users[0].password_hash,
        "correct horse battery"
    ));
}

#[tokio::test]
async fn every_error_is_one_clear_line_and_a_non_zero_exit() {
    init();
    let db = TestDb::new().await;
    migrated(&db).await;
    let tenant = new_tenant(&db, "Acme");
    let unknown = TenantId::new().to_string();
    run(
        herald(&db).args([
            "user",
            "create",
            &tenant,
            "dup@example.com",
            "--role",
            "admin",
            "--password-stdin",
        ]),
        Some("long-enough-password"),
    );

    let cases: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
        (vec!["tenant", "create", "  "], None, "invalid name"),
        (
            vec!["token", "create", "org_bogus"],
            None,
            "not a valid tenant id",
        ),
        (vec!["token", "create", &unknown], None, "tenant not found"),
        (
            vec![
                "user",
                "create",
                &tenant,
                "not-an-email",
                "--role",
                "admin",
                "--password-stdin",
            ],
            Some("pw-long-enough"),
            "invalid email",
        ),
        (
            vec![
                "user",
                "create",
                &tenant,
                "a@example.com",
                "--role",
                "root",
                "--password-stdin",
            ],
            Some("pw-long-enough"),
            "root",
        ),
        (
            vec!["user", "create", &tenant, "a@example.com", "--role", "admin"],
            None,
            "--password-stdin",
        ),
        (
            vec![
                "user",
                "create",
                &tenant,
                "a@example.com",
                "--role",
                "admin",
                "--password-stdin",
            ],
            Some("short"),
            "at least 8",
        ),
        (
            vec![
                "user",
                "create",
                &tenant,
                "a@example.com",
                "--role",
                "admin",
                "--password-stdin",
            ],
            Some(""),
            "no password",
        ),
        (
            vec![
                "user",
                "create",
                &tenant,
                "dup@example.com",
                "--role",
                "admin",
                "--password-stdin",
            ],
            Some("pw-long-enough"),
            "already exists",
        ),
        (
            vec![
                "user",
                "create",
                &unknown,
                "b@example.com",
                "--role",
                "admin",
                "--password-stdin",
            ],
            Some("pw-long-enough"),
            "tenant not found",
        ),
        (vec!["frobnicate"], None, "frobnicate"),
    ];
    for (args, stdin, expected) in cases {
        let out = run(herald(&db).args(&args), stdin);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            out.stdout.is_empty(),
            "{args:?} printed on stdout: {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
        let lines: Vec<_> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(
            lines.len(),
            1,
            "{args:?}: expected one line on stderr, got {err:?}"
        );
        assert!(
            lines[0].contains(expected),
            "{args:?}: {:?} does not mention {expected:?}",
            lines[0]
        );
    }

    let out = run(
        herald(&db)
            .arg("migrate")
            .env("HERALD_DATABASE_URL", "mysql://root@localhost/x"),
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL"));
}

/// A running `herald serve`, with its output collected line by line.
struct Served {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    url: String,
    banner: Vec<String>,
}

fn lines_of(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn serve(db: &TestDb) -> Served {
    let mut child = herald(db)
        .arg("serve")
        .env("HERALD_LISTEN", "127.0.0.1:0")
        .env("HERALD_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = lines_of(child.stdout.take().unwrap());
    let stderr = lines_of(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = loop {
        let line = stderr
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("herald serve did not report its address in time");
        if let Some(at) = line.find("url=") {
            break line[at + 4..].split_whitespace().next().unwrap().to_owned();
        }
    };
    // The banner, if any, is printed before the address is logged, but its reader thread
    // may lag behind the stderr one on a busy machine: give it a moment to catch up.
    let mut banner = Vec::new();
    while let Ok(line) = stdout.recv_timeout(Duration::from_millis(500)) {
        banner.push(line);
    }
    Served {
        child,
        stdout,
        stderr,
        url,
        banner,
    }
}

impl Served {
    /// SIGTERM, then wait for a clean exit.
    fn stop(mut self) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "herald serve exited with {status}");
                let late: Vec<String> = self.stdout.try_iter().collect();
                assert!(
                    late.iter().all(|l| !l.contains("Password")),
                    "late banner: {late:?}"
                );
                drop(self.stderr);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!("herald serve did not stop on SIGTERM");
    }
}

fn banner_value<'a>(banner: &'a [String], label: &str) -> &'a str {
    banner
        .iter()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label} in the banner: {banner:?}"))
}

#[tokio::test]
async fn serve_prints_the_first_run_login_once_and_a_restart_keeps_the_token() {
    init();
    let db = TestDb::new().await;
    let http = reqwest::Client::new();

    let first = serve(&db);
    let token = banner_value(&first.banner, "API token:").to_owned();
    assert_eq!(
        banner_value(&first.banner, "Login:"),
        domain::service::bootstrap::ADMIN_EMAIL
    );
    assert!(banner_value(&first.banner, "Password:").len() >= 16);
    assert_eq!(
        banner_value(&first.banner, "Dashboard:"),
        format!("{}/ui", first.url)
    );
    let health = http
        .get(format!("{}/api/v1/health", first.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    first.stop();

    if db.backend == domain::db::Backend::Sqlite {
        let secrets = herald::secrets::secrets_path(&db.dir().join("herald.db"));
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&secrets).unwrap().permissions());
        assert_eq!(
            mode & 0o777,
            0o600,
            "the generated secrets file is readable by its owner only"
        );
    }

    let second = serve(&db);
    assert!(
        second.banner.is_empty(),
        "a later run prints no login: {:?}",
        second.banner
    );
    let ctx = startup::context(&settings_of(&db), String::new()).await.unwrap();
    token::authenticate(&ctx, &token)
        .await
        .expect("the first run's token still works after a restart");
    second.stop();
}

/// Keys and settings every process of one multi-process test shares.
fn keyed(cmd: &mut Command) -> &mut Command {
    cmd.env("HERALD_JWT_SECRET", "crash-test-jwt-secret-0123456789abcdef")
        .env("HERALD_MAIN_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
        .env("HERALD_ALLOW_PRIVATE_NETWORKS", "127.0.0.0/8")
        .env("HERALD_API_RATE_LIMIT", "0")
}

/// A receiver that takes `delay` per request and counts, per `webhook-id`, the requests
/// it started and the ones it answered.
struct SlowReceiver {
    url: String,
    started: Arc<Mutex<HashMap<String, usize>>>,
    answered: Arc<Mutex<HashMap<String, usize>>>,
    arrivals: Arc<Mutex<Vec<Instant>>>,
}

impl SlowReceiver {
    fn start(delay: Duration) -> Self {
        let started: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let answered: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
        let (s, a, t) = (started.clone(), answered.clone(), arrivals.clone());
        let server = HttpServer::new(move || {
            let (s, a, t) = (s.clone(), a.clone(), t.clone());
            App::new().default_service(web::to(move |req: HttpRequest| {
                let (s, a, t) = (s.clone(), a.clone(), t.clone());
                async move {
                    t.lock().unwrap().push(Instant::now());
                    let id = req
                        .headers()
                        .get("webhook-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    *s.lock().unwrap().entry(id.clone()).or_default() += 1;
                    tokio::time::sleep(delay).await;
                    *a.lock().unwrap().entry(id).or_default() += 1;
                    HttpResponse::NoContent().finish()
                }
            }))
        })
        .workers(2)
        .bind("127.0.0.1:0")
        .unwrap();
        let url = format!("http://127.0.0.1:{}/hook", server.addrs()[0].port());
        tokio::spawn(server.run());
        Self {
            url,
            started,
            answered,
            arrivals,
        }
    }

    /// The most requests that arrived within any one second.
    fn busiest_second(&self) -> usize {
        let mut at = self.arrivals.lock().unwrap().clone();
        at.sort();
        (0..at.len())
            .map(|i| {
                at[i..]
                    .iter()
                    .take_while(|t| **t - at[i] < Duration::from_secs(1))
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    fn started(&self) -> HashMap<String, usize> {
        self.started.lock().unwrap().clone()
    }

    fn answered(&self) -> HashMap<String, usize> {
        self.answered.lock().unwrap().clone()
    }
}

/// A migrated database with one tenant, and `herald serve` running as the API only (no
/// in-process worker), with an application `c` whose one endpoint is `endpoint` (the
/// body that creates it).
struct ApiOnly {
    child: Child,
    base: String,
    token: String,
    tenant: TenantId,
    http: reqwest::Client,
}

/// The API process never outlives its test, whichever way the test ends.
impl Drop for ApiOnly {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ApiOnly {
    async fn start(db: &TestDb, endpoint: serde_json::Value) -> Self {
        assert!(run(keyed(&mut herald(db)).arg("migrate"), None).status.success());
        let tenant = only_line(&run(
            keyed(&mut herald(db)).args(["tenant", "create", "Crash"]),
            None,
        ));
        let token = only_line(&run(
            keyed(&mut herald(db)).args(["token", "create", &tenant]),
            None,
        ));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = keyed(&mut herald(db))
            .arg("serve")
            .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
            .env("HERALD_SERVE_WORKER", "false")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let api = Self {
            child,
            base: format!("http://127.0.0.1:{port}/api/v1"),
            token,
            tenant: TenantId::parse(&tenant).unwrap(),
            http: reqwest::Client::new(),
        };
        let health = format!("{}/health", api.base);
        let ready = eventually(Duration::from_secs(10), async || {
            let res = api.http.get(&health).send().await;
            res.is_ok_and(|r| r.status() == 200).then_some(())
        })
        .await;
        assert!(ready.is_some(), "the API did not come up");
        api.post("/app", serde_json::json!({"name": "C", "uid": "c"}))
            .await;
        api.post("/app/c/endpoint", endpoint).await;
        api
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().await.unwrap()
    }

    /// Sends `n` messages; returns their ids.
    async fn send(&self, n: usize) -> Vec<String> {
        let mut accepted = Vec::with_capacity(n);
        for i in 0..n {
            let body = self
                .post(
                    "/app/c/msg",
                    serde_json::json!({"eventType": "e", "payload": {"n": i}}),
                )
                .await;
            accepted.push(body["id"].as_str().unwrap().to_owned());
        }
        accepted
    }

    /// Destinations of the tenant not yet `success`, once all are or `wait` has passed.
    async fn wait_for_success(&self, db: &TestDb, wait: Duration) -> u64 {
        let conn = startup::connect(&settings_of(db)).await.unwrap();
        let done = eventually(wait, async || {
            (self.open_destinations(&conn).await == 0).then_some(0)
        })
        .await;
        match done {
            Some(open) => open,
            None => self.open_destinations(&conn).await,
        }
    }

    async fn open_destinations(&self, conn: &sea_orm::DatabaseConnection) -> u64 {
        destination::Entity::for_tenant(&self.tenant)
            .filter(destination::Column::Status.ne(destination::Status::Success))
            .count(conn)
            .await
            .unwrap()
    }
}

fn spawn_worker(db: &TestDb, extra: &[(&str, &str)]) -> Child {
    let mut cmd = herald(db);
    keyed(&mut cmd).arg("worker");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
}

/// The 202 promise, with real processes: messages accepted by an API process that is then
/// killed with SIGKILL are all delivered by workers started afterwards, and a worker
/// killed with SIGKILL in the middle of the run leaves its jobs to the other worker once
/// their lease (30 s) runs out. Every destination ends `success`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_api_and_worker_processes_lose_no_accepted_message() {
    init();
    let db = TestDb::new().await;
    // A receiver that takes a moment per request, so kills land mid-run.
    let receiver = SlowReceiver::start(Duration::from_millis(20));
    let mut api = ApiOnly::start(&db, serde_json::json!({"url": receiver.url})).await;
    const MESSAGES: usize = 2000;
    let accepted = api.send(MESSAGES).await;
    // SIGKILL the API right after its last 202.
    api.child.kill().unwrap();
    api.child.wait().unwrap();

    let mut doomed = spawn_worker(&db, &[]);
    let mut survivor = spawn_worker(&db, &[]);
    let delivered = || receiver.answered().len();
    eventually(Duration::from_secs(60), async || {
        (delivered() >= MESSAGES / 4).then_some(())
    })
    .await;
    assert!(
        delivered() < MESSAGES,
        "the run ended before the kill; slow the receiver down"
    );
    doomed.kill().unwrap();
    doomed.wait().unwrap();

    let open = api.wait_for_success(&db, Duration::from_secs(150)).await;
    let _ = survivor.kill();
    let _ = survivor.wait();
    assert_eq!(open, 0, "destinations not delivered after the kills");
    let seen = receiver.answered();
    let missing: Vec<&String> = accepted.iter().filter(|id| !seen.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} accepted messages never arrived",
        missing.len()
    );
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    // At-least-once: a killed worker's in-flight requests may be sent again.
    eprintln!("crash test: {MESSAGES} accepted, all delivered, {duplicates} duplicates");
}

/// An endpoint's rate holds across processes: `herald serve` as the API and three
/// `herald worker`s on one database, an endpoint at 10 per second, 100 messages queued
/// before the workers start. No second sees more than 11 (the window's edge), and every
/// message arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_worker_processes_together_keep_an_endpoints_rate() {
    init();
    let db = TestDb::new().await;
    let receiver = SlowReceiver::start(Duration::ZERO);
    let api = ApiOnly::start(&db, serde_json::json!({"url": receiver.url, "throttleRate": 10})).await;
    const MESSAGES: usize = 100;
    let accepted = api.send(MESSAGES).await;
    let mut workers: Vec<Child> = (0..3).map(|_| spawn_worker(&db, &[])).collect();
    let open = api.wait_for_success(&db, Duration::from_secs(60)).await;
    for worker in &mut workers {
        let _ = worker.kill();
        let _ = worker.wait();
    }
    assert_eq!(open, 0, "destinations not delivered");
    let answered = receiver.answered();
    assert!(
        accepted.iter().all(|id| answered.get(id) == Some(&1)),
        "every message once: {answered:?}"
    );
    let busiest = receiver.busiest_second();
    assert!(busiest <= 11, "{busiest} requests within one second at 10/s");
}

/// SIGTERM drains: the worker starts no new delivery, lets the ones in flight finish and
/// records them, and exits cleanly within its shutdown timeout; another worker delivers
/// the rest, and nothing is delivered twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_deliveries_in_flight_finish_and_starts_no_new_ones() {
    init();
    let db = TestDb::new().await;
    let receiver = SlowReceiver::start(Duration::from_secs(2));
    let api = ApiOnly::start(&db, serde_json::json!({"url": receiver.url})).await;
    const MESSAGES: usize = 30;
    let accepted = api.send(MESSAGES).await;

    let mut worker = spawn_worker(
        &db,
        &[
            ("HERALD_WORKER_CONCURRENCY", "4"),
            ("HERALD_WORKER_SHUTDOWN_TIMEOUT", "10s"),
        ],
    );
    eventually(Duration::from_secs(30), async || {
        (!receiver.started().is_empty()).then_some(())
    })
    .await;
    // Mid-request (the receiver holds each request for 2 s): let the worker fill its four
    // slots, or give up on that after a second and go on with what is in flight.
    eventually(Duration::from_secs(1), async || {
        (receiver.started().len() >= 4).then_some(())
    })
    .await;
    let in_flight = receiver.started().len();
    assert!(in_flight >= 1, "no delivery started");
    let termed = Instant::now();
    Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap();
    let Some(status) = eventually(Duration::from_secs(20), async || worker.try_wait().unwrap()).await else {
        let _ = worker.kill();
        panic!("the worker did not exit within 20 s of SIGTERM");
    };
    let took = termed.elapsed();
    assert!(status.success(), "the worker exited with {status}");
    let (started, answered) = (receiver.started(), receiver.answered());
    assert_eq!(
        started, answered,
        "every request in flight at SIGTERM was answered before the exit"
    );
    assert!(
        started.len() <= in_flight + 4,
        "no new deliveries after SIGTERM: {} started, {in_flight} in flight at the signal",
        started.len()
    );
    assert!(started.len() < MESSAGES, "the run finished before the signal");
    // What finished was recorded: exactly those destinations are no longer open.
    let conn = startup::connect(&settings_of(&db)).await.unwrap();
    assert_eq!(
        api.open_destinations(&conn).await,
        (MESSAGES - answered.len()) as u64,
        "the deliveries that finished during the drain are recorded"
    );

    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let mut next = spawn_worker(
        &db,
        &[
            ("HERALD_WORKER_CONCURRENCY", "16"),
            ("HERALD_METRICS_LISTEN", &metrics_listen),
        ],
    );
    let open = api.wait_for_success(&db, Duration::from_secs(90)).await;
    // The worker's own metrics listener counts what it delivered.
    let page = api
        .http
        .get(format!("http://{metrics_listen}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let _ = next.kill();
    let _ = next.wait();
    assert_eq!(open, 0, "the other worker delivered the rest");
    let expected = format!(
        "herald_deliveries_total{{outcome=\"success\",error=\"none\"}} {}",
        MESSAGES - answered.len()
    );
    assert!(page.lines().any(|l| l == expected), "{expected} not in\n{page}");
    let seen = receiver.answered();
    assert!(accepted.iter().all(|id| seen.contains_key(id)));
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    assert_eq!(duplicates, 0, "a drained delivery is not sent again");
    eprintln!(
        "drain test: {in_flight} in flight at SIGTERM, exit after {took:?}, {} delivered during the drain",
        answered.len()
    );
}

/// `HERALD_LOG_FORMAT=json`: every log line is one JSON object with its fields at the top
/// level, and no key shows up in it; an unknown format is refused with a one-line error.
/// `herald health` succeeds against the running server and fails against nothing.
#[tokio::test]
async fn json_logs_and_the_health_command() {
    init();
    let db = TestDb::new().await;
    let out = run(herald(&db).arg("serve").env("HERALD_LOG_FORMAT", "xml"), None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("HERALD_LOG_FORMAT") && err.trim().lines().count() == 1,
        "{err}"
    );

    let mut child = herald(&db)
        .arg("serve")
        .env("HERALD_LISTEN", "127.0.0.1:0")
        .env("HERALD_LOG", "info")
        .env("HERALD_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = lines_of(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let listening = loop {
        let line = stderr
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("no listening line in time");
        let value: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            value["level"].is_string() && value["timestamp"].is_string(),
            "{line}"
        );
        seen.push(line);
        if value["message"] == "herald is listening" {
            break value;
        }
    };
    assert!(
        listening["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http://127.0.0.1:")),
        "{listening}"
    );
    // Serving (and so handling SIGTERM) once it answers.
    let health = format!("{}/api/v1/health", listening["url"].as_str().unwrap());
    let up = eventually(Duration::from_secs(5), async || {
        let res = reqwest::get(&health).await;
        res.is_ok_and(|r| r.status() == 200).then_some(())
    })
    .await;
    assert!(up.is_some(), "herald serve never answered");
    // `herald health`, the container image's health check, agrees.
    let url = listening["url"].as_str().unwrap();
    let ok = run(herald(&db).args(["health", "--url", url]), None);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let listen = url.trim_start_matches("http://");
    let ok = run(herald(&db).arg("health").env("HERALD_LISTEN", listen), None);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let down = run(herald(&db).args(["health", "--url", "http://127.0.0.1:1"]), None);
    let err = String::from_utf8_lossy(&down.stderr);
    assert!(
        !down.status.success() && err.trim().lines().count() == 1 && err.contains("nothing answers"),
        "{err}"
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let rest: Vec<String> = stderr.try_iter().collect();
    assert!(status.success(), "{status}: {rest:#?}");
    seen.extend(rest);
    // No key Herald runs with shows up in the log.
    let keys: Vec<String> = if db.backend == domain::db::Backend::Sqlite {
        let path = herald::secrets::secrets_path(&db.dir().join("herald.db"));
        std::fs::read_to_string(path)
            .expect("the first run wrote its keys")
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(_, v)| v.trim().trim_matches('"').to_owned())
            .collect()
    } else {
        let s = settings_of(&db);
        vec![
            s.jwt_secret.unwrap().expose().to_owned(),
            s.main_key.unwrap().expose().to_owned(),
        ]
    };
    assert_eq!(keys.len(), 2, "{keys:?}");
    for key in keys {
        assert!(seen.iter().all(|l| !l.contains(&key)), "a key was logged");
    }
}

#[tokio::test]
async fn keys_rotate_moves_secrets_to_the_new_main_key_and_refuses_a_wrong_one() {
    use domain::service::{application, endpoint};
    init();
    let db = TestDb::new().await;
    migrated(&db).await;
    let generate = |args: &[&str]| only_line(&run(herald(&db).args(["keys", "generate"]).args(args), None));
    let (old, new, wrong) = (generate(&[]), generate(&[]), generate(&[]));
    assert!(domain::crypto::MainKey::parse(&new).is_ok(), "{new}");
    assert!(generate(&["--jwt"]).len() >= 32);
    let jwt = "keys-test-jwt-secret-0123456789abcdef";

    // Two endpoints whose secrets the old key sealed.
    let settings = Settings {
        jwt_secret: Some(Secret::new(jwt)),
        main_key: Some(Secret::new(&old)),
        ..settings_of(&db)
    };
    let ctx = startup::context(&settings, String::new()).await.unwrap();
    let tenant = domain::service::tenant::create(&ctx.db, "T").await.unwrap().id;
    let (app, _) = application::create(
        &ctx,
        &tenant,
        application::NewApplication {
            name: "app".into(),
            uid: None,
            rate_limit: None,
            retention_days: None,
            metadata: Default::default(),
        },
        false,
        &domain::service::audit::Actor::Cli,
    )
    .await
    .unwrap();
    for n in 0..2 {
        endpoint::create(
            &ctx,
            &tenant,
            app.id.as_str(),
            endpoint::NewEndpoint::at(
                domain::values::EndpointUrl::parse(&format!("https://example.com/{n}")).unwrap(),
            ),
            &domain::service::audit::Actor::Cli,
        )
        .await
        .unwrap();
    }
    let keys = |main: &str, fallbacks: &str, command: &str| {
        run(
            herald(&db)
                .env("HERALD_JWT_SECRET", jwt)
                .env("HERALD_MAIN_KEY", main)
                .env("HERALD_MAIN_KEY_FALLBACKS", fallbacks)
                .args(["keys", command]),
            None,
        )
    };
    let id = |key: &str| domain::crypto::MainKey::parse(key).unwrap().id();

    // Without the old key as a fallback, the new key opens nothing: exit 1, one line,
    // naming both keys.
    let refused = keys(&new, &wrong, "rotate");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&id(&old)) && stderr.contains(&id(&new)),
        "{stderr}"
    );
    assert!(refused.stdout.is_empty());
    let status = stdout(&keys(&old, "", "status"));
    assert!(
        status.contains(&format!("main key {} (current): 2 endpoint secrets", id(&old))),
        "nothing changed: {status}"
    );

    let rotated = stdout(&keys(&new, &format!(" {wrong}, {old} "), "rotate"));
    assert!(
        rotated.contains(&format!(
            "re-sealed 2 endpoint secrets under main key {} (0 already were)",
            id(&new)
        )),
        "{rotated}"
    );
    assert!(
        rotated.contains("HERALD_MAIN_KEY_FALLBACKS is not needed"),
        "{rotated}"
    );
    let status = stdout(&keys(&new, "", "status"));
    assert!(
        status.contains(&format!("main key {} (current): 2 endpoint secrets", id(&new))),
        "{status}"
    );
    let unusable = keys(&new, "not-a-key", "status");
    assert!(
        String::from_utf8_lossy(&unusable.stderr).contains("HERALD_MAIN_KEY_FALLBACKS"),
        "{}",
        String::from_utf8_lossy(&unusable.stderr)
    );
}
