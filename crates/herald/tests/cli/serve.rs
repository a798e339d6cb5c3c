//! `herald serve` as a process: the first-run login printed once, tokens that survive a
//! restart, JSON logs that show no key, and `herald health` against it.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use domain::service::token;
use herald::startup;
use tests::{TestDb, eventually, init};

use crate::{herald, run, settings_of};

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
