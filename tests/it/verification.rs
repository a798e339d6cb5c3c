//! Endpoint verification end to end: an application that requires it sends an endpoint
//! nothing until the endpoint echoes a signed challenge, then everything that waited; a
//! changed URL must prove itself again; tries run out into `failed` with the reason;
//! verification starts again on request; turning the requirement off lets what waited go.

use chrono::{Duration, Utc};
use domain::entity::endpoint;
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};
use tests::{
    TestApp,
    api::{Api, attempts, setup},
    queue_app,
    receiver::{ECHO, Receiver},
};

/// An application `strict` that requires endpoint verification.
async fn strict_app(api: &Api<'_>) {
    let app = api
        .post(
            "/api/v1/app",
            json!({"name": "Strict", "uid": "strict", "requireEndpointVerification": true}),
        )
        .await;
    assert_eq!(app["requireEndpointVerification"], true);
}

async fn verification_of(api: &Api<'_>, endpoint: &str) -> Value {
    api.get(&format!("/api/v1/app/strict/endpoint/{endpoint}")).await["verification"].clone()
}

/// Makes the endpoint's next challenge due now, as if its wait had passed.
async fn make_due(app: &TestApp, endpoint: &str) {
    #[expect(clippy::disallowed_methods, reason = "a test moves one endpoint's clock")]
    endpoint::Entity::update_many()
        .col_expr(
            endpoint::Column::VerificationDueAt,
            Expr::value(Some(Utc::now() - Duration::seconds(1))),
        )
        .filter(endpoint::Column::Id.eq(endpoint))
        .filter(endpoint::Column::VerificationDueAt.is_not_null())
        .exec(&app.ctx.db)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_endpoint_gets_nothing_until_it_echoes_the_challenge_then_gets_what_waited() {
    let app = queue_app().await;
    let api = setup(&app).await;
    strict_app(&api).await;
    // First a plain 200 (no challenge in it), then an echo; deliveries get 200.
    let receiver = Receiver::start(&[200, ECHO]).await;
    let made = api
        .post("/api/v1/app/strict/endpoint", json!({"url": receiver.url}))
        .await;
    let ep = made["id"].as_str().unwrap().to_owned();
    assert_eq!(made["verification"]["status"], "pending", "{made}");
    let secret = api.get(&format!("/api/v1/app/strict/endpoint/{ep}/secret")).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    for n in 0..2 {
        api.post(
            "/api/v1/app/strict/msg",
            json!({"eventType": "a", "payload": {"n": n}}),
        )
        .await;
    }
    // Claimed, and put off: no attempt, nothing sent, still pending.
    assert_eq!(app.run_pending_deliveries().await, 2);
    assert_eq!(app.run_pending_deliveries().await, 0, "they wait, not retry");
    let list = api
        .get(&format!("/api/v1/app/strict/attempt/endpoint/{ep}"))
        .await;
    assert_eq!(attempts(&list), 0, "{list}");

    // The first challenge: signed like a delivery, answered without the challenge.
    assert_eq!(app.run_due_challenges().await, 1);
    let got = receiver.got();
    assert_eq!(got.len(), 1, "only the challenge reached the endpoint");
    let sent: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(sent["type"], "webhook.verification");
    assert!(sent["data"]["challenge"].as_str().unwrap().len() >= 32);
    assert!(
        got[0].verifies(&secret),
        "the challenge is signed with the endpoint's key"
    );
    let state = verification_of(&api, &ep).await;
    assert_eq!(state["status"], "pending");
    assert_eq!(state["tries"], 1);
    assert!(
        state["reason"]
            .as_str()
            .unwrap()
            .contains("without the challenge"),
        "{state}"
    );
    assert!(state["nextAttempt"].is_string());
    assert_eq!(app.run_due_challenges().await, 0, "the next one waits its turn");

    // Started again by hand, with a new challenge: echoed, verified.
    let (status, restarted) = api
        .send(
            Method::POST,
            &format!("/api/v1/app/strict/endpoint/{ep}/verification"),
            None,
        )
        .await;
    assert_eq!(status, 202, "{restarted}");
    assert_eq!(restarted["tries"], 0);
    assert_eq!(app.run_due_challenges().await, 1);
    let got = receiver.got();
    let second: Value = serde_json::from_str(&got[1].body).unwrap();
    assert_ne!(second["data"]["challenge"], sent["data"]["challenge"]);
    let state = verification_of(&api, &ep).await;
    assert_eq!(state["status"], "verified", "{state}");
    assert!(state["verifiedAt"].is_string());
    assert!(state.get("reason").is_none());

    // What waited is due at once.
    assert_eq!(app.run_pending_deliveries().await, 2);
    let list = api
        .get(&format!("/api/v1/app/strict/attempt/endpoint/{ep}"))
        .await;
    assert_eq!(attempts(&list), 2, "{list}");
    let delivered: Vec<String> = receiver.got()[2..].iter().map(|g| g.body.clone()).collect();
    assert_eq!(delivered.len(), 2);
    assert!(delivered.contains(&r#"{"n":0}"#.to_owned()) && delivered.contains(&r#"{"n":1}"#.to_owned()));

    // A new URL must prove itself again; the same URL given again need not.
    let same = api
        .call(
            Method::PATCH,
            &format!("/api/v1/app/strict/endpoint/{ep}"),
            Some(json!({"url": receiver.url, "description": "same place"}).to_string()),
        )
        .await;
    assert_eq!(same["verification"]["status"], "verified");
    let moved = api
        .call(
            Method::PATCH,
            &format!("/api/v1/app/strict/endpoint/{ep}"),
            Some(json!({"url": format!("{}/v2", receiver.url)}).to_string()),
        )
        .await;
    assert_eq!(moved["verification"]["status"], "pending", "{moved}");
    api.post(
        "/api/v1/app/strict/msg",
        json!({"eventType": "a", "payload": {"n": 2}}),
    )
    .await;
    app.run_pending_deliveries().await;
    assert_eq!(
        receiver.got().len(),
        4,
        "nothing more until the new URL is verified"
    );

    // An application that does not require it sends at once, with no verification field.
    let plain = api.endpoint_id("acme", json!({"url": receiver.url})).await;
    let shown = api.get(&format!("/api/v1/app/acme/endpoint/{plain}")).await;
    assert!(shown.get("verification").is_none(), "{shown}");
}

#[tokio::test]
async fn tries_run_out_into_failed_and_turning_the_requirement_off_releases_what_waited() {
    let app = queue_app().await;
    let api = setup(&app).await;
    strict_app(&api).await;
    let receiver = Receiver::start(&[500; 6]).await;
    let ep = api.endpoint_id("strict", json!({"url": receiver.url})).await;
    api.post("/api/v1/app/strict/msg", json!({"eventType": "a", "payload": {}}))
        .await;
    app.run_pending_deliveries().await;
    for n in 1..=6 {
        make_due(&app, &ep).await;
        assert_eq!(app.run_due_challenges().await, 1, "try {n}");
    }
    let state = verification_of(&api, &ep).await;
    assert_eq!(state["status"], "failed", "{state}");
    assert_eq!(state["tries"], 6);
    assert!(state["reason"].as_str().unwrap().contains("500"), "{state}");
    assert!(state.get("nextAttempt").is_none());
    make_due(&app, &ep).await;
    assert_eq!(
        app.run_due_challenges().await,
        0,
        "a failed endpoint is not challenged again"
    );
    app.run_pending_deliveries().await;
    assert_eq!(receiver.got().len(), 6, "the message still waits");

    // Bad values change nothing.
    for bad in [
        json!({"requireEndpointVerification": null}),
        json!({"requireEndpointVerification": "no"}),
    ] {
        let (status, _) = api.send(Method::PATCH, "/api/v1/app/strict", Some(bad)).await;
        assert_eq!(status, 422);
    }
    // A PUT that does not know the field leaves it on.
    let put = api
        .call(
            Method::PUT,
            "/api/v1/app/strict",
            Some(json!({"name": "Strict"}).to_string()),
        )
        .await;
    assert_eq!(put["requireEndpointVerification"], true);

    let off = api
        .call(
            Method::PATCH,
            "/api/v1/app/strict",
            Some(json!({"requireEndpointVerification": false}).to_string()),
        )
        .await;
    assert_eq!(off["requireEndpointVerification"], false);
    assert!(verification_of(&api, &ep).await.is_null());
    assert_eq!(app.run_pending_deliveries().await, 1);
    assert_eq!(receiver.got().len(), 7, "what waited went");
    let (status, refused) = api
        .send(
            Method::POST,
            &format!("/api/v1/app/strict/endpoint/{ep}/verification"),
            None,
        )
        .await;
    assert_eq!(status, 409, "{refused}");
}

#[tokio::test]
async fn another_tenants_endpoint_cannot_be_verified_again() {
    let app = TestApp::spawn().await;
    let api = setup(&app).await;
    strict_app(&api).await;
    let ep = api
        .endpoint_id("strict", json!({"url": "https://example.com/hook"}))
        .await;
    let other = Api::of_new_tenant(&app, "Other").await;
    let (status, _) = other
        .send(
            Method::POST,
            &format!("/api/v1/app/strict/endpoint/{ep}/verification"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(verification_of(&api, &ep).await["tries"], 0);
}

/// An endpoint on one of Herald's own inboxes (the dashboard's first try) verifies itself:
/// the inbox echoes the challenge, unless its script says to fail.
#[tokio::test]
async fn an_endpoint_on_an_inbox_verifies_itself_unless_the_inbox_fails() {
    let app = TestApp::spawn().await;
    let api = setup(&app).await;
    strict_app(&api).await;
    let echoing = api.post("/api/v1/inspector", json!({"name": "echo"})).await;
    let failing = api
        .post(
            "/api/v1/inspector",
            json!({"name": "down", "script": [{"status": 500}]}),
        )
        .await;
    let good = api.endpoint_id("strict", json!({"url": echoing["url"]})).await;
    let bad = api.endpoint_id("strict", json!({"url": failing["url"]})).await;
    assert_eq!(app.run_due_challenges().await, 2);
    assert_eq!(verification_of(&api, &good).await["status"], "verified");
    let state = verification_of(&api, &bad).await;
    assert_eq!(state["status"], "pending");
    assert!(state["reason"].as_str().unwrap().contains("500"), "{state}");
    let recorded = api
        .get(&format!(
            "/api/v1/inspector/{}/request",
            echoing["id"].as_str().unwrap()
        ))
        .await;
    let challenge: Value = serde_json::from_str(recorded["data"][0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(challenge["type"], "webhook.verification");
}
