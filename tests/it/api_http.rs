//! The REST API over raw HTTP: status codes, error shapes, limits, idempotency, tenant
//! isolation, and that no malformed request gets a 500.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::TestApp;

struct Client<'a> {
    app: &'a TestApp,
    token: String,
}

impl Client<'_> {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.raw(method, path, body.map(|b| b.to_string()), &[]).await
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = self
            .app
            .http
            .request(method, self.app.url(path))
            .bearer_auth(&self.token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

async fn client<'a>(app: &'a TestApp, name: &str) -> Client<'a> {
    let (_, token) = app.tenant(name).await;
    Client { app, token }
}

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
    let a = client(&app, "A").await;
    let b = client(&app, "B").await;
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
async fn upserts_answer_201_then_200() {
    let app = TestApp::spawn().await;
    let c = client(&app, "T").await;
    for (path, body) in [
        ("/api/v1/app/cust-9", json!({"name": "Nine"})),
        (
            "/api/v1/event-type/order.shipped",
            json!({"description": "Shipped"}),
        ),
    ] {
        assert_eq!(
            c.send(Method::PUT, path, Some(body.clone())).await.0,
            201,
            "{path}"
        );
        assert_eq!(c.send(Method::PUT, path, Some(body)).await.0, 200, "{path}");
    }
    let (_, kept) = c.send(get(), "/api/v1/app/cust-9", None).await;
    assert_eq!(kept["uid"], "cust-9", "a PUT by uid keeps the uid");
    let ep = "/api/v1/app/cust-9/endpoint/ep-1";
    assert_eq!(
        c.send(Method::PUT, ep, Some(json!({"url": "https://x.example.com/"})))
            .await
            .0,
        201
    );
    let (s, out) = c
        .send(Method::PUT, ep, Some(json!({"url": "https://y.example.com/"})))
        .await;
    assert_eq!(
        (s, out["url"].as_str()),
        (StatusCode::OK, Some("https://y.example.com/"))
    );
    // An id that does not exist cannot be created by PUT: ids are Herald's to give.
    let missing = domain::id::AppId::new();
    assert_eq!(
        c.send(
            Method::PUT,
            &format!("/api/v1/app/{missing}"),
            Some(json!({"name": "x"}))
        )
        .await
        .0,
        404
    );
}

