//! Inspector inboxes end to end: a real delivery recorded and verified, a tampered copy
//! refused with the reason, a scripted inbox driving Herald's retries, the bounds (the
//! newest 200, bodies cut at 256 KiB, a rate per inbox), tenant isolation and bad input.

use domain::{
    entity::inbox,
    scope::TenantScoped,
    service::{inspector, retention},
};
use reqwest::{Method, StatusCode};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};
use tests::{
    TestApp,
    api::{Api, attempts, setup},
    local_app, queue_app,
};

/// Creates an inbox: its id and URL.
async fn inbox(api: &Api<'_>, body: Value) -> (String, String) {
    let made = api.post("/api/v1/inspector", body).await;
    (
        made["id"].as_str().unwrap().to_owned(),
        made["url"].as_str().unwrap().to_owned(),
    )
}

fn token_of(url: &str) -> String {
    url.rsplit("/in/").next().unwrap().to_owned()
}

async fn recorded(api: &Api<'_>, inbox: &str) -> Vec<Value> {
    api.get(&format!("/api/v1/inspector/{inbox}/request?limit=250"))
        .await["data"]
        .as_array()
        .unwrap()
        .clone()
}

async fn verify(api: &Api<'_>, inbox: &str, request: &str, key: Value) -> Value {
    api.post(
        &format!("/api/v1/inspector/{inbox}/request/{request}/verify"),
        key,
    )
    .await
}

