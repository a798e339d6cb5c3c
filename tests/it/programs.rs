//! Endpoint filters and transformations in jq (issue 18), end to end: filters chosen by
//! payload, channel and tag at acceptance; programs refused with their line and column;
//! runaway programs cut off and recorded as not matched; transformations received with
//! a signature over the bytes sent, kept on the endpoint's host, logged as sent.

use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tests::{
    api::{Api, attempts, setup},
    local_app,
    receiver::Receiver,
};

/// `method path` with `body`: the status and the JSON answer, whatever they are.
async fn raw(api: &Api<'_>, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let res = api
        .app
        .http
        .request(method, api.app.url(path))
        .bearer_auth(&api.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The endpoint ids a message has destinations to.
async fn destinations(api: &Api<'_>, msg: &Value) -> Vec<String> {
    let list = api
        .get(&format!(
            "/api/v1/app/acme/msg/{}/endpoint",
            msg["id"].as_str().unwrap()
        ))
        .await;
    let mut ids: Vec<String> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// `filteredOut` of a message as the API shows it: endpoint id → reason.
async fn filtered_out(api: &Api<'_>, msg: &Value) -> Vec<(String, String)> {
    let msg = api
        .get(&format!("/api/v1/app/acme/msg/{}", msg["id"].as_str().unwrap()))
        .await;
    let mut out: Vec<(String, String)> = msg["filteredOut"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    (
                        f["endpointId"].as_str().unwrap().to_owned(),
                        f["reason"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[tokio::test]
async fn filters_choose_endpoints_by_payload_channel_and_tag() {
    let app = local_app().await;
    let api = setup(&app).await;
    let receiver = Receiver::start(&[]).await;
    let big = api.endpoint_id("acme", json!({"url": receiver.url, "uid": "big", "filter": ".payload.amount > 1000 and .payload.region == \"eu\""}),
    )
    .await;
    let eu = api
        .endpoint_id(
            "acme",
            json!({"url": receiver.url, "uid": "eu", "filter": "any(.channels[]; . == \"eu\")"}),
        )
        .await;
    let vip = api
        .endpoint_id(
            "acme",
            json!({"url": receiver.url, "uid": "vip", "filter": ".tags | index(\"vip\") != null"}),
        )
        .await;
    let typed = api
        .endpoint_id(
            "acme",
            json!({"url": receiver.url, "uid": "typed", "filter": ".eventType | startswith(\"invoice.\")"}),
        )
        .await;
    let all = api
        .endpoint_id("acme", json!({"url": receiver.url, "uid": "all"}))
        .await;
    let shown = api.get("/api/v1/app/acme/endpoint/big").await;
    assert_eq!(
        shown["filter"],
        ".payload.amount > 1000 and .payload.region == \"eu\""
    );

    let every = api
        .post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "invoice.paid", "payload": {"amount": 5000, "region": "eu"},
                   "channels": ["eu"], "tags": ["vip"]}),
        )
        .await;
    let mut expected = vec![big.clone(), eu.clone(), vip.clone(), typed.clone(), all.clone()];
    expected.sort();
    assert_eq!(destinations(&api, &every).await, expected);
    assert_eq!(filtered_out(&api, &every).await, vec![]);

    let few = api
        .post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "user.created", "payload": {"amount": 5000, "region": "us"},
                   "channels": ["us"], "tags": ["vip"]}),
        )
        .await;
    let mut expected = vec![vip.clone(), all.clone()];
    expected.sort();
    assert_eq!(destinations(&api, &few).await, expected);
    let mut reasons = vec![
        (big.clone(), "the filter gave false".to_owned()),
        (eu.clone(), "the filter gave false".to_owned()),
        (typed.clone(), "the filter gave false".to_owned()),
    ];
    reasons.sort();
    assert_eq!(filtered_out(&api, &few).await, reasons);

    // Without tags or channels, `.tags` and `.channels` are `[]`: filters on them say no.
    let bare = api
        .post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "invoice.paid", "payload": {"amount": 1}}),
        )
        .await;
    let mut expected = vec![typed.clone(), all.clone()];
    expected.sort();
    assert_eq!(destinations(&api, &bare).await, expected);

    // What was accepted is delivered: 5 + 2 + 2.
    let got = tests::eventually(Duration::from_secs(20), async || {
        (receiver.got().len() >= 9).then_some(())
    })
    .await;
    assert!(got.is_some(), "got {}", receiver.got().len());

    // Removing the filter lets everything through again.
    api.call(
        reqwest::Method::PATCH,
        "/api/v1/app/acme/endpoint/big",
        Some(json!({"filter": null}).to_string()),
    )
    .await;
    let after = api
        .post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "user.created", "payload": {"amount": 1}}),
        )
        .await;
    let mut expected = vec![big.clone(), all.clone()];
    expected.sort();
    assert_eq!(destinations(&api, &after).await, expected);
    assert!(
        api.get("/api/v1/app/acme/endpoint/big").await["filter"].is_null(),
        "the filter is gone"
    );
}

