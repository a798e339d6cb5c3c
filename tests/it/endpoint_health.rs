//! The endpoints that need attention (the overview's list): which ones, in which order,
//! the same on SQLite and PostgreSQL.

use chrono::{DateTime, Duration, Utc};
use domain::{entity::endpoint, id::TenantId, scope::TenantScoped, service::endpoint_health, values::Role};
use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
use serde_json::json;
use tests::{TestApp, api::Api};

use crate::dashboard::{Browser, PASSWORD, user};

/// Marks an endpoint as failing since `since` and, with a reason, as disabled by Herald.
async fn trouble(app: &TestApp, tenant: &TenantId, id: &str, since: DateTime<Utc>, disabled: Option<&str>) {
    let mut update = endpoint::Entity::update_for_tenant(tenant)
        .col_expr(endpoint::Column::FailingSince, Expr::value(since))
        .filter(endpoint::Column::Id.eq(id));
    if let Some(reason) = disabled {
        update = update
            .col_expr(endpoint::Column::Disabled, Expr::value(true))
            .col_expr(endpoint::Column::DisabledReason, Expr::value(reason));
    }
    let done = update.exec(&app.ctx.db).await.unwrap();
    assert_eq!(done.rows_affected, 1, "{id}");
}

#[tokio::test]
async fn failing_endpoints_come_oldest_first_then_those_disabled_by_hand() {
    let app = TestApp::spawn().await;
    let (tenant, token) = app.tenant("A").await;
    let api = Api { app: &app, token };
    api.post("/api/v1/app", json!({"name": "Acme", "uid": "acme"}))
        .await;
    let endpoint = async |name: &str| {
        api.endpoint_id("acme", json!({"url": format!("https://example.com/{name}")}))
            .await
    };
    // Created in this order, so their ids sort this way.
    let (hand_1, failing_new, hand_2, failing_old, healthy) = (
        endpoint("hand-1").await,
        endpoint("failing-new").await,
        endpoint("hand-2").await,
        endpoint("failing-old").await,
        endpoint("healthy").await,
    );
    let now = Utc::now();
    trouble(&app, &tenant, &failing_old, now - Duration::hours(3), None).await;
    trouble(
        &app,
        &tenant,
        &failing_new,
        now - Duration::hours(1),
        Some("gone"),
    )
    .await;
    for id in [&hand_1, &hand_2] {
        api.call(
            reqwest::Method::PATCH,
            &format!("/api/v1/app/acme/endpoint/{id}"),
            Some(json!({"disabled": true}).to_string()),
        )
        .await;
    }
    // Older trouble that is not the tenant's to see: its operational webhooks, and another
    // tenant's endpoint.
    for uid in ["ops-1", "ops-2"] {
        let op = api
            .post(
                "/api/v1/operational-webhook/endpoint",
                json!({"url": format!("https://example.com/{uid}"), "uid": uid}),
            )
            .await;
        let id = op["id"].as_str().unwrap();
        trouble(&app, &tenant, id, now - Duration::hours(10), None).await;
    }
    let (other, other_token) = app.tenant("B").await;
    let other_api = Api {
        app: &app,
        token: other_token,
    };
    other_api
        .post("/api/v1/app", json!({"name": "Other", "uid": "acme"}))
        .await;
    let theirs = other_api
        .endpoint_id("acme", json!({"url": "https://example.com/theirs"}))
        .await;
    trouble(&app, &other, &theirs, now - Duration::hours(20), None).await;

    let troubled = |limit| endpoint_health::troubled(&app.ctx.db, &tenant, limit);
    let found: Vec<(String, String)> = troubled(10)
        .await
        .unwrap()
        .into_iter()
        .map(|(ep, app)| (ep.id.to_string(), app.name))
        .collect();
    let acme = |id: &String| (id.clone(), "Acme".to_owned());
    assert_eq!(
        found,
        [
            acme(&failing_old),
            acme(&failing_new),
            acme(&hand_1),
            acme(&hand_2)
        ],
        "healthy endpoint {healthy} and others' trouble left out"
    );
    // The limit counts only what is shown: the operational endpoints' older trouble takes
    // no place.
    let first: Vec<String> = troubled(1)
        .await
        .unwrap()
        .into_iter()
        .map(|(ep, _)| ep.id.to_string())
        .collect();
    assert_eq!(first, [failing_old]);

    // The overview lists them in that order.
    user(&app, &tenant, "admin@a.test", Role::Admin).await;
    let mut admin = Browser::new(&app);
    admin.sign_in("admin@a.test", PASSWORD).await;
    let overview = admin.get("/ui").await.body;
    let at = |name: &str| {
        overview
            .find(&format!("https://example.com/{name}</a>"))
            .unwrap_or_else(|| panic!("{name} is on the overview:\n{overview}"))
    };
    assert!(at("failing-old") < at("failing-new"));
    assert!(at("failing-new") < at("hand-1"));
    assert!(at("hand-1") < at("hand-2"));
    assert!(overview.contains("4</span> endpoints failing or disabled"));
    for absent in ["healthy", "ops-1", "theirs"] {
        assert!(
            !overview.contains(&format!("https://example.com/{absent}")),
            "{absent}"
        );
    }
}
