//! The dashboard and the portal over HTTP, as a browser without JavaScript uses them:
//! who may see and do what (anonymous, viewer, admin, another tenant's admin, a portal
//! session of another application), CSRF, sign-in throttling, escaping.

use std::collections::BTreeMap;

use domain::{
    entity::{application, endpoint, endpoint_secret},
    id::TenantId,
    service::{self, audit::Actor},
    values::{Email, Role},
};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;
use tests::TestApp;

/// What a page answered.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) location: String,
    pub(crate) body: String,
}

impl Answer {
    /// The CSRF token of the first form on the page.
    pub(crate) fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let start = self.body.find(marker).expect("the page has a form") + marker.len();
        self.body[start..start + 64].to_owned()
    }

    pub(crate) fn redirects_to(&self, path: &str) -> bool {
        self.status == 303 && self.location.ends_with(path)
    }
}

/// A cookie-keeping client that does not follow redirects.
pub(crate) struct Browser<'a> {
    app: &'a TestApp,
    cookies: BTreeMap<String, String>,
}

impl<'a> Browser<'a> {
    pub(crate) fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            cookies: BTreeMap::new(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Answer {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let res = req.header("cookie", cookie).send().await.unwrap();
        for set in res.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Answer {
            status: res.status().as_u16(),
            location: res
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned())
                .unwrap_or_default(),
            body: res.text().await.unwrap(),
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Answer {
        let req = self.app.http.get(self.app.url(path));
        self.send(req).await
    }

    pub(crate) async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let req = self
            .app
            .http
            .post(self.app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(req).await
    }

    pub(crate) async fn sign_in(&mut self, email: &str, password: &str) -> Answer {
        let csrf = self.get("/ui/login").await.csrf();
        self.post(
            "/ui/login",
            &[("email", email), ("password", password), ("csrf", &csrf)],
        )
        .await
    }

    /// The CSRF token of the session, read off a page.
    pub(crate) async fn csrf(&mut self, page: &str) -> String {
        self.get(page).await.csrf()
    }
}

pub(crate) const PASSWORD: &str = "correct horse battery";

pub(crate) async fn user(app: &TestApp, tenant: &TenantId, email: &str, role: Role) {
    service::user::create(
        &app.ctx.db,
        tenant,
        &Email::parse(email).unwrap(),
        role,
        PASSWORD.into(),
        &Actor::Cli,
    )
    .await
    .unwrap();
}

/// Tenant A with an admin and a viewer, an application with an endpoint and a message;
/// tenant B with an admin.
pub(crate) struct World {
    pub(crate) tenant_a: TenantId,
    pub(crate) app_path: String,
    pub(crate) endpoint_path: String,
    pub(crate) message_path: String,
    pub(crate) token_a: String,
}

pub(crate) async fn world(app: &TestApp) -> World {
    let (a, token_a) = app.tenant("A").await;
    let (b, _) = app.tenant("B").await;
    user(app, &a, "admin@a.test", Role::Admin).await;
    user(app, &a, "viewer@a.test", Role::Viewer).await;
    user(app, &b, "admin@b.test", Role::Admin).await;
    let api = crate::delivery::Api {
        app,
        token: token_a.clone(),
    };
    for name in ["user.created", "user.deleted"] {
        api.post(
            "/api/v1/event-type",
            json!({"name": name, "description": "a user event"}),
        )
        .await;
    }
    let created = api
        .post("/api/v1/app", json!({"name": "Acme", "uid": "acme"}))
        .await;
    let app_id = created["id"].as_str().unwrap().to_owned();
    let ep = api
        .post(
            "/api/v1/app/acme/endpoint",
            json!({"url": "https://example.com/hook", "description": "<b>desc</b>"}),
        )
        .await;
    let msg = api
        .post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "user.created", "payload": {"text": "<script>alert(1)</script>"}}),
        )
        .await;
    let app_path = format!("/ui/apps/{app_id}");
    World {
        tenant_a: a.clone(),
        endpoint_path: format!("{app_path}/endpoints/{}", ep["id"].as_str().unwrap()),
        message_path: format!("{app_path}/messages/{}", msg["id"].as_str().unwrap()),
        app_path,
        token_a,
    }
}