#[tokio::test]
async fn bad_programs_are_refused_with_their_position_and_change_nothing() {
    let app = local_app().await;
    let api = setup(&app).await;
    let receiver = Receiver::start(&[]).await;
    api.endpoint_id(
        "acme",
        json!({"url": receiver.url, "uid": "main", "filter": ".payload.ok"}),
    )
    .await;
    let before = api.get("/api/v1/app/acme/endpoint/main").await;

    for (field, source, line, column, says) in [
        ("filter", ".payload |\n  nope(1)", 2, 3, "nope"),
        ("filter", ".a and (.b", 1, 11, "expected"),
        ("transformation", "{body: $ENV}", 1, 8, "no I/O"),
        ("transformation", "input", 1, 1, "no I/O"),
        ("filter", "env.HOME", 1, 1, "no I/O"),
        ("filter", "debug", 1, 1, "no I/O"),
        ("filter", "halt", 1, 1, "no I/O"),
        ("transformation", "input_filename", 1, 1, "no I/O"),
        (
            "filter",
            r#"("x" * 10000000000) | length > 1"#,
            1,
            6,
            "multiply(a; b)",
        ),
        (
            "transformation",
            "{body: .payload} | .body.n *= 2",
            1,
            28,
            "multiply(a; b)",
        ),
    ] {
        let want = format!("line {line}, column {column}");
        for (method, path) in [
            (reqwest::Method::POST, "/api/v1/app/acme/endpoint"),
            (reqwest::Method::PATCH, "/api/v1/app/acme/endpoint/main"),
            (reqwest::Method::PUT, "/api/v1/app/acme/endpoint/main"),
        ] {
            let body = json!({"url": receiver.url, "uid": "other", field: source});
            let (status, answer) = raw(&api, method.clone(), path, body).await;
            assert_eq!(status, 422, "{method} {source:?}: {answer}");
            let detail = &answer["detail"][0];
            assert_eq!(detail["loc"], json!(["body", field]), "{answer}");
            let msg = detail["msg"].as_str().unwrap();
            assert!(msg.contains(&want), "{source:?}: {msg} lacks {want}");
            assert!(msg.contains(says), "{source:?}: {msg} lacks {says}");
        }
    }
    for (field, source) in [
        ("filter", "1 + ".repeat(5000) + "1"),
        ("filter", "   ".to_owned()),
    ] {
        let (status, answer) = raw(
            &api,
            reqwest::Method::PATCH,
            "/api/v1/app/acme/endpoint/main",
            json!({field: source}),
        )
        .await;
        assert_eq!(status, 422, "{answer}");
    }
    let (status, answer) = raw(
        &api,
        reqwest::Method::PATCH,
        "/api/v1/app/acme/endpoint/main",
        json!({"filter": 3}),
    )
    .await;
    assert_eq!(status, 422, "a program is a string: {answer}");

    let list = api.get("/api/v1/app/acme/endpoint").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "nothing was created");
    assert_eq!(
        api.get("/api/v1/app/acme/endpoint/main").await,
        before,
        "nothing was changed"
    );
}

