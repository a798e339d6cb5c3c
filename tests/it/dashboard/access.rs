//! Who may see and change what on the pages: anonymous visitors, viewers, another
//! tenant's admin, portal sessions; CSRF; escaping of what users typed.

use serde_json::json;
use tests::TestApp;

use super::{Browser, PASSWORD, changes, rows, snapshot, world};

#[tokio::test]
async fn anonymous_visitors_are_sent_to_sign_in_and_change_nothing() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let mut anonymous = Browser::new(&app);
    for page in ["/ui", "/ui/apps", &w.app_path, &w.endpoint_path, &w.message_path] {
        let answer = anonymous.get(page).await;
        assert!(answer.redirects_to("/ui/login"), "{page}: {}", answer.status);
    }
    assert_eq!(anonymous.get("/portal").await.status, 401);
    let before = snapshot(&app, &w).await;
    for (path, fields) in changes(&app, &w, "whatever").await {
        let answer = anonymous.post(&path, &fields).await;
        assert!(answer.redirects_to("/ui/login"), "{path}: {}", answer.status);
    }
    assert_eq!(snapshot(&app, &w).await, before);
    // The sign-in page and the assets need no session.
    assert_eq!(anonymous.get("/ui/login").await.status, 200);
    let css = app.http.get(app.url("/static/herald.css")).send().await.unwrap();
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let etag = css.headers()["etag"].clone();
    let again = app
        .http
        .get(app.url("/static/herald.css"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304, "unchanged assets are not sent again");
    assert_eq!(
        app.http
            .get(app.url("/static/nope.css"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn viewers_read_everything_and_change_nothing() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let mut viewer = Browser::new(&app);
    assert!(
        viewer
            .sign_in("viewer@a.test", PASSWORD)
            .await
            .redirects_to("/ui")
    );
    let log = format!("{}/log", w.app_path);
    for page in [
        "/ui",
        "/ui/apps",
        &w.app_path,
        &w.endpoint_path,
        &w.message_path,
        &log,
        "/ui/event-types",
        "/ui/event-types/user.created",
        "/ui/tokens",
        "/ui/team",
        "/ui/audit",
    ] {
        let answer = viewer.get(page).await;
        assert_eq!(answer.status, 200, "{page}");
        for offer in [
            "Rotate secret",
            "Create application",
            "Add endpoint",
            "Create event type",
            "Create token",
            "Add person",
            "Revoke</button>",
            "Remove</button>",
            "Save changes",
            "Archive</button>",
            "Resend</button>",
        ] {
            assert!(!answer.body.contains(offer), "{page} offers no changes ({offer})");
        }
    }
    let revealed = viewer.get(&format!("{}?reveal=1", w.endpoint_path)).await;
    assert_eq!(revealed.status, 403, "a signing secret is an admin's to see");
    assert!(!revealed.body.contains("whsec_"));

    let csrf = viewer.csrf("/ui").await;
    let before = snapshot(&app, &w).await;
    for (path, fields) in changes(&app, &w, &csrf).await {
        let answer = viewer.post(&path, &fields).await;
        assert_eq!(answer.status, 403, "{path}");
        assert!(answer.body.contains("viewers can look"), "{path}");
    }
    assert_eq!(snapshot(&app, &w).await, before);
}

#[tokio::test]
async fn another_tenants_admin_finds_nothing_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let mut stranger = Browser::new(&app);
    assert!(
        stranger
            .sign_in("admin@b.test", PASSWORD)
            .await
            .redirects_to("/ui")
    );
    for page in [&w.app_path, &w.endpoint_path, &w.message_path] {
        assert_eq!(stranger.get(page).await.status, 404, "{page}");
    }
    let listing = stranger.get("/ui/apps").await;
    assert!(!listing.body.contains("Acme"));
    for page in ["/ui/tokens", "/ui/team", "/ui/audit", "/ui/event-types"] {
        let body = stranger.get(page).await.body;
        assert!(
            !body.contains("admin@a.test") && !body.contains("user.created"),
            "{page}"
        );
    }
    assert_eq!(stranger.get("/ui/event-types/user.created").await.status, 404);
    let csrf = stranger.csrf("/ui").await;
    let before = snapshot(&app, &w).await;
    let all = changes(&app, &w, &csrf).await;
    // All but the tenant-wide defaults and creations, which would change B's own.
    for (path, fields) in &all[..all.len() - 5] {
        assert_eq!(stranger.post(path, fields).await.status, 404, "{path}");
    }
    assert_eq!(snapshot(&app, &w).await, before);
}

#[tokio::test]
async fn forms_without_the_sessions_csrf_token_are_refused() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let mut admin = Browser::new(&app);
    assert!(admin.sign_in("admin@a.test", PASSWORD).await.redirects_to("/ui"));
    let before = snapshot(&app, &w).await;
    for csrf in ["", "0".repeat(64).as_str()] {
        for (path, fields) in changes(&app, &w, csrf).await {
            let answer = admin.post(&path, &fields).await;
            assert_eq!(answer.status, 403, "{path} with csrf {csrf:?}");
        }
    }
    assert_eq!(snapshot(&app, &w).await, before);
    // Another session's token is no better.
    let mut second = Browser::new(&app);
    second.sign_in("admin@a.test", PASSWORD).await;
    let theirs = second.csrf("/ui").await;
    // (The second sign-in is on the audit record.)
    let before = rows(&app).await;
    let answer = admin.post("/ui/apps", &[("csrf", &theirs), ("name", "x")]).await;
    assert_eq!(answer.status, 403);
    assert_eq!(rows(&app).await, before);
}

#[tokio::test]
async fn user_supplied_text_shows_as_text() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let mut admin = Browser::new(&app);
    admin.sign_in("admin@a.test", PASSWORD).await;
    let csrf = admin.csrf("/ui").await;
    let created = admin
        .post(
            "/ui/apps",
            &[("csrf", &csrf), ("name", "<script>alert(1)</script>")],
        )
        .await;
    assert_eq!(created.status, 303);
    let pages = [
        ("/ui/apps".to_owned(), "&#60;script&#62;alert(1)"),
        (created.location.clone(), "&#60;script&#62;alert(1)"),
        (w.message_path.clone(), "&#60;script&#62;alert(1)"),
        (w.app_path.clone(), "&#60;b&#62;desc"),
    ];
    for (page, escaped) in pages {
        let body = admin.get(&page).await.body;
        assert!(body.contains(escaped), "{page}");
        assert!(!body.contains("<script>alert"), "{page}");
        assert!(!body.contains("<b>desc"), "{page}");
    }
}

