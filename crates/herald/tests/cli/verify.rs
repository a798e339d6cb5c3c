//! `herald verify` on captured requests: some signed here by the domain's own signing
//! code, one taken off the wire from a real delivery. Exit 0 valid, 1 invalid with the
//! reason, 2 for a wrong call.

use std::{
    io::{Read, Write},
    net::TcpListener,
    path::PathBuf,
    process::{Command, Output},
    sync::mpsc,
    time::Duration,
};

use domain::signing::SigningSecret;
use serde_json::json;
use tests::{api, eventually, local_app};

use crate::run;

const BODY: &str = r#"{"type":"invoice.paid","data":{"id":42,"total":"12.50"}}"#;

/// A request as `nc -l` saves it, signed with `key` at `timestamp`.
fn capture(key: &SigningSecret, timestamp: i64, body: &str) -> String {
    let id = "msg_2b7Yq4oMZp0eX1cK9a8fQwR3sT";
    format!(
        "POST /webhooks HTTP/1.1\r\nhost: 127.0.0.1:9000\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nwebhook-id: {id}\r\nwebhook-timestamp: {timestamp}\r\n\
         webhook-signature: {}\r\n\r\n{body}",
        body.len(),
        key.sign(id, timestamp, body.as_bytes()),
    )
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `herald verify ARGS`, given `stdin`.
fn verify(args: &[&str], stdin: Option<&str>) -> Output {
    run(
        Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("verify")
            .args(args),
        stdin,
    )
}

/// The exit code and the one line the command printed (stdout when it succeeded, stderr
/// otherwise).
fn outcome(out: &Output) -> (i32, String) {
    let (printed, silent) = if out.status.success() {
        (&out.stdout, &out.stderr)
    } else {
        (&out.stderr, &out.stdout)
    };
    let text = String::from_utf8_lossy(printed).into_owned();
    assert!(
        silent.is_empty(),
        "printed on the other stream too: {}",
        String::from_utf8_lossy(silent)
    );
    assert_eq!(text.lines().count(), 1, "one line: {text:?}");
    (out.status.code().unwrap(), text.trim().to_owned())
}

/// A file in the system's temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &[u8]) -> Self {
        let path = std::env::temp_dir().join(format!("herald-verify-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_capture_signed_now_is_valid_from_a_file_or_standard_input() {
    let key = SigningSecret::generate().unwrap();
    let secret = key.to_whsec();
    let file = TempFile::new("valid", capture(&key, now(), BODY).as_bytes());

    let (code, line) = outcome(&verify(&["--secret", &secret, file.path()], None));
    assert_eq!(code, 0, "{line}");
    assert!(
        line.starts_with("valid: msg_2b7Yq4oMZp0eX1cK9a8fQwR3sT, signed "),
        "{line}"
    );

    // Typed by hand: no request line, LF line ends, no Content-Length, on stdin.
    let id = "msg_typed";
    let ts = now();
    let typed = format!(
        "webhook-id: {id}\nwebhook-timestamp: {ts}\nwebhook-signature: {}\n\n{BODY}",
        key.sign(id, ts, BODY.as_bytes())
    );
    for args in [vec!["--secret", &secret], vec!["--secret", &secret, "-"]] {
        let (code, line) = outcome(&verify(&args, Some(&typed)));
        assert_eq!(code, 0, "{args:?}: {line}");
    }
}

#[test]
fn a_tampered_body_a_wrong_secret_or_a_timestamp_out_of_tolerance_is_invalid_with_the_reason() {
    let key = SigningSecret::generate().unwrap();
    let secret = key.to_whsec();
    let other = SigningSecret::generate().unwrap().to_whsec();
    let genuine = capture(&key, now(), BODY);
    let tampered = genuine.replace(r#""id":42"#, r#""id":43"#);
    assert_ne!(tampered, genuine);
    let stale = capture(&key, now() - 3600, BODY);
    let ahead = capture(&key, now() + 3600, BODY);
    let unsigned: String = genuine
        .lines()
        .filter(|l| !l.starts_with("webhook-signature"))
        .map(|l| format!("{l}\n"))
        .collect();

    let cases = [
        (&tampered, &secret, "no signature matches"),
        (&genuine, &other, "no signature matches"),
        (&stale, &secret, "s old, more than the 300 s allowed"),
        (&ahead, &secret, "s in the future, more than the 300 s allowed"),
        (&unsigned, &secret, "no `webhook-signature` header"),
    ];
    for (request, secret, reason) in cases {
        let (code, line) = outcome(&verify(&["--secret", secret], Some(request)));
        assert_eq!(code, 1, "{line}");
        assert!(
            line.starts_with("error: not a valid delivery: ") && line.contains(reason),
            "{line:?} does not say {reason:?}"
        );
    }

    // A wider tolerance accepts the hour-old capture, and only it.
    let wide = ["--secret", &secret, "--tolerance", "2h"];
    assert_eq!(outcome(&verify(&wide, Some(&stale))).0, 0);
    assert_eq!(outcome(&verify(&wide, Some(&tampered))).0, 1);
}

#[test]
fn a_wrong_call_exits_2_and_never_echoes_the_secret() {
    let key = SigningSecret::generate().unwrap();
    let secret = key.to_whsec();
    let request = capture(&key, now(), BODY);
    let almost = format!("{}!", &secret[..secret.len() - 1]);
    let missing = std::env::temp_dir().join("herald-verify-no-such-file");

    let cases: [(&[&str], Option<&str>, &str); 6] = [
        (&[], Some(&request), "required arguments were not provided"),
        (&["--secret", &almost], Some(&request), "not a signing secret"),
        (&["--secret", "whsec_"], Some(&request), "not a signing secret"),
        (
            &["--secret", &secret, missing.to_str().unwrap()],
            None,
            "cannot read",
        ),
        (
            &["--secret", &secret, "--tolerance", "five minutes"],
            Some(&request),
            "tolerance",
        ),
        (&["--secret", &secret], Some(""), "the capture is empty"),
    ];
    for (args, stdin, says) in cases {
        let (code, line) = outcome(&verify(args, stdin));
        assert_eq!(code, 2, "{args:?}: {line}");
        assert!(line.contains(says), "{args:?}: {line:?} does not say {says:?}");
        assert!(!line.contains(&almost[6..]), "the secret was echoed: {line}");
    }

    // Not an HTTP request at all is a verdict, not a wrong call.
    let (code, line) = outcome(&verify(&["--secret", &secret], Some(BODY)));
    assert_eq!(code, 1, "{line}");
    assert!(line.contains("not a captured HTTP request"), "{line}");
}

/// Accepts one request on `listener` and keeps its bytes as they came, the way `nc -l`
/// would, but answers 204 so Herald records a success.
fn capture_one(listener: TcpListener) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut raw = Vec::new();
        let mut chunk = [0u8; 4096];
        let complete = |raw: &[u8]| {
            let end = raw.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |n| n.trim().parse().unwrap());
            (raw.len() >= end + length).then_some(())
        };
        while complete(&raw).is_none() {
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "the connection closed mid-request");
            raw.extend_from_slice(&chunk[..n]);
        }
        stream
            .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .unwrap();
        tx.send(raw).unwrap();
    });
    rx
}

