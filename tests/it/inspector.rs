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
    // Handed over inside Herald: no network, so no source address.
    assert_eq!(delivery["sourceAddress"], Value::Null);
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
    // Rates of 0 are no limit: 205 requests at once all count.
    let app = TestApp::spawn_with(|s| {
        s.inbox_rate_limit = 0;
        s.inbox_tenant_rate_limit = 0;
    })
    .await;
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
        let answer = inspector::record(&app.ctx, &token, incoming).await.unwrap();
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

/// The quick start's case: no private networks allowed, and a delivery to Herald's own
/// inbox URL still arrives, handed over inside Herald. The same host and port on any
/// other path, or another port, still go through the network policy.
#[tokio::test]
async fn own_inboxes_are_delivered_to_without_the_network_and_nothing_else_is() {
    let app = TestApp::spawn().await;
    let api = setup(&app).await;
    let (inbox_id, url) = inbox(
        &api,
        json!({"name": "own", "response": {"status": 201, "body": "seen"}}),
    )
    .await;
    let token = token_of(&url);
    let port = app.base_url.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let own = api
        .endpoint_id(
            "acme",
            json!({"url": format!("{url}/hooks?via=herald"), "uid": "own"}),
        )
        .await;
    for (uid, other) in [
        ("api", app.url("/api/v1/health")),
        (
            "port",
            format!("http://127.0.0.1:{}/in/{token}", port.wrapping_add(1).max(1)),
        ),
        ("host", format!("http://localhost:{port}/in/{token}")),
        ("dots", format!("{url}/../../api/v1/health")),
    ] {
        api.post("/api/v1/app/acme/endpoint", json!({"url": other, "uid": uid}))
            .await;
    }
    let msg = api
        .post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "invoice.paid", "payload": {"n": 1}}),
        )
        .await;
    assert_eq!(app.run_pending_deliveries().await, 5);

    let list = api.get(&format!("/api/v1/app/acme/attempt/endpoint/{own}")).await;
    assert_eq!(attempts(&list), 1, "{list}");
    assert_eq!(list["data"][0]["responseStatusCode"], 201, "{list}");
    assert_eq!(list["data"][0]["response"], "seen");
    let got = recorded(&api, &inbox_id).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["path"], "/hooks");
    assert_eq!(got[0]["query"], "via=herald");
    assert_eq!(got[0]["body"], r#"{"n":1}"#);
    let verdict = verify(
        &api,
        &inbox_id,
        got[0]["id"].as_str().unwrap(),
        json!({"endpointId": own}),
    )
    .await;
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["msgId"], msg["id"]);

    for uid in ["api", "port", "host", "dots"] {
        let list = api.get(&format!("/api/v1/app/acme/attempt/endpoint/{uid}")).await;
        assert_eq!(attempts(&list), 1, "{uid}: {list}");
        assert_eq!(list["data"][0]["errorKind"], "blocked", "{uid}: {list}");
    }
}

