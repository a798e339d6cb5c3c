//! Endpoint verification on the endpoint's page, in the dashboard and the portal: where it
//! stands, why the last challenge failed, and "Verify again".

use serde_json::json;
use tests::TestApp;

use super::{Browser, PASSWORD, world};

#[tokio::test]
async fn the_endpoint_page_shows_verification_and_starts_it_again_in_dashboard_and_portal() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let api = tests::api::Api {
        app: &app,
        token: w.token_a.clone(),
    };
    let strict = api
        .post(
            "/api/v1/app",
            json!({"name": "Strict", "uid": "strict", "requireEndpointVerification": true}),
        )
        .await;
    let ep = api
        .endpoint_id("strict", json!({"url": "https://verify.example.com/hook"}))
        .await;
    // Nothing leaves this machine in tests: the challenge is refused by the policy.
    assert_eq!(app.run_due_challenges().await, 1);
    let page = format!("/ui/apps/{}/endpoints/{ep}", strict["id"].as_str().unwrap());

    let mut admin = Browser::new(&app);
    admin.sign_in("admin@a.test", PASSWORD).await;
    let shown = admin.get(&page).await;
    assert_eq!(shown.status, 200);
    assert!(shown.body.contains("Not verified yet"), "{}", shown.body);
    assert!(shown.body.contains("Last answer: "));
    assert!(shown.body.contains("Verify again"));
    let csrf = shown.csrf();
    let again = admin
        .post(&format!("{page}/verification"), &[("csrf", &csrf)])
        .await;
    assert!(
        again.redirects_to(&format!("{page}#verification")),
        "{}",
        again.location
    );
    let state = api.get(&format!("/api/v1/app/strict/endpoint/{ep}")).await;
    assert_eq!(state["verification"]["tries"], 0, "{state}");
    // Without the form's token nothing happens.
    assert_eq!(app.run_due_challenges().await, 1);
    let refused = admin
        .post(&format!("{page}/verification"), &[("csrf", "nope")])
        .await;
    assert_eq!(refused.status, 403);
    let state = api.get(&format!("/api/v1/app/strict/endpoint/{ep}")).await;
    assert_eq!(state["verification"]["tries"], 1);

    // An application that does not require it shows nothing of it.
    let plain = admin.get(&w.endpoint_path).await;
    assert!(!plain.body.contains("Verify again"));

    // The customer's portal has the same section and button.
    let access = api.post("/api/v1/auth/app-portal-access/strict", json!({})).await;
    let url = access["url"].as_str().unwrap();
    let mut customer = Browser::new(&app);
    customer.get(&url[url.find("/portal").unwrap()..]).await;
    let portal_page = format!("/portal/app/endpoints/{ep}");
    let shown = customer.get(&portal_page).await;
    assert!(shown.body.contains("Verify again"), "{}", shown.body);
    let again = customer
        .post(&format!("{portal_page}/verification"), &[("csrf", &shown.csrf())])
        .await;
    assert!(
        again.redirects_to(&format!("{portal_page}#verification")),
        "{}",
        again.location
    );
    let state = api.get(&format!("/api/v1/app/strict/endpoint/{ep}")).await;
    assert_eq!(state["verification"]["tries"], 0);
}

#[tokio::test]
async fn new_applications_take_the_tenants_verification_default_unless_told() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let api = tests::api::Api {
        app: &app,
        token: w.token_a.clone(),
    };
    let made = api.post("/api/v1/app", json!({"name": "Before"})).await;
    assert_eq!(made["requireEndpointVerification"], false);

    let mut admin = Browser::new(&app);
    admin.sign_in("admin@a.test", PASSWORD).await;
    let page = admin.get("/ui/apps").await;
    assert!(page.body.contains("<h2>Defaults</h2>"));
    let saved = admin
        .post(
            "/ui/apps/defaults",
            &[("csrf", &page.csrf()), ("require_verification", "on")],
        )
        .await;
    assert!(saved.redirects_to("/ui/apps#defaults"), "{}", saved.location);
    let made = api.post("/api/v1/app", json!({"name": "After"})).await;
    assert_eq!(made["requireEndpointVerification"], true, "the default applies");
    let told = api
        .post(
            "/api/v1/app",
            json!({"name": "Told", "requireEndpointVerification": false}),
        )
        .await;
    assert_eq!(
        told["requireEndpointVerification"], false,
        "what the creator says wins"
    );
    let page = admin.get("/ui/apps").await;
    assert!(
        page.body.contains(r#"name="require_verification" checked"#),
        "the create form starts from the default"
    );
    // Unticked, the default is off again.
    admin.post("/ui/apps/defaults", &[("csrf", &page.csrf())]).await;
    let made = api.post("/api/v1/app", json!({"name": "Later"})).await;
    assert_eq!(made["requireEndpointVerification"], false);
}
