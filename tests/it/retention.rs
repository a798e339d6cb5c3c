//! Retention: a sweep erases exactly the payloads and response bodies older than their
//! application's retention (or the default), keeps the rows, and the API shows what
//! expired as empty rather than failing.

use std::time::Duration;

use chrono::Utc;
use domain::service::retention::{self, DEFAULT_RETENTION, Swept};
use serde_json::{Value, json};
use tests::{
    TestApp,
    api::{Api, setup},
    local_app, queue_app,
    receiver::Receiver,
};

async fn send(api: &Api<'_>, app: &str, n: u32) -> String {
    let msg = api
        .post(
            &format!("/api/v1/app/{app}/msg"),
            json!({"eventType": "a", "payload": {"n": n}}),
        )
        .await;
    msg["id"].as_str().unwrap().to_owned()
}

async fn payload(api: &Api<'_>, app: &str, msg: &str) -> Value {
    api.get(&format!("/api/v1/app/{app}/msg/{msg}")).await["payload"].clone()
}

async fn response(api: &Api<'_>, app: &str, msg: &str) -> Value {
    api.get(&format!("/api/v1/app/{app}/attempt/msg/{msg}")).await["data"][0]["response"].clone()
}

/// Waits until the clock has passed `after` by a millisecond; returns the time then.
async fn next_millisecond(after: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    tests::eventually(Duration::from_secs(1), async || {
        let now = Utc::now();
        (now - after >= chrono::Duration::milliseconds(2)).then_some(now)
    })
    .await
    .expect("the clock moves")
}

/// Delivers what was sent: then `n` deliveries have arrived in all, each message's
/// attempt recorded.
async fn delivered(app: &TestApp, api: &Api<'_>, receiver: &Receiver, n: usize) {
    app.run_pending_deliveries().await;
    assert_eq!(receiver.got().len(), n);
    for name in ["acme", "brief"] {
        let want = n / 2;
        let path = format!("/api/v1/app/{name}/msg");
        let ids: Vec<String> = api.get(&path).await["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), want);
        for id in ids {
            let attempts = api.get(&format!("/api/v1/app/{name}/attempt/msg/{id}")).await;
            assert_eq!(attempts["data"].as_array().map(Vec::len), Some(1), "{id}");
        }
    }
}

#[tokio::test]
async fn a_sweep_erases_exactly_what_expired() {
    let app = queue_app().await;
    let api = setup(&app).await;
    let brief = api
        .post(
            "/api/v1/app",
            json!({"name": "Brief", "uid": "brief", "retentionDays": 2}),
        )
        .await;
    assert_eq!(brief["retentionDays"], 2);
    let receiver = Receiver::start(&[]).await;
    for a in ["acme", "brief"] {
        api.post(&format!("/api/v1/app/{a}/endpoint"), json!({"url": receiver.url}))
            .await;
    }
    let mut old = Vec::new();
    for n in 0..2 {
        old.push(("acme", send(&api, "acme", n).await));
        old.push(("brief", send(&api, "brief", n).await));
    }
    // Attempts are made when delivered: the old ones must be done before `middle`.
    delivered(&app, &api, &receiver, 4).await;
    // Ids have millisecond resolution: `middle` must be a later millisecond than every
    // old id, and every new id a later one than `middle`.
    let middle = next_millisecond(Utc::now()).await;
    next_millisecond(middle).await;
    let new_acme = send(&api, "acme", 9).await;
    let new_brief = send(&api, "brief", 9).await;
    delivered(&app, &api, &receiver, 6).await;
    let idem = app
        .http
        .post(app.url("/api/v1/app"))
        .bearer_auth(&api.token)
        .header("idempotency-key", "k-1")
        .json(&json!({"name": "Later"}))
        .send()
        .await
        .unwrap();
    assert_eq!(idem.status(), 201);

    // Nothing is 30 days old yet.
    let now = retention::sweep(&app.ctx, DEFAULT_RETENTION, Utc::now())
        .await
        .unwrap();
    assert_eq!(now, Swept::default());
    assert_eq!(payload(&api, "acme", &old[0].1).await, json!({"n": 0}));

    // 30 days after `middle`: acme's first two are past the default 30 days; all of
    // brief's are past its own 2 days; the idempotency key (12 h) is long gone.
    let later = middle + chrono::Duration::days(30);
    let swept = retention::sweep(&app.ctx, DEFAULT_RETENTION, later)
        .await
        .unwrap();
    assert_eq!(
        swept,
        Swept {
            payloads: 5,
            response_bodies: 5,
            idempotency_keys: 1
        }
    );
    for (a, msg) in &old {
        assert_eq!(payload(&api, a, msg).await, json!({"expired": true}), "{a} {msg}");
        assert_eq!(response(&api, a, msg).await, json!(""), "{a} {msg}");
    }
    assert_eq!(payload(&api, "brief", &new_brief).await, json!({"expired": true}));
    assert_eq!(payload(&api, "acme", &new_acme).await, json!({"n": 9}));
    assert_eq!(response(&api, "acme", &new_acme).await, json!("answer 200"));
    // The rows stay: the log still lists every message.
    let listed = api.get("/api/v1/app/acme/msg").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 3);

    // A second sweep finds nothing left to do.
    let again = retention::sweep(&app.ctx, DEFAULT_RETENTION, later)
        .await
        .unwrap();
    assert_eq!(again, Swept::default());
}

#[tokio::test]
async fn retention_days_are_checked() {
    let app = local_app().await;
    let api = setup(&app).await;
    for days in [0, 3651] {
        let res = app
            .http
            .post(app.url("/api/v1/app"))
            .bearer_auth(&api.token)
            .json(&json!({"name": "X", "retentionDays": days}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["detail"][0]["loc"], json!(["body", "retentionDays"]));
    }
    let patched = api
        .call(
            reqwest::Method::PATCH,
            "/api/v1/app/acme",
            Some(json!({"retentionDays": 7}).to_string()),
        )
        .await;
    assert_eq!(patched["retentionDays"], 7);
    let cleared = api
        .call(
            reqwest::Method::PATCH,
            "/api/v1/app/acme",
            Some(json!({"retentionDays": null}).to_string()),
        )
        .await;
    assert!(cleared.get("retentionDays").is_none(), "{cleared}");
}
