//! Hardening: no number a caller sends can crash a request or change anything when out
//! of range, no secret rests readable in the idempotency store, and an endpoint's signing
//! secret is an admin's (or a writable portal link's) to see, on the record. Accounts
//! across tenants are in [`accounts`].

mod accounts;

use domain::{
    entity::{application, audit_event, endpoint, endpoint_secret, idempotency_key},
    service,
};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use tests::TestApp;

use crate::dashboard::{Browser, world};

/// What every numeric field is tried with: the extremes of an `i64`, the smallest
/// values either side of zero, and a number no integer holds.
const EXTREMES: [&str; 5] = ["9223372036854775807", "-9223372036854775808", "-1", "0", "1e30"];

/// Sends one API request; a dropped connection fails the test with the request named.
async fn send(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&str>,
    idempotency_key: Option<&str>,
) -> (u16, String) {
    let mut req = app.http.request(method.clone(), app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    if let Some(key) = idempotency_key {
        req = req.header("idempotency-key", key);
    }
    let res = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path} {body:?}: the connection dropped ({e})"));
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

/// Everything an accepted number could have changed, across tenants.
async fn everything(app: &TestApp) -> String {
    let db = &app.ctx.db;
    #[expect(clippy::disallowed_methods, reason = "the test reads every tenant's rows")]
    let apps = application::Entity::find().all(db).await.unwrap();
    #[expect(clippy::disallowed_methods, reason = "the test reads every tenant's rows")]
    let endpoints = endpoint::Entity::find().all(db).await.unwrap();
    #[expect(clippy::disallowed_methods, reason = "the test reads every tenant's rows")]
    let secrets = endpoint_secret::Entity::find().all(db).await.unwrap();
    #[expect(clippy::disallowed_methods, reason = "the test counts every tenant's rows")]
    let audit = audit_event::Entity::find().count(db).await.unwrap();
    format!("{apps:?}\n{endpoints:?}\n{secrets:?}\naudit rows: {audit}")
}

#[tokio::test]
async fn out_of_range_numbers_are_refused_on_every_api_route_and_change_nothing() {
    let app = TestApp::spawn().await;
    let api = tests::api::setup(&app).await;
    let ep = api
        .endpoint_id("acme", json!({"url": "https://example.com/hook"}))
        .await;
    let ops = api
        .post(
            "/api/v1/operational-webhook/endpoint",
            json!({"url": "https://example.com/ops"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    use reqwest::Method as M;
    let app_ep = format!("/api/v1/app/acme/endpoint/{ep}");
    let ops_ep = format!("/api/v1/operational-webhook/endpoint/{ops}");
    let url = r#""url": "https://example.com/other""#;
    // Every integer field of every request body, `{n}` standing for the number.
    let mut bodies: Vec<(M, String, String)> = Vec::new();
    for (method, path) in [(M::POST, "/api/v1/app"), (M::PUT, "/api/v1/app/acme")] {
        for field in ["throttleRate", "retentionDays"] {
            bodies.push((
                method.clone(),
                path.into(),
                format!(r#"{{"name": "X", "{field}": {{n}}}}"#),
            ));
        }
    }
    for field in ["throttleRate", "retentionDays"] {
        bodies.push((
            M::PATCH,
            "/api/v1/app/acme".into(),
            format!(r#"{{"{field}": {{n}}}}"#),
        ));
    }
    for (method, path) in [
        (M::POST, "/api/v1/app/acme/endpoint".to_owned()),
        (M::PUT, app_ep.clone()),
        (M::POST, "/api/v1/operational-webhook/endpoint".to_owned()),
        (M::PUT, ops_ep.clone()),
    ] {
        for field in [
            r#""throttleRate": {n}"#,
            r#""timeoutSeconds": {n}"#,
            r#""retrySchedule": [{n}]"#,
            r#""retrySchedule": [5, {n}]"#,
        ] {
            bodies.push((method.clone(), path.clone(), format!("{{{url}, {field}}}")));
        }
    }
    for field in [
        r#""throttleRate": {n}"#,
        r#""timeoutSeconds": {n}"#,
        r#""retrySchedule": [{n}]"#,
    ] {
        bodies.push((M::PATCH, app_ep.clone(), format!("{{{field}}}")));
    }
    let portal = "/api/v1/auth/app-portal-access";
    bodies.push((M::POST, format!("{portal}/acme"), r#"{"expiry": {n}}"#.into()));
    bodies.push((
        M::POST,
        format!("{portal}/acme"),
        r#"{"expiry": {n}, "readOnly": true}"#.into(),
    ));
    for field in ["throttleRate", "retentionDays"] {
        bodies.push((
            M::POST,
            format!("{portal}/fresh-app"),
            format!(r#"{{"application": {{"name": "Fresh", "{field}": {{n}}}}}}"#),
        ));
    }
    // Zero is a fine grace period (the old key stops at once); every other extreme is not.
    let rotations = [
        format!("{app_ep}/secret/rotate"),
        format!("{ops_ep}/secret/rotate"),
    ];

    let before = everything(&app).await;
    let mut answers = Vec::new();
    for n in EXTREMES {
        for (method, path, template) in &bodies {
            let body = template.replace("{n}", n);
            let (status, text) = send(&app, &api.token, method.clone(), path, Some(&body), None).await;
            answers.push((status, format!("{method} {path} {body}: {status} {text}")));
        }
        for path in &rotations {
            if n == "0" {
                continue;
            }
            let body = format!(r#"{{"gracePeriodSeconds": {n}}}"#);
            let (status, text) = send(&app, &api.token, M::POST, path, Some(&body), None).await;
            answers.push((status, format!("POST {path} {body}: {status} {text}")));
        }
        for path in [
            "/api/v1/app",
            "/api/v1/event-type",
            "/api/v1/app/acme/endpoint",
            "/api/v1/app/acme/msg",
            "/api/v1/operational-webhook/endpoint",
            &format!("/api/v1/app/acme/attempt/endpoint/{ep}"),
            &format!("{app_ep}/msg"),
        ] {
            let path = format!("{path}?limit={n}");
            let (status, text) = send(&app, &api.token, M::GET, &path, None, None).await;
            answers.push((status, format!("GET {path}: {status} {text}")));
        }
    }
    for (status, what) in &answers {
        assert!((400..500).contains(status), "{what}");
    }
    assert_eq!(
        everything(&app).await,
        before,
        "a refused number changed something"
    );

    // The finding itself: a clear 422 naming the range, and the idempotency key answers
    // the same again instead of "still being processed".
    for path in &rotations {
        for _ in 0..2 {
            let (status, text) = send(
                &app,
                &api.token,
                M::POST,
                path,
                Some(r#"{"gracePeriodSeconds": 1000000000000000000}"#),
                Some(path),
            )
            .await;
            assert_eq!(status, 422, "{path}: {text}");
            assert!(text.contains("between 0 and 604800 seconds"), "{text}");
        }
    }
    let (status, text) = send(
        &app,
        &api.token,
        M::POST,
        &format!("{portal}/acme"),
        Some(r#"{"expiry": 9223372036854775807}"#),
        None,
    )
    .await;
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("between 60 and 604800 seconds"), "{text}");
    // In range, they still work.
    for path in &rotations {
        let (status, text) = send(
            &app,
            &api.token,
            M::POST,
            path,
            Some(r#"{"gracePeriodSeconds": 0}"#),
            None,
        )
        .await;
        assert!((200..300).contains(&status), "{path}: {text}");
    }
}

#[tokio::test]
async fn out_of_range_numbers_in_dashboard_forms_get_a_form_error() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let mut admin = Browser::new(&app);
    admin.sign_in("admin@a.test", crate::dashboard::PASSWORD).await;
    let csrf = admin.csrf("/ui").await;
    let edit = format!("{}/edit", w.endpoint_path);
    let before = everything(&app).await;
    let tokens_before = service::token::list(&app.ctx.db, &w.tenant_a)
        .await
        .unwrap()
        .len();
    for n in EXTREMES {
        for field in ["rate_limit", "timeout"] {
            let answer = admin
                .post(
                    &edit,
                    &[
                        ("csrf", &csrf),
                        ("url", "https://example.com/hook"),
                        ("description", "<b>desc</b>"),
                        (field, n),
                    ],
                )
                .await;
            assert_eq!(answer.status, 422, "{field}={n}: {}", answer.body);
            assert!(answer.body.contains("must be"), "{field}={n}: a reason is shown");
        }
        let answer = admin
            .post("/ui/tokens", &[("csrf", &csrf), ("name", "n"), ("days", n)])
            .await;
        assert_eq!(answer.status, 422, "days={n}: {}", answer.body);
        assert!(answer.body.contains("from 1 to 3650"), "days={n}");
    }
    // A date past the last one a timestamp holds, in the delivery log's filters.
    for query in ["until=262142-12-31", "since=262142-12-31", "until=-262143-01-01"] {
        for page in [format!("{}/log", w.app_path), w.endpoint_path.clone()] {
            let answer = admin.get(&format!("{page}?{query}")).await;
            assert!(answer.status < 500, "{page}?{query}: {}", answer.status);
            assert!(answer.body.contains("must be a date"), "{page}?{query}");
        }
    }
    assert_eq!(everything(&app).await, before);
    assert_eq!(
        service::token::list(&app.ctx.db, &w.tenant_a)
            .await
            .unwrap()
            .len(),
        tokens_before
    );
}

/// Every kept idempotent answer, as stored.
async fn idempotency_rows(app: &TestApp) -> Vec<idempotency_key::Model> {
    #[expect(clippy::disallowed_methods, reason = "the test reads every tenant's rows")]
    idempotency_key::Entity::find().all(&app.ctx.db).await.unwrap()
}

#[tokio::test]
async fn answers_kept_for_idempotency_hold_no_readable_secret_and_replay_the_same() {
    let app = TestApp::spawn().await;
    let api = tests::api::setup(&app).await;
    let ep = api
        .endpoint_id("acme", json!({"url": "https://example.com/hook"}))
        .await;
    let calls = [
        (format!("/api/v1/app/acme/endpoint/{ep}/secret/rotate"), "{}"),
        ("/api/v1/auth/app-portal-access/acme".to_owned(), "{}"),
    ];
    let mut firsts = Vec::new();
    for (path, body) in &calls {
        let first = send(
            &app,
            &api.token,
            reqwest::Method::POST,
            path,
            Some(body),
            Some(path),
        )
        .await;
        assert_eq!(first.0, 200, "{path}: {}", first.1);
        firsts.push(first);
    }
    let key: Value = serde_json::from_str(&firsts[0].1).unwrap();
    let key = key["key"].as_str().unwrap().to_owned();
    let access: Value = serde_json::from_str(&firsts[1].1).unwrap();
    let token = access["token"].as_str().unwrap().to_owned();
    assert!(key.starts_with("whsec_"));

    let rows = idempotency_rows(&app).await;
    assert_eq!(rows.len(), 2);
    let stored = format!("{rows:?}");
    let raw: Vec<u8> = rows
        .iter()
        .flat_map(|r| r.response_sealed.clone().expect("an answer is kept"))
        .collect();
    for secret in [key.as_str(), token.as_str(), &key["whsec_".len()..]] {
        assert!(!stored.contains(secret), "the store shows {secret}");
        assert!(
            !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the store holds {secret}"
        );
    }
    assert!(!raw.windows(6).any(|w| w == b"whsec_"));

    // A retry with the same key gets the very same answer, and does nothing again.
    let secrets_before = everything(&app).await;
    for ((path, body), first) in calls.iter().zip(&firsts) {
        let again = send(
            &app,
            &api.token,
            reqwest::Method::POST,
            path,
            Some(body),
            Some(path),
        )
        .await;
        assert_eq!(&again, first, "{path}");
    }
    assert_eq!(everything(&app).await, secrets_before);

    // A main key rotation moves the kept answers along with the endpoint secrets.
    let census = service::rekey::census(&app.ctx).await.unwrap();
    let kept = census.by_key.values().sum::<u64>();
    assert!(kept >= 3, "one signing secret and two answers: {census:?}");
}

#[tokio::test]
async fn kept_answers_are_resealed_by_a_main_key_rotation() {
    let app = TestApp::spawn().await;
    let api = tests::api::setup(&app).await;
    // Several answers, so that re-sealing one row per batch walks past each of them.
    let mut answers = Vec::new();
    for key in ["portal-1", "portal-2", "portal-3"] {
        let (status, body) = send(
            &app,
            &api.token,
            reqwest::Method::POST,
            "/api/v1/auth/app-portal-access/acme",
            Some("{}"),
            Some(key),
        )
        .await;
        assert_eq!(status, 200);
        answers.push((key, body));
    }
    // The same database, opened with a new main key and the old one as fallback.
    let old = app.ctx.keyring.current().clone();
    let new = domain::crypto::MainKey::generate().unwrap();
    let mut ctx = app.ctx.clone();
    ctx.keyring = std::sync::Arc::new(domain::crypto::Keyring::with_fallbacks(new.clone(), vec![old]));
    let census = service::rekey::census(&ctx).await.unwrap();
    assert_eq!(census.under_other_keys(), 3, "{census:?}");
    let done = service::rekey::reseal(&ctx, 1).await.unwrap();
    assert_eq!(done.resealed, 3);
    let census = service::rekey::census(&ctx).await.unwrap();
    assert_eq!(census.under_other_keys(), 0, "{census:?}");
    // Only the new key is needed now to replay the answer.
    ctx.keyring = std::sync::Arc::new(domain::crypto::Keyring::new(new));
    let rows = idempotency_rows(&app).await;
    assert_eq!(rows.len(), 3);
    for (key, body) in answers {
        let row = rows.iter().find(|r| r.key == key).unwrap();
        let claim =
            service::idempotency::claim(&ctx, &row.tenant_id, &row.scope, &row.key, &row.request_hash)
                .await
                .unwrap();
        assert_eq!(claim, service::idempotency::Claim::Replay { status: 200, body });
    }
}

/// The number of recorded reveals of signing secrets.
async fn reveals(app: &TestApp) -> usize {
    #[expect(clippy::disallowed_methods, reason = "the test reads every tenant's rows")]
    let rows = audit_event::Entity::find().all(&app.ctx.db).await.unwrap();
    rows.iter()
        .filter(|r| r.action == "endpoint.secret.reveal")
        .count()
}

#[tokio::test]
async fn only_admins_and_writable_portal_links_reveal_a_signing_secret_on_the_record() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let reveal = format!("{}?reveal=1", w.endpoint_path);

    let mut viewer = Browser::new(&app);
    viewer.sign_in("viewer@a.test", crate::dashboard::PASSWORD).await;
    let page = viewer.get(&w.endpoint_path).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("?reveal=1"), "no Reveal offered to a viewer");
    let refused = viewer.get(&reveal).await;
    assert_eq!(refused.status, 403);
    assert!(!refused.body.contains("whsec_"));

    let api = tests::api::Api {
        app: &app,
        token: w.token_a.clone(),
    };
    let endpoint = w.endpoint_path.rsplit('/').next().unwrap();
    let portal_reveal = format!("/portal/app/endpoints/{endpoint}?reveal=1");
    let read_only = api
        .post("/api/v1/auth/app-portal-access/acme", json!({"readOnly": true}))
        .await;
    let url = read_only["url"].as_str().unwrap();
    let mut customer = Browser::new(&app);
    customer.get(&url[url.find("/portal").unwrap()..]).await;
    let page = customer.get(&format!("/portal/app/endpoints/{endpoint}")).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("?reveal=1"));
    let refused = customer.get(&portal_reveal).await;
    assert_eq!(refused.status, 403);
    assert!(!refused.body.contains("whsec_"));
    assert_eq!(reveals(&app).await, 0);

    let mut admin = Browser::new(&app);
    admin.sign_in("admin@a.test", crate::dashboard::PASSWORD).await;
    let shown = admin.get(&reveal).await;
    assert_eq!(shown.status, 200);
    assert!(shown.body.contains("whsec_"));
    assert_eq!(reveals(&app).await, 1);

    let writable = api.post("/api/v1/auth/app-portal-access/acme", json!({})).await;
    let url = writable["url"].as_str().unwrap();
    let mut owner = Browser::new(&app);
    owner.get(&url[url.find("/portal").unwrap()..]).await;
    let shown = owner.get(&portal_reveal).await;
    assert_eq!(shown.status, 200);
    assert!(shown.body.contains("whsec_"));
    assert_eq!(reveals(&app).await, 2);
}
