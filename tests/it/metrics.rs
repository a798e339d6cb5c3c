//! `GET /metrics`: the series are there after real deliveries and move as they should;
//! the page can require a token or be turned off.

use serde_json::json;
use tests::{TestApp, api::setup, local_app, receiver::Receiver};

async fn metrics(app: &TestApp, token: Option<&str>) -> (u16, String) {
    let mut req = app.http.get(app.url("/metrics"));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The value of the one sample line that starts with `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn deliveries_requests_and_latencies_are_counted() {
    let app = local_app().await;
    let api = setup(&app).await;
    let receiver = Receiver::start(&[500]).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": receiver.url, "uid": "main"}),
    )
    .await;
    let (_, before) = metrics(&app, None).await;
    assert_eq!(
        sample(
            &before,
            r#"herald_deliveries_total{outcome="success",error="none"}"#
        ),
        None
    );
    api.post("/api/v1/app/acme/msg", json!({"eventType": "a", "payload": {}}))
        .await;
    api.wait_for("/api/v1/app/acme/endpoint/main/stats", |v| v["success"] == 1)
        .await;

    let (status, text) = metrics(&app, None).await;
    assert_eq!(status, 200);
    let value = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
    assert_eq!(
        value(r#"herald_deliveries_total{outcome="success",error="none"}"#),
        1.0
    );
    assert_eq!(
        value(r#"herald_deliveries_total{outcome="fail",error="http_status"}"#),
        1.0
    );
    assert_eq!(value("herald_attempt_duration_seconds_count"), 2.0);
    assert_eq!(value("herald_delivery_latency_seconds_count"), 1.0);
    // The success came after a retry a second later.
    assert!(value("herald_delivery_latency_seconds_sum") >= 0.7, "{text}");
    assert_eq!(
        value(r#"herald_api_requests_total{route="/api/v1/app/{app_id}/msg",method="POST",status="202"}"#),
        1.0
    );
    assert_eq!(
        value(
            r#"herald_api_requests_total{route="/api/v1/app/{app_id}/endpoint",method="POST",status="201"}"#
        ),
        1.0
    );
    assert_eq!(value("herald_queue_depth"), 0.0);
}

#[tokio::test]
async fn the_queue_gauges_show_waiting_work() {
    // No worker: accepted messages wait in the queue.
    let app = TestApp::spawn().await;
    let api = setup(&app).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": "https://hooks.example.com/"}),
    )
    .await;
    for n in 0..3 {
        api.post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "a", "payload": {"n": n}}),
        )
        .await;
    }
    // Wait until the oldest has aged a little.
    let text = tests::eventually(std::time::Duration::from_secs(5), async || {
        let (_, text) = metrics(&app, None).await;
        sample(&text, "herald_queue_oldest_due_seconds")
            .is_some_and(|age| age >= 0.5)
            .then_some(text)
    })
    .await
    .expect("the oldest job ages");
    assert_eq!(sample(&text, "herald_queue_depth"), Some(3.0), "{text}");
    let oldest = sample(&text, "herald_queue_oldest_due_seconds").unwrap();
    assert!((0.5..60.0).contains(&oldest), "{oldest}");
}

#[tokio::test]
async fn rate_limited_requests_are_counted() {
    let app = TestApp::spawn_with(|s| s.api_rate_limit = 2).await;
    let (_, token) = app.tenant("T").await;
    let mut limited = 0;
    for _ in 0..6 {
        let res = app
            .http
            .get(app.url("/api/v1/app"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        limited += usize::from(res.status() == 429);
    }
    assert!(limited >= 1);
    let (_, text) = metrics(&app, None).await;
    assert_eq!(
        sample(&text, r#"herald_rate_limited_total{limit="api"}"#),
        Some(limited as f64)
    );
    assert_eq!(
        sample(
            &text,
            r#"herald_api_requests_total{route="/api/v1/app",method="GET",status="429"}"#
        ),
        Some(limited as f64)
    );
}

#[tokio::test]
async fn metrics_can_want_a_token_or_be_off() {
    let guarded = TestApp::spawn_with(|s| {
        s.metrics_token = Some(herald::config::Secret::new("scrape-me-0123456789"));
    })
    .await;
    assert_eq!(metrics(&guarded, None).await.0, 401);
    assert_eq!(metrics(&guarded, Some("wrong")).await.0, 401);
    let (status, text) = metrics(&guarded, Some("scrape-me-0123456789")).await;
    assert_eq!(status, 200);
    assert!(text.contains("herald_queue_depth"));

    let off = TestApp::spawn_with(|s| s.metrics = false).await;
    assert_eq!(metrics(&off, None).await.0, 404);
}
