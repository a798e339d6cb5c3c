//! Scheduled messages (`deliverAt`): nothing is sent before the time asked for, the
//! message is sent then, messages sent meanwhile are not held up (unless the endpoint is
//! ordered), and a time in the past or too far ahead is refused with nothing stored.

use std::time::{Duration, Instant};

use chrono::Utc;
use domain::values::Role;
use serde_json::{Value, json};
use tests::{
    TestApp,
    api::{Api, setup},
    eventually, local_app,
    receiver::Receiver,
};

use crate::dashboard::{Browser, PASSWORD, user};

/// How far ahead the tests schedule: long enough that an early send would show.
const AHEAD: Duration = Duration::from_millis(2500);

/// Posts a message of type `kind` scheduled `AHEAD` from now; returns it and the instant
/// before which nothing may arrive.
async fn schedule(api: &Api<'_>, kind: &str) -> (Value, Instant) {
    let not_before = Instant::now() + AHEAD;
    let at = Utc::now() + AHEAD;
    let msg = api
        .post(
            "/api/v1/app/acme/msg",
            json!({"eventType": kind, "payload": {"scheduled": true}, "deliverAt": at}),
        )
        .await;
    assert_eq!(
        msg["deliverAt"]
            .as_str()
            .map(|s| s.parse::<chrono::DateTime<Utc>>().unwrap()),
        Some(at),
        "{msg}"
    );
    (msg, not_before)
}

/// The requests `receiver` got for message `id`, with when they arrived.
fn arrivals(receiver: &Receiver, id: &str) -> Vec<Instant> {
    receiver
        .got()
        .iter()
        .filter(|g| g.header("webhook-id") == Some(id))
        .map(|g| g.at)
        .collect()
}

#[tokio::test]
async fn a_scheduled_message_is_sent_at_its_time_and_holds_nothing_up() {
    let app = local_app().await;
    let api = setup(&app).await;
    let receiver = Receiver::start(&[]).await;
    let ep = api.endpoint_id("acme", json!({"url": receiver.url})).await;
    let (scheduled, not_before) = schedule(&api, "invoice.due").await;
    let scheduled_id = scheduled["id"].as_str().unwrap();

    // Shown as waiting: a pending destination, no attempt.
    let destinations = api
        .get(&format!("/api/v1/app/acme/msg/{scheduled_id}/endpoint"))
        .await;
    assert_eq!(destinations["data"][0]["id"], ep.as_str(), "{destinations}");
    assert_eq!(destinations["data"][0]["status"], 1, "pending: {destinations}");

    // A message sent after it, at once, arrives first.
    let now = api
        .post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "invoice.paid", "payload": {"now": true}}),
        )
        .await;
    let now_id = now["id"].as_str().unwrap().to_owned();
    let first = eventually(Duration::from_secs(10), async || {
        arrivals(&receiver, &now_id).first().copied()
    })
    .await
    .expect("the unscheduled message arrives");
    assert!(first < not_before, "held up behind the scheduled message");
    assert!(
        arrivals(&receiver, scheduled_id).is_empty(),
        "sent before its time"
    );

    let arrived = eventually(Duration::from_secs(15), async || {
        arrivals(&receiver, scheduled_id).first().copied()
    })
    .await
    .expect("the scheduled message arrives");
    assert!(arrived >= not_before, "sent {:?} early", not_before - arrived);
    assert_eq!(arrivals(&receiver, scheduled_id).len(), 1);
    let attempts = api
        .get(&format!("/api/v1/app/acme/attempt/msg/{scheduled_id}"))
        .await;
    assert_eq!(attempts["data"][0]["responseStatusCode"], 200, "{attempts}");
}

#[tokio::test]
async fn on_an_ordered_endpoint_a_scheduled_message_keeps_its_place() {
    let app = local_app().await;
    let api = setup(&app).await;
    let receiver = Receiver::start(&[]).await;
    api.endpoint_id("acme", json!({"url": receiver.url, "ordered": true}))
        .await;
    let (scheduled, not_before) = schedule(&api, "a").await;
    let scheduled_id = scheduled["id"].as_str().unwrap();
    let next = api
        .post("/api/v1/app/acme/msg", json!({"eventType": "b", "payload": {}}))
        .await;
    let next_id = next["id"].as_str().unwrap().to_owned();
    let second = eventually(Duration::from_secs(15), async || {
        arrivals(&receiver, &next_id).first().copied()
    })
    .await
    .expect("the message behind it arrives");
    let first = arrivals(&receiver, scheduled_id)
        .first()
        .copied()
        .expect("the scheduled message went first");
    assert!(first >= not_before, "sent {:?} early", not_before - first);
    assert!(first <= second, "the line's order");
}

#[tokio::test]
async fn a_time_in_the_past_or_too_far_ahead_is_refused_and_nothing_is_stored() {
    let app = local_app().await;
    let api = setup(&app).await;
    for (at, reason) in [
        (json!(Utc::now() - chrono::Duration::seconds(5)), "in the future"),
        (json!(Utc::now() + chrono::Duration::hours(25)), "24 hours"),
    ] {
        let (status, body) = api
            .send(
                reqwest::Method::POST,
                "/api/v1/app/acme/msg",
                Some(json!({"eventType": "a", "payload": {}, "deliverAt": at})),
            )
            .await;
        assert_eq!(status.as_u16(), 422, "{body}");
        assert_eq!(body["detail"][0]["loc"], json!(["body", "deliverAt"]), "{body}");
        assert!(
            body["detail"][0]["msg"].as_str().unwrap().contains(reason),
            "{body}"
        );
    }
    let (status, body) = api
        .send(
            reqwest::Method::POST,
            "/api/v1/app/acme/msg",
            Some(json!({"eventType": "a", "payload": {}, "deliverAt": "tomorrow"})),
        )
        .await;
    assert_eq!(status.as_u16(), 422, "{body}");
    assert_eq!(api.get("/api/v1/app/acme/msg").await["data"], json!([]));
}

#[tokio::test]
async fn the_message_page_shows_when_a_message_is_scheduled_for() {
    let app = TestApp::spawn().await;
    let (tenant, token) = app.tenant("T").await;
    user(&app, &tenant, "admin@t.test", Role::Admin).await;
    let api = Api { app: &app, token };
    let created = api
        .post("/api/v1/app", json!({"name": "Acme", "uid": "acme"}))
        .await;
    let at = Utc::now() + chrono::Duration::hours(3);
    let msg = api
        .post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "a", "payload": {}, "deliverAt": at}),
        )
        .await;
    let plain = api
        .post("/api/v1/app/acme/msg", json!({"eventType": "a", "payload": {}}))
        .await;
    let mut browser = Browser::new(&app);
    browser.sign_in("admin@t.test", PASSWORD).await;
    let page = |id: &Value| {
        format!(
            "/ui/apps/{}/messages/{}",
            created["id"].as_str().unwrap(),
            id.as_str().unwrap()
        )
    };
    let shown = browser.get(&page(&msg["id"])).await;
    assert_eq!(shown.status, 200);
    let when = at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    assert!(
        shown
            .body
            .contains(&format!("<dt>Scheduled for</dt><dd><time title=\"{when}\">")),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("(in 2 h)") || shown.body.contains("(in 3 h)"));
    let unscheduled = browser.get(&page(&plain["id"])).await;
    assert_eq!(unscheduled.status, 200);
    assert!(!unscheduled.body.contains("Scheduled for"));
}