/// Handed over, an inbox answers as it would on the network: its script's statuses, a
/// 404 once it is gone, a time-out when a step says `timeout` (it holds the request longer
/// than the endpoint's one second), and 429 past its rate.
#[tokio::test]
async fn a_handed_over_delivery_gets_the_inboxs_answers_and_limits() {
    let app = TestApp::spawn_with(|s| {
        s.inbox_rate_limit = 1;
        s.retry_schedule = "1s,1s".into();
    })
    .await;
    let api = setup(&app).await;
    let (_, slow_url) = inbox(
        &api,
        json!({"name": "slow", "script": [{"status": 200, "timeout": true}, {"status": 503, "body": "busy"}]}),
    )
    .await;
    let slow = api
        .endpoint_id(
            "acme",
            json!({"url": slow_url, "uid": "slow", "timeoutSeconds": 1, "retrySchedule": [3600]}),
        )
        .await;
    api.post("/api/v1/app/acme/msg", json!({"eventType": "a", "payload": {}}))
        .await;
    assert_eq!(app.run_pending_deliveries().await, 1);
    let list = api
        .get(&format!("/api/v1/app/acme/attempt/endpoint/{slow}"))
        .await;
    assert_eq!(list["data"][0]["errorKind"], "timeout", "{list}");

    // One request a second for this inbox: a second message at once is refused.
    api.post("/api/v1/app/acme/msg", json!({"eventType": "a", "payload": {}}))
        .await;
    api.post("/api/v1/app/acme/msg", json!({"eventType": "a", "payload": {}}))
        .await;
    app.run_pending_deliveries().await;
    let list = api
        .get(&format!("/api/v1/app/acme/attempt/endpoint/{slow}"))
        .await;
    let mut statuses: Vec<i64> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["responseStatusCode"].as_i64())
        // The time-out has no status.
        .filter(|status| *status != 0)
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [429, 503], "{list}");

    let (gone, gone_url) = inbox(&api, json!({"name": "gone"})).await;
    api.post("/api/v1/event-type", json!({"name": "b", "description": "b"}))
        .await;
    let ep = api
        .endpoint_id(
            "acme",
            json!({"url": gone_url, "uid": "gone", "filterTypes": ["b"]}),
        )
        .await;
    let (deleted, _) = api
        .send(Method::DELETE, &format!("/api/v1/inspector/{gone}"), None)
        .await;
    assert_eq!(deleted, 204);
    api.post("/api/v1/app/acme/msg", json!({"eventType": "b", "payload": {}}))
        .await;
    app.run_pending_deliveries().await;
    let list = api.get(&format!("/api/v1/app/acme/attempt/endpoint/{ep}")).await;
    assert_eq!(list["data"][0]["responseStatusCode"], 404, "{list}");
}

/// Handed over to an inbox that `herald listen` is relaying, a delivery gets the
/// listener's answer.
#[tokio::test]
async fn a_handed_over_delivery_to_a_listened_inbox_gets_the_listeners_answer() {
    let app = TestApp::spawn().await;
    let api = setup(&app).await;
    let (_, url) = inbox(&api, json!({"name": "laptop"})).await;
    let token = token_of(&url);
    let relay = |rest: &str| app.url(&format!("/in-relay/{token}{rest}"));
    // A listener's first poll: from now on the inbox is listened to.
    let first = app.http.get(relay("?wait=0")).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let ep = api.endpoint_id("acme", json!({"url": url})).await;
    api.post(
        "/api/v1/app/acme/msg",
        json!({"eventType": "a", "payload": {"n": 1}}),
    )
    .await;
    let listener = async {
        let mut waiting = None;
        // Each poll is held up to half a second; bounded, not a sleep.
        for _ in 0..40 {
            let list: Value = app
                .http
                .get(relay("?wait=500"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(id) = list["waiting"][0].as_str() {
                waiting = Some(id.to_owned());
                break;
            }
        }
        let id = waiting.expect("the delivery reached the listener");
        let claimed = app
            .http
            .post(relay(&format!("/{id}/claim")))
            .send()
            .await
            .unwrap();
        assert_eq!(claimed.status(), 200);
        let taken: Value = claimed.json().await.unwrap();
        let answered = app
            .http
            .post(relay(&format!("/{id}")))
            .header("content-type", "application/json")
            .body(json!({"status": 202, "body": "from the laptop"}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(answered.status(), 204);
        taken
    };
    let (tried, taken) = tokio::join!(app.run_pending_deliveries(), listener);
    assert_eq!(tried, 1);
    assert_eq!(taken["body"], inspector::base64(br#"{"n":1}"#));
    let list = api.get(&format!("/api/v1/app/acme/attempt/endpoint/{ep}")).await;
    assert_eq!(list["data"][0]["responseStatusCode"], 202, "{list}");
    assert_eq!(list["data"][0]["response"], "from the laptop");
}