#[tokio::test]
async fn runaway_filters_are_cut_off_and_recorded_as_not_matched() {
    let app = local_app().await;
    let api = setup(&app).await;
    let receiver = Receiver::start(&[]).await;
    let mut runaway = Vec::new();
    for (uid, filter) in [
        ("forever", "def f: f; f"),
        ("huge", "[range(1e9)] | length > 0"),
        ("deep", "def f: 1 + f; f"),
        ("nested", "reduce range(1e9) as $i (null; [.]) | true"),
        ("fails", ".payload.n | ltrimstr(1) | error"),
    ] {
        runaway.push((
            api.endpoint_id("acme", json!({"url": receiver.url, "uid": uid, "filter": filter}))
                .await,
            uid,
        ));
    }
    let plain = api
        .endpoint_id("acme", json!({"url": receiver.url, "uid": "plain"}))
        .await;

    let started = Instant::now();
    let msg = api
        .post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "a", "payload": {"n": 1}}),
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "accepted in {:?}",
        started.elapsed()
    );
    assert_eq!(destinations(&api, &msg).await, vec![plain.clone()]);
    let out = filtered_out(&api, &msg).await;
    assert_eq!(out.len(), runaway.len(), "{out:?}");
    for (id, uid) in &runaway {
        let reason = &out.iter().find(|(e, _)| e == id).unwrap().1;
        let expected = if *uid == "fails" { "failed" } else { "stopped" };
        assert!(reason.contains(expected), "{uid}: {reason}");
    }

    // The server is still there and delivers.
    api.wait_for("/api/v1/app/acme/attempt/endpoint/plain", |v| attempts(v) == 1)
        .await;
    assert_eq!(receiver.got().len(), 1);
}

const SLACK: &str = r#"{
  method: "PUT",
  url: "/services/T000/B000?team=billing",
  headers: {"x-herald-shape": "slack"},
  body: {
    text: "Invoice \(.payload.id) paid: \(.payload.amount) \(.payload.currency)",
    blocks: [{type: "section", text: {type: "mrkdwn", text: "*\(.eventType)* on \(.channels | join(", "))"}}]
  }
}"#;

#[tokio::test]
async fn a_slack_transformation_is_received_signed_over_the_bytes_sent_and_logged_as_sent() {
    let app = local_app().await;
    let api = setup(&app).await;
    let receiver = Receiver::start(&[]).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": receiver.url, "uid": "slack", "transformation": SLACK, "headers": {"X-Team": "billing"}}),
    )
    .await;
    assert_eq!(
        api.get("/api/v1/app/acme/endpoint/slack").await["transformation"],
        SLACK
    );
    let secret = api.get("/api/v1/app/acme/endpoint/slack/secret").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let msg = api
        .post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "invoice.paid", "channels": ["eu", "vip"],
                   "payload": {"id": "in_1", "amount": 1200, "currency": "EUR"}}),
        )
        .await;
    let list = api
        .wait_for("/api/v1/app/acme/attempt/endpoint/slack", |v| attempts(v) == 1)
        .await;

    let got = receiver.got();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.method, "PUT");
    let base = receiver.url.trim_end_matches("/hook");
    assert_eq!(req.path, "/services/T000/B000?team=billing");
    let body: Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(
        body,
        json!({"text": "Invoice in_1 paid: 1200 EUR",
               "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*invoice.paid* on eu, vip"}}]})
    );
    assert!(
        req.verifies(&secret),
        "the signature covers the transformed bytes"
    );
    assert_eq!(req.header("webhook-id"), msg["id"].as_str());
    assert_eq!(req.header("x-herald-shape"), Some("slack"));
    assert_eq!(
        req.header("x-team"),
        Some("billing"),
        "the endpoint's headers still go"
    );

    let attempt = &list["data"][0];
    assert_eq!(attempt["status"], 0, "{attempt}");
    assert_eq!(attempt["url"], format!("{base}/services/T000/B000?team=billing"));
    let logged = &attempt["request"];
    assert_eq!(logged["method"], "PUT");
    assert_eq!(logged["url"], attempt["url"]);
    assert_eq!(
        logged["body"].as_str(),
        Some(req.body.as_str()),
        "the exact bytes sent"
    );
    for name in [
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "x-herald-shape",
        "x-team",
        "content-type",
    ] {
        assert_eq!(
            logged["headers"][name].as_str(),
            req.header(name),
            "{name} as the receiver saw it"
        );
    }
}

