//! The REST API over raw HTTP: status codes, error shapes, limits, idempotency, tenant
//! isolation, and that every route answers as the SDKs expect; request bodies (limits,
//! validation, idempotency, malformed input) are in [`bodies`].

mod bodies;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::{TestApp, api::Api};

fn get() -> Method {
    Method::GET
}
fn post() -> Method {
    Method::POST
}

#[tokio::test]
async fn bad_tokens_answer_401_with_a_reason() {
    let app = TestApp::spawn().await;
    let (tenant, token) = app.tenant("T").await;
    let url = app.url("/api/v1/app");
    let expired = app
        .ctx
        .jwt
        .issue_api_token(
            &tenant,
            &domain::id::ApiTokenId::new(),
            chrono::Utc::now() - chrono::Duration::hours(2),
            Some(chrono::Utc::now() - chrono::Duration::hours(1)),
        )
        .unwrap();
    let forged = domain::auth::JwtKeys::new("another-secret-another-secret-another")
        .issue_api_token(&tenant, &domain::id::ApiTokenId::new(), chrono::Utc::now(), None)
        .unwrap();
    for auth in [
        None,
        Some("Basic abc".to_string()),
        Some("Bearer".into()),
        Some("Bearer not.a.jwt".into()),
        Some(format!("Bearer {expired}")),
        Some(format!("Bearer {forged}")),
    ] {
        let mut req = app.http.get(&url);
        if let Some(auth) = &auth {
            req = req.header("authorization", auth);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{auth:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "authentication_failed", "{auth:?}");
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    // A revoked token stops working at once.
    let principal = domain::service::token::authenticate(&app.ctx, &token)
        .await
        .unwrap();
    domain::service::token::revoke(
        &app.ctx,
        &tenant,
        &principal.token,
        &domain::service::audit::Actor::Cli,
    )
    .await
    .unwrap();
    let res = app.http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 401);
    // Health needs no token.
    assert_eq!(
        app.http
            .get(app.url("/api/v1/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn another_tenants_resources_answer_404() {
    let app = TestApp::spawn().await;
    let a = Api::of_new_tenant(&app, "A").await;
    let b = Api::of_new_tenant(&app, "B").await;
    let (s, app_a) = a
        .send(
            post(),
            "/api/v1/app",
            Some(json!({"name": "A app", "uid": "shared-uid"})),
        )
        .await;
    assert_eq!(s, 201);
    let app_id = app_a["id"].as_str().unwrap().to_owned();
    a.send(
        post(),
        "/api/v1/event-type",
        Some(json!({"name": "a.only", "description": ""})),
    )
    .await;
    let (_, ep) = a
        .send(
            post(),
            &format!("/api/v1/app/{app_id}/endpoint"),
            Some(json!({"url": "https://a.example.com/"})),
        )
        .await;
    let ep_id = ep["id"].as_str().unwrap().to_owned();
    let (s, msg) = a
        .send(
            post(),
            &format!("/api/v1/app/{app_id}/msg"),
            Some(json!({"eventType": "a.only", "payload": {}})),
        )
        .await;
    assert_eq!(s, 202);
    let msg_id = msg["id"].as_str().unwrap().to_owned();
    let (s, op) = a
        .send(
            post(),
            "/api/v1/operational-webhook/endpoint",
            Some(json!({"url": "https://ops.a.example.com/", "uid": "ops"})),
        )
        .await;
    assert_eq!(s, 201, "{op}");
    let op_id = op["id"].as_str().unwrap().to_owned();

    let paths = [
        (get(), format!("/api/v1/app/{app_id}"), None),
        (get(), "/api/v1/app/shared-uid".to_string(), None),
        (
            Method::PATCH,
            format!("/api/v1/app/{app_id}"),
            Some(json!({"name": "stolen"})),
        ),
        (
            Method::PUT,
            format!("/api/v1/app/{app_id}"),
            Some(json!({"name": "stolen"})),
        ),
        (Method::DELETE, format!("/api/v1/app/{app_id}"), None),
        (get(), "/api/v1/event-type/a.only".to_string(), None),
        (
            Method::PATCH,
            "/api/v1/event-type/a.only".to_string(),
            Some(json!({"description": "stolen"})),
        ),
        (Method::DELETE, "/api/v1/event-type/a.only".to_string(), None),
        (get(), format!("/api/v1/app/{app_id}/endpoint"), None),
        (
            post(),
            format!("/api/v1/app/{app_id}/endpoint"),
            Some(json!({"url": "https://b.example.com/"})),
        ),
        (get(), format!("/api/v1/app/{app_id}/endpoint/{ep_id}"), None),
        (
            Method::PATCH,
            format!("/api/v1/app/{app_id}/endpoint/{ep_id}"),
            Some(json!({"url": "https://b.example.com/"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/app/{app_id}/endpoint/{ep_id}"),
            None,
        ),
        (
            get(),
            format!("/api/v1/app/{app_id}/endpoint/{ep_id}/secret"),
            None,
        ),
        (
            post(),
            format!("/api/v1/app/{app_id}/endpoint/{ep_id}/secret/rotate"),
            Some(json!({})),
        ),
        (
            get(),
            format!("/api/v1/app/{app_id}/endpoint/{ep_id}/headers"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/app/{app_id}/endpoint/{ep_id}/headers"),
            Some(json!({"headers": {}})),
        ),
        (
            get(),
            format!("/api/v1/app/{app_id}/endpoint/{ep_id}/stats"),
            None,
        ),
        (get(), format!("/api/v1/app/{app_id}/endpoint/{ep_id}/msg"), None),
        (get(), format!("/api/v1/app/{app_id}/msg"), None),
        (
            post(),
            format!("/api/v1/app/{app_id}/msg"),
            Some(json!({"eventType": "x", "payload": {}})),
        ),
        (get(), format!("/api/v1/app/{app_id}/msg/{msg_id}"), None),
        (get(), format!("/api/v1/app/{app_id}/msg/{msg_id}/endpoint"), None),
        (get(), format!("/api/v1/app/{app_id}/attempt/msg/{msg_id}"), None),
        (
            get(),
            format!("/api/v1/app/{app_id}/attempt/endpoint/{ep_id}"),
            None,
        ),
        (
            post(),
            format!("/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{ep_id}/resend"),
            None,
        ),
        (
            post(),
            format!("/api/v1/auth/app-portal-access/{app_id}"),
            Some(json!({})),
        ),
        (
            get(),
            format!("/api/v1/operational-webhook/endpoint/{op_id}"),
            None,
        ),
        (
            get(),
            "/api/v1/operational-webhook/endpoint/ops".to_string(),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/operational-webhook/endpoint/{op_id}"),
            Some(json!({"url": "https://b.example.com/"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/operational-webhook/endpoint/{op_id}"),
            None,
        ),
        (
            get(),
            format!("/api/v1/operational-webhook/endpoint/{op_id}/secret"),
            None,
        ),
        (
            post(),
            format!("/api/v1/operational-webhook/endpoint/{op_id}/secret/rotate"),
            Some(json!({})),
        ),
        (
            get(),
            format!("/api/v1/operational-webhook/endpoint/{op_id}/headers"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/operational-webhook/endpoint/{op_id}/headers"),
            Some(json!({"headers": {}})),
        ),
    ];
    for (method, path, body) in paths {
        let (status, answer) = b.send(method.clone(), &path, body).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
        assert_eq!(answer["code"], "not_found", "{method} {path}");
    }
    // Nothing of A's changed.
    let (s, still) = a.send(get(), &format!("/api/v1/app/{app_id}"), None).await;
    assert_eq!((s, still["name"].as_str()), (StatusCode::OK, Some("A app")));
    let (s, _) = a
        .send(get(), &format!("/api/v1/app/{app_id}/endpoint/{ep_id}"), None)
        .await;
    assert_eq!(s, 200);
    let (_, et) = a.send(get(), "/api/v1/event-type/a.only", None).await;
    assert_eq!(
        (et["description"].as_str(), et["archived"].as_bool()),
        (Some(""), Some(false))
    );
    let (s, ops_of_b) = b.send(get(), "/api/v1/operational-webhook/endpoint", None).await;
    assert_eq!((s, &ops_of_b["data"]), (StatusCode::OK, &json!([])));
    let (s, still) = a
        .send(get(), "/api/v1/operational-webhook/endpoint/ops", None)
        .await;
    assert_eq!(
        (s, still["url"].as_str()),
        (StatusCode::OK, Some("https://ops.a.example.com/"))
    );
    // The operational application is not one of A's applications, by list or by id.
    let (_, apps) = a.send(get(), "/api/v1/app", None).await;
    assert_eq!(apps["data"].as_array().unwrap().len(), 1, "{apps}");
    // B may use the same uid for its own application.
    let (s, _) = b
        .send(
            post(),
            "/api/v1/app",
            Some(json!({"name": "B app", "uid": "shared-uid"})),
        )
        .await;
    assert_eq!(s, 201);
}

#[tokio::test]
async fn each_tenant_has_its_own_rate_limit() {
    let app = TestApp::spawn_with(|s| s.api_rate_limit = 5).await;
    let a = Api::of_new_tenant(&app, "A").await;
    let b = Api::of_new_tenant(&app, "B").await;
    let mut limited = None;
    for _ in 0..20 {
        let res = app
            .http
            .get(app.url("/api/v1/app"))
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap();
        if res.status() == 429 {
            limited = Some(res);
            break;
        }
    }
    let res = limited.expect("20 quick requests at 5/s must hit the limit");
    let retry_after: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(
        b.send(get(), "/api/v1/app", None).await.0,
        200,
        "B is not slowed by A"
    );
}

#[tokio::test]
async fn every_path_answers_with_or_without_a_trailing_slash() {
    let app = TestApp::spawn().await;
    let c = Api::of_new_tenant(&app, "T").await;
    let (s, created) = c
        .send(
            post(),
            "/api/v1/app/",
            Some(json!({"name": "Slash", "uid": "slash"})),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let (s, list) = c.send(get(), "/api/v1/app/", None).await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["data"][0]["uid"], "slash");
    let (s, one) = c.send(get(), "/api/v1/app/slash/", None).await;
    assert_eq!(s, 200, "{one}");
    let (s, ep) = c
        .send(
            post(),
            "/api/v1/app/slash/endpoint/",
            Some(json!({"url": "https://example.com/hook"})),
        )
        .await;
    assert_eq!(s, 201, "{ep}");
    let (s, health) = c.send(get(), "/api/v1/health/", None).await;
    assert_eq!(s, 200, "{health}");
    // The dashboard's pages too.
    let login = app.http.get(app.url("/ui/login/")).send().await.unwrap();
    assert_eq!(login.status(), 200);
}

#[tokio::test]
async fn logout_revokes_the_calling_token_only() {
    let app = TestApp::spawn().await;
    let c = Api::of_new_tenant(&app, "T").await;
    let other = Api::of_new_tenant(&app, "U").await;
    let (s, body) = c.send(post(), "/api/v1/auth/logout", None).await;
    assert_eq!(s, 204, "{body}");
    let (s, body) = c.send(get(), "/api/v1/app", None).await;
    assert_eq!(s, 401, "{body}");
    let (s, _) = c.send(post(), "/api/v1/auth/logout", None).await;
    assert_eq!(s, 401, "a revoked token cannot log out again");
    let (s, _) = other.send(get(), "/api/v1/app", None).await;
    assert_eq!(s, 200, "other tokens keep working");
}

#[tokio::test]
async fn expire_all_withdraws_every_portal_link_issued_before_it() {
    use crate::dashboard::Browser;
    let app = TestApp::spawn().await;
    let c = Api::of_new_tenant(&app, "T").await;
    let stranger = Api::of_new_tenant(&app, "U").await;
    c.send(
        post(),
        "/api/v1/app",
        Some(json!({"name": "Acme", "uid": "acme"})),
    )
    .await;
    let link = async || {
        let (s, access) = c
            .send(post(), "/api/v1/auth/app-portal-access/acme", Some(json!({})))
            .await;
        assert_eq!(s, 200, "{access}");
        let url = access["url"].as_str().unwrap().to_owned();
        url[url.find("/portal").unwrap()..].to_owned()
    };
    let opens = async |path: &str| Browser::new(&app).get(path).await.redirects_to("/portal");
    let expire = async |body: Value| {
        c.send(post(), "/api/v1/auth/app/acme/expire-all", Some(body))
            .await
    };

    let unused = link().await;
    let mut customer = Browser::new(&app);
    assert!(customer.get(&link().await).await.redirects_to("/portal"));
    assert_eq!(customer.get("/portal").await.status, 200);

    // Out of range, another tenant's application, an unknown one: refused, nothing withdrawn.
    for bad in [
        json!({"expiry": -1}),
        json!({"expiry": 604_801}),
        json!({"expiry": "soon"}),
    ] {
        let (s, body) = expire(bad).await;
        assert_eq!(s, 422, "{body}");
    }
    let (s, _) = stranger
        .send(post(), "/api/v1/auth/app/acme/expire-all", Some(json!({})))
        .await;
    assert_eq!(s, 404);
    assert!(opens(&unused).await);
    assert_eq!(customer.get("/portal").await.status, 200);

    // With a grace, the old links and sessions keep working for now.
    let (s, body) = expire(json!({"expiry": 3600})).await;
    assert_eq!(s, 204, "{body}");
    assert!(opens(&unused).await);
    assert_eq!(customer.get("/portal").await.status, 200);

    // Without one, they stop at once; a link issued afterwards works.
    let (s, _) = expire(json!({})).await;
    assert_eq!(s, 204);
    assert!(!opens(&unused).await);
    assert_eq!(customer.get("/portal").await.status, 401);
    let fresh = link().await;
    assert!(opens(&fresh).await);

    // A later withdrawal's grace does not bring the dead links back, but covers the fresh one.
    let (s, _) = expire(json!({"expiry": 3600})).await;
    assert_eq!(s, 204);
    assert!(!opens(&unused).await);
    assert!(opens(&fresh).await);
}

#[tokio::test]
async fn every_route_the_sdks_call_is_served_or_answers_not_supported() {
    let app = TestApp::spawn().await;
    let c = Api::of_new_tenant(&app, "T").await;
    let routes = include_str!("../../sdk/routes.txt");
    let mut not_supported = 0;
    for line in routes.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (method, path) = line.split_once(' ').unwrap();
        let path = path.replace("{}", "x1");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
        let (s, answer) = c.send(method.clone(), &path, body).await;
        assert_ne!(s, 405, "{method} {path}: {answer}");
        assert!(
            !(s == 404
                && answer["code"] == "not_found"
                && answer["detail"].as_str().unwrap_or("").contains("no such route")),
            "{method} {path} is not routed: {answer}"
        );
        if s == 501 {
            assert_eq!(answer["code"], "not_supported", "{method} {path}");
            let detail = answer["detail"].as_str().unwrap();
            assert!(detail.starts_with("Herald does not"), "{method} {path}: {detail}");
            not_supported += 1;
        }
    }
    assert!(not_supported > 0);
}

#[tokio::test]
async fn a_method_a_path_does_not_have_answers_405_with_allow() {
    let app = TestApp::spawn().await;
    let c = Api::of_new_tenant(&app, "T").await;
    for (method, path, allow) in [
        (Method::DELETE, "/api/v1/app", "GET, POST"),
        (Method::POST, "/api/v1/app/x1/msg/x2", "GET"),
        (
            Method::PATCH,
            "/api/v1/operational-webhook/endpoint/x1",
            "GET, PUT, DELETE",
        ),
    ] {
        let res = app
            .http
            .request(method.clone(), app.url(path))
            .bearer_auth(&c.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405, "{method} {path}");
        assert_eq!(res.headers()["allow"], allow, "{method} {path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "method_not_allowed");
    }
    // Without a token, the gate answers first.
    let res = app.http.delete(app.url("/api/v1/app")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    // A path that does not exist at all is still a 404.
    let (s, body) = c.send(Method::GET, "/api/v1/nothing-here", None).await;
    assert_eq!(s, 404, "{body}");
}
