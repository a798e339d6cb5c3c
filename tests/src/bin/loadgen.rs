//! Herald's load generator: starts a Rust receiver and `herald serve` on a fresh database,
//! sends messages through the REST API, and prints one JSON line of figures.
//!
//! ```sh
//! cargo build --release -p herald -p tests --bin herald --bin loadgen
//! target/release/loadgen --messages 2000 --concurrency 32 --endpoints 1 [--rate 500] \
//!     [--database postgres://postgres@127.0.0.1:5432/postgres] [--workers N] [--retries]
//! target/release/loadgen --direct --messages 2000 --concurrency 32 --endpoints 1
//! target/release/loadgen --messages 1000 --endpoint-options '{"ordered": true}'
//! target/release/loadgen --messages 2000 --endpoints 10 --filter '.payload.n >= 0 and .eventType == "bench.event"'
//! target/release/loadgen --messages 2000 --transformation '{body: {text: "n=\(.payload.n)", pad: .payload.pad}}'
//! ```
//!
//! `--workers N` runs `herald serve` as the API only and N `herald worker` processes
//! beside it. `--retries` makes the receiver refuse each message's first request (500)
//! and Herald retry after 1 s, and reports how late each retry came after the time the
//! first attempt planned for it. `--direct` leaves Herald out: the load generator signs
//! the same requests itself and sends them straight to the receiver, which shows what
//! this machine can do for HTTP alone. `--filter` and `--transformation` give every
//! endpoint that jq program (shorthands for the fields of `--endpoint-options`); a filter
//! must let every message through (the run waits for messages × endpoints deliveries),
//! so it measures what evaluating it costs, and payloads are `{"n": N, "pad": "x…"}`. A
//! transformation should leave `url` alone: the receiver counts deliveries by message
//! and path, and every endpoint has a path of its own.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::json;

struct Args {
    messages: usize,
    concurrency: usize,
    endpoints: usize,
    rate: Option<f64>,
    database: Option<String>,
    herald: String,
    workers: usize,
    retries: bool,
    direct: bool,
    /// Extra fields of every endpoint's body, e.g. `{"ordered": true}`.
    endpoint_options: serde_json::Value,
}