#[tokio::test]
async fn a_transformation_cannot_change_the_host_and_its_failures_wait_for_a_fix() {
    let app = local_app().await;
    let api = setup(&app).await;
    let receiver = Receiver::start(&[]).await;
    let elsewhere = Receiver::start(&[]).await;
    let other_host = elsewhere.url.replace("/hook", "/steal");
    let sneaky = format!("{{body: ., url: \"{other_host}\"}}");
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": receiver.url, "uid": "main", "transformation": sneaky}),
    )
    .await;
    for transformation in [
        sneaky.clone(),
        "{body: ., url: \"//169.254.169.254/latest\"}".to_owned(),
        "{body: ., method: \"DELETE\"}".to_owned(),
        "{body: ., headers: {\"webhook-signature\": \"v1,forged\"}}".to_owned(),
        "def f: f; f".to_owned(),
    ] {
        api.call(
            reqwest::Method::PATCH,
            "/api/v1/app/acme/endpoint/main",
            Some(json!({"transformation": transformation}).to_string()),
        )
        .await;
        let before = attempts(&api.get("/api/v1/app/acme/attempt/endpoint/main").await);
        api.post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "a", "payload": {"n": 1}}),
        )
        .await;
        let list = api
            .wait_for("/api/v1/app/acme/attempt/endpoint/main", |v| {
                attempts(v) == before + 1
            })
            .await;
        let attempt = &list["data"][0];
        assert_eq!(
            attempt["errorKind"], "transformation",
            "{transformation}: {attempt}"
        );
        assert_eq!(attempt["status"], 2);
        assert!(attempt["nextAttempt"].is_null(), "not retried: {attempt}");
        assert!(
            !attempt["response"].as_str().unwrap().is_empty(),
            "a reason: {attempt}"
        );
    }
    let stats = api.get("/api/v1/app/acme/endpoint/main/stats").await;
    assert_eq!(stats["fail"], 5, "{stats}");
    assert!(elsewhere.got().is_empty(), "nothing reached the other host");
    assert!(receiver.got().is_empty(), "nothing was sent at all");

    // Once the program is fixed, `recover` sends them again.
    api.call(
        reqwest::Method::PATCH,
        "/api/v1/app/acme/endpoint/main",
        Some(json!({"transformation": "{body: {n: .payload.n}, url: \"/fixed\"}"}).to_string()),
    )
    .await;
    let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    api.post(
        "/api/v1/app/acme/endpoint/main/recover",
        json!({"since": hour_ago}),
    )
    .await;
    api.wait_for("/api/v1/app/acme/endpoint/main/stats", |v| {
        v["success"] == 5 && v["fail"] == 0
    })
    .await;
    let got = receiver.got();
    assert_eq!(got.len(), 5);
    assert!(
        got.iter().all(|g| g.path == "/fixed" && g.body == r#"{"n":1}"#),
        "{got:?}"
    );
    assert!(elsewhere.got().is_empty());
}

#[tokio::test]
async fn the_sdks_javascript_transformation_routes_point_to_the_jq_fields() {
    let app = local_app().await;
    let api = setup(&app).await;
    let receiver = Receiver::start(&[]).await;
    api.endpoint_id("acme", json!({"url": receiver.url, "uid": "main"}))
        .await;
    for (method, path) in [
        (
            reqwest::Method::GET,
            "/api/v1/app/acme/endpoint/main/transformation",
        ),
        (
            reqwest::Method::PATCH,
            "/api/v1/app/acme/endpoint/main/transformation",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/app/acme/endpoint/main/transformation/simulate",
        ),
    ] {
        let (status, answer) = raw(&api, method.clone(), path, json!({"code": "x", "enabled": true})).await;
        assert_eq!(status, 501, "{method} {path}: {answer}");
        assert_eq!(answer["code"], "not_supported");
        assert!(
            answer["detail"].as_str().unwrap().contains("`transformation`"),
            "{answer}"
        );
    }
    assert!(
        api.get("/api/v1/app/acme/endpoint/main").await["transformation"].is_null(),
        "nothing was set"
    );
}

