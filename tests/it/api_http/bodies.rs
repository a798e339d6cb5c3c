//! Request bodies over raw HTTP: upserts, size limits, located validation errors,
//! idempotent replays, malformed input that never gets a 500, arrays refused.

use reqwest::{Method, StatusCode};
use serde_json::json;
use tests::{TestApp, api::Api};

use super::{get, post};

#[tokio::test]
async fn upserts_answer_201_then_200() {
    let app = TestApp::spawn().await;
    let c = Api::of_new_tenant(&app, "T").await;
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
    let c = Api::of_new_tenant(&app, "T").await;
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
    let c = Api::of_new_tenant(&app, "T").await;
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
    let c = Api::of_new_tenant(&app, "T").await;
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
    let other = Api {
        app: &app,
        token: tenant_token,
    };
    let (s, third) = other.raw(post(), "/api/v1/app", Some(body), &key).await;
    assert_eq!(s, 201);
    assert_ne!(third["id"], first["id"]);
}

#[tokio::test]
async fn malformed_requests_never_get_a_500() {
    let app = TestApp::spawn().await;
    let c = Api::of_new_tenant(&app, "T").await;
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
async fn a_json_array_is_not_an_object() {
    let app = TestApp::spawn().await;
    let c = Api::of_new_tenant(&app, "T").await;
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
async fn a_nested_struct_given_as_an_array_is_refused_where_it_stands() {
    let app = TestApp::spawn().await;
    let c = Api::of_new_tenant(&app, "T").await;
    c.post("/api/v1/app", json!({"name": "Acme", "uid": "acme"}))
        .await;
    for (path, body, loc) in [
        (
            "/api/v1/app/acme/endpoint",
            json!({"url": "https://example.com/", "tls": [null, null]}),
            json!(["body", "tls"]),
        ),
        (
            "/api/v1/app/made/msg",
            json!({"eventType": "a.b", "payload": {}, "application": ["Made", "made"]}),
            json!(["body", "application"]),
        ),
        (
            "/api/v1/environment/import",
            json!({"eventTypes": [["made.up", "a description"]]}),
            json!(["body", "eventTypes", 0]),
        ),
    ] {
        let (status, answer) = c.send(post(), path, Some(body.clone())).await;
        assert_eq!(status, 422, "{path} {body}: {answer}");
        assert_eq!(answer["detail"][0]["loc"], loc, "{path} {body}: {answer}");
    }
    let (_, endpoints) = c.send(get(), "/api/v1/app/acme/endpoint", None).await;
    assert_eq!(endpoints["data"], json!([]), "nothing made");
}

#[tokio::test]
async fn an_error_in_a_delivery_option_names_its_field() {
    let app = TestApp::spawn().await;
    let c = Api::of_new_tenant(&app, "T").await;
    c.post("/api/v1/app", json!({"name": "Acme", "uid": "acme"}))
        .await;
    let created = c
        .post(
            "/api/v1/app/acme/endpoint",
            json!({"url": "https://example.com/", "uid": "e"}),
        )
        .await;
    for (method, path, body, field) in [
        (
            post(),
            "/api/v1/app/acme/endpoint",
            json!({"url": "https://example.com/", "ordered": "no"}),
            "ordered",
        ),
        (
            Method::PUT,
            "/api/v1/app/acme/endpoint/e",
            json!({"url": "https://example.com/", "filter": 5}),
            "filter",
        ),
        (
            Method::PATCH,
            "/api/v1/app/acme/endpoint/e",
            json!({"orderedOnFailure": "later"}),
            "orderedOnFailure",
        ),
        (
            Method::PATCH,
            "/api/v1/app/acme/endpoint/e",
            json!({"transformation": ["."]}),
            "transformation",
        ),
    ] {
        let (status, answer) = c.send(method.clone(), path, Some(body.clone())).await;
        assert_eq!(status, 422, "{method} {body}: {answer}");
        assert_eq!(
            answer["detail"][0]["loc"],
            json!(["body", field]),
            "{method} {body}: {answer}"
        );
    }
    let (_, now) = c.send(get(), "/api/v1/app/acme/endpoint/e", None).await;
    assert_eq!(now, created, "nothing changed");
}

#[tokio::test]
async fn a_number_flag_or_order_given_empty_is_refused_and_empty_text_is_absent() {
    let app = TestApp::spawn().await;
    let api = Api::of_new_tenant(&app, "T").await;
    api.post("/api/v1/app", json!({"name": "Acme", "uid": "acme"}))
        .await;
    for (query, name) in [("limit=", "limit"), ("order=", "order"), ("status=", "status")] {
        let (status, body) = api
            .send(Method::GET, &format!("/api/v1/background-task?{query}"), None)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(body["detail"][0]["loc"], json!(["query", name]), "{body}");
    }
    let (status, body) = api
        .send(Method::GET, "/api/v1/app/acme/msg?with_content=", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = api.send(Method::GET, "/api/v1/app?iterator=&limit=5", None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "an empty iterator is the first page: {body}"
    );
    assert_eq!(body["data"].as_array().map(Vec::len), Some(1));
}
