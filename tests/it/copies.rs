//! Each API process keeps short-lived copies of tokens and applications, and they never
//! let it act on what another process changed: a message accepted after an endpoint was
//! added, disabled, filtered or deleted elsewhere goes where the database says now; a
//! token revoked elsewhere stops working within a second.

use std::{collections::BTreeSet, time::Duration};

use domain::{entity::destination, scope::TenantScoped};
use sea_orm::{ColumnTrait, QueryFilter};
use serde_json::json;
use tests::{OtherApi, TestApp, api::setup};

/// The endpoints a message got destinations for.
async fn targets(app: &TestApp, tenant: &domain::id::TenantId, message: &str) -> BTreeSet<String> {
    destination::Entity::for_tenant(tenant)
        .filter(destination::Column::MessageId.eq(message))
        .all(&app.ctx.db)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.endpoint_id.to_string())
        .collect()
}

#[tokio::test]
async fn messages_follow_endpoint_changes_made_by_another_process_at_once() {
    let app = TestApp::spawn().await;
    let api = setup(&app).await;
    let other = OtherApi::spawn(&app.settings).await;
    let tenant = domain::service::token::authenticate(&app.ctx, &api.token)
        .await
        .unwrap()
        .tenant;
    let first = api
        .post(
            "/api/v1/app/acme/endpoint",
            json!({"url": "https://a.example.com/", "uid": "a"}),
        )
        .await;
    let send = async || {
        let (status, msg) = other
            .send(
                &api.token,
                "/api/v1/app/acme/msg",
                Some(json!({"eventType": "invoice.paid", "payload": {}})),
            )
            .await;
        assert_eq!(status, 202, "{msg}");
        targets(&app, &tenant, msg["id"].as_str().unwrap()).await
    };
    let a = first["id"].as_str().unwrap().to_owned();
    // The other process now holds a copy of `acme` with one endpoint.
    assert_eq!(send().await, BTreeSet::from([a.clone()]));

    // Added here, used there on the very next message.
    let second = api
        .post(
            "/api/v1/app/acme/endpoint",
            json!({"url": "https://b.example.com/", "uid": "b"}),
        )
        .await;
    let b = second["id"].as_str().unwrap().to_owned();
    assert_eq!(send().await, BTreeSet::from([a.clone(), b.clone()]));

    // Disabled here: not used there.
    api.call(
        reqwest::Method::PATCH,
        "/api/v1/app/acme/endpoint/a",
        Some(json!({"disabled": true}).to_string()),
    )
    .await;
    assert_eq!(send().await, BTreeSet::from([b.clone()]));

    // Filtered here (to a channel the messages are not on): not for it there.
    api.call(
        reqwest::Method::PATCH,
        "/api/v1/app/acme/endpoint/b",
        Some(json!({"channels": ["eu"]}).to_string()),
    )
    .await;
    assert_eq!(send().await, BTreeSet::new());

    // Deleted here: the other process neither fails nor uses it.
    api.call(reqwest::Method::DELETE, "/api/v1/app/acme/endpoint/b", None)
        .await;
    api.call(
        reqwest::Method::PATCH,
        "/api/v1/app/acme/endpoint/a",
        Some(json!({"disabled": false}).to_string()),
    )
    .await;
    assert_eq!(send().await, BTreeSet::from([a]));
}

#[tokio::test]
async fn a_token_revoked_by_another_process_stops_working_within_a_second() {
    let app = TestApp::spawn().await;
    let api = setup(&app).await;
    let other = OtherApi::spawn(&app.settings).await;
    let (status, _) = other.send(&api.token, "/api/v1/app", None).await;
    assert_eq!(status, 200, "the other process knows the token now");
    let principal = domain::service::token::authenticate(&app.ctx, &api.token)
        .await
        .unwrap();
    domain::service::token::revoke(
        &app.ctx,
        &principal.tenant,
        &principal.token,
        &domain::service::audit::Actor::Cli,
    )
    .await
    .unwrap();
    let (status, _) = app
        .http
        .get(app.url("/api/v1/app"))
        .bearer_auth(&api.token)
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 401, "refused at once where it was revoked");
    let refused = tests::eventually(Duration::from_secs(5), async || {
        let (status, _) = other.send(&api.token, "/api/v1/app", None).await;
        (status == 401).then_some(())
    })
    .await;
    assert!(refused.is_some(), "the other process still takes a revoked token");
}