#[tokio::test]
async fn a_real_delivery_captured_off_the_wire_verifies_and_a_tampered_copy_does_not() {
    let app = local_app().await;
    let api = api::setup(&app).await;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/webhooks", listener.local_addr().unwrap());
    let captured = capture_one(listener);
    let ep = api
        .endpoint_id("acme", json!({"url": url, "description": "captured"}))
        .await;
    let secret = api.get(&format!("/api/v1/app/acme/endpoint/{ep}/secret")).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    api.post(
        "/api/v1/app/acme/msg",
        json!({"eventType": "invoice.paid", "payload": {"id": 42, "total": "12.50"}}),
    )
    .await;
    let raw = eventually(Duration::from_secs(20), async || captured.try_recv().ok())
        .await
        .expect("Herald delivered nothing to the capturing receiver");

    let file = TempFile::new("delivered", &raw);
    let (code, line) = outcome(&verify(&["--secret", &secret, file.path()], None));
    assert_eq!(code, 0, "{line}\n{}", String::from_utf8_lossy(&raw));
    assert!(line.starts_with("valid: msg_"), "{line}");

    let text = String::from_utf8(raw).unwrap();
    let tampered = text.replace(r#""id":42"#, r#""id":41"#);
    assert_ne!(tampered, text, "the payload is in the capture: {text}");
    let (code, line) = outcome(&verify(&["--secret", &secret], Some(&tampered)));
    assert_eq!(code, 1, "{line}");
    assert!(line.contains("no signature matches"), "{line}");
}