/// The page's text between `start` and the next `end` after it.
fn between<'b>(body: &'b str, start: &str, end: &str) -> &'b str {
    let from = body.find(start).map_or(body.len(), |i| i + start.len());
    let rest = &body[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

#[tokio::test]
async fn the_programs_page_tries_and_saves_without_javascript() {
    let app = local_app().await;
    let mut w = crate::options_pages::world(&app).await;
    let receiver = Receiver::start(&[]).await;
    let ep = w
        .api
        .post(
            &format!("/api/v1/app/{}/endpoint", w.app_path.rsplit('/').next().unwrap()),
            json!({"url": receiver.url, "uid": "main"}),
        )
        .await;
    let ep_path = format!("{}/endpoints/{}", w.app_path, ep["id"].as_str().unwrap());
    let msg = w
        .api
        .post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "user.created", "payload": {"name": "Ada", "plan": "pro"}}),
        )
        .await;
    let msg_id = msg["id"].as_str().unwrap();

    let page = w.admin.get(&format!("{ep_path}/programs")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.csrf();
    let sample = format!("msg:{msg_id}");
    assert!(
        page.body.contains(&format!("value=\"{sample}\"")),
        "recent messages are offered"
    );
    assert!(
        page.body.contains("value=\"example:user.created\""),
        "examples are offered"
    );

    // Try: a filter that matches and a Slack-style transformation.
    let tried = w
        .admin
        .post(
            &format!("{ep_path}/programs"),
            &[
                ("csrf", &csrf),
                ("filter", ".payload.plan == \"pro\""),
                (
                    "transformation",
                    "{body: {text: \"Welcome \\(.payload.name)\"}, url: \"/slack\"}",
                ),
                ("sample", &sample),
                ("action", "try"),
            ],
        )
        .await;
    assert_eq!(tried.status, 200, "{}", tried.body);
    assert!(between(&tried.body, "id=\"trial-verdict\">", "<").contains("Matched"));
    let base = receiver.url.trim_end_matches("/hook");
    assert_eq!(
        between(&tried.body, "id=\"trial-request\">", "<"),
        format!("POST {base}/slack")
    );
    assert!(
        between(&tried.body, "id=\"trial-body\">", "</pre>").contains("Welcome Ada"),
        "{}",
        tried.body
    );
    let row = app
        .ctx
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.ctx.db.get_database_backend(),
            "SELECT filter, transformation FROM endpoint",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.try_get::<Option<String>>("", "filter").unwrap(),
        None,
        "trying saves nothing"
    );

    // A filter that does not match says why; a runaway one is cut off.
    for (filter, says) in [
        (".payload.plan == \"free\"", "gave false"),
        ("def f: f; f", "stopped"),
    ] {
        let tried = w
            .admin
            .post(
                &format!("{ep_path}/programs"),
                &[
                    ("csrf", &csrf),
                    ("filter", filter),
                    ("sample", &sample),
                    ("action", "try"),
                ],
            )
            .await;
        assert_eq!(tried.status, 200);
        assert!(between(&tried.body, "id=\"trial-verdict\">", "<").contains("Not matched"));
        assert!(
            between(&tried.body, "id=\"trial-reason\">", "<").contains(says),
            "{filter}"
        );
    }

    // A bad program is refused beside its field, with its position, and nothing is saved.
    let refused = w
        .admin
        .post(
            &format!("{ep_path}/programs"),
            &[
                ("csrf", &csrf),
                ("filter", ".a |\n nope"),
                ("sample", &sample),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        between(&refused.body, "id=\"p-filter-error\" class=\"field-error\">", "<")
            .contains("line 2, column 2"),
        "{}",
        refused.body
    );

    // Save.
    let saved = w
        .admin
        .post(
            &format!("{ep_path}/programs"),
            &[
                ("csrf", &csrf),
                ("filter", ".payload.plan == \"pro\""),
                ("transformation", "{body: {text: .payload.name}}"),
                ("action", "save"),
            ],
        )
        .await;
    assert!(
        saved.redirects_to(&format!("{ep_path}/programs?saved=1")),
        "{}",
        saved.status
    );
    let shown = w.api.get("/api/v1/app/acme/endpoint/main").await;
    assert_eq!(shown["filter"], ".payload.plan == \"pro\"");
    assert_eq!(shown["transformation"], "{body: {text: .payload.name}}");

    // The message page says which filter kept a message out.
    let free = w
        .api
        .post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "user.created", "payload": {"name": "Bob", "plan": "free"}}),
        )
        .await;
    let page = w
        .admin
        .get(&format!(
            "{}/messages/{}",
            w.app_path,
            free["id"].as_str().unwrap()
        ))
        .await;
    let table = between(&page.body, "id=\"filtered-out\"", "</table>");
    assert!(
        table.contains(ep["id"].as_str().unwrap()) && table.contains("the filter gave false"),
        "{}",
        page.body
    );
}
