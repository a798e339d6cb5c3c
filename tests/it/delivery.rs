//! The delivery engine end to end, delivering to real local HTTP receivers, signed,
//! retried, logged: `herald serve`'s in-process worker where time and workers are the
//! point (retries, rates, two workers), the queue driven by the test elsewhere.

use std::{collections::BTreeSet, time::Duration};

use serde_json::{Value, json};
use tests::TestApp;

use tests::{
    api::{attempts, setup},
    local_app, queue_app,
    receiver::Receiver,
};

#[tokio::test]
async fn deliveries_are_signed_and_sent_byte_for_byte() {
    let app = queue_app().await;
    let api = setup(&app).await;
    let receiver = Receiver::start(&[]).await;
    let ep = api
        .post(
            "/api/v1/app/acme/endpoint",
            json!({"url": receiver.url, "uid": "main", "headers": {"X-Team": "billing"}}),
        )
        .await;
    let secret = api.get("/api/v1/app/acme/endpoint/main/secret").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    // Odd spacing on purpose: the receiver must get exactly these bytes.
    let raw = r#"{"eventType": "invoice.paid", "payload": {"b":  2, "a": [1,2 ,3]}}"#;
    let msg = api
        .call(
            reqwest::Method::POST,
            "/api/v1/app/acme/msg",
            Some(raw.to_owned()),
        )
        .await;
    assert_eq!(app.run_pending_deliveries().await, 1);

    let got = receiver.got();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.body, r#"{"b":  2, "a": [1,2 ,3]}"#);
    assert_eq!(req.header("webhook-id"), msg["id"].as_str());
    assert_eq!(req.header("svix-id"), msg["id"].as_str());
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert!(
        req.header("user-agent")
            .is_some_and(|ua| ua.starts_with("Herald/"))
    );
    assert_eq!(req.header("x-team"), Some("billing"));
    assert!(
        req.verifies(&secret),
        "the signature verifies with the endpoint's secret"
    );

    let list = api.get("/api/v1/app/acme/attempt/endpoint/main").await;
    assert_eq!(list["data"][0]["status"], 0);
    assert_eq!(list["data"][0]["responseStatusCode"], 200);
    assert_eq!(list["data"][0]["response"], "answer 200");
    let dests = api
        .get(&format!(
            "/api/v1/app/acme/msg/{}/endpoint",
            msg["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        (
            dests["data"][0]["id"].as_str(),
            dests["data"][0]["statusText"].as_str()
        ),
        (ep["id"].as_str(), Some("success"))
    );
}

#[tokio::test]
async fn failures_are_retried_on_schedule_until_they_succeed() {
    let app = local_app().await;
    let api = setup(&app).await;
    let receiver = Receiver::start(&[500, 503]).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": receiver.url, "uid": "main"}),
    )
    .await;
    let msg = api
        .post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "a", "payload": {"n": 1}}),
        )
        .await;
    let list = api
        .wait_for("/api/v1/app/acme/attempt/endpoint/main", |v| {
            v["data"][0]["status"] == 0
        })
        .await;
    let codes: Vec<i64> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["responseStatusCode"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, vec![200, 503, 500], "newest first");
    assert!(
        list["data"][2]["nextAttempt"].is_string(),
        "a failed try says when the next one runs"
    );
    // Every try carries the same webhook-id, and tries are spaced by the schedule.
    let got = receiver.got();
    assert!(got.iter().all(|g| g.header("webhook-id") == msg["id"].as_str()));
    // A retry never runs before its time: 1 s less the schedule's 20 % jitter.
    let gaps: Vec<Duration> = got.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(
        gaps.iter().all(|gap| *gap >= Duration::from_millis(790)),
        "tries follow the 1 s schedule: {gaps:?}"
    );
}