#[tokio::test]
async fn a_portal_session_sees_only_its_own_application() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let api = tests::api::Api {
        app: &app,
        token: w.token_a.clone(),
    };
    api.post("/api/v1/app", json!({"name": "Other Co", "uid": "other"}))
        .await;
    let other_ep = api
        .endpoint_id("other", json!({"url": "https://other.example.com/"}))
        .await;
    let access = api.post("/api/v1/auth/app-portal-access/acme", json!({})).await;
    let url = access["url"].as_str().unwrap();
    let path = &url[url.find("/portal").unwrap()..];

    let mut customer = Browser::new(&app);
    let entered = customer.get(path).await;
    assert!(
        entered.redirects_to("/portal"),
        "the token leaves the address bar"
    );
    let home = customer.get("/portal").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Acme") && home.body.contains("https://example.com/hook"));
    assert!(!home.body.contains("Other Co"));
    assert!(!home.body.contains("/ui/apps"), "no way into the dashboard");

    let endpoint = w.endpoint_path.rsplit('/').next().unwrap();
    let message = w.message_path.rsplit('/').next().unwrap();
    let revealed = customer
        .get(&format!("/portal/app/endpoints/{endpoint}?reveal=1"))
        .await;
    assert!(revealed.body.contains("whsec_"));
    assert_eq!(
        customer
            .get(&format!("/portal/app/messages/{message}"))
            .await
            .status,
        200
    );
    // The other application's things, whatever URL is typed.
    assert_eq!(
        customer
            .get(&format!("/portal/app/endpoints/{other_ep}"))
            .await
            .status,
        404
    );
    let other_app = format!("/ui/apps/other/endpoints/{other_ep}");
    assert!(customer.get(&other_app).await.redirects_to("/ui/login"));
    assert!(customer.get("/ui").await.redirects_to("/ui/login"));
    // Dashboard-only actions do not exist in the portal.
    let csrf = customer.csrf("/portal").await;
    assert_eq!(
        customer
            .post("/portal/app/delete", &[("csrf", &csrf)])
            .await
            .status,
        404
    );
    // The customer may manage their own endpoints.
    let added = customer
        .post(
            "/portal/app/endpoints",
            &[("csrf", &csrf), ("url", "https://customer.example.com/in")],
        )
        .await;
    assert!(
        added.location.contains("/portal/app/endpoints/ep_"),
        "{}",
        added.location
    );

    // A forged token opens nothing; signing out ends the portal session.
    let mut forger = Browser::new(&app);
    assert_eq!(forger.get("/portal?token=not-a-token").await.status, 401);
    assert!(
        customer
            .post("/portal/logout", &[("csrf", &csrf)])
            .await
            .redirects_to("/portal")
    );
    assert_eq!(customer.get("/portal").await.status, 401);
}

#[tokio::test]
async fn a_read_only_portal_link_shows_but_changes_nothing() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let api = tests::api::Api {
        app: &app,
        token: w.token_a.clone(),
    };
    let access = api
        .post("/api/v1/auth/app-portal-access/acme", json!({"readOnly": true}))
        .await;
    let url = access["url"].as_str().unwrap();
    let mut customer = Browser::new(&app);
    customer.get(&url[url.find("/portal").unwrap()..]).await;
    let home = customer.get("/portal").await;
    assert_eq!(home.status, 200);
    assert!(!home.body.contains("Add endpoint"), "no forms offered");
    let endpoint = w.endpoint_path.rsplit('/').next().unwrap();
    let csrf = home.csrf();
    let before = rows(&app).await;
    for (path, fields) in [
        (
            "/portal/app/endpoints".to_owned(),
            vec![("csrf", csrf.as_str()), ("url", "https://x.example.com/")],
        ),
        (
            format!("/portal/app/endpoints/{endpoint}/rotate"),
            vec![("csrf", csrf.as_str())],
        ),
        (
            format!("/portal/app/endpoints/{endpoint}/delete"),
            vec![("csrf", csrf.as_str())],
        ),
    ] {
        let answer = customer.post(&path, &fields).await;
        assert_eq!(answer.status, 403, "{path}");
        assert!(answer.body.contains("read-only"), "{path}");
    }
    assert_eq!(rows(&app).await, before);
}
