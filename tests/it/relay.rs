//! `herald listen`'s side of Herald, over HTTP: a request to an inbox with a listener is
//! named to the listener (`GET /in-relay/{token}`), taken by it
//! (`POST /in-relay/{token}/{request}/claim`) and answered with what the listener posts
//! back (`POST /in-relay/{token}/{request}`); two listeners never get the same request,
//! even through two API processes; a poll whose listener went away takes nothing; a request
//! nobody answers expires and a late answer is refused; bad tokens and answers are refused
//! with nothing changed; an inbox without a listener answers as it always did.

use std::time::{Duration, Instant};

use base64::Engine as _;
use domain::{
    entity::{inbox, inbox_request::RelayState},
    id::TenantId,
    scope::TenantScoped,
    service::{
        inspector::{self, Incoming, Recorded},
        token,
    },
};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};
use tests::{OtherApi, TestApp, api::Api, eventually};

/// An inbox of a new tenant: the tenant's API, the inbox's id and its URL.
async fn inbox_of_new_tenant<'a>(app: &'a TestApp, body: Value) -> (Api<'a>, String, String) {
    let api = Api::of_new_tenant(app, "relay").await;
    let made = api.post("/api/v1/inspector", body).await;
    let id = made["id"].as_str().unwrap().to_owned();
    let url = made["url"].as_str().unwrap().to_owned();
    (api, id, url)
}

/// The tenant `api` acts for.
async fn tenant_of(api: &Api<'_>) -> TenantId {
    token::authenticate(&api.app.ctx, &api.token)
        .await
        .unwrap()
        .tenant
}

fn token_of(url: &str) -> String {
    url.rsplit("/in/").next().unwrap().to_owned()
}