#[tokio::test]
async fn the_schedule_runs_out_into_a_failure() {
    let app = local_app().await;
    let api = setup(&app).await;
    let receiver = Receiver::start(&[500, 500, 500, 500]).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": receiver.url, "uid": "main"}),
    )
    .await;
    let msg = api
        .post("/api/v1/app/acme/msg", json!({"eventType": "a", "payload": {}}))
        .await;
    let path = format!("/api/v1/app/acme/msg/{}/endpoint", msg["id"].as_str().unwrap());
    api.wait_for(&path, |v| v["data"][0]["statusText"] == "fail")
        .await;
    assert_eq!(receiver.got().len(), 3, "1 try + the schedule's 2 retries");
    let stats = api.get("/api/v1/app/acme/endpoint/main/stats").await;
    assert_eq!(
        (stats["fail"].as_i64(), stats["success"].as_i64()),
        (Some(1), Some(0))
    );
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() {
    // The default policy: no private networks.
    let app = TestApp::spawn().await;
    let api = setup(&app).await;
    let receiver = Receiver::start(&[]).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": receiver.url, "uid": "loop"}),
    )
    .await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": "http://localhost:9/x", "uid": "named"}),
    )
    .await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": "http://169.254.169.254/latest/meta-data", "uid": "meta"}),
    )
    .await;
    api.post("/api/v1/app/acme/msg", json!({"eventType": "a", "payload": {}}))
        .await;
    assert_eq!(app.run_pending_deliveries().await, 3);
    for ep in ["loop", "named", "meta"] {
        let list = api.get(&format!("/api/v1/app/acme/attempt/endpoint/{ep}")).await;
        assert_eq!(attempts(&list), 1, "{ep}: {list}");
        let attempt = &list["data"][0];
        assert_eq!(attempt["errorKind"], "blocked", "{ep}: {attempt}");
        let why = attempt["response"].as_str().unwrap();
        assert!(why.contains("HERALD_ALLOW_PRIVATE_NETWORKS"), "{ep}: {why}");
    }
    assert!(receiver.got().is_empty(), "nothing reached the private address");
}

#[tokio::test]
async fn gone_disables_the_endpoint_at_once() {
    let app = local_app().await;
    let api = setup(&app).await;
    let receiver = Receiver::start(&[410]).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": receiver.url, "uid": "main"}),
    )
    .await;
    api.post("/api/v1/app/acme/msg", json!({"eventType": "a", "payload": {}}))
        .await;
    api.wait_for("/api/v1/app/acme/endpoint/main", |v| v["disabled"] == true)
        .await;
    tests::quiet_window(Duration::from_millis(2500)).await;
    assert_eq!(receiver.got().len(), 1, "no retry after 410");
}

#[tokio::test]
async fn rotation_signs_with_both_keys_and_resend_is_one_manual_try() {
    let app = queue_app().await;
    let api = setup(&app).await;
    let receiver = Receiver::start(&[]).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": receiver.url, "uid": "main"}),
    )
    .await;
    let old = api.get("/api/v1/app/acme/endpoint/main/secret").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let new = api
        .post("/api/v1/app/acme/endpoint/main/secret/rotate", json!({}))
        .await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let msg = api
        .post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "a", "payload": {"x": 1}}),
        )
        .await;
    assert_eq!(app.run_pending_deliveries().await, 1);
    let req = &receiver.got()[0];
    let signatures = req.header("webhook-signature").unwrap();
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    for key in [&old, &new] {
        assert!(req.verifies(key), "each live key verifies");
    }

    let id = msg["id"].as_str().unwrap();
    api.post(
        &format!("/api/v1/app/acme/msg/{id}/endpoint/main/resend"),
        json!({}),
    )
    .await;
    assert_eq!(app.run_pending_deliveries().await, 1, "one try for one resend");
    let list = api.get("/api/v1/app/acme/attempt/endpoint/main").await;
    assert_eq!(attempts(&list), 2);
    assert_eq!(list["data"][0]["triggerType"], 1, "the resend is a manual try");
    let got = receiver.got();
    assert_eq!(
        got[1].header("webhook-id"),
        Some(id),
        "the same webhook-id on a resend"
    );
}

