//! `herald listen` as a process, against `herald serve` as a process: a request to the
//! inbox reaches a local receiver with its method, path, headers and body, the inbox
//! answers with the receiver's status and body, and a line is printed; the listener
//! reconnects by itself when Herald goes away and comes back; a local server that is down
//! makes a 502 with the reason; an unknown inbox or a wrong call ends it with the reason.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use serde_json::json;
use tests::{TestDb, eventually, init, receiver::Receiver};

use crate::{herald, run};

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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

/// The first line of `lines` that contains `needle`, within a minute.
fn line_with(lines: &mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no line with {needle:?} in time"));
        if line.contains(needle) {
            return line;
        }
    }
}

/// `herald serve` on `listen` (`127.0.0.1:0` for any port), once it answers: the process,
/// its URL and, on a first run, the API token it printed.
async fn serve(db: &TestDb, listen: &str) -> (Killed, String, Option<String>) {
    let mut child = herald(db)
        .arg("serve")
        .env("HERALD_LISTEN", listen)
        .env("HERALD_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = lines_of(child.stdout.take().unwrap());
    let stderr = lines_of(child.stderr.take().unwrap());
    let child = Killed(child);
    let line = line_with(&stderr, "url=");
    let url = line[line.find("url=").unwrap() + 4..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    // Drained from here on, so the server never blocks on a full pipe.
    std::thread::spawn(move || stderr.iter().for_each(drop));
    let token = (listen.ends_with(":0")).then(|| {
        let line = line_with(&stdout, "API token:");
        line.split_once("API token:").unwrap().1.trim().to_owned()
    });
    std::thread::spawn(move || stdout.iter().for_each(drop));
    let health = format!("{url}/api/v1/health");
    eventually(Duration::from_secs(10), async || {
        let res = reqwest::get(&health).await;
        res.is_ok_and(|r| r.status() == 200).then_some(())
    })
    .await
    .expect("herald serve never answered");
    (child, url, token)
}

/// `herald listen INBOX --to TO`: the process, its stdout and its stderr, line by line.
fn listen(db: &TestDb, inbox: &str, to: &str) -> (Killed, mpsc::Receiver<String>, mpsc::Receiver<String>) {
    let mut child = herald(db)
        .args(["listen", inbox, "--to", to])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = lines_of(child.stdout.take().unwrap());
    let stderr = lines_of(child.stderr.take().unwrap());
    (Killed(child), stdout, stderr)
}

/// POSTs to the inbox as a webhook sender would: the status and body it was answered.
/// Makes an inbox through the API of the server at `url`: its URL.
async fn new_inbox(url: &str, token: &str, name: &str) -> String {
    let made: serde_json::Value = reqwest::Client::new()
        .post(format!("{url}/api/v1/inspector"))
        .bearer_auth(token)
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    made["url"].as_str().unwrap().to_owned()
}

async fn deliver(url: &str) -> (u16, String) {
    let res = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", "msg_listen_1")
        .body(r#"{"type":"invoice.paid","n":1}"#)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

#[tokio::test]
async fn listen_relays_to_a_local_receiver_and_reconnects_after_herald_restarts() {
    init();
    let db = TestDb::new().await;
    let (server, url, token) = serve(&db, "127.0.0.1:0").await;
    let inbox = new_inbox(&url, &token.unwrap(), "laptop").await;
    let receiver = Receiver::start(&[201, 202]).await;

    let (_listener, stdout, stderr) = listen(&db, &inbox, &receiver.url);
    line_with(&stderr, "listening on");
    let answered = deliver(&format!("{inbox}/orders/7?x=1")).await;
    assert_eq!(answered, (201, "answer 201".to_owned()));
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path, "/hook/orders/7?x=1");
    assert_eq!(got[0].body, r#"{"type":"invoice.paid","n":1}"#);
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    assert_eq!(got[0].header("webhook-id"), Some("msg_listen_1"));
    let printed = line_with(&stdout, "POST");
    assert!(printed.contains("/hook/orders/7?x=1 201 "), "{printed}");

    // Herald goes away: the listener says so, waits, and picks up again when it is back.
    drop(server);
    line_with(&stderr, "lost Herald");
    let listen_on = url.trim_start_matches("http://").to_owned();
    let (_server, _, _) = serve(&db, &listen_on).await;
    line_with(&stderr, "listening on");
    assert_eq!(deliver(&inbox).await, (202, "answer 202".to_owned()));
    let printed = line_with(&stdout, "POST");
    assert!(printed.contains("/hook 202 "), "{printed}");
    assert_eq!(receiver.got().len(), 2);
}

#[tokio::test]
async fn listen_ends_with_the_reason_for_an_unknown_inbox_or_a_wrong_call() {
    init();
    let db = TestDb::new().await;
    let (_server, url, _) = serve(&db, "127.0.0.1:0").await;
    let unknown = format!("{url}/in/0123456789abcdef0123456789abcdef01234567");
    let out = run(
        herald(&db).args(["listen", &unknown, "--to", "http://127.0.0.1:9/hook"]),
        None,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("knows no inbox"), "{err}");

    for (inbox, to) in [
        (format!("{url}/ui"), "http://127.0.0.1:9/hook"),
        (unknown.clone(), "127.0.0.1:9"),
    ] {
        let out = run(herald(&db).args(["listen", &inbox, "--to", to]), None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

#[tokio::test]
async fn listen_answers_502_with_the_reason_when_the_local_server_is_down() {
    init();
    let db = TestDb::new().await;
    let (_server, url, token) = serve(&db, "127.0.0.1:0").await;
    let inbox = new_inbox(&url, &token.unwrap(), "nothing local").await;
    // A port nothing listens on: bound, then let go.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let to = format!("http://{}/hook", dead.local_addr().unwrap());
    drop(dead);

    let (_listener, stdout, stderr) = listen(&db, &inbox, &to);
    line_with(&stderr, "listening on");
    let (status, body) = deliver(&inbox).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body.starts_with("herald listen: no answer from http://127.0.0.1:")
            && body.contains("cannot connect"),
        "{body}"
    );
    let printed = line_with(&stdout, "POST");
    assert!(
        printed.contains("/hook 502 ") && printed.contains("cannot connect"),
        "{printed}"
    );
}
