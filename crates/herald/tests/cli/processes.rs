//! Real processes on one database: accepted messages survive `kill -9` of the API and of
//! a worker, an endpoint's rate holds across worker processes, and SIGTERM drains.

use std::{
    collections::HashMap,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use domain::{entity::destination, id::TenantId, scope::TenantScoped};
use herald::startup;
use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
use tests::{TestDb, eventually, init};

use crate::{herald, only_line, run, settings_of};

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