#[tokio::test]
async fn oversized_bodies_answer_413_and_write_nothing() {
    let app = TestApp::spawn().await;
    let c = client(&app, "T").await;
    let big = json!({"name": "x".repeat(1024 * 1024 + 10)}).to_string();
    let (s, body) = c.raw(post(), "/api/v1/app", Some(big.clone()), &[]).await;
    assert_eq!(s, 413, "{body}");
    assert_eq!(body["code"], "payload_too_large");
    let (s, _) = c
        .raw(post(), "/api/v1/app", Some(big), &[("idempotency-key", "big-1")])
        .await;
    assert_eq!(s, 413);
    let (_, list) = c.send(get(), "/api/v1/app", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn validation_errors_say_where() {
    let app = TestApp::spawn().await;
    let c = client(&app, "T").await;
    c.send(post(), "/api/v1/app", Some(json!({"name": "A", "uid": "a"})))
        .await;
    let cases = [
        ("/api/v1/app", json!({"name": 7}), json!(["body", "name"])),
        ("/api/v1/app", json!({"uid": "x"}), json!(["body", "name"])),
        (
            "/api/v1/app",
            json!({"name": "ok", "uid": "has space"}),
            json!(["body", "uid"]),
        ),
        (
            "/api/v1/app",
            json!({"name": "ok", "throttleRate": 70000}),
            json!(["body", "throttleRate"]),
        ),
        (
            "/api/v1/app/a/endpoint",
            json!({"url": "ftp://x"}),
            json!(["body", "url"]),
        ),
        (
            "/api/v1/app/a/endpoint",
            json!({"url": "https://x.example.com", "channels": ["ok", "not ok"]}),
            json!(["body", "channels", 1]),
        ),
        (
            "/api/v1/app/a/endpoint",
            json!({"url": "https://x.example.com", "secret": "short"}),
            json!(["body", "secret"]),
        ),
        (
            "/api/v1/app/a/msg",
            json!({"eventType": "a b", "payload": {}}),
            json!(["body", "eventType"]),
        ),
        (
            "/api/v1/app/a/msg",
            json!({"eventType": "a", "payload": [1]}),
            json!(["body", "payload"]),
        ),
        (
            "/api/v1/app/a/msg",
            json!({"eventType": "a", "payload": {}, "channels": ["1", "2", "3", "4", "5", "6"]}),
            json!(["body", "channels"]),
        ),
        (
            "/api/v1/app/new-app/msg",
            json!({"eventType": "a", "payload": {}, "application": {"name": ""}}),
            json!(["body", "application", "name"]),
        ),
        (
            "/api/v1/app/a/endpoint",
            json!({"url": "https://x.example.com", "timeoutSeconds": 0}),
            json!(["body", "timeoutSeconds"]),
        ),
        (
            "/api/v1/app/a/endpoint",
            json!({"url": "https://x.example.com", "timeoutSeconds": 61}),
            json!(["body", "timeoutSeconds"]),
        ),
        (
            "/api/v1/app/a/endpoint",
            json!({"url": "https://x.example.com", "retrySchedule": [5, 0]}),
            json!(["body", "retrySchedule", 1]),
        ),
        (
            "/api/v1/app/a/endpoint",
            json!({"url": "https://x.example.com", "retrySchedule": vec![1; 21]}),
            json!(["body", "retrySchedule"]),
        ),
        (
            "/api/v1/operational-webhook/endpoint",
            json!({"url": "https://x.example.com", "filterTypes": ["endpoint.disabled", "invoice.paid"]}),
            json!(["body", "eventTypes", 1]),
        ),
        (
            "/api/v1/operational-webhook/endpoint",
            json!({"url": "http://"}),
            json!(["body", "url"]),
        ),
    ];
    for (path, body, loc) in cases {
        let (status, answer) = c.send(post(), path, Some(body.clone())).await;
        assert_eq!(status, 422, "{path} {body}: {answer}");
        assert_eq!(answer["detail"][0]["loc"], loc, "{path} {body}: {answer}");
        assert!(answer["detail"][0]["msg"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (status, answer) = c.send(get(), "/api/v1/app?limit=500", None).await;
    assert_eq!(
        (status, &answer["detail"][0]["loc"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!(["query", "limit"]))
    );
    // Unknown fields from newer SDKs are ignored.
    let (status, _) = c
        .send(
            post(),
            "/api/v1/app",
            Some(json!({"name": "B", "someFutureField": {"x": 1}})),
        )
        .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn idempotent_posts_replay_the_first_answer() {
    let app = TestApp::spawn().await;
    let c = client(&app, "T").await;
    let body = json!({"name": "Once"}).to_string();
    let key = [("idempotency-key", "create-once-1")];
    let (s1, first) = c.raw(post(), "/api/v1/app", Some(body.clone()), &key).await;
    let (s2, second) = c.raw(post(), "/api/v1/app", Some(body.clone()), &key).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first, second);
    let (_, list) = c.send(get(), "/api/v1/app", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "no second write");
    // The same key for a different request is refused.
    let (s, answer) = c
        .raw(
            post(),
            "/api/v1/app",
            Some(json!({"name": "Other"}).to_string()),
            &key,
        )
        .await;
    assert_eq!(s, 422, "{answer}");
    // Errors replay too, but a different key does new work.
    c.send(
        post(),
        "/api/v1/event-type",
        Some(json!({"name": "e", "description": ""})),
    )
    .await;
    let msg = json!({"eventType": "e", "payload": {"n": 1}, "eventId": "ev"}).to_string();
    let (s, m1) = c
        .raw(
            post(),
            "/api/v1/app/Once/msg",
            Some(msg.clone()),
            &[("idempotency-key", "m")],
        )
        .await;
    assert_eq!(s, 404, "{m1}");
    let app_id = first["id"].as_str().unwrap();
    let path = format!("/api/v1/app/{app_id}/msg");
    let (s, m1) = c
        .raw(post(), &path, Some(msg.clone()), &[("idempotency-key", "m2")])
        .await;
    assert_eq!(s, 202);
    let (s, m2) = c
        .raw(post(), &path, Some(msg.clone()), &[("idempotency-key", "m2")])
        .await;
    assert_eq!((s, &m2), (StatusCode::ACCEPTED, &m1));
    let (s, _) = c
        .raw(post(), &path, Some(msg), &[("idempotency-key", "m3")])
        .await;
    assert_eq!(
        s, 409,
        "same eventId, new key: the duplicate is caught by eventId"
    );
    // Another token's same key is another request.
    let (tenant_token, _) = (app.tenant("U").await.1, ());
    let other = Client {
        app: &app,
        token: tenant_token,
    };
    let (s, third) = other.raw(post(), "/api/v1/app", Some(body), &key).await;
    assert_eq!(s, 201);
    assert_ne!(third["id"], first["id"]);
}

#[tokio::test]
async fn each_tenant_has_its_own_rate_limit() {
    let app = TestApp::spawn_with(|s| s.api_rate_limit = 5).await;
    let a = client(&app, "A").await;
    let b = client(&app, "B").await;
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
async fn malformed_requests_never_get_a_500() {
    let app = TestApp::spawn().await;
    let c = client(&app, "T").await;
    c.send(post(), "/api/v1/app", Some(json!({"name": "A", "uid": "a"})))
        .await;
    c.send(
        post(),
        "/api/v1/app/a/endpoint",
        Some(json!({"url": "https://x.example.com", "uid": "e"})),
    )
    .await;
    c.send(
        post(),
        "/api/v1/operational-webhook/endpoint",
        Some(json!({"url": "https://x.example.com", "uid": "o"})),
    )
    .await;
    let bodies = [
        "",
        "{",
        "null",
        "[]",
        "\"x\"",
        "12",
        "{\"name\": null}",
        "{\"name\": \"\\u0000\"}",
        "{\"url\": \"https://\"}",
        "{\"eventType\": \"x\", \"payload\": \"str\"}",
        "{\"headers\": {\"bad name\": \"v\"}}",
        "{\"headers\": {\"X\": \"a\\r\\nb\"}}",
        "{\"key\": \"whsec_!!!\"}",
        "{\"gracePeriodSeconds\": -5}",
        "{\"expiry\": 99999999}",
        "{\"name\": \"x\", \"metadata\": {\"k\": 1}}",
        "{\"schemas\": [1]}",
        "{\"name\": \"ok\", \"schemas\": {\"1\": 5}}",
        "\u{feff}{}",
    ];
    let routes = [
        (post(), "/api/v1/app"),
        (Method::PUT, "/api/v1/app/a"),
        (Method::PATCH, "/api/v1/app/a"),
        (post(), "/api/v1/event-type"),
        (Method::PUT, "/api/v1/event-type/zz"),
        (Method::PATCH, "/api/v1/event-type/zz"),
        (post(), "/api/v1/app/a/endpoint"),
        (Method::PUT, "/api/v1/app/a/endpoint/e"),
        (Method::PATCH, "/api/v1/app/a/endpoint/e"),
        (post(), "/api/v1/app/a/endpoint/e/secret/rotate"),
        (Method::PUT, "/api/v1/app/a/endpoint/e/headers"),
        (Method::PATCH, "/api/v1/app/a/endpoint/e/headers"),
        (post(), "/api/v1/app/a/msg"),
        (post(), "/api/v1/app/a/endpoint/e/recover"),
        (post(), "/api/v1/auth/app-portal-access/a"),
        (post(), "/api/v1/operational-webhook/endpoint"),
        (Method::PUT, "/api/v1/operational-webhook/endpoint/o"),
        (post(), "/api/v1/operational-webhook/endpoint/o/secret/rotate"),
        (Method::PUT, "/api/v1/operational-webhook/endpoint/o/headers"),
    ];
    for (method, path) in &routes {
        for body in bodies {
            let (status, answer) = c.raw(method.clone(), path, Some(body.to_string()), &[]).await;
            assert!(
                status.is_client_error() || status.is_success(),
                "{method} {path} {body:?}: {status} {answer}"
            );
        }
    }
    let queries = [
        "/api/v1/app?limit=abc",
        "/api/v1/app?limit=0",
        "/api/v1/app?limit=-1",
        "/api/v1/app?iterator=garbage",
        "/api/v1/app?iterator=-",
        "/api/v1/app?order=sideways",
        "/api/v1/event-type?include_archived=maybe",
        "/api/v1/app/a/msg?before=yesterday",
        "/api/v1/app/a/msg?event_types=a%20b",
        "/api/v1/app/a/msg?with_content=2",
        "/api/v1/app/a/attempt/endpoint/e?status=9",
        "/api/v1/app/a/attempt/msg/nope?endpoint_id=x",
        "/api/v1/app/a/endpoint/e/stats?since=nope",
        "/api/v1/app/%00",
        "/api/v1/app/a/msg/msg_zzz",
        "/api/v1/app/a/msg/x/attempt/atmpt_bad",
        "/api/v1/event-type/%20",
        "/api/v1/app/a/endpoint/e/msg?status=7",
        "/api/v1/app/a/msg?channel=%00",
        "/api/v1/event-type/a%00b",
        "/api/v1/operational-webhook/endpoint?limit=0",
        "/api/v1/operational-webhook/endpoint?iterator=garbage",
        "/api/v1/operational-webhook/endpoint/nope",
    ];
    for path in queries {
        let (status, answer) = c.send(get(), path, None).await;
        assert!(status.is_client_error(), "GET {path}: {status} {answer}");
    }
}

#[tokio::test]
async fn every_path_answers_with_or_without_a_trailing_slash() {
    let app = TestApp::spawn().await;
    let c = client(&app, "T").await;
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
async fn a_json_array_is_not_an_object() {
    let app = TestApp::spawn().await;
    let c = client(&app, "T").await;
    for (path, body) in [
        ("/api/v1/app", r#"["Acme", "acme"]"#),
        ("/api/v1/event-type", r#" ["made.up", "a description"]"#),
    ] {
        let (s, answer) = c.raw(post(), path, Some(body.into()), &[]).await;
        assert_eq!(s, 422, "{path}: {answer}");
        assert_eq!(answer["detail"][0]["loc"], json!(["body"]), "{answer}");
        assert_eq!(answer["detail"][0]["type"], "type_error.dict", "{answer}");
        let (_, list) = c.send(get(), path, None).await;
        assert_eq!(list["data"].as_array().unwrap().len(), 0, "{path}: nothing made");
    }
}

#[tokio::test]
async fn logout_revokes_the_calling_token_only() {
    let app = TestApp::spawn().await;
    let c = client(&app, "T").await;
    let other = client(&app, "U").await;
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
    let c = client(&app, "T").await;
    let stranger = client(&app, "U").await;
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
    let c = client(&app, "T").await;
    let routes = include_str!("../sdk/routes.txt");
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
    let c = client(&app, "T").await;
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