#[tokio::test]
async fn an_inbox_records_a_delivery_that_verifies_and_a_tampered_copy_does_not() {
    let app = queue_app().await;
    let api = setup(&app).await;
    let (inbox_id, url) = inbox(&api, json!({"name": "first try"})).await;
    assert!(url.starts_with(&format!("{}/in/", app.base_url)), "{url}");
    let ep = api.endpoint_id("acme", json!({"url": url, "uid": "inbox"})).await;
    let secret = api.get("/api/v1/app/acme/endpoint/inbox/secret").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let msg = api
        .post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "invoice.paid", "payload": {"amount": 12}}),
        )
        .await;
    assert_eq!(app.run_pending_deliveries().await, 1);
    let attempts_list = api.get(&format!("/api/v1/app/acme/attempt/endpoint/{ep}")).await;
    assert_eq!(attempts_list["data"][0]["responseStatusCode"], 200);

    let got = recorded(&api, &inbox_id).await;
    assert_eq!(got.len(), 1);
    let delivery = &got[0];
    assert_eq!(delivery["method"], "POST");
    assert_eq!(delivery["body"], r#"{"amount":12}"#);
    assert_eq!(delivery["contentType"], "application/json");
    assert_eq!(delivery["sourceAddress"], "127.0.0.1");
    let request_id = delivery["id"].as_str().unwrap();
    let one = api
        .get(&format!("/api/v1/inspector/{inbox_id}/request/{request_id}"))
        .await;
    assert_eq!(&one, delivery);

    let by_endpoint = verify(&api, &inbox_id, request_id, json!({"endpointId": ep})).await;
    assert_eq!(by_endpoint["valid"], true, "{by_endpoint}");
    assert_eq!(by_endpoint["msgId"], msg["id"]);
    assert!(by_endpoint["timestamp"].is_i64());
    let by_key = verify(&api, &inbox_id, request_id, json!({"secret": secret})).await;
    assert_eq!(by_key["valid"], true, "{by_key}");
    let other_key = domain::signing::SigningSecret::generate().unwrap().to_whsec();
    let wrong = verify(&api, &inbox_id, request_id, json!({"secret": other_key})).await;
    assert_eq!(wrong["valid"], false);

    // The same headers with another body: recorded, and refused with the reason.
    let mut copy = app.http.post(&url).body(r#"{"amount":1200}"#);
    for header in delivery["headers"].as_array().unwrap() {
        let name = header["name"].as_str().unwrap();
        if !["host", "content-length"].contains(&name) {
            copy = copy.header(name, header["value"].as_str().unwrap());
        }
    }
    assert_eq!(copy.send().await.unwrap().status(), 200);
    let got = recorded(&api, &inbox_id).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["body"], r#"{"amount":1200}"#, "newest first");
    let tampered = got[0]["id"].as_str().unwrap();
    let verdict = verify(&api, &inbox_id, tampered, json!({"endpointId": ep})).await;
    assert_eq!(verdict["valid"], false);
    assert!(
        verdict["reason"]
            .as_str()
            .unwrap()
            .contains("no signature matches"),
        "{verdict}"
    );
    assert!(verdict.get("msgId").is_none());
}

#[tokio::test]
async fn a_scripted_inbox_makes_herald_retry_until_it_answers_200() {
    let app = local_app().await;
    let api = setup(&app).await;
    let (inbox_id, url) = inbox(
        &api,
        json!({"name": "flaky", "script": [
            {"status": 500, "body": "down"},
            {"status": 500},
            {"status": 200, "body": "ok"},
        ]}),
    )
    .await;
    let ep = api
        .endpoint_id("acme", json!({"url": url, "retrySchedule": [1, 1]}))
        .await;
    api.post(
        "/api/v1/app/acme/msg",
        json!({"eventType": "invoice.paid", "payload": {}}),
    )
    .await;
    let list = api
        .wait_for(&format!("/api/v1/app/acme/attempt/endpoint/{ep}"), |l| {
            attempts(l) == 3
        })
        .await;
    // Newest first.
    let statuses: Vec<&Value> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["responseStatusCode"])
        .collect();
    assert_eq!(statuses, [&json!(200), &json!(500), &json!(500)]);
    assert_eq!(list["data"][2]["response"], "down");
    assert_eq!(recorded(&api, &inbox_id).await.len(), 3);
    let now = api.get(&format!("/api/v1/inspector/{inbox_id}")).await;
    assert_eq!(now["scriptPosition"], 3);
    // The script done, the inbox answers with its own response.
    let res = app.http.get(format!("{url}/after?x=1")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let newest = &recorded(&api, &inbox_id).await[0];
    assert_eq!(newest["method"], "GET");
    assert_eq!(newest["path"], "/after");
    assert_eq!(newest["query"], "x=1");
}

#[tokio::test]
async fn an_inbox_keeps_its_newest_200_requests_and_cuts_large_bodies() {
    let app = TestApp::spawn().await;
    let api = Api::of_new_tenant(&app, "T").await;
    let (inbox_id, url) = inbox(
        &api,
        json!({"name": "busy", "response": {"status": 202, "body": "thanks"}}),
    )
    .await;
    let token = token_of(&url);
    for n in 0..205 {
        let incoming = inspector::Incoming {
            method: "POST".into(),
            path: format!("/{n}"),
            ..Default::default()
        };
        let answer = inspector::record(&app.ctx, &token, incoming, |_, _| true)
            .await
            .unwrap();
        assert!(matches!(answer, inspector::Recorded::Answered(ref a) if a.status == 202));
    }
    let kept = recorded(&api, &inbox_id).await;
    assert_eq!(kept.len(), 200);
    assert_eq!(kept[0]["path"], "/204");
    assert_eq!(kept[199]["path"], "/5");

    // Over 256 KiB: recorded, cut there and marked.
    let big = "x".repeat(300 * 1024);
    let res = app.http.put(&url).body(big).send().await.unwrap();
    assert_eq!(res.status(), 202);
    assert_eq!(res.text().await.unwrap(), "thanks");
    let newest = &recorded(&api, &inbox_id).await[0];
    assert_eq!(newest["method"], "PUT");
    assert_eq!(newest["truncated"], true);
    assert_eq!(newest["body"].as_str().unwrap().len(), 256 * 1024);
    assert!(
        app.ctx
            .metrics
            .render()
            .contains(r#"herald_inbox_requests_total{outcome="truncated"} 1"#)
    );
    // Over 1 MiB: refused, not recorded.
    let huge = "y".repeat(1024 * 1024 + 1);
    let res = app.http.post(&url).body(huge).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(recorded(&api, &inbox_id).await[0]["id"], newest["id"]);
}

#[tokio::test]
async fn a_burst_over_the_rate_is_answered_429_and_not_recorded() {
    let app = TestApp::spawn().await;
    let api = Api::of_new_tenant(&app, "T").await;
    let (inbox_id, url) = inbox(&api, json!({"name": "burst"})).await;
    let sends = (0..40).map(|n| app.http.post(format!("{url}/{n}")).body("{}").send());
    let answers = futures_util::future::join_all(sends).await;
    let statuses: Vec<StatusCode> = answers.into_iter().map(|r| r.unwrap().status()).collect();
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(ok + limited, 40, "{statuses:?}");
    assert!(limited > 0, "{statuses:?}");
    assert!(ok > 0, "{statuses:?}");
    assert_eq!(recorded(&api, &inbox_id).await.len(), ok);
    let metrics = app.ctx.metrics.render();
    assert!(
        metrics.contains(&format!(
            r#"herald_inbox_requests_total{{outcome="limited"}} {limited}"#
        )),
        "{metrics}"
    );
}

#[tokio::test]
async fn unknown_deleted_and_expired_inboxes_answer_404_and_record_nothing() {
    let app = TestApp::spawn().await;
    let (tenant, token) = app.tenant("T").await;
    let api = Api { app: &app, token };
    let unknown = app
        .http
        .post(app.url(&format!("/in/{}", "ab".repeat(20))))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let malformed = app.http.get(app.url("/in/nope/x")).send().await.unwrap();
    assert_eq!(malformed.status(), 404);

    let (gone, gone_url) = inbox(&api, json!({"name": "gone"})).await;
    let (deleted, _) = api
        .send(Method::DELETE, &format!("/api/v1/inspector/{gone}"), None)
        .await;
    assert_eq!(deleted, 204);
    assert_eq!(app.http.post(&gone_url).send().await.unwrap().status(), 404);
    let (status, _) = api
        .send(Method::GET, &format!("/api/v1/inspector/{gone}"), None)
        .await;
    assert_eq!(status, 404);

    // An inbox whose time is up answers 404 before the sweep removes it.
    let (old, old_url) = inbox(&api, json!({"name": "old", "expiresInSeconds": 3600})).await;
    assert_eq!(app.http.post(&old_url).send().await.unwrap().status(), 200);
    let (kept, _) = inbox(&api, json!({"name": "kept"})).await;
    let row = inbox::Entity::find_in_tenant(&tenant, domain::id::InboxId::parse(&old).unwrap())
        .one(&app.ctx.db)
        .await
        .unwrap()
        .unwrap();
    let mut row: inbox::ActiveModel = row.into();
    row.expires_at = Set(chrono::Utc::now() - chrono::Duration::seconds(1));
    row.update(&app.ctx.db).await.unwrap();
    assert_eq!(app.http.post(&old_url).send().await.unwrap().status(), 404);
    let (status, _) = api
        .send(Method::GET, &format!("/api/v1/inspector/{old}/request"), None)
        .await;
    assert_eq!(status, 404);
    let listed = api.get("/api/v1/inspector").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["data"][0]["id"], kept.as_str());

    retention::sweep(&app.ctx, retention::DEFAULT_RETENTION, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        retention::delete_expired_inboxes(&app.ctx, chrono::Utc::now())
            .await
            .unwrap(),
        0,
        "the sweep removed it"
    );
    let left = inbox::Entity::for_tenant(&tenant).all(&app.ctx.db).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id.as_str(), kept);
    // Seven days on by default: a sweep then removes the other.
    let week = chrono::Utc::now() + inspector::DEFAULT_EXPIRY;
    assert_eq!(
        retention::delete_expired_inboxes(&app.ctx, week).await.unwrap(),
        1
    );
}