async fn counts(app: &TestApp) -> (u64, u64, Vec<Vec<u8>>) {
    #[expect(clippy::disallowed_methods, reason = "the test counts every tenant's rows")]
    let apps = application::Entity::find().count(&app.ctx.db).await.unwrap();
    #[expect(clippy::disallowed_methods, reason = "the test counts every tenant's rows")]
    let endpoints = endpoint::Entity::find().count(&app.ctx.db).await.unwrap();
    #[expect(clippy::disallowed_methods, reason = "the test reads every tenant's rows")]
    let secrets = endpoint_secret::Entity::find()
        .all(&app.ctx.db)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.ciphertext)
        .collect();
    (apps, endpoints, secrets)
}

/// Every change a form can make, for `w`'s application and tenant, with `csrf`.
async fn changes<'a>(app: &TestApp, w: &'a World, csrf: &'a str) -> Vec<(String, Vec<(&'a str, &'a str)>)> {
    let c = ("csrf", csrf);
    let token = service::token::list(&app.ctx.db, &w.tenant_a).await.unwrap()[0]
        .id
        .clone();
    let viewer = service::user::list(&app.ctx.db, &w.tenant_a)
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.role == Role::Viewer)
        .unwrap()
        .id;
    vec![
        (
            "/ui/event-types/user.created/edit".into(),
            vec![c, ("description", "changed")],
        ),
        ("/ui/event-types/user.created/archive".into(), vec![c]),
        (format!("/ui/tokens/{token}/revoke"), vec![c]),
        (format!("/ui/team/{viewer}/role"), vec![c, ("role", "admin")]),
        (format!("/ui/team/{viewer}/remove"), vec![c]),
        (
            format!("{}/headers", w.endpoint_path),
            vec![c, ("headers", "X-Team: changed")],
        ),
        (format!("{}/rename", w.app_path), vec![c, ("name", "Renamed")]),
        (
            format!("{}/endpoints", w.app_path),
            vec![c, ("url", "https://example.org/x")],
        ),
        (
            format!("{}/edit", w.endpoint_path),
            vec![c, ("url", "https://example.org/edited")],
        ),
        (format!("{}/rotate", w.endpoint_path), vec![c]),
        (
            format!("{}/test", w.endpoint_path),
            vec![c, ("event_type", "herald.test")],
        ),
        (format!("{}/portal-link", w.app_path), vec![c]),
        (format!("{}/delete", w.endpoint_path), vec![c]),
        (format!("{}/delete", w.app_path), vec![c]),
        // Tenant-wide creations last (another tenant may make its own).
        ("/ui/apps".into(), vec![c, ("name", "New")]),
        ("/ui/event-types".into(), vec![c, ("name", "made.up")]),
        ("/ui/tokens".into(), vec![c, ("name", "made up")]),
        (
            "/ui/team".into(),
            vec![
                c,
                ("email", "new@a.test"),
                ("role", "admin"),
                ("password", "long enough pw"),
            ],
        ),
    ]
}

/// Everything the forms of [`changes`] could alter.
async fn snapshot(app: &TestApp, w: &World) -> ((u64, u64, Vec<Vec<u8>>), String) {
    (counts(app).await, tenant_state(app, &w.tenant_a).await)
}