/// One poll of `base`'s relay for `token`, held at most `wait_ms`: the status and answer.
async fn poll(app: &TestApp, base: &str, token: &str, wait_ms: u64) -> (StatusCode, Value) {
    let res = app
        .http
        .get(format!("{base}/in-relay/{token}?wait={wait_ms}"))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// The ids one poll named as waiting.
async fn waiting(app: &TestApp, base: &str, token: &str, wait_ms: u64) -> Vec<String> {
    let (status, list) = poll(app, base, token, wait_ms).await;
    assert_eq!(status, 200, "{list}");
    list["waiting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect()
}

/// Takes request `id` as a listener of `base`: the status and answer.
async fn claim(app: &TestApp, base: &str, token: &str, id: &str) -> (StatusCode, Value) {
    answer(app, base, &format!("{token}/{id}"), "claim", "").await
}

/// The requests one poll named and this listener then took.
async fn taken(app: &TestApp, base: &str, token: &str, wait_ms: u64) -> Vec<Value> {
    let mut taken = Vec::new();
    for id in waiting(app, base, token, wait_ms).await {
        let (status, request) = claim(app, base, token, &id).await;
        assert_eq!(status, 200, "{request}");
        taken.push(request);
    }
    taken
}

/// Posts a listener's answer (raw JSON text): the status and answer.
async fn answer(app: &TestApp, base: &str, token: &str, request: &str, body: &str) -> (StatusCode, Value) {
    let res = app
        .http
        .post(format!("{base}/in-relay/{token}/{request}"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Sends a request to the inbox in the background (its sender waits for the relay): its
/// status and body when answered.
fn send(app: &TestApp, url: String, body: Vec<u8>) -> tokio::task::JoinHandle<(StatusCode, String)> {
    let http = app.http.clone();
    tokio::spawn(async move {
        let res = http
            .post(url)
            .header("x-herald-test", "relayed")
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.text().await.unwrap())
    })
}

/// Polls until the listener has been handed `n` requests in all.
async fn take_n(app: &TestApp, token: &str, n: usize) -> Vec<Value> {
    let mut got = Vec::new();
    eventually(Duration::from_secs(20), async || {
        got.extend(taken(app, &app.base_url, token, 500).await);
        (got.len() >= n).then_some(())
    })
    .await
    .expect("the listener was handed the requests");
    got
}

#[tokio::test]
async fn a_request_to_a_listened_inbox_is_answered_with_what_the_listener_relays() {
    let app = TestApp::spawn().await;
    let (api, inbox_id, url) = inbox_of_new_tenant(&app, json!({"name": "laptop"})).await;
    let token = token_of(&url);
    assert!(
        taken(&app, &app.base_url, &token, 0).await.is_empty(),
        "nothing waits yet"
    );

    // Bytes that are not UTF-8 travel unchanged.
    let body = b"{\"amount\":12}\xff\x00".to_vec();
    let sender = send(&app, format!("{url}/orders/7?x=1&y=2"), body.clone());
    let handed = take_n(&app, &token, 1).await;
    assert_eq!(handed.len(), 1);
    let request = &handed[0];
    assert_eq!(request["method"], "POST");
    assert_eq!(request["path"], "/orders/7");
    assert_eq!(request["query"], "x=1&y=2");
    assert_eq!(request["truncated"], false);
    let header = |name: &str| {
        request["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .map(|h| h["value"].clone())
    };
    assert_eq!(header("x-herald-test"), Some(json!("relayed")));
    let sent = base64::engine::general_purpose::STANDARD
        .decode(request["body"].as_str().unwrap())
        .unwrap();
    assert_eq!(sent, body);

    let id = request["id"].as_str().unwrap();
    let (status, detail) = answer(
        &app,
        &app.base_url,
        &token,
        id,
        r#"{"status": 201, "body": "made it locally"}"#,
    )
    .await;
    assert_eq!(status, 204, "{detail}");
    let (status, text) = sender.await.unwrap();
    assert_eq!(status, 201);
    assert_eq!(text, "made it locally");

    // Recorded like any other request, and answered once only.
    let recorded = api
        .get(&format!("/api/v1/inspector/{inbox_id}/request/{id}"))
        .await;
    assert_eq!(recorded["path"], "/orders/7");
    let (status, again) = answer(&app, &app.base_url, &token, id, r#"{"status": 200}"#).await;
    assert_eq!(status, 409, "{again}");
    assert!(
        again["detail"].as_str().unwrap().contains("answered already"),
        "{again}"
    );
    assert!(taken(&app, &app.base_url, &token, 0).await.is_empty());
}

#[tokio::test]
async fn two_listeners_on_two_api_processes_never_get_the_same_request() {
    let app = TestApp::spawn().await;
    let other = OtherApi::spawn(&app.settings).await;
    let (_api, _, url) = inbox_of_new_tenant(&app, json!({"name": "shared"})).await;
    let token = token_of(&url);
    taken(&app, &app.base_url, &token, 0).await;

    let senders: Vec<_> = (0..6)
        .map(|i| send(&app, url.clone(), format!("request {i}").into_bytes()))
        .collect();
    // Both listeners see every waiting request and both try to take each one at once:
    // exactly one of them gets it.
    let (mut first, mut second) = (Vec::new(), Vec::new());
    eventually(Duration::from_secs(20), async || {
        let (a, b) = tokio::join!(
            waiting(&app, &app.base_url, &token, 500),
            waiting(&app, &other.base_url, &token, 500),
        );
        let seen: std::collections::BTreeSet<String> = a.into_iter().chain(b).collect();
        for id in seen {
            let (here, there) = tokio::join!(
                claim(&app, &app.base_url, &token, &id),
                claim(&app, &other.base_url, &token, &id),
            );
            match (here.0.as_u16(), there.0.as_u16()) {
                (200, 409) => first.push(here.1),
                (409, 200) => second.push(there.1),
                _ => panic!("{id} was taken by both or neither: {here:?} {there:?}"),
            }
        }
        (first.len() + second.len() >= 6).then_some(())
    })
    .await
    .expect("the listeners took every request");
    let mut ids: Vec<&str> = first
        .iter()
        .chain(&second)
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        6,
        "each request went to one listener: {first:?} {second:?}"
    );

    // Each answered through the API process its listener polls; each sender gets its own.
    for (base, handed) in [(&app.base_url, &first), (&other.base_url, &second)] {
        for request in handed {
            let sent = base64::engine::general_purpose::STANDARD
                .decode(request["body"].as_str().unwrap())
                .unwrap();
            let echo = json!({"status": 202, "body": format!("got {}", String::from_utf8(sent).unwrap())});
            let (status, detail) = answer(
                &app,
                base,
                &token,
                request["id"].as_str().unwrap(),
                &echo.to_string(),
            )
            .await;
            assert_eq!(status, 204, "{detail}");
        }
    }
    for (i, sender) in senders.into_iter().enumerate() {
        assert_eq!(
            sender.await.unwrap(),
            (StatusCode::ACCEPTED, format!("got request {i}"))
        );
    }
}

#[tokio::test]
async fn a_relayed_request_nobody_answers_expires_and_a_late_answer_is_refused() {
    let app = TestApp::spawn().await;
    let (_api, _, url) = inbox_of_new_tenant(&app, json!({"name": "silent"})).await;
    let token = token_of(&url);
    taken(&app, &app.base_url, &token, 0).await;
    let incoming = || Incoming {
        method: "POST".into(),
        path: "/late".into(),
        body: b"{}".to_vec(),
        ..Incoming::default()
    };

    // Taken by a listener that never answers: its sender is given up on at the deadline.
    let Recorded::Relayed { tenant, request } =
        inspector::record(&app.ctx, &token, incoming()).await.unwrap()
    else {
        panic!("a request to a listened inbox is relayed");
    };
    let handed = taken(&app, &app.base_url, &token, 0).await;
    assert_eq!(handed.len(), 1);
    assert_eq!(handed[0]["id"], request.to_string());
    let deadline = Instant::now() + Duration::from_millis(300);
    let given = inspector::await_answer(&app.ctx, &tenant, &request, deadline)
        .await
        .unwrap();
    assert_eq!(given, None, "no answer by the deadline");
    let (status, late) = answer(
        &app,
        &app.base_url,
        &token,
        &request.to_string(),
        r#"{"status": 200, "body": "sorry"}"#,
    )
    .await;
    assert_eq!(status, 409, "{late}");
    assert!(late["detail"].as_str().unwrap().contains("too late"), "{late}");

    // Never taken: it expires too, and no listener is handed it afterwards.
    let Recorded::Relayed { request, .. } = inspector::record(&app.ctx, &token, incoming()).await.unwrap()
    else {
        panic!("a request to a listened inbox is relayed");
    };
    let deadline = Instant::now() + Duration::from_millis(300);
    let given = inspector::await_answer(&app.ctx, &tenant, &request, deadline)
        .await
        .unwrap();
    assert_eq!(given, None);
    let (status, late) = claim(&app, &app.base_url, &token, &request.to_string()).await;
    assert_eq!(status, 409, "{late}");
    assert!(late["detail"].as_str().unwrap().contains("too late"), "{late}");
    let state = domain::entity::inbox_request::Entity::find_in_tenant(&tenant, request)
        .one(&app.ctx.db)
        .await
        .unwrap()
        .unwrap()
        .relay_state;
    assert_eq!(state, Some(RelayState::Expired));
    assert!(taken(&app, &app.base_url, &token, 0).await.is_empty());
}

#[tokio::test]
async fn a_wrong_token_is_404_and_a_bad_answer_is_422_with_nothing_changed() {
    let app = TestApp::spawn().await;
    let (_api, _, url) = inbox_of_new_tenant(&app, json!({"name": "strict"})).await;
    let token = token_of(&url);
    let unknown = "0123456789abcdef0123456789abcdef01234567";
    for wrong in [unknown, "short", "../in"] {
        let (status, body) = poll(&app, &app.base_url, wrong, 0).await;
        assert_eq!(status, 404, "{wrong}: {body}");
    }
    let (status, body) = poll(&app, &app.base_url, &token, 60_000).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["query", "wait"]));

    taken(&app, &app.base_url, &token, 0).await;
    let sender = send(&app, url.clone(), b"hello".to_vec());
    let named = eventually(Duration::from_secs(20), async || {
        let named = waiting(&app, &app.base_url, &token, 500).await;
        (!named.is_empty()).then_some(named)
    })
    .await
    .expect("the request waits for a listener");
    let id = named[0].as_str();
    // Not taken yet: no answer; the wrong inbox or request: nothing to take.
    let (status, body) = answer(&app, &app.base_url, &token, id, r#"{"status": 200}"#).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("claim it first"),
        "{body}"
    );
    let (status, body) = claim(&app, &app.base_url, unknown, id).await;
    assert_eq!(status, 404, "{body}");
    for wrong in ["inrq_01ARZ3NDEKTSV4RRFFQ69G5FAV", "nonsense"] {
        let (status, body) = claim(&app, &app.base_url, &token, wrong).await;
        assert_eq!(status, 404, "{body}");
    }
    let (status, body) = claim(&app, &app.base_url, &token, id).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = claim(&app, &app.base_url, &token, id).await;
    assert_eq!(status, 409, "taken once only: {body}");

    let (status, body) = answer(&app, &app.base_url, unknown, id, r#"{"status": 200}"#).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = answer(
        &app,
        &app.base_url,
        &token,
        "inrq_01ARZ3NDEKTSV4RRFFQ69G5FAV",
        r#"{"status": 200}"#,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let too_long = json!({"status": 200, "body": "x".repeat(inspector::MAX_RESPONSE_BODY + 1)}).to_string();
    for (bad, field) in [
        (r#"{"status": 99}"#, "status"),
        (r#"{"status": 600}"#, "status"),
        (r#"{"status": 70000}"#, "status"),
        (r#"{"status": "ok"}"#, "status"),
        (r#"{"body": "no status"}"#, "status"),
        (too_long.as_str(), "body"),
    ] {
        let (status, body) = answer(&app, &app.base_url, &token, id, bad).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(body["detail"][0]["loc"], json!(["body", field]), "{bad}: {body}");
    }
    let (status, body) = answer(&app, &app.base_url, &token, id, "not json").await;
    assert_eq!(status, 422, "{body}");

    // Nothing changed: the request still waits for its answer, and takes a good one.
    let (status, body) = answer(
        &app,
        &app.base_url,
        &token,
        id,
        r#"{"status": 418, "body": "teapot"}"#,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        sender.await.unwrap(),
        (StatusCode::IM_A_TEAPOT, "teapot".to_owned())
    );
}

#[tokio::test]
async fn an_inbox_without_a_listener_answers_as_before_and_keeps_its_script() {
    let app = TestApp::spawn().await;
    let (api, inbox_id, url) = inbox_of_new_tenant(
        &app,
        json!({"name": "scripted", "script": [{"status": 500, "body": "first"}], "response": {"status": 202, "body": "mine"}}),
    )
    .await;
    let token = token_of(&url);
    let send_now = async |body: &str| {
        let res = app.http.post(&url).body(body.to_owned()).send().await.unwrap();
        let status = res.status();
        (status, res.text().await.unwrap())
    };

    // A listener is there: the script's first step is left for later.
    taken(&app, &app.base_url, &token, 0).await;
    let sender = send(&app, url.clone(), b"relayed".to_vec());
    let handed = take_n(&app, &token, 1).await;
    let (status, body) = answer(
        &app,
        &app.base_url,
        &token,
        handed[0]["id"].as_str().unwrap(),
        r#"{"status": 200, "body": "local"}"#,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(sender.await.unwrap(), (StatusCode::OK, "local".to_owned()));

    // The listener went away more than half a minute ago: the inbox answers itself again.
    let tenant = tenant_of(&api).await;
    inbox::Entity::update_for_tenant(&tenant)
        .col_expr(
            inbox::Column::ListenedAt,
            Expr::value(Some(chrono::Utc::now() - chrono::TimeDelta::seconds(31))),
        )
        .filter(inbox::Column::Id.eq(inbox_id.clone()))
        .exec(&app.ctx.db)
        .await
        .unwrap();
    assert_eq!(
        send_now("one").await,
        (StatusCode::INTERNAL_SERVER_ERROR, "first".to_owned())
    );
    assert_eq!(send_now("two").await, (StatusCode::ACCEPTED, "mine".to_owned()));
    let recorded = api.get(&format!("/api/v1/inspector/{inbox_id}/request")).await;
    assert_eq!(recorded["data"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_poll_whose_listener_went_away_takes_nothing() {
    let app = TestApp::spawn().await;
    let (_api, _, url) = inbox_of_new_tenant(&app, json!({"name": "dropped"})).await;
    let token = token_of(&url);
    taken(&app, &app.base_url, &token, 0).await;
    // A poll given up by its client while the server still holds it.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let gave_up = impatient
        .get(format!("{}/in-relay/{token}?wait=20000", app.base_url))
        .send()
        .await;
    assert!(gave_up.is_err_and(|e| e.is_timeout()));

    let sender = send(&app, url.clone(), b"after".to_vec());
    let handed = take_n(&app, &token, 1).await;
    assert_eq!(handed.len(), 1, "the next poll gets it");
    let (status, body) = answer(
        &app,
        &app.base_url,
        &token,
        handed[0]["id"].as_str().unwrap(),
        r#"{"status": 200, "body": "still here"}"#,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(sender.await.unwrap(), (StatusCode::OK, "still here".to_owned()));
}