#[tokio::test]
async fn another_tenants_inbox_answers_404() {
    let app = queue_app().await;
    let a = setup(&app).await;
    let b = Api::of_new_tenant(&app, "B").await;
    let (inbox_id, url) = inbox(&a, json!({"name": "mine"})).await;
    assert_eq!(app.http.post(&url).body("{}").send().await.unwrap().status(), 200);
    let request_id = recorded(&a, &inbox_id).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ep = a
        .endpoint_id("acme", json!({"url": "https://example.com/hook"}))
        .await;
    let base = format!("/api/v1/inspector/{inbox_id}");
    let calls = [
        (Method::GET, base.clone(), None),
        (Method::PATCH, base.clone(), Some(json!({"name": "theirs"}))),
        (Method::DELETE, base.clone(), None),
        (Method::GET, format!("{base}/request"), None),
        (Method::GET, format!("{base}/request/{request_id}"), None),
        (
            Method::POST,
            format!("{base}/request/{request_id}/verify"),
            Some(json!({"endpointId": ep})),
        ),
    ];
    for (method, path, body) in calls {
        let (status, answer) = b.send(method.clone(), &path, body).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
    }
    assert!(
        b.get("/api/v1/inspector").await["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // B's own inbox cannot be checked with A's endpoint either.
    let (theirs, their_url) = inbox(&b, json!({"name": "theirs"})).await;
    app.http.post(&their_url).send().await.unwrap();
    let their_request = recorded(&b, &theirs).await[0]["id"].as_str().unwrap().to_owned();
    let (status, answer) = b
        .send(
            Method::POST,
            &format!("/api/v1/inspector/{theirs}/request/{their_request}/verify"),
            Some(json!({"endpointId": ep})),
        )
        .await;
    assert_eq!(status, 404, "{answer}");
    let mine = a.get(&base).await;
    assert_eq!(mine["name"], "mine");
}

#[tokio::test]
async fn bad_input_is_422_with_its_place_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let api = Api::of_new_tenant(&app, "T").await;
    let cases = [
        (json!({"name": ""}), json!(["body", "name"])),
        (json!({}), json!(["body", "name"])),
        (
            json!({"name": "x", "response": {"status": 99}}),
            json!(["body", "response", "status"]),
        ),
        (
            json!({"name": "x", "response": {"status": 200, "delayMs": 30001}}),
            json!(["body", "response", "delayMs"]),
        ),
        (
            json!({"name": "x", "expiresInSeconds": 60}),
            json!(["body", "expiresInSeconds"]),
        ),
        (
            json!({"name": "x", "expiresInSeconds": 31 * 24 * 3600}),
            json!(["body", "expiresInSeconds"]),
        ),
        (json!({"name": "x", "script": []}), json!(["body", "script"])),
        (
            json!({"name": "x", "script": [{"status": 700}]}),
            json!(["body", "script", "status"]),
        ),
        (
            json!({"name": "x", "script": [[500]]}),
            json!(["body", "script", 0]),
        ),
    ];
    for (body, loc) in cases {
        let (status, answer) = api
            .send(Method::POST, "/api/v1/inspector", Some(body.clone()))
            .await;
        assert_eq!(status, 422, "{body}: {answer}");
        let got = &answer["detail"][0]["loc"];
        assert!(
            got.as_array().unwrap().starts_with(loc.as_array().unwrap()),
            "{body}: {answer}"
        );
    }
    assert!(
        api.get("/api/v1/inspector").await["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let (inbox_id, url) = inbox(&api, json!({"name": "x"})).await;
    let path = format!("/api/v1/inspector/{inbox_id}");
    for (body, loc) in [
        (json!({"name": null}), json!(["body", "name"])),
        (json!({"script": []}), json!(["body", "script"])),
        (
            json!({"response": {"status": 200, "body": "x".repeat(65537)}}),
            json!(["body", "response", "body"]),
        ),
    ] {
        let (status, answer) = api.send(Method::PATCH, &path, Some(body.clone())).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert!(
            answer["detail"][0]["loc"]
                .as_array()
                .unwrap()
                .starts_with(loc.as_array().unwrap()),
            "{body}: {answer}"
        );
    }
    let unchanged = api.get(&path).await;
    assert_eq!(unchanged["name"], "x");
    assert_eq!(
        unchanged["response"],
        json!({"status": 200, "body": "", "delayMs": 0})
    );

    app.http.post(&url).send().await.unwrap();
    let request_id = recorded(&api, &inbox_id).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let verify_path = format!("{path}/request/{request_id}/verify");
    for body in [
        json!({}),
        json!({"endpointId": "ep_01ARZ3NDEKTSV4RRFFQ69G5FAV", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
        json!({"secret": "not a key"}),
        json!({"secret": null}),
    ] {
        let (status, answer) = api.send(Method::POST, &verify_path, Some(body.clone())).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(answer["detail"][0]["loc"][0], "body", "{body}: {answer}");
    }
    // A change that is good goes through, and a new script starts from its first step.
    let changed = api
        .call(
            Method::PATCH,
            &path,
            Some(json!({"name": "y", "script": [{"status": 503, "timeout": false}]}).to_string()),
        )
        .await;
    assert_eq!(changed["name"], "y");
    assert_eq!(changed["scriptPosition"], 0);
    let res = app.http.post(&url).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let cleared = api
        .call(
            Method::PATCH,
            &path,
            Some(json!({"script": null, "response": null}).to_string()),
        )
        .await;
    assert_eq!(cleared["script"], Value::Null);
}
