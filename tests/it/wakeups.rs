//! Workers are told about work instead of finding it by polling: with a poll interval of
//! a minute, a resend, a retry and (on PostgreSQL) a message accepted by another process
//! are still delivered at once. And a receiver cannot make its own attempts unrecordable.

use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use tests::{
    TestApp,
    api::{attempts, setup},
    receiver::Receiver,
};

/// Longer than any test here waits: a delivery that comes was woken, not polled.
const NO_POLL: &str = "10m";

async fn quiet_app() -> TestApp {
    TestApp::spawn_with(|s| {
        s.serve_worker = true;
        s.allow_private_networks = "127.0.0.0/8".into();
        s.retry_schedule = "1s".into();
        s.worker_poll_interval = NO_POLL.into();
    })
    .await
}

#[tokio::test]
async fn resends_and_retries_wake_the_worker_without_a_poll() {
    let app = quiet_app().await;
    let api = setup(&app).await;
    // The first try fails: the retry (1 s later) must come from the worker's timer.
    let receiver = Receiver::start(&[500]).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": receiver.url, "uid": "main"}),
    )
    .await;
    let msg = api
        .post("/api/v1/app/acme/msg", json!({"eventType": "a", "payload": {}}))
        .await;
    api.wait_for("/api/v1/app/acme/endpoint/main/stats", |v| v["success"] == 1)
        .await;
    // A resend is written pending (no slot was reserved for it): it must wake the worker.
    let id = msg["id"].as_str().unwrap();
    api.post(
        &format!("/api/v1/app/acme/msg/{id}/endpoint/main/resend"),
        json!({}),
    )
    .await;
    api.wait_for("/api/v1/app/acme/attempt/endpoint/main", |v| attempts(v) == 3)
        .await;
    assert_eq!(receiver.got().len(), 3, "first try, retry, resend");
}

#[tokio::test]
async fn work_accepted_by_another_process_reaches_its_workers() {
    // This process accepts only; a worker "process" beside it delivers.
    let app = TestApp::spawn_with(|s| {
        s.allow_private_networks = "127.0.0.0/8".into();
    })
    .await;
    let mut worker_settings = app.settings.clone();
    worker_settings.worker_poll_interval = match app.ctx.backend {
        // PostgreSQL: the API's NOTIFY wakes the worker; no poll is needed.
        domain::db::Backend::Postgres => NO_POLL.into(),
        // SQLite has no signal between processes: the worker's poll finds the work.
        domain::db::Backend::Sqlite => "1s".into(),
    };
    let worker = tests::Worker::start(&worker_settings).await;
    let api = setup(&app).await;
    let receiver = Receiver::start(&[]).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": receiver.url, "uid": "main"}),
    )
    .await;
    for n in 0..3 {
        api.post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "a", "payload": {"n": n}}),
        )
        .await;
    }
    api.wait_for("/api/v1/app/acme/endpoint/main/stats", |v| v["success"] == 3)
        .await;
    worker.stop().await;
    assert_eq!(receiver.got().len(), 3);
}

#[tokio::test]
async fn a_response_body_with_nul_bytes_is_recorded() {
    let app = quiet_app().await;
    let api = setup(&app).await;
    // PostgreSQL text cannot hold NUL: stored as is, the attempt (and, written in a
    // batch, its neighbours') could not be recorded at all.
    let server = HttpServer::new(|| {
        App::new().default_service(web::to(|| async {
            HttpResponse::Ok().body(&b"before\0after"[..])
        }))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://127.0.0.1:{}/hook", server.addrs()[0].port());
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    api.post("/api/v1/app/acme/endpoint", json!({"url": url, "uid": "main"}))
        .await;
    api.post("/api/v1/app/acme/msg", json!({"eventType": "a", "payload": {}}))
        .await;
    let list = api
        .wait_for("/api/v1/app/acme/attempt/endpoint/main", |v| attempts(v) == 1)
        .await;
    let body: &Value = &list["data"][0]["response"];
    assert_eq!(body, "before\u{FFFD}after");
    drop(handle.stop(false));
}

/// The worker's poll interval comes from the settings, in the usual period syntax.
#[test]
fn the_poll_interval_is_a_setting() {
    let settings = herald::config::Settings {
        worker_poll_interval: "250ms".into(),
        ..herald::config::Settings::default()
    };
    let err = herald::startup::worker_settings(&settings)
        .unwrap_err()
        .to_string();
    assert!(err.contains("HERALD_WORKER_POLL_INTERVAL"), "{err}");
    let settings = herald::config::Settings {
        worker_poll_interval: "2s".into(),
        ..herald::config::Settings::default()
    };
    let worker = herald::startup::worker_settings(&settings).unwrap();
    assert_eq!(worker.poll_interval, Duration::from_secs(2));
}