#[tokio::test]
async fn throttle_rate_holds_across_a_burst_and_costs_no_attempts() {
    let app = local_app().await;
    let api = setup(&app).await;
    let receiver = Receiver::start(&[]).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": receiver.url, "uid": "slow", "throttleRate": 5}),
    )
    .await;
    for n in 0..15 {
        api.post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "a", "payload": {"n": n}}),
        )
        .await;
    }
    api.wait_for("/api/v1/app/acme/endpoint/slow/stats", |v| v["success"] == 15)
        .await;
    let got = receiver.got();
    assert_eq!(got.len(), 15);
    // 5 per second with a burst of 5: the last 10 need at least 2 s; allow scheduling slack.
    let span = got.last().unwrap().at - got.first().unwrap().at;
    assert!(
        span >= Duration::from_millis(1500),
        "15 deliveries at 5/s took only {span:?}"
    );
    let list = api.get("/api/v1/app/acme/attempt/endpoint/slow?limit=50").await;
    assert_eq!(
        attempts(&list),
        15,
        "waiting for the rate limit is not an attempt"
    );
}

#[tokio::test]
async fn two_workers_on_one_database_deliver_each_destination_once() {
    let app = local_app().await;
    let api = setup(&app).await;
    // A second worker, as `herald worker` would run it, on the same database.
    let second = tests::Worker::start(&app.settings).await;
    let receiver = Receiver::start(&[]).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": receiver.url, "uid": "main"}),
    )
    .await;
    let mut sent = BTreeSet::new();
    for n in 0..40 {
        let msg = api
            .post(
                "/api/v1/app/acme/msg",
                json!({"eventType": "a", "payload": {"n": n}}),
            )
            .await;
        sent.insert(msg["id"].as_str().unwrap().to_owned());
    }
    api.wait_for("/api/v1/app/acme/endpoint/main/stats", |v| v["success"] == 40)
        .await;
    tests::quiet_window(Duration::from_millis(500)).await;
    let got = receiver.got();
    let ids: BTreeSet<String> = got
        .iter()
        .map(|g| g.header("webhook-id").unwrap().to_owned())
        .collect();
    assert_eq!(got.len(), 40, "no destination delivered twice");
    assert_eq!(ids, sent);
    second.stop().await;
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let app = local_app().await;
    let api = setup(&app).await;
    let receiver = Receiver::start(&[429]).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": receiver.url, "uid": "main"}),
    )
    .await;
    api.post("/api/v1/app/acme/msg", json!({"eventType": "a", "payload": {}}))
        .await;
    api.wait_for("/api/v1/app/acme/endpoint/main/stats", |v| v["success"] == 1)
        .await;
    let got = receiver.got();
    assert_eq!(got.len(), 2);
    let waited = got[1].at - got[0].at;
    assert!(
        waited >= Duration::from_millis(1900),
        "the schedule says 1 s, Retry-After 2 s; waited {waited:?}"
    );
}

#[tokio::test]
async fn refused_connections_and_redirects_are_failed_attempts_with_reasons() {
    let app = local_app().await;
    let api = setup(&app).await;
    let receiver = Receiver::start(&[302]).await;
    // `localhost` resolves and passes the allow-list like 127.0.0.1 does.
    let via_name = receiver.url.replace("127.0.0.1", "localhost");
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": via_name, "uid": "redirect"}),
    )
    .await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": "http://127.0.0.1:1/closed", "uid": "closed"}),
    )
    .await;
    api.post("/api/v1/app/acme/msg", json!({"eventType": "a", "payload": {}}))
        .await;

    let list = api
        .wait_for("/api/v1/app/acme/attempt/endpoint/redirect", |v| attempts(v) >= 1)
        .await;
    let first = &list["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (first["responseStatusCode"].as_i64(), first["errorKind"].as_str()),
        (Some(302), Some("redirect"))
    );
    let list = api
        .wait_for("/api/v1/app/acme/attempt/endpoint/closed", |v| attempts(v) >= 1)
        .await;
    let first = &list["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(first["errorKind"], "connect", "{first}");
    assert!(
        first["response"].as_str().unwrap().contains("could not connect"),
        "{first}"
    );
    // The redirect was not followed: the receiver saw the first request only, then the retry.
    api.wait_for("/api/v1/app/acme/endpoint/redirect/stats", |v| v["success"] == 1)
        .await;
    assert_eq!(receiver.got().len(), 2);
}

