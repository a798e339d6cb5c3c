//! Herald's load generator: starts a Rust receiver and `herald serve` on a fresh database,
//! sends messages through the REST API, and prints one JSON line of figures.
//!
//! ```sh
//! cargo build --release -p herald -p tests --bin herald --bin loadgen
//! target/release/loadgen --messages 2000 --concurrency 32 --endpoints 1 [--rate 500] \
//!     [--database postgres://postgres@127.0.0.1:5432/postgres]
//! ```
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
}

fn args() -> Args {
    let mut a = Args {
        messages: 2000,
        concurrency: 32,
        endpoints: 1,
        rate: None,
        database: None,
        herald: "target/release/herald".into(),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--messages" => a.messages = value.parse().expect("--messages N"),
            "--concurrency" => a.concurrency = value.parse().expect("--concurrency C"),
            "--endpoints" => a.endpoints = value.parse().expect("--endpoints E"),
            "--rate" => a.rate = Some(value.parse().expect("--rate R (messages/s)")),
            "--database" => a.database = Some(value),
            "--herald" => a.herald = value,
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
    url: String,
    token: String,
}

fn start_herald(args: &Args, database_url: &str, dir: &std::path::Path) -> Herald {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let main_key = domain::crypto::MainKey::generate().unwrap().encode();
    let program = std::fs::canonicalize(&args.herald)
        .expect("the herald binary (build it with `cargo build --release -p herald`)");
    let mut child = Command::new(program)
        .arg("serve")
        .current_dir(dir)
        .env("HERALD_DATABASE_URL", database_url)
        .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
        .env("HERALD_JWT_SECRET", random_hex(32))
        .env("HERALD_MAIN_KEY", main_key)
        .env("HERALD_ALLOW_PRIVATE_NETWORKS", "127.0.0.0/8")
        .env("HERALD_API_RATE_LIMIT", "0")
        .env("HERALD_LOG", "warn")
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
    Herald {
        child,
        url: format!("http://127.0.0.1:{port}"),
        token: token.expect("herald printed no token"),
    }
}

type Arrivals = Arc<Mutex<Vec<(String, Instant)>>>;

async fn start_receiver() -> (String, Arrivals) {
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
                let path = req.path().to_owned();
                a.lock().unwrap().push((format!("{id}{path}"), Instant::now()));
                HttpResponse::NoContent().finish()
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
            let (base, _) = url.rsplit_once('/').unwrap();
            ("postgres", format!("{base}/{name}"), Some((url.clone(), name)))
        }
        _ => (
            "sqlite",
            format!("sqlite://{}", dir.path().join("bench.db").display()),
            None,
        ),
    };
    let (receiver, arrivals) = start_receiver().await;
    let mut herald = start_herald(&args, &database_url, dir.path());
    let pid = herald.child.id();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()
        .unwrap();
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
        let r = post(
            "/api/v1/app/bench/endpoint".into(),
            json!({"url": format!("{receiver}/e{e}")}),
        )
        .await
        .unwrap();
        assert!(r.status().is_success());
    }

    let herald_cpu0 = cpu_seconds(pid);
    let db_cpu0 = if backend == "postgres" {
        cpu_seconds_of("postgres")
    } else {
        0.0
    };
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (http, auth, url, sent, next) = (
            http.clone(),
            auth.clone(),
            herald.url.clone(),
            sent.clone(),
            next.clone(),
        );
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
                let res = http
                    .post(format!("{url}/api/v1/app/bench/msg"))
                    .header("authorization", &auth)
                    .json(&json!({"eventType": "bench.event", "payload": {"n": n, "pad": "x".repeat(200)}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 202, "{}", res.text().await.unwrap_or_default());
                let body: serde_json::Value = res.json().await.unwrap();
                sent.lock()
                    .unwrap()
                    .insert(body["id"].as_str().unwrap().to_owned(), at);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let accepted_in = started.elapsed();
    let expected = args.messages * args.endpoints;
    let deadline = Instant::now() + Duration::from_secs(300);
    while arrivals.lock().unwrap().len() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let arrivals = arrivals.lock().unwrap().clone();
    let herald_cpu = cpu_seconds(pid) - herald_cpu0;
    let db_cpu = if backend == "postgres" {
        cpu_seconds_of("postgres") - db_cpu0
    } else {
        0.0
    };
    let rss = peak_rss_mib(pid);
    let sent = sent.lock().unwrap().clone();
    let mut unique = std::collections::HashSet::new();
    let mut latencies: Vec<f64> = Vec::with_capacity(arrivals.len());
    let mut last = started;
    for (key, at) in &arrivals {
        if unique.insert(key.clone()) {
            let id = key.split('/').next().unwrap_or("");
            if let Some(sent_at) = sent.get(id) {
                latencies.push(at.duration_since(*sent_at).as_secs_f64() * 1000.0);
            }
        }
        last = last.max(*at);
    }
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let delivered = unique.len();
    let end_to_end = last.duration_since(started).as_secs_f64();
    let per_k = |cpu: f64| {
        if delivered == 0 {
            0.0
        } else {
            cpu * 1000.0 / delivered as f64
        }
    };
    println!(
        "{}",
        json!({
            "backend": backend,
            "messages": args.messages,
            "endpoints": args.endpoints,
            "concurrency": args.concurrency,
            "offered_rate": args.rate,
            "accepted_per_s": (args.messages as f64 / accepted_in.as_secs_f64()).round(),
            "deliveries_per_s": (delivered as f64 / end_to_end).round(),
            "latency_ms": {
                "p50": (percentile(&latencies, 0.50) * 10.0).round() / 10.0,
                "p95": (percentile(&latencies, 0.95) * 10.0).round() / 10.0,
                "p99": (percentile(&latencies, 0.99) * 10.0).round() / 10.0,
            },
            "herald_cpu_s_per_1000": (per_k(herald_cpu) * 1000.0).round() / 1000.0,
            "db_cpu_s_per_1000": (per_k(db_cpu) * 1000.0).round() / 1000.0,
            "herald_peak_rss_mib": (rss * 10.0).round() / 10.0,
            "sent": args.messages,
            "delivered": delivered,
            "expected_deliveries": expected,
            "duplicates": arrivals.len() - delivered,
            "lost": expected.saturating_sub(delivered),
        })
    );
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let _ = herald.child.wait();
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