/// What the tenant-wide pages' forms could change, beyond [`counts`].
async fn tenant_state(app: &TestApp, tenant: &TenantId) -> String {
    let tokens = service::token::list(&app.ctx.db, tenant).await.unwrap();
    let users = service::user::list(&app.ctx.db, tenant).await.unwrap();
    let types = service::event_type::list(&app.ctx.db, tenant, &Default::default(), true)
        .await
        .unwrap()
        .data;
    format!(
        "{:?}",
        (
            tokens.iter().map(|t| (&t.name, t.revoked_at)).collect::<Vec<_>>(),
            users.iter().map(|u| (&u.email, u.role)).collect::<Vec<_>>(),
            types
                .iter()
                .map(|t| (&t.name, &t.description, t.archived))
                .collect::<Vec<_>>(),
        )
    )
}

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
async fn sign_in_checks_passwords_throttles_and_never_says_which_accounts_exist() {
    let app = TestApp::spawn().await;
    let (a, _) = app.tenant("A").await;
    user(&app, &a, "admin@a.test", Role::Admin).await;
    let mut browser = Browser::new(&app);

    let wrong = browser.sign_in("admin@a.test", "not the password").await;
    let unknown = browser.sign_in("nobody@a.test", PASSWORD).await;
    for answer in [&wrong, &unknown] {
        assert_eq!(answer.status, 401);
        assert!(answer.body.contains("Wrong email or password"));
    }
    assert!(
        wrong.body.contains(r#"value="admin@a.test""#),
        "the email is kept"
    );

    // A form without the sign-in page's token is refused.
    let forged = browser
        .post(
            "/ui/login",
            &[
                ("email", "admin@a.test"),
                ("password", PASSWORD),
                ("csrf", "forged"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(!browser.cookies.contains_key("herald_session"));

    let signed = browser.sign_in("admin@a.test", PASSWORD).await;
    assert!(signed.redirects_to("/ui"), "{}", signed.status);
    assert_eq!(browser.get("/ui").await.status, 200);

    // Five tries a minute per account: the sixth is refused before the password counts.
    let mut other = Browser::new(&app);
    for _ in 0..3 {
        assert_eq!(other.sign_in("admin@a.test", "guess").await.status, 401);
    }
    let throttled = other.sign_in("admin@a.test", PASSWORD).await;
    assert_eq!(throttled.status, 429);
    assert!(throttled.body.contains("Too many sign-in attempts"));

    // Signing out ends the session on the server: the old cookie no longer works.
    let cookie = browser.cookies["herald_session"].clone();
    let csrf = browser.csrf("/ui").await;
    assert!(
        browser
            .post("/ui/logout", &[("csrf", &csrf)])
            .await
            .redirects_to("/ui/login")
    );
    browser.cookies.insert("herald_session".into(), cookie);
    assert!(browser.get("/ui").await.redirects_to("/ui/login"));
}

#[tokio::test]
async fn session_cookies_are_http_only_and_same_site() {
    let app = TestApp::spawn().await;
    let (a, _) = app.tenant("A").await;
    user(&app, &a, "admin@a.test", Role::Admin).await;
    let page = app.http.get(app.url("/ui/login")).send().await.unwrap();
    let login_cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    let body = page.text().await.unwrap();
    let csrf = Answer {
        status: 200,
        location: String::new(),
        body,
    }
    .csrf();
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("email", "admin@a.test"), ("password", PASSWORD), ("csrf", &csrf)])
        .finish();
    let res = app
        .http
        .post(app.url("/ui/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", login_cookie.split(';').next().unwrap())
        .body(form)
        .send()
        .await
        .unwrap();
    let session = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("herald_session="))
        .expect("a session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Lax"), "{session}");
    assert!(!session.contains("Secure"), "plain http here: {session}");
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
    // All but the four tenant-wide creations, which would make B's own things.
    for (path, fields) in &all[..all.len() - 4] {
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
    let answer = admin.post("/ui/apps", &[("csrf", &theirs), ("name", "x")]).await;
    assert_eq!(answer.status, 403);
    assert_eq!(counts(&app).await, before.0);
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
async fn an_admin_manages_applications_endpoints_and_messages_with_forms() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let mut admin = Browser::new(&app);
    admin.sign_in("admin@a.test", PASSWORD).await;
    let csrf = admin.csrf("/ui").await;

    // Bad input: the reason beside the field, the input kept, nothing stored.
    let before = counts(&app).await;
    let bad = admin
        .post(
            &format!("{}/endpoints", w.app_path),
            &[
                ("csrf", &csrf),
                ("url", "ftp://example.com/x"),
                ("description", "kept"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains(r#"id="url-error""#), "{}", bad.body);
    assert!(bad.body.contains(r#"value="ftp://example.com/x""#));
    assert!(bad.body.contains(r#"value="kept""#));
    assert_eq!(counts(&app).await, before);
    let blank = admin.post("/ui/apps", &[("csrf", &csrf), ("name", " ")]).await;
    assert_eq!(blank.status, 422);
    assert!(blank.body.contains(r#"id="name-error""#));

    // Search finds by name.
    let found = admin.get("/ui/apps?q=acm").await.body;
    assert!(found.contains("Acme"));
    assert!(!admin.get("/ui/apps?q=zzz").await.body.contains("Acme"));

    // Rotation: two keys sign during the grace period; the page shows both.
    let old = admin.get(&format!("{}?reveal=1", w.endpoint_path)).await.body;
    assert_eq!(old.matches("whsec_").count(), 1);
    assert!(
        !admin.get(&w.endpoint_path).await.body.contains("whsec_"),
        "hidden by default"
    );
    let rotated = admin
        .post(&format!("{}/rotate", w.endpoint_path), &[("csrf", &csrf)])
        .await;
    assert_eq!(rotated.status, 303);
    let both = admin.get(&rotated.location).await.body;
    assert_eq!(both.matches("whsec_").count(), 2, "current and previous");
    assert!(both.contains("previous, signs until"));

    // Edit, with every field checked.
    let edited = admin
        .post(
            &format!("{}/edit", w.endpoint_path),
            &[
                ("csrf", &csrf),
                ("url", "https://example.com/edited"),
                ("description", "new"),
                ("event_types", "user.created, user.deleted"),
                ("rate_limit", "7"),
                ("timeout", "9"),
            ],
        )
        .await;
    assert_eq!(edited.status, 303, "{}", edited.body);
    let shown = admin.get(&w.endpoint_path).await.body;
    for expected in [
        "https://example.com/edited",
        r#"value="user.created, user.deleted""#,
        r#"value="7""#,
        r#"value="9""#,
    ] {
        assert!(shown.contains(expected), "{expected}");
    }
    let unknown_type = admin
        .post(
            &format!("{}/edit", w.endpoint_path),
            &[
                ("csrf", &csrf),
                ("url", "https://example.com/edited"),
                ("event_types", "nope.never"),
            ],
        )
        .await;
    assert_eq!(unknown_type.status, 422);
    assert!(unknown_type.body.contains("Event types: "), "beside its field");
    assert!(
        unknown_type.body.contains(r#"value="nope.never""#),
        "the input is kept"
    );
    let bad_timeout = admin
        .post(
            &format!("{}/edit", w.endpoint_path),
            &[
                ("csrf", &csrf),
                ("url", "https://example.com/edited"),
                ("timeout", "99"),
            ],
        )
        .await;
    assert_eq!(bad_timeout.status, 422);
    assert!(bad_timeout.body.contains("between 1 and 60"));

    // A test event goes to this endpoint only and opens its message page.
    let sent = admin
        .post(
            &format!("{}/test", w.endpoint_path),
            &[("csrf", &csrf), ("event_type", "herald.test")],
        )
        .await;
    assert_eq!(sent.status, 303);
    let message = admin.get(&sent.location).await;
    assert!(message.body.contains("herald.test"));
    assert!(message.body.contains("Pending") || message.body.contains("Sending"));

    // The portal link, then delete (the audit log records who did it).
    let link = admin
        .post(&format!("{}/portal-link", w.app_path), &[("csrf", &csrf)])
        .await;
    assert!(link.body.contains("/portal?token="));
    let deleted = admin
        .post(&format!("{}/delete", w.app_path), &[("csrf", &csrf)])
        .await;
    assert!(deleted.redirects_to("/ui/apps"));
    assert_eq!(admin.get(&w.app_path).await.status, 404);
    #[expect(clippy::disallowed_methods, reason = "the test reads the audit log")]
    let audit = domain::entity::audit_event::Entity::find();
    let actions: Vec<String> = audit
        .all(&app.ctx.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.actor_label == "admin@a.test")
        .map(|e| e.action)
        .collect();
    for action in [
        "user.sign_in",
        "endpoint.secret.rotate",
        "endpoint.test",
        "application.delete",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
    }
}

#[tokio::test]
async fn a_portal_session_sees_only_its_own_application() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let api = crate::delivery::Api {
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
async fn event_types_tokens_team_and_the_audit_log_work_for_admins() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let mut admin = Browser::new(&app);
    admin.sign_in("admin@a.test", PASSWORD).await;
    let csrf = admin.csrf("/ui").await;

    // Event types: a schema gives an example payload; bad JSON is refused beside its field.
    let bad = admin
        .post(
            "/ui/event-types",
            &[("csrf", &csrf), ("name", "invoice.paid"), ("schema", "{not json")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("Schema is not JSON"), "{}", bad.body);
    assert!(bad.body.contains(r#"value="invoice.paid""#));
    let schema =
        r#"{"type":"object","properties":{"amount":{"type":"integer"},"currency":{"type":"string"}}}"#;
    let created = admin
        .post(
            "/ui/event-types",
            &[
                ("csrf", &csrf),
                ("name", "invoice.paid"),
                ("description", "An invoice was paid"),
                ("schema", schema),
            ],
        )
        .await;
    assert!(
        created.redirects_to("/ui/event-types/invoice.paid"),
        "{}",
        created.status
    );
    let shown = admin.get("/ui/event-types/invoice.paid").await.body;
    assert!(shown.contains("&#34;amount&#34;: 0"), "example payload: {shown}");
    admin
        .post("/ui/event-types/invoice.paid/archive", &[("csrf", &csrf)])
        .await;
    assert!(!admin.get("/ui/event-types").await.body.contains("invoice.paid"));
    assert!(
        admin
            .get("/ui/event-types?archived=1")
            .await
            .body
            .contains("invoice.paid")
    );

    // Tokens: shown once, they work until revoked.
    let made = admin
        .post("/ui/tokens", &[("csrf", &csrf), ("name", "billing")])
        .await;
    assert_eq!(made.status, 200);
    let marker = r#"id="new-token" readonly value=""#;
    let start = made.body.find(marker).unwrap() + marker.len();
    let token = made.body[start..].split('"').next().unwrap().to_owned();
    let call = async |token: &str| {
        app.http
            .get(app.url("/api/v1/app"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(call(&token).await, 200);
    let listed = admin.get("/ui/tokens").await.body;
    assert!(
        listed.contains("billing") && !listed.contains(&token),
        "never shown again"
    );
    let id = service::token::list(&app.ctx.db, &w.tenant_a)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.name == "billing")
        .unwrap()
        .id;
    admin
        .post(&format!("/ui/tokens/{id}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(call(&token).await, 401);

    // Team: add, change roles; the last admin cannot go; removing someone ends their session.
    let added = admin
        .post(
            "/ui/team",
            &[
                ("csrf", &csrf),
                ("email", "new@a.test"),
                ("role", "viewer"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(added.status, 422);
    assert!(
        added.body.contains("Password must be at least 8"),
        "{}",
        added.body
    );
    let added = admin
        .post(
            "/ui/team",
            &[
                ("csrf", &csrf),
                ("email", "new@a.test"),
                ("role", "viewer"),
                ("password", "long enough pw"),
            ],
        )
        .await;
    assert!(added.redirects_to("/ui/team"));
    let mut newcomer = Browser::new(&app);
    assert!(
        newcomer
            .sign_in("new@a.test", "long enough pw")
            .await
            .redirects_to("/ui")
    );
    let users = service::user::list(&app.ctx.db, &w.tenant_a).await.unwrap();
    let id_of = |email: &str| users.iter().find(|u| u.email == email).unwrap().id.clone();
    let me = id_of("admin@a.test");
    let last = admin
        .post(
            &format!("/ui/team/{me}/role"),
            &[("csrf", &csrf), ("role", "viewer")],
        )
        .await;
    assert_eq!(last.status, 409);
    assert!(last.body.contains("last admin"));
    admin
        .post(
            &format!("/ui/team/{}/remove", id_of("new@a.test")),
            &[("csrf", &csrf)],
        )
        .await;
    assert!(newcomer.get("/ui").await.redirects_to("/ui/login"));

    // The audit log names who did each of these.
    let audit = admin.get("/ui/audit").await.body;
    for action in [
        "event_type.archive",
        "token.create",
        "token.revoke",
        "user.create",
        "user.remove",
    ] {
        assert!(audit.contains(action), "{action}");
    }
    assert!(audit.contains("admin@a.test (user)"));
}

#[tokio::test]
async fn the_delivery_log_filters_by_status_endpoint_and_day() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let mut admin = Browser::new(&app);
    admin.sign_in("admin@a.test", PASSWORD).await;
    let log = format!("{}/log", w.app_path);
    let message = w.message_path.rsplit('/').next().unwrap();
    let endpoint = w.endpoint_path.rsplit('/').next().unwrap();

    // No worker runs here: the message waits.
    let pending = admin.get(&format!("{log}?status=pending")).await.body;
    assert!(pending.contains(message) && pending.contains("Pending"));
    let pending = admin
        .get(&format!("{log}?status=pending&endpoint={endpoint}"))
        .await
        .body;
    assert!(pending.contains(message));
    let none = admin.get(&format!("{log}?status=succeeded")).await.body;
    assert!(none.contains("Nothing matches these filters"));
    let bad = admin.get(&format!("{log}?since=yesterday")).await;
    assert_eq!(bad.status, 200);
    assert!(bad.body.contains("From must be a date"));
    let bad = admin.get(&format!("{log}?endpoint=nope")).await.body;
    assert!(bad.contains("not an endpoint"));
}

#[tokio::test]
async fn sessions_expire_after_twelve_hours_and_are_purged() {
    let app = TestApp::spawn().await;
    let (a, _) = app.tenant("A").await;
    user(&app, &a, "admin@a.test", Role::Admin).await;
    let mut people = service::session::authenticate(&app.ctx.db, "ADMIN@a.test", PASSWORD)
        .await
        .expect("emails match in any case");
    assert_eq!(people.len(), 1);
    let person = people.remove(0);
    let (token, _) = service::session::start_for_user(&app.ctx.db, &person)
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let find = async |at| {
        service::session::find(&app.ctx.db, &token, at)
            .await
            .unwrap()
            .is_some()
    };
    assert!(find(now + chrono::Duration::hours(11)).await);
    assert_eq!(
        service::session::purge_expired(&app.ctx.db, now + chrono::Duration::hours(11))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        service::session::purge_expired(&app.ctx.db, now + chrono::Duration::hours(13))
            .await
            .unwrap(),
        1
    );
    assert!(!find(now).await, "gone once purged");
    // A cookie that names no session signs nobody in.
    let mut browser = Browser::new(&app);
    browser.cookies.insert("herald_session".into(), token);
    assert!(browser.get("/ui").await.redirects_to("/ui/login"));
}

#[tokio::test]
async fn cookies_are_secure_when_herald_is_reached_over_https() {
    let app = TestApp::spawn_with(|s| s.public_url = Some("https://herald.example.com".into())).await;
    let res = app.http.get(app.url("/ui/login")).send().await.unwrap();
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn a_read_only_portal_link_shows_but_changes_nothing() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let api = crate::delivery::Api {
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
    let before = counts(&app).await;
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
    assert_eq!(counts(&app).await, before);
}

#[tokio::test]
async fn anyone_may_change_their_own_password_and_other_sessions_end() {
    let app = TestApp::spawn().await;
    let (a, _) = app.tenant("A").await;
    user(&app, &a, "viewer@a.test", Role::Viewer).await;
    let mut here = Browser::new(&app);
    let mut elsewhere = Browser::new(&app);
    here.sign_in("viewer@a.test", PASSWORD).await;
    elsewhere.sign_in("viewer@a.test", PASSWORD).await;
    let csrf = here.csrf("/ui/team").await;

    let wrong = here
        .post(
            "/ui/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", "nope"),
                ("password", "a brand new one"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(
        wrong
            .body
            .contains("Current password is not your current password")
    );
    let short = here
        .post(
            "/ui/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", PASSWORD),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(short.status, 422);
    assert!(
        short.body.contains(r#"id="own-password-error""#),
        "beside its own field"
    );

    let changed = here
        .post(
            "/ui/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", PASSWORD),
                ("password", "a brand new one"),
            ],
        )
        .await;
    assert!(
        changed.redirects_to("/ui/team?password=changed"),
        "{}",
        changed.status
    );
    assert!(
        here.get(&changed.location)
            .await
            .body
            .contains("Your password was changed")
    );
    assert!(
        elsewhere.get("/ui").await.redirects_to("/ui/login"),
        "the other session ended"
    );
    let mut fresh = Browser::new(&app);
    assert_eq!(fresh.sign_in("viewer@a.test", PASSWORD).await.status, 401);
    assert!(
        fresh
            .sign_in("viewer@a.test", "a brand new one")
            .await
            .redirects_to("/ui")
    );
}
