//! Operational webhooks, automatic disabling and per-endpoint delivery settings: Herald
//! tells the tenant about failing, exhausted and recovered deliveries and disabled
//! endpoints, signed like any webhook, and never about its own operational deliveries.

use std::time::Duration;

use serde_json::{Value, json};
use tests::{
    TestApp,
    api::{attempts, setup},
    local_app,
    receiver::{Got, Receiver, SLOW},
};

/// The operational events a receiver got, in arrival order, each checked against `secret`.
fn events(receiver: &Receiver, secret: &str) -> Vec<Value> {
    let wh = standardwebhooks::Webhook::new(secret).unwrap();
    receiver
        .got()
        .iter()
        .map(|got: &Got| {
            let mut headers = http::HeaderMap::new();
            for (k, v) in &got.headers {
                headers.insert(
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            wh.verify(got.body.as_bytes(), &headers)
                .expect("operational webhooks are signed with the operational endpoint's key");
            serde_json::from_str(&got.body).unwrap()
        })
        .collect()
}

async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let happened = tests::eventually(Duration::from_secs(30), async || done().then_some(())).await;
    assert!(happened.is_some(), "{what} never happened");
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[tokio::test]
async fn failing_exhausted_recovered_and_gone_are_reported_signed() {
    let app = local_app().await;
    let api = setup(&app).await;
    let ops = Receiver::start(&[]).await;
    let op = api
        .post(
            "/api/v1/operational-webhook/endpoint",
            json!({"url": ops.url, "uid": "ops"}),
        )
        .await;
    let secret = api.get("/api/v1/operational-webhook/endpoint/ops/secret").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(op["uid"], "ops");

    // Fails four times, then succeeds on its own five-retry schedule.
    let flaky = Receiver::start(&[500, 500, 500, 500]).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": flaky.url, "uid": "flaky", "retrySchedule": [1, 1, 1, 1, 1]}),
    )
    .await;
    // One try only, and it fails.
    let dead = Receiver::start(&[500]).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": dead.url, "uid": "dead", "retrySchedule": []}),
    )
    .await;
    // Answers 410: disabled at once.
    let gone = Receiver::start(&[410]).await;
    let gone_ep = api
        .post(
            "/api/v1/app/acme/endpoint",
            json!({"url": gone.url, "uid": "gone"}),
        )
        .await;
    let msg = api
        .post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "invoice.paid", "eventId": "evt-1", "payload": {"n": 1}}),
        )
        .await;
    let msg_id = msg["id"].as_str().unwrap().to_owned();

    api.wait_for("/api/v1/app/acme/endpoint/flaky/stats", |v| v["success"] == 1)
        .await;
    // failing (4th try) + recovered (5th) + exhausted (dead) + exhausted and disabled (gone).
    wait_until("five operational events", || ops.got().len() >= 5).await;
    tests::quiet_window(Duration::from_millis(500)).await;
    let events = events(&ops, &secret);
    assert_eq!(events.len(), 5, "{events:#?}");

    let failing = of_type(&events, "message.attempt.failing");
    let recovered = of_type(&events, "message.attempt.recovered");
    assert_eq!((failing.len(), recovered.len()), (1, 1), "{events:#?}");
    let flaky_id = api.get("/api/v1/app/acme/endpoint/flaky").await["id"].clone();
    for event in [failing[0], recovered[0]] {
        let data = &event["data"];
        assert_eq!(data["endpointId"], flaky_id);
        assert_eq!(data["msgId"], msg_id.as_str());
        assert_eq!(data["msgEventId"], "evt-1");
        assert_eq!(data["appUid"], "acme");
        assert!(data["lastAttempt"]["id"].as_str().unwrap().starts_with("atmpt_"));
        assert!(event["timestamp"].is_string());
    }
    assert_eq!(failing[0]["data"]["lastAttempt"]["responseStatusCode"], 500);
    assert_eq!(recovered[0]["data"]["lastAttempt"]["responseStatusCode"], 200);

    let exhausted = of_type(&events, "message.attempt.exhausted");
    let mut exhausted_eps: Vec<&str> = exhausted
        .iter()
        .map(|e| e["data"]["endpointId"].as_str().unwrap())
        .collect();
    exhausted_eps.sort_unstable();
    let dead_id = api.get("/api/v1/app/acme/endpoint/dead").await["id"].clone();
    let mut expected = vec![dead_id.as_str().unwrap(), gone_ep["id"].as_str().unwrap()];
    expected.sort_unstable();
    assert_eq!(exhausted_eps, expected);

    let disabled = of_type(&events, "endpoint.disabled");
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0]["data"]["endpointId"], gone_ep["id"]);
    assert_eq!(disabled[0]["data"]["endpointUid"], "gone");
    assert_eq!(disabled[0]["data"]["trigger"], "automatic");
    let gone_now = api.get("/api/v1/app/acme/endpoint/gone").await;
    assert_eq!(gone_now["disabled"], true);
    assert!(
        gone_now["disabledReason"].as_str().unwrap().contains("410"),
        "{gone_now}"
    );

    // The operational application stays out of the tenant's own list.
    let apps = api.get("/api/v1/app").await;
    assert_eq!(apps["data"].as_array().unwrap().len(), 1, "{apps}");
}