fn args() -> Args {
    let mut a = Args {
        messages: 2000,
        concurrency: 32,
        endpoints: 1,
        rate: None,
        database: None,
        herald: "target/release/herald".into(),
        workers: 0,
        retries: false,
        direct: false,
        endpoint_options: json!({}),
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().unwrap_or_default();
        match flag.as_str() {
            "--messages" => a.messages = value().parse().expect("--messages N"),
            "--concurrency" => a.concurrency = value().parse().expect("--concurrency C"),
            "--endpoints" => a.endpoints = value().parse().expect("--endpoints E"),
            "--rate" => a.rate = Some(value().parse().expect("--rate R (messages/s)")),
            "--database" => a.database = Some(value()),
            "--herald" => a.herald = value(),
            "--workers" => a.workers = value().parse().expect("--workers N"),
            "--retries" => a.retries = true,
            "--direct" => a.direct = true,
            "--endpoint-options" => {
                let extra: serde_json::Value =
                    serde_json::from_str(&value()).expect("--endpoint-options JSON object");
                for (k, v) in extra.as_object().expect("--endpoint-options JSON object") {
                    a.endpoint_options[k] = v.clone();
                }
            }
            "--filter" => a.endpoint_options["filter"] = json!(value()),
            "--transformation" => a.endpoint_options["transformation"] = json!(value()),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// CPU seconds (user + system) of a process, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// CPU seconds of every process whose name starts with `name`.
fn cpu_seconds_of(name: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim().starts_with(name))
        })
        .map(cpu_seconds)
        .sum()
}

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    domain::crypto::random_bytes(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

struct Herald {
    child: Child,
    workers: Vec<Child>,
    url: String,
    token: String,
}

impl Herald {
    fn pids(&self) -> Vec<u32> {
        std::iter::once(self.child.id())
            .chain(self.workers.iter().map(Child::id))
            .collect()
    }
}

fn start_herald(args: &Args, database_url: &str, dir: &std::path::Path) -> Herald {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let program = std::fs::canonicalize(&args.herald)
        .expect("the herald binary (build it with `cargo build --release -p herald`)");
    let env = [
        ("HERALD_DATABASE_URL", database_url.to_owned()),
        ("HERALD_JWT_SECRET", random_hex(32)),
        (
            "HERALD_MAIN_KEY",
            domain::crypto::MainKey::generate().unwrap().encode(),
        ),
        ("HERALD_ALLOW_PRIVATE_NETWORKS", "127.0.0.0/8".to_owned()),
        ("HERALD_API_RATE_LIMIT", "0".to_owned()),
        ("HERALD_LOG", "warn".to_owned()),
        (
            "HERALD_RETRY_SCHEDULE",
            if args.retries {
                "1s"
            } else {
                "5s,5m,30m,2h,5h,10h,10h"
            }
            .to_owned(),
        ),
        ("HERALD_SERVE_WORKER", (args.workers == 0).to_string()),
    ];
    let mut child = Command::new(&program)
        .arg("serve")
        .current_dir(dir)
        .envs(env.iter().cloned())
        .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting herald");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut token = None;
    for line in stdout.by_ref().map_while(Result::ok) {
        if let Some(t) = line.trim().strip_prefix("API token:") {
            token = Some(t.trim().to_owned());
            break;
        }
    }
    // Keep draining: a closed pipe would fail Herald's next line of output.
    std::thread::spawn(move || stdout.map_while(Result::ok).for_each(drop));
    // The API has migrated the database by now: workers may start.
    let workers = (0..args.workers)
        .map(|_| {
            Command::new(&program)
                .arg("worker")
                .current_dir(dir)
                .envs(env.iter().cloned())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("starting a herald worker")
        })
        .collect();
    Herald {
        child,
        workers,
        url: format!("http://127.0.0.1:{port}"),
        token: token.expect("herald printed no token"),
    }
}

/// Per request: `{webhook-id}{path}`, when it arrived, and the wall-clock time.
type Arrivals = Arc<Mutex<Vec<(String, Instant, chrono::DateTime<chrono::Utc>)>>>;

/// A receiver that answers 204 at once, or (`refuse_first`) 500 to the first request of
/// each message and endpoint.
async fn start_receiver(refuse_first: bool) -> (String, Arrivals) {
    let arrivals: Arrivals = Arc::default();
    let a = arrivals.clone();
    let server = HttpServer::new(move || {
        let a = a.clone();
        App::new().default_service(web::to(move |req: HttpRequest| {
            let a = a.clone();
            async move {
                let id = req
                    .headers()
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let key = format!("{id}{}", req.path());
                let mut got = a.lock().unwrap();
                let first = refuse_first && !got.iter().any(|(k, _, _)| *k == key);
                got.push((key, Instant::now(), chrono::Utc::now()));
                drop(got);
                if first {
                    HttpResponse::InternalServerError().finish()
                } else {
                    HttpResponse::NoContent().finish()
                }
            }
        }))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    (format!("http://127.0.0.1:{port}"), arrivals)
}

/// Sends the messages, `concurrency` at a time (paced to `rate` if set), through
/// `send`; returns when each was sent (by the id `send` answers) and how long sending took.
async fn send_all<F, Fut>(args: &Args, send: F) -> (HashMap<String, Instant>, Duration)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = String> + Send,
{
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (sent, next, send) = (sent.clone(), next.clone(), send.clone());
        let (total, rate) = (args.messages, args.rate);
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= total {
                    break;
                }
                if let Some(rate) = rate {
                    let due = started + Duration::from_secs_f64(n as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                let at = Instant::now();
                let id = send(n).await;
                sent.lock().unwrap().insert(id, at);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let took = started.elapsed();
    let sent = sent.lock().unwrap().clone();
    (sent, took)
}

fn payload(n: usize) -> serde_json::Value {
    json!({"n": n, "pad": "x".repeat(200)})
}

/// Without Herald: the same signed requests, straight from here to the receiver.
async fn direct(args: &Args, receiver: &str, http: &reqwest::Client) -> (HashMap<String, Instant>, Duration) {
    let secret = domain::signing::SigningSecret::generate().unwrap();
    let keys = Arc::new(vec![secret]);
    let (http, receiver, endpoints) = (http.clone(), receiver.to_owned(), args.endpoints);
    send_all(args, move |n| {
        let (http, receiver, keys) = (http.clone(), receiver.clone(), keys.clone());
        async move {
            let id = domain::id::MessageId::new().to_string();
            let body = json!({"eventType": "bench.event", "payload": payload(n)})["payload"].to_string();
            let timestamp = chrono::Utc::now().timestamp();
            let signature = domain::signing::signature_header(&keys, &id, timestamp, body.as_bytes());
            let sends = (0..endpoints).map(|e| {
                http.post(format!("{receiver}/e{e}"))
                    .header("content-type", "application/json")
                    .header("webhook-id", &id)
                    .header("webhook-timestamp", timestamp.to_string())
                    .header("webhook-signature", &signature)
                    .body(body.clone())
                    .send()
            });
            for res in futures_util::future::join_all(sends).await {
                assert!(res.unwrap().status().is_success());
            }
            id
        }
    })
    .await
}

/// For each message, how long after the time its first attempt planned for the retry
/// the retry arrived, in milliseconds.
async fn retry_lags(
    database_url: &str,
    arrivals: &[(String, Instant, chrono::DateTime<chrono::Utc>)],
) -> Vec<f64> {
    use sea_orm::ConnectionTrait;
    let db = domain::db::connect(database_url, 1).await.unwrap();
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT message_id, next_attempt_at FROM attempt WHERE number = 1 AND next_attempt_at IS NOT NULL",
        ))
        .await
        .unwrap();
    let planned: HashMap<String, chrono::DateTime<chrono::Utc>> = rows
        .iter()
        .map(|r| {
            (
                r.try_get::<String>("", "message_id").unwrap(),
                r.try_get::<chrono::DateTime<chrono::Utc>>("", "next_attempt_at")
                    .unwrap(),
            )
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut lags = Vec::new();
    for (key, _, at) in arrivals {
        if !seen.insert(key.clone()) {
            // The second request of a message: its retry.
            let id = key.split('/').next().unwrap_or("");
            if let Some(plan) = planned.get(id) {
                lags.push((*at - *plan).num_microseconds().unwrap_or(0) as f64 / 1000.0);
            }
        }
    }
    lags.sort_by(|a, b| a.partial_cmp(b).unwrap());
    lags
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = args();
    let dir = tempfile::tempdir().unwrap();
    let (backend, database_url, pg_admin) = match &args.database {
        Some(url) if url.starts_with("postgres") => {
            let name = format!(
                "herald_bench_{}",
                ulid::Ulid::generate().to_string().to_lowercase()
            );
            let status = Command::new("psql")
                .args([url.as_str(), "-q", "-c", &format!("CREATE DATABASE {name}")])
                .status()
                .expect("psql");
            assert!(status.success());
            // The same server and options (`?sslmode=disable`, say), the new database.
            let mut herald_url = url::Url::parse(url).expect("--database URL");
            herald_url.set_path(&name);
            ("postgres", herald_url.to_string(), Some((url.clone(), name)))
        }
        _ => (
            "sqlite",
            format!("sqlite://{}", dir.path().join("bench.db").display()),
            None,
        ),
    };
    let (receiver, arrivals) = start_receiver(args.retries).await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * args.endpoints.max(1))
        .build()
        .unwrap();
    let mut herald = (!args.direct).then(|| start_herald(&args, &database_url, dir.path()));
    if let Some(herald) = &herald {
        let auth = format!("Bearer {}", herald.token);
        let post = |path: String, body: serde_json::Value| {
            http.post(format!("{}{path}", herald.url))
                .header("authorization", auth.clone())
                .json(&body)
                .send()
        };
        assert!(
            post("/api/v1/app".into(), json!({"name": "bench", "uid": "bench"}))
                .await
                .unwrap()
                .status()
                .is_success()
        );
        for e in 0..args.endpoints {
            let mut body = args.endpoint_options.clone();
            body["url"] = json!(format!("{receiver}/e{e}"));
            let r = post("/api/v1/app/bench/endpoint".into(), body).await.unwrap();
            let status = r.status();
            assert!(
                status.is_success(),
                "creating an endpoint: {status} {}",
                r.text().await.unwrap_or_default()
            );
        }
    }

    let pids = herald.as_ref().map(Herald::pids).unwrap_or_default();
    let herald_cpu = || pids.iter().map(|pid| cpu_seconds(*pid)).sum::<f64>();
    let db_cpu = || {
        if backend == "postgres" && herald.is_some() {
            cpu_seconds_of("postgres")
        } else {
            0.0
        }
    };
    let (herald_cpu0, db_cpu0, own_cpu0) = (herald_cpu(), db_cpu(), cpu_seconds(std::process::id()));
    let started = Instant::now();
    let (sent, accepted_in) = match &herald {
        None => direct(&args, &receiver, &http).await,
        Some(herald) => {
            let (http, url, auth) = (
                http.clone(),
                herald.url.clone(),
                format!("Bearer {}", herald.token),
            );
            send_all(&args, move |n| {
                let (http, url, auth) = (http.clone(), url.clone(), auth.clone());
                async move {
                    let res = http
                        .post(format!("{url}/api/v1/app/bench/msg"))
                        .header("authorization", &auth)
                        .json(&json!({"eventType": "bench.event", "payload": payload(n)}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap_or_default());
                    let body: serde_json::Value = res.json().await.unwrap();
                    body["id"].as_str().unwrap().to_owned()
                }
            })
            .await
        }
    };
    let requests_per_delivery = if args.retries { 2 } else { 1 };
    let expected = args.messages * args.endpoints;
    let deadline = Instant::now() + Duration::from_secs(300);
    while arrivals.lock().unwrap().len() < expected * requests_per_delivery && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let arrivals = arrivals.lock().unwrap().clone();
    let herald_cpu = herald_cpu() - herald_cpu0;
    let db_cpu = db_cpu() - db_cpu0;
    let own_cpu = cpu_seconds(std::process::id()) - own_cpu0;
    let rss = pids.iter().map(|pid| peak_rss_mib(*pid)).fold(0.0, f64::max);
    // Per message and endpoint, how many requests arrived; the latency is that of the
    // first (with `--retries`, the refused first try: the pipeline's own latency).
    let mut requests: HashMap<&str, usize> = HashMap::new();
    let mut latencies: Vec<f64> = Vec::with_capacity(arrivals.len());
    let mut last = started;
    for (key, at, _) in &arrivals {
        let count = requests.entry(key.as_str()).or_default();
        *count += 1;
        if *count == 1 {
            let id = key.split('/').next().unwrap_or("");
            if let Some(sent_at) = sent.get(id) {
                latencies.push(at.duration_since(*sent_at).as_secs_f64() * 1000.0);
            }
        }
        last = last.max(*at);
    }
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    // Delivered: as many requests as a delivery takes (two with `--retries`).
    let delivered = requests.values().filter(|n| **n >= requests_per_delivery).count();
    let duplicates: usize = requests
        .values()
        .map(|n| n.saturating_sub(requests_per_delivery))
        .sum();
    let end_to_end = last.duration_since(started).as_secs_f64();
    let per_k = |cpu: f64| {
        if delivered == 0 {
            0.0
        } else {
            cpu * 1000.0 / delivered as f64
        }
    };
    let round = |v: f64, places: i32| (v * 10f64.powi(places)).round() / 10f64.powi(places);
    let lags = if args.retries && herald.is_some() {
        retry_lags(&database_url, &arrivals).await
    } else {
        Vec::new()
    };
    let retries = (!lags.is_empty()).then(|| {
        json!({
            "count": lags.len(),
            "late_ms_p50": round(percentile(&lags, 0.50), 1),
            "late_ms_p99": round(percentile(&lags, 0.99), 1),
            "late_ms_max": round(lags.last().copied().unwrap_or(0.0), 1),
            "early": lags.iter().filter(|l| **l < 0.0).count(),
        })
    });
    println!(
        "{}",
        json!({
            "mode": if herald.is_none() { "direct" } else if args.workers > 0 { "api+workers" } else { "serve" },
            "backend": if herald.is_none() { "none" } else { backend },
            "workers": args.workers,
            "messages": args.messages,
            "endpoints": args.endpoints,
            "endpoint_options": args.endpoint_options,
            "concurrency": args.concurrency,
            "offered_rate": args.rate,
            "accepted_per_s": (args.messages as f64 / accepted_in.as_secs_f64()).round(),
            "deliveries_per_s": (delivered as f64 / end_to_end).round(),
            "latency_ms": {
                "p50": round(percentile(&latencies, 0.50), 1),
                "p95": round(percentile(&latencies, 0.95), 1),
                "p99": round(percentile(&latencies, 0.99), 1),
            },
            "herald_cpu_s_per_1000": round(per_k(herald_cpu), 3),
            "db_cpu_s_per_1000": round(per_k(db_cpu), 3),
            "herald_and_db_cpu_ms_per_delivery": round(per_k(herald_cpu + db_cpu), 3),
            "loadgen_and_receiver_cpu_s_per_1000": round(per_k(own_cpu), 3),
            "herald_peak_rss_mib": round(rss, 1),
            "retries": retries,
            "sent": args.messages,
            "delivered": delivered,
            "expected_deliveries": expected,
            "duplicates": duplicates,
            "lost": expected.saturating_sub(delivered),
        })
    );
    if let Some(herald) = herald.as_mut() {
        for pid in herald.pids() {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
        let _ = herald.child.wait();
        for worker in &mut herald.workers {
            let _ = worker.wait();
        }
    }
    if let Some((admin, name)) = pg_admin {
        let _ = Command::new("psql")
            .args([
                admin.as_str(),
                "-q",
                "-c",
                &format!("DROP DATABASE {name} WITH (FORCE)"),
            ])
            .status();
    }
}