#[tokio::test]
async fn recover_tries_failed_deliveries_again() {
    let app = local_app().await;
    let api = setup(&app).await;
    let receiver = Receiver::start(&[500, 500, 500]).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": receiver.url, "uid": "main"}),
    )
    .await;
    api.post("/api/v1/app/acme/msg", json!({"eventType": "a", "payload": {}}))
        .await;
    api.wait_for("/api/v1/app/acme/endpoint/main/stats", |v| v["fail"] == 1)
        .await;

    // A window that ended before the message: nothing to do.
    let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let minute_ago = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    api.post(
        "/api/v1/app/acme/endpoint/main/recover",
        json!({"since": hour_ago, "until": minute_ago}),
    )
    .await;
    tests::quiet_window(Duration::from_millis(1500)).await;
    assert_eq!(receiver.got().len(), 3);

    let out = api
        .post(
            "/api/v1/app/acme/endpoint/main/recover",
            json!({"since": hour_ago}),
        )
        .await;
    assert_eq!(out["task"], "endpoint.recover", "{out}");
    let task = out["id"].as_str().unwrap();
    api.wait_for(&format!("/api/v1/background-task/{task}"), |t| {
        t["status"] == "finished" && t["data"]["messagesSent"] == 1
    })
    .await;
    api.wait_for("/api/v1/app/acme/endpoint/main/stats", |v| {
        v["success"] == 1 && v["fail"] == 0
    })
    .await;
    assert_eq!(receiver.got().len(), 4);
    let list = api.get("/api/v1/app/acme/attempt/endpoint/main").await;
    assert_eq!(list["data"][0]["triggerType"], 1, "a recovery try is manual");
}

#[tokio::test]
async fn only_wanted_event_types_and_channels_are_delivered() {
    let app = queue_app().await;
    let api = setup(&app).await;
    api.post(
        "/api/v1/event-type",
        json!({"name": "invoice.paid", "description": ""}),
    )
    .await;
    let everything = Receiver::start(&[]).await;
    let picky = Receiver::start(&[]).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": everything.url, "uid": "all"}),
    )
    .await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": picky.url, "uid": "picky", "filterTypes": ["invoice.paid"], "channels": ["eu"]}),
    )
    .await;
    let sends = [
        json!({"eventType": "invoice.paid", "payload": {"n": 1}, "channels": ["eu"]}),
        json!({"eventType": "invoice.paid", "payload": {"n": 2}, "channels": ["us"]}),
        json!({"eventType": "invoice.paid", "payload": {"n": 3}}),
        json!({"eventType": "user.created", "payload": {"n": 4}, "channels": ["eu"]}),
        json!({"eventType": "invoice.paid", "payload": {"n": 5}, "channels": ["us", "eu"]}),
    ];
    for body in sends {
        api.post("/api/v1/app/acme/msg", body).await;
    }
    assert_eq!(app.run_pending_deliveries().await, 5 + 2);
    assert_eq!(api.get("/api/v1/app/acme/endpoint/all/stats").await["success"], 5);
    assert_eq!(
        api.get("/api/v1/app/acme/endpoint/picky/stats").await["success"],
        2
    );
    let mut got: Vec<i64> = picky
        .got()
        .iter()
        .map(|g| {
            serde_json::from_str::<Value>(&g.body).unwrap()["n"]
                .as_i64()
                .unwrap()
        })
        .collect();
    got.sort_unstable();
    assert_eq!(got, [1, 5], "only invoice.paid on channel eu");
    assert_eq!(everything.got().len(), 5);
}
