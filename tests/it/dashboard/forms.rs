//! What an admin does with the forms: applications, endpoints, messages, event types,
//! tokens, the team and the audit log, and the delivery log's filters.

use domain::service;
use sea_orm::EntityTrait;
use tests::TestApp;

use super::{Browser, PASSWORD, rows, world};

#[tokio::test]
async fn an_admin_manages_applications_endpoints_and_messages_with_forms() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let mut admin = Browser::new(&app);
    admin.sign_in("admin@a.test", PASSWORD).await;
    let csrf = admin.csrf("/ui").await;

    // Bad input: the reason beside the field, the input kept, nothing stored.
    let before = rows(&app).await;
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
    assert_eq!(rows(&app).await, before);
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
    // A pending row has its badge and its tries so far; the status filter's own option
    // says "Pending" on every log page.
    let pending_row = r#"<span class="badge pending">Pending</span>"#;
    let pending = admin.get(&format!("{log}?status=pending")).await.body;
    assert!(pending.contains(message), "{pending}");
    assert!(pending.contains(pending_row) && pending.contains("0 tries so far"));
    let pending = admin
        .get(&format!("{log}?status=pending&endpoint={endpoint}"))
        .await
        .body;
    assert!(pending.contains(message) && pending.contains(pending_row));
    let none = admin.get(&format!("{log}?status=succeeded")).await.body;
    assert!(none.contains("Nothing matches these filters"));
    let bad = admin.get(&format!("{log}?since=yesterday")).await;
    assert_eq!(bad.status, 200);
    assert!(bad.body.contains("From must be a date"));
    let bad = admin.get(&format!("{log}?endpoint=nope")).await.body;
    assert!(bad.contains("not an endpoint"));
}

/// The endpoint form takes what the API takes, through the same values: the timeout's
/// bounds, the endpoint's channel limit, event types named twice counting once.
#[tokio::test]
async fn the_endpoint_form_and_the_api_agree_on_the_rules() {
    use domain::{service::endpoint::MAX_CHANNELS, values::Timeout};
    use reqwest::Method;
    use serde_json::json;

    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let api = tests::api::Api {
        app: &app,
        token: w.token_a.clone(),
    };
    let ep_id = w.endpoint_path.rsplit('/').next().unwrap();
    let api_path = format!("/api/v1/app/acme/endpoint/{ep_id}");
    let mut admin = Browser::new(&app);
    admin.sign_in("admin@a.test", PASSWORD).await;
    let csrf = admin.csrf("/ui").await;
    let edit = format!("{}/edit", w.endpoint_path);
    let url = "https://example.com/hook";
    let channels = |n: usize| (0..n).map(|i| format!("c{i}")).collect::<Vec<_>>();

    let bounds = format!("between {} and {} seconds", Timeout::MIN_SECS, Timeout::MAX_SECS);
    for (timeout, ok) in [(0, false), (1, true), (60, true), (61, false)] {
        let form = admin
            .post(
                &edit,
                &[("csrf", &csrf), ("url", url), ("timeout", &timeout.to_string())],
            )
            .await;
        let (status, answer) = api
            .send(Method::PATCH, &api_path, Some(json!({"timeoutSeconds": timeout})))
            .await;
        assert_eq!(form.status == 303, ok, "form, timeout {timeout}: {}", form.body);
        assert_eq!(status.is_success(), ok, "API, timeout {timeout}: {answer}");
        if !ok {
            assert!(form.body.contains(&bounds), "the form names the bounds");
            assert_eq!(answer["detail"][0]["loc"], json!(["body", "timeoutSeconds"]));
        }
    }

    for (n, ok) in [(MAX_CHANNELS, true), (MAX_CHANNELS + 1, false)] {
        let form = admin
            .post(
                &edit,
                &[
                    ("csrf", &csrf),
                    ("url", url),
                    ("channels", &channels(n).join(", ")),
                ],
            )
            .await;
        let (status, answer) = api
            .send(Method::PATCH, &api_path, Some(json!({"channels": channels(n)})))
            .await;
        assert_eq!(form.status == 303, ok, "form, {n} channels: {}", form.body);
        assert_eq!(status.is_success(), ok, "API, {n} channels: {answer}");
    }

    let twice = ["user.created", "user.deleted", "user.created"];
    let form = admin
        .post(
            &edit,
            &[("csrf", &csrf), ("url", url), ("event_types", &twice.join(", "))],
        )
        .await;
    assert_eq!(form.status, 303, "{}", form.body);
    let by_form = api.get(&api_path).await["eventTypes"].clone();
    api.send(Method::PATCH, &api_path, Some(json!({"eventTypes": null})))
        .await;
    let (status, by_api) = api
        .send(Method::PATCH, &api_path, Some(json!({"eventTypes": twice})))
        .await;
    assert!(status.is_success(), "{by_api}");
    assert_eq!(by_form, json!(["user.created", "user.deleted"]));
    assert_eq!(by_api["eventTypes"], by_form);
}