#[tokio::test]
async fn operational_deliveries_that_fail_cause_no_more_events() {
    let app = local_app().await;
    let api = setup(&app).await;
    // The operational endpoint itself always fails, with a single try.
    let ops = Receiver::start(&[500, 500, 500, 500, 500]).await;
    api.post(
        "/api/v1/operational-webhook/endpoint",
        json!({"url": ops.url, "uid": "ops", "retrySchedule": []}),
    )
    .await;
    let dead = Receiver::start(&[500]).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": dead.url, "retrySchedule": []}),
    )
    .await;
    api.post("/api/v1/app/acme/msg", json!({"eventType": "a", "payload": {}}))
        .await;
    wait_until("the exhausted event", || !ops.got().is_empty()).await;
    tests::quiet_window(Duration::from_secs(3)).await;
    assert_eq!(
        ops.got().len(),
        1,
        "the failed operational delivery is not itself reported"
    );
}

#[tokio::test]
async fn an_endpoint_failing_for_the_configured_period_is_disabled() {
    let app = TestApp::spawn_with(|s| {
        s.serve_worker = true;
        s.allow_private_networks = "127.0.0.0/8".into();
        s.retry_schedule = "1s,1s,1s,1s,1s,1s".into();
        s.endpoint_disable_after = "2s".into();
    })
    .await;
    let api = setup(&app).await;
    let ops = Receiver::start(&[]).await;
    api.post(
        "/api/v1/operational-webhook/endpoint",
        json!({"url": ops.url, "uid": "ops", "filterTypes": ["endpoint.disabled"]}),
    )
    .await;
    let secret = api.get("/api/v1/operational-webhook/endpoint/ops/secret").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let down = Receiver::start(&[500; 20]).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": down.url, "uid": "down"}),
    )
    .await;
    for n in 0..2 {
        api.post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "a", "payload": {"n": n}}),
        )
        .await;
    }
    let ep = api
        .wait_for("/api/v1/app/acme/endpoint/down", |v| v["disabled"] == true)
        .await;
    let reason = ep["disabledReason"].as_str().unwrap();
    assert!(reason.contains("failed since"), "{reason}");
    // Both deliveries end failed, and no more requests go to the disabled endpoint.
    api.wait_for("/api/v1/app/acme/endpoint/down/stats", |v| {
        v["fail"] == 2 && v["pending"] == 0
    })
    .await;
    let sent = down.got().len();
    tests::quiet_window(Duration::from_millis(2500)).await;
    assert_eq!(down.got().len(), sent, "nothing is sent to a disabled endpoint");
    assert!(
        sent < 14,
        "disabled before the schedules ran out: {sent} requests"
    );

    wait_until("the endpoint.disabled event", || !ops.got().is_empty()).await;
    let events = events(&ops, &secret);
    assert_eq!(events.len(), 1, "only the subscribed type: {events:#?}");
    assert_eq!(events[0]["type"], "endpoint.disabled");
    assert_eq!(events[0]["data"]["endpointUid"], "down");
    assert!(events[0]["data"]["failSince"].is_string());

    // Enabling it again clears the reason, and deliveries flow.
    api.call(
        reqwest::Method::PATCH,
        "/api/v1/app/acme/endpoint/down",
        Some(json!({"disabled": false}).to_string()),
    )
    .await;
    let ep = api.get("/api/v1/app/acme/endpoint/down").await;
    assert!(ep.get("disabledReason").is_none(), "{ep}");
}

#[tokio::test]
async fn an_endpoint_waits_only_its_own_timeout() {
    let app = local_app().await;
    let api = setup(&app).await;
    let slow = Receiver::start(&[SLOW, SLOW]).await;
    let ep = api
        .post(
            "/api/v1/app/acme/endpoint",
            json!({"url": slow.url, "uid": "slow", "timeoutSeconds": 1, "retrySchedule": [1]}),
        )
        .await;
    assert_eq!(ep["timeoutSeconds"], 1);
    assert_eq!(ep["retrySchedule"], json!([1]));
    api.post("/api/v1/app/acme/msg", json!({"eventType": "a", "payload": {}}))
        .await;
    let list = api
        .wait_for("/api/v1/app/acme/attempt/endpoint/slow", |v| attempts(v) == 2)
        .await;
    for attempt in list["data"].as_array().unwrap() {
        assert_eq!(attempt["errorKind"], "timeout", "{attempt}");
        assert!(
            attempt["responseDurationMs"].as_i64().unwrap() < 2500,
            "{attempt}"
        );
    }
    api.wait_for("/api/v1/app/acme/endpoint/slow/stats", |v| v["fail"] == 1)
        .await;
}
