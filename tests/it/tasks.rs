//! Background tasks end to end: each kind started through the API, run by `herald serve`'s
//! worker, with its counts, its effects on deliveries and payloads, the task list and its
//! filters, tenant isolation, bad input, and a task resumed after its worker died.

use std::{collections::BTreeSet, time::Duration};

use chrono::Utc;
use domain::{
    entity::background_task::{self, Kind, Params, Progress, Status},
    id::{MessageId, TaskId},
    service::{audit::Actor, task},
};
use sea_orm::{ActiveModelTrait, EntityTrait};
use serde_json::{Value, json};

use tests::{
    api::{Api, setup},
    local_app,
    receiver::Receiver,
};

/// Starts a task with `body` at `path`; checks the 202 answer's shape and gives the id.
async fn start(api: &Api<'_>, path: &str, body: Value, kind: &str) -> String {
    let (status, out) = api.send(reqwest::Method::POST, path, Some(body)).await;
    assert_eq!(status, 202, "{path}: {out}");
    assert_eq!(out["task"], kind, "{out}");
    assert!(out["status"] == "running" || out["status"] == "finished", "{out}");
    assert!(out["updatedAt"].is_string(), "{out}");
    let id = out["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("qtask_"), "{id}");
    id
}

/// Waits until the task has finished; gives it as the API shows it.
async fn finished(api: &Api<'_>, id: &str) -> Value {
    let task = api
        .wait_for(&format!("/api/v1/background-task/{id}"), |t| {
            t["status"] != "running"
        })
        .await;
    assert_eq!(task["status"], "finished", "{task}");
    task
}

fn hour_ago() -> String {
    (Utc::now() - chrono::Duration::hours(1)).to_rfc3339()
}

async fn message(api: &Api<'_>, app: &str, body: Value) -> String {
    api.post(&format!("/api/v1/app/{app}/msg"), body).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The messages (`webhook-id`) a receiver got, in order.
fn ids_got(receiver: &Receiver) -> Vec<String> {
    receiver
        .got()
        .iter()
        .map(|g| g.header("webhook-id").unwrap().to_owned())
        .collect()
}

async fn received(receiver: &Receiver, n: usize) {
    tests::eventually(Duration::from_secs(20), async || {
        (receiver.got().len() >= n).then_some(())
    })
    .await;
    assert_eq!(receiver.got().len(), n, "{:?}", ids_got(receiver));
}

#[tokio::test]
async fn replay_missing_sends_what_the_endpoint_would_take_and_never_had() {
    let app = local_app().await;
    let api = setup(&app).await;
    let receiver = Receiver::start(&[]).await;
    // Sent before the endpoint existed: only 1 and 5 are for it (2 fails its filter, 3 is
    // on another channel, 4 of another type); 7 is expunged.
    let mut before = Vec::new();
    for (n, event_type, channel) in [
        (1, "a", "eu"),
        (2, "a", "eu"),
        (3, "a", "us"),
        (4, "b", "eu"),
        (5, "a", "eu"),
        (7, "a", "eu"),
    ] {
        before.push(
            message(
                &api,
                "acme",
                json!({"eventType": event_type, "payload": {"n": n}, "channels": [channel]}),
            )
            .await,
        );
    }
    let (status, _) = api
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/app/acme/msg/{}/content", before[5]),
            None,
        )
        .await;
    assert_eq!(status, 204);
    api.post("/api/v1/event-type", json!({"name": "a", "description": ""}))
        .await;
    let (status, out) = api
        .send(
            reqwest::Method::POST,
            "/api/v1/app/acme/endpoint",
            Some(
                json!({"url": receiver.url, "uid": "late", "filterTypes": ["a"], "channels": ["eu"],
                    "filter": ".payload.n != 2"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    let live = message(
        &api,
        "acme",
        json!({"eventType": "a", "payload": {"n": 6}, "channels": ["eu"]}),
    )
    .await;
    received(&receiver, 1).await;

    let id = start(
        &api,
        "/api/v1/app/acme/endpoint/late/replay-missing",
        json!({"since": hour_ago()}),
        "endpoint.replay",
    )
    .await;
    let task = finished(&api, &id).await;
    assert_eq!(task["task"], "endpoint.replay");
    assert_eq!(task["data"], json!({"messagesSent": 2}), "{task}");
    received(&receiver, 3).await;
    let got: BTreeSet<String> = ids_got(&receiver).into_iter().collect();
    let want: BTreeSet<String> = [&before[0], &before[4], &live].into_iter().cloned().collect();
    assert_eq!(got, want);

    // Again: everything it would take, it has had.
    let again = start(
        &api,
        "/api/v1/app/acme/endpoint/late/replay-missing",
        json!({"since": hour_ago()}),
        "endpoint.replay",
    )
    .await;
    assert_eq!(finished(&api, &again).await["data"]["messagesSent"], 0);
    // A window before everything: nothing.
    let old = start(
        &api,
        "/api/v1/app/acme/endpoint/late/replay-missing",
        json!({"since": (Utc::now() - chrono::Duration::days(2)).to_rfc3339(),
               "until": (Utc::now() - chrono::Duration::days(1)).to_rfc3339()}),
        "endpoint.replay",
    )
    .await;
    assert_eq!(finished(&api, &old).await["data"]["messagesSent"], 0);
    tests::quiet_window(Duration::from_millis(1500)).await;
    assert_eq!(receiver.got().len(), 3);
}

#[tokio::test]
async fn bulk_replay_sends_the_endpoints_finished_deliveries_again_by_filter() {
    let app = local_app().await;
    let api = setup(&app).await;
    // The first message fails all three tries; everything after succeeds.
    let receiver = Receiver::start(&[500, 500, 500]).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": receiver.url, "uid": "main"}),
    )
    .await;
    let failed = message(&api, "acme", json!({"eventType": "a", "payload": {"n": 1}})).await;
    api.wait_for("/api/v1/app/acme/endpoint/main/stats", |v| v["fail"] == 1)
        .await;
    let ok = message(&api, "acme", json!({"eventType": "a", "payload": {"n": 2}})).await;
    let other = message(
        &api,
        "acme",
        json!({"eventType": "b", "payload": {"n": 3}, "tags": ["vip"]}),
    )
    .await;
    api.wait_for("/api/v1/app/acme/endpoint/main/stats", |v| v["success"] == 2)
        .await;
    received(&receiver, 5).await;
    let path = "/api/v1/app/acme/endpoint/main/bulk-replay";

    // Only the failed one (status 2 = fail).
    let id = start(
        &api,
        path,
        json!({"since": hour_ago(), "status": 2}),
        "endpoint.bulk-replay",
    )
    .await;
    assert_eq!(finished(&api, &id).await["data"], json!({"messagesSent": 1}));
    received(&receiver, 6).await;
    assert_eq!(ids_got(&receiver)[5], failed);
    api.wait_for("/api/v1/app/acme/endpoint/main/stats", |v| {
        v["success"] == 3 && v["fail"] == 0
    })
    .await;
    let attempts = api.get("/api/v1/app/acme/attempt/endpoint/main").await;
    assert_eq!(attempts["data"][0]["triggerType"], 1, "a replayed try is manual");

    // By event type: both of type `a`, successful now.
    let id = start(
        &api,
        path,
        json!({"since": hour_ago(), "eventTypes": ["a"]}),
        "endpoint.bulk-replay",
    )
    .await;
    assert_eq!(finished(&api, &id).await["data"]["messagesSent"], 2);
    received(&receiver, 8).await;
    let last: BTreeSet<String> = ids_got(&receiver)[6..].iter().cloned().collect();
    assert_eq!(last, [failed.clone(), ok.clone()].into_iter().collect());
    api.wait_for("/api/v1/app/acme/endpoint/main/stats", |v| v["success"] == 3)
        .await;

    // By response class: only the one that once got a 500.
    let id = start(
        &api,
        path,
        json!({"since": hour_ago(), "statusCodeClass": 500}),
        "endpoint.bulk-replay",
    )
    .await;
    assert_eq!(finished(&api, &id).await["data"]["messagesSent"], 1);
    received(&receiver, 9).await;
    assert_eq!(ids_got(&receiver)[8], failed);
    api.wait_for("/api/v1/app/acme/endpoint/main/stats", |v| v["success"] == 3)
        .await;

    // By tag; and an expunged message is not sent again.
    let (status, _) = api
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/app/acme/msg/{ok}/content"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let id = start(
        &api,
        path,
        json!({"since": hour_ago(), "tag": "vip"}),
        "endpoint.bulk-replay",
    )
    .await;
    assert_eq!(finished(&api, &id).await["data"]["messagesSent"], 1);
    received(&receiver, 10).await;
    assert_eq!(ids_got(&receiver)[9], other);
    api.wait_for("/api/v1/app/acme/endpoint/main/stats", |v| v["success"] == 3)
        .await;
    let id = start(&api, path, json!({"since": hour_ago()}), "endpoint.bulk-replay").await;
    assert_eq!(
        finished(&api, &id).await["data"]["messagesSent"],
        2,
        "all but the expunged one"
    );
    received(&receiver, 12).await;
    assert!(!ids_got(&receiver)[10..].contains(&ok));
}

#[tokio::test]
async fn recover_runs_as_a_persisted_task() {
    let app = local_app().await;
    let api = setup(&app).await;
    // Two messages fail their three tries, and once more when recovered through the route.
    let receiver = Receiver::start(&[500; 8]).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": receiver.url, "uid": "main"}),
    )
    .await;
    for n in 0..2 {
        message(&api, "acme", json!({"eventType": "a", "payload": {"n": n}})).await;
    }
    api.wait_for("/api/v1/app/acme/endpoint/main/stats", |v| v["fail"] == 2)
        .await;
    received(&receiver, 6).await;

    // Through the route: the task is there to look up, and finishes.
    api.post(
        "/api/v1/app/acme/endpoint/main/recover",
        json!({"since": hour_ago()}),
    )
    .await;
    let list = api
        .wait_for("/api/v1/background-task?task=endpoint.recover", |l| {
            l["data"][0]["status"] == "finished"
        })
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["data"][0]["data"], json!({"messagesSent": 2}));
    received(&receiver, 8).await;
    api.wait_for("/api/v1/app/acme/endpoint/main/stats", |v| v["fail"] == 2)
        .await;

    // Left to the worker.
    let tenant = tests_tenant(&api).await;
    let window = task::Window::parse(Utc::now() - chrono::Duration::hours(1), None).unwrap();
    let made = task::recover(&app.ctx, &tenant, "acme", "main", window, &Actor::Cli)
        .await
        .unwrap();
    assert_eq!(made.status, Status::Running);
    let done = finished(&api, made.id.as_str()).await;
    assert_eq!(done["data"], json!({"messagesSent": 2}));
    received(&receiver, 10).await;
    api.wait_for("/api/v1/app/acme/endpoint/main/stats", |v| {
        v["success"] == 2 && v["fail"] == 0
    })
    .await;
    let attempts = api.get("/api/v1/app/acme/attempt/endpoint/main").await;
    assert_eq!(attempts["data"][0]["triggerType"], 1, "a recovery try is manual");
}

/// The tenant of `api`'s token.
async fn tests_tenant(api: &Api<'_>) -> domain::id::TenantId {
    let me = api.get("/api/v1/auth/whoami").await;
    domain::id::TenantId::parse(me["envId"].as_str().unwrap()).unwrap()
}

/// A replay of the last hour of `acme` to `endpoint`, as `replay-missing` writes it, that
/// no worker has taken yet.
async fn replay_row(api: &Api<'_>, endpoint: &str) -> background_task::Model {
    let now = Utc::now();
    let app = api.get("/api/v1/app/acme").await;
    background_task::Model {
        id: TaskId::new(),
        tenant_id: tests_tenant(api).await,
        app_id: Some(domain::id::AppId::parse(app["id"].as_str().unwrap()).unwrap()),
        task: Kind::Replay,
        status: Status::Running,
        params: Params {
            endpoint_id: Some(domain::id::EndpointId::parse(endpoint).unwrap()),
            since: Some(now - chrono::Duration::hours(1)),
            until: Some(now),
            ..Params::default()
        },
        data: Progress {
            messages_sent: Some(0),
            messages_purged: None,
        },
        cursor: None,
        error: None,
        claimed_by: None,
        lease_until: None,
        created_at: now,
        updated_at: now,
    }
}

#[tokio::test]
async fn expunge_all_contents_erases_every_payload_of_the_application() {
    let app = local_app().await;
    let api = setup(&app).await;
    api.post("/api/v1/app", json!({"name": "Brief", "uid": "brief"}))
        .await;
    let mut acme = Vec::new();
    for n in 0..3 {
        acme.push(message(&api, "acme", json!({"eventType": "a", "payload": {"n": n}})).await);
    }
    let kept = message(&api, "brief", json!({"eventType": "a", "payload": {"n": 9}})).await;

    let id = start(
        &api,
        "/api/v1/app/acme/msg/expunge-all-contents",
        json!({}),
        "application.purge_content",
    )
    .await;
    let task = finished(&api, &id).await;
    assert_eq!(task["task"], "application.purge_content");
    assert_eq!(task["data"], json!({"messagesPurged": 3}));
    for msg in &acme {
        let got = api.get(&format!("/api/v1/app/acme/msg/{msg}")).await;
        assert_eq!(got["payload"], json!({"expired": true}), "{got}");
    }
    assert_eq!(
        api.get(&format!("/api/v1/app/brief/msg/{kept}")).await["payload"],
        json!({"n": 9})
    );
    // Nothing left to erase.
    let again = start(
        &api,
        "/api/v1/app/acme/msg/expunge-all-contents",
        Value::Null,
        "application.purge_content",
    )
    .await;
    assert_eq!(finished(&api, &again).await["data"]["messagesPurged"], 0);
}

#[tokio::test]
async fn bulk_expunge_answers_for_each_id_at_once() {
    let app = local_app().await;
    let api = setup(&app).await;
    let by_id = message(&api, "acme", json!({"eventType": "a", "payload": {"n": 1}})).await;
    message(
        &api,
        "acme",
        json!({"eventType": "a", "payload": {"n": 2}, "eventId": "evt-2"}),
    )
    .await;
    let kept = message(&api, "acme", json!({"eventType": "a", "payload": {"n": 3}})).await;
    let path = "/api/v1/app/acme/msg/bulk-expunge";

    // Bad input changes nothing.
    for body in [
        json!({"ids": ["not an id!"]}),
        json!({"ids": [by_id, by_id]}),
        json!({"ids": "evt-2"}),
    ] {
        let (status, out) = api.send(reqwest::Method::POST, path, Some(body)).await;
        assert_eq!(status, 422, "{out}");
        assert!(out["detail"][0]["loc"][0] == "body", "{out}");
    }
    assert_eq!(
        api.get(&format!("/api/v1/app/acme/msg/{by_id}")).await["payload"],
        json!({"n": 1})
    );

    let (status, out) = api
        .send(
            reqwest::Method::POST,
            path,
            Some(json!({"ids": [by_id, "evt-2", "nope", MessageId::new().as_str()]})),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["results"][&by_id], "expunged");
    assert_eq!(out["results"]["evt-2"], "expunged");
    assert_eq!(out["results"]["nope"], "not-found");
    assert_eq!(out["results"].as_object().unwrap().len(), 4);
    assert_eq!(
        api.get(&format!("/api/v1/app/acme/msg/{by_id}")).await["payload"],
        json!({"expired": true})
    );
    assert_eq!(
        api.get("/api/v1/app/acme/msg/evt-2").await["payload"],
        json!({"expired": true})
    );
    assert_eq!(
        api.get(&format!("/api/v1/app/acme/msg/{kept}")).await["payload"],
        json!({"n": 3})
    );
    let (status, out) = api.send(reqwest::Method::POST, path, Some(json!({}))).await;
    assert_eq!(status, 200);
    assert_eq!(out, json!({"results": {}}));
}

#[tokio::test]
async fn tasks_list_by_status_and_type_page_and_stay_in_their_tenant() {
    let app = local_app().await;
    let api = setup(&app).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": "http://127.0.0.1:9/none", "uid": "main"}),
    )
    .await;
    let mut made = Vec::new();
    for _ in 0..3 {
        let id = start(
            &api,
            "/api/v1/app/acme/msg/expunge-all-contents",
            json!({}),
            "application.purge_content",
        )
        .await;
        made.push(id);
    }
    made.push(
        start(
            &api,
            "/api/v1/app/acme/endpoint/main/replay-missing",
            json!({"since": hour_ago()}),
            "endpoint.replay",
        )
        .await,
    );
    for id in &made {
        finished(&api, id).await;
    }
    let ids = |list: &Value| -> Vec<String> {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let newest_first: Vec<String> = made.iter().rev().cloned().collect();
    assert_eq!(ids(&api.get("/api/v1/background-task").await), newest_first);
    assert_eq!(
        ids(&api.get("/api/v1/background-task?order=ascending").await),
        made
    );
    let purges = api
        .get("/api/v1/background-task?task=application.purge_content&status=finished")
        .await;
    assert_eq!(ids(&purges), newest_first[1..].to_vec());
    assert_eq!(
        ids(&api.get("/api/v1/background-task?task=endpoint.replay").await),
        vec![made[3].clone()]
    );
    assert!(ids(&api.get("/api/v1/background-task?status=running").await).is_empty());
    assert!(ids(&api.get("/api/v1/background-task?status=failed").await).is_empty());
    // A type of Svix's that Herald never runs.
    let none = api.get("/api/v1/background-task?task=sdk.generate").await;
    assert_eq!((ids(&none).len(), none["done"].as_bool()), (0, Some(true)));

    // Pages of two.
    let first = api.get("/api/v1/background-task?limit=2").await;
    assert_eq!(ids(&first), newest_first[..2].to_vec());
    assert_eq!(first["done"], false);
    let next = api
        .get(&format!(
            "/api/v1/background-task?limit=2&iterator={}",
            first["iterator"].as_str().unwrap()
        ))
        .await;
    assert_eq!(ids(&next), newest_first[2..].to_vec());
    assert_eq!(next["done"], true);

    for query in [
        "status=done",
        "task=endpoint.unknown",
        "limit=0",
        "limit=251",
        "order=sideways",
        "iterator=msg_01J0000000000000000000000",
    ] {
        let (status, out) = api
            .send(
                reqwest::Method::GET,
                &format!("/api/v1/background-task?{query}"),
                None,
            )
            .await;
        assert_eq!(status, 422, "{query}: {out}");
        assert_eq!(out["detail"][0]["loc"][0], "query", "{out}");
    }

    // Another tenant sees none of them.
    let (_, token) = app.tenant("Other").await;
    let other = Api { app: &app, token };
    for id in &made {
        let (status, out) = other
            .send(
                reqwest::Method::GET,
                &format!("/api/v1/background-task/{id}"),
                None,
            )
            .await;
        assert_eq!(status, 404, "{out}");
        assert_eq!(out["code"], "not_found");
    }
    assert!(ids(&other.get("/api/v1/background-task").await).is_empty());
    for missing in [
        TaskId::new().to_string(),
        "qtask_nope".to_owned(),
        "nope".to_owned(),
    ] {
        let (status, _) = api
            .send(
                reqwest::Method::GET,
                &format!("/api/v1/background-task/{missing}"),
                None,
            )
            .await;
        assert_eq!(status, 404, "{missing}");
    }
    // Nor can it start tasks on this tenant's application.
    let (status, _) = other
        .send(
            reqwest::Method::POST,
            "/api/v1/app/acme/msg/expunge-all-contents",
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn bad_input_is_refused_and_starts_nothing() {
    let app = local_app().await;
    let api = setup(&app).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": "http://127.0.0.1:9/none", "uid": "main"}),
    )
    .await;
    let now = Utc::now();
    let later = (now + chrono::Duration::minutes(1)).to_rfc3339();
    let replay = "/api/v1/app/acme/endpoint/main/replay-missing";
    let bulk = "/api/v1/app/acme/endpoint/main/bulk-replay";
    for (path, body, field) in [
        (replay, json!({}), "since"),
        (replay, json!({"since": "yesterday"}), "since"),
        (
            replay,
            json!({"since": later, "until": now.to_rfc3339()}),
            "until",
        ),
        (bulk, json!({"since": later, "until": later}), "until"),
        (bulk, json!({"since": hour_ago(), "status": 7}), "status"),
        (
            bulk,
            json!({"since": hour_ago(), "statusCodeClass": 250}),
            "statusCodeClass",
        ),
        (
            bulk,
            json!({"since": hour_ago(), "eventTypes": ["no spaces"]}),
            "eventTypes",
        ),
        (
            bulk,
            json!({"since": hour_ago(), "eventTypes": ["a", "a"]}),
            "eventTypes",
        ),
        (bulk, json!({"since": hour_ago(), "channel": "a b"}), "channel"),
    ] {
        let (status, out) = api.send(reqwest::Method::POST, path, Some(body.clone())).await;
        assert_eq!(status, 422, "{body}: {out}");
        assert_eq!(out["detail"][0]["loc"][1], field, "{body}: {out}");
        assert!(!out["detail"][0]["msg"].as_str().unwrap().is_empty());
    }
    for path in [
        "/api/v1/app/acme/endpoint/nope/replay-missing",
        "/api/v1/app/nope/endpoint/main/bulk-replay",
        "/api/v1/app/nope/msg/expunge-all-contents",
        "/api/v1/app/nope/msg/bulk-expunge",
    ] {
        let (status, out) = api
            .send(
                reqwest::Method::POST,
                path,
                Some(json!({"since": hour_ago(), "ids": []})),
            )
            .await;
        assert_eq!(status, 404, "{path}: {out}");
    }
    let (status, out) = api.send(reqwest::Method::GET, replay, None).await;
    assert_eq!(status, 405, "{out}");
    let list = api.get("/api/v1/background-task").await;
    assert_eq!(list["data"], json!([]), "nothing was started");
}

#[tokio::test]
async fn a_task_whose_worker_died_is_finished_without_redoing_its_first_part() {
    let app = local_app().await;
    let api = setup(&app).await;
    let receiver = Receiver::start(&[]).await;
    let mut sent = Vec::new();
    for n in 0..6 {
        sent.push(message(&api, "acme", json!({"eventType": "a", "payload": {"n": n}})).await);
    }
    let endpoint = api
        .endpoint_id("acme", json!({"url": receiver.url, "uid": "late"}))
        .await;

    // A replay that a worker had done up to the fourth message when it died: its lease
    // ran out a minute ago. (Those four were never really sent here.)
    let now = Utc::now();
    let row = replay_row(&api, &endpoint).await;
    let id = row.id.clone();
    background_task::ActiveModel::from(background_task::Model {
        data: Progress {
            messages_sent: Some(4),
            messages_purged: None,
        },
        cursor: Some(sent[3].clone()),
        claimed_by: Some("tasks-dead".into()),
        lease_until: Some(now - chrono::Duration::minutes(1)),
        ..row
    })
    .insert(&app.ctx.db)
    .await
    .unwrap();

    let task = finished(&api, id.as_str()).await;
    assert_eq!(task["data"], json!({"messagesSent": 6}), "{task}");
    received(&receiver, 2).await;
    let got: BTreeSet<String> = ids_got(&receiver).into_iter().collect();
    assert_eq!(got, sent[4..].iter().cloned().collect());
    #[expect(clippy::disallowed_methods, reason = "the test reads the row it wrote")]
    let row = background_task::Entity::find_by_id(id)
        .one(&app.ctx.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.claimed_by, row.lease_until),
        (None, None),
        "let go when finished"
    );
    assert_eq!(row.cursor.as_deref(), Some(sent[5].as_str()));
    tests::quiet_window(Duration::from_millis(1500)).await;
    assert_eq!(receiver.got().len(), 2, "the first four stayed done");
}

#[tokio::test]
async fn a_task_that_cannot_go_on_fails_with_its_reason() {
    let app = local_app().await;
    let api = setup(&app).await;
    message(&api, "acme", json!({"eventType": "a", "payload": {}})).await;
    let endpoint = api
        .endpoint_id("acme", json!({"url": "http://127.0.0.1:9/none", "uid": "gone"}))
        .await;
    // The endpoint goes before a worker gets to the replay.
    let made = {
        let (status, _) = api
            .send(reqwest::Method::DELETE, "/api/v1/app/acme/endpoint/gone", None)
            .await;
        assert_eq!(status, 204);
        background_task::ActiveModel::from(replay_row(&api, &endpoint).await)
            .insert(&app.ctx.db)
            .await
            .unwrap()
    };
    let task = api
        .wait_for(&format!("/api/v1/background-task/{}", made.id), |t| {
            t["status"] != "running"
        })
        .await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(task["data"]["messagesSent"], 0);
    assert!(
        task["data"]["error"]
            .as_str()
            .unwrap()
            .contains("endpoint not found"),
        "{task}"
    );
    let failed = api.get("/api/v1/background-task?status=failed").await;
    assert_eq!(failed["data"][0]["id"], made.id.as_str());
}

#[tokio::test]
async fn a_task_runs_chunk_after_chunk_to_the_end() {
    use domain::entity::message;
    let app = local_app().await;
    let api = setup(&app).await;
    let tenant = tests_tenant(&api).await;
    let app_id = domain::id::AppId::parse(api.get("/api/v1/app/acme").await["id"].as_str().unwrap()).unwrap();
    // More messages than two chunks hold, written straight to the database.
    let total = 2 * task::CHUNK + 7;
    let rows: Vec<message::ActiveModel> = (0..total)
        .map(|n| {
            message::ActiveModel::from(message::Model {
                id: MessageId::new(),
                tenant_id: tenant.clone(),
                app_id: app_id.clone(),
                event_id: None,
                event_type: "a".into(),
                channels: None,
                tags: None,
                payload: Some(format!(r#"{{"n":{n}}}"#)),
                created_at: Utc::now(),
                deliver_at: None,
                filtered: None,
            })
        })
        .collect();
    for chunk in rows.chunks(100) {
        message::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&app.ctx.db)
            .await
            .unwrap();
    }
    let id = start(
        &api,
        "/api/v1/app/acme/msg/expunge-all-contents",
        json!({}),
        "application.purge_content",
    )
    .await;
    assert_eq!(
        finished(&api, &id).await["data"],
        json!({"messagesPurged": total})
    );
    let list = api.get("/api/v1/app/acme/msg?limit=250").await;
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["payload"] == json!({"expired": true}))
    );
}

#[tokio::test]
async fn the_official_sdk_starts_follows_and_lists_tasks() {
    use svix::{
        api::BackgroundTaskListOptions,
        models::{
            BackgroundTaskStatus, BackgroundTaskType, BulkExpungeContentsIn, BulkExpungeStatus, BulkReplayIn,
            MessageStatus, ReplayIn,
        },
    };
    let app = local_app().await;
    let api = setup(&app).await;
    let svix = crate::api_sdk::sdk(&app, &api.token);
    let receiver = Receiver::start(&[]).await;
    let early = message(&api, "acme", json!({"eventType": "a", "payload": {"n": 1}})).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": receiver.url, "uid": "main"}),
    )
    .await;
    let since = Utc::now() - chrono::Duration::hours(1);
    let follow = async |id: String| {
        tests::eventually(Duration::from_secs(20), async || {
            let task = svix.background_task().get(id.clone()).await.unwrap();
            (task.status != BackgroundTaskStatus::Running).then_some(task)
        })
        .await
        .expect("the task finishes")
    };

    let started = svix
        .endpoint()
        .replay_missing("acme".into(), "main".into(), ReplayIn::new(since), None)
        .await
        .unwrap();
    assert_eq!(started.task, BackgroundTaskType::EndpointReplay);
    let done = follow(started.id.clone()).await;
    assert_eq!(done.status, BackgroundTaskStatus::Finished);
    assert_eq!(done.data, json!({"messagesSent": 1}));
    received(&receiver, 1).await;
    assert_eq!(ids_got(&receiver), vec![early.clone()]);
    api.wait_for("/api/v1/app/acme/endpoint/main/stats", |v| v["success"] == 1)
        .await;

    let replay = svix
        .endpoint()
        .bulk_replay(
            "acme".into(),
            "main".into(),
            BulkReplayIn {
                status: Some(MessageStatus::Success),
                ..BulkReplayIn::new(since)
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(replay.task, BackgroundTaskType::EndpointBulkReplay);
    assert_eq!(follow(replay.id.clone()).await.data, json!({"messagesSent": 1}));
    received(&receiver, 2).await;

    let purge = svix
        .message()
        .expunge_all_contents("acme".into(), None)
        .await
        .unwrap();
    assert_eq!(purge.task, BackgroundTaskType::ApplicationPurgeContent);
    assert_eq!(follow(purge.id.clone()).await.data, json!({"messagesPurged": 1}));
    let bulk = svix
        .message()
        .bulk_expunge_content(
            "acme".into(),
            BulkExpungeContentsIn {
                ids: Some([early.clone(), "nope".to_owned()].into_iter().collect()),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(bulk.results[&early], BulkExpungeStatus::Expunged);
    assert_eq!(bulk.results["nope"], BulkExpungeStatus::NotFound);

    let listed = svix
        .background_task()
        .list(Some(BackgroundTaskListOptions {
            status: Some(BackgroundTaskStatus::Finished),
            task: Some(BackgroundTaskType::EndpointReplay),
            ..Default::default()
        }))
        .await
        .unwrap();
    let ids: Vec<String> = listed.data.iter().map(|t| t.id.clone()).collect();
    assert_eq!(ids, vec![started.id.clone()]);
    let all = svix.background_task().list(None).await.unwrap();
    assert_eq!(all.data.len(), 3);
    assert!(all.done);
    let error = svix
        .background_task()
        .get(TaskId::new().to_string())
        .await
        .unwrap_err();
    assert_eq!(crate::api_sdk::status(error), 404);
}

#[tokio::test]
async fn a_task_made_by_another_process_wakes_its_task_runner() {
    // This process accepts only; a worker "process" beside it runs tasks.
    let app = tests::TestApp::spawn().await;
    let mut worker_settings = app.settings.clone();
    worker_settings.worker_poll_interval = match app.ctx.backend {
        // PostgreSQL: the API's NOTIFY wakes the task runner; a poll of ten minutes never
        // comes into it.
        domain::db::Backend::Postgres => "10m".into(),
        // SQLite has no signal between processes: the runner's poll finds the task.
        domain::db::Backend::Sqlite => "1s".into(),
    };
    let within = Duration::from_secs(20);
    let worker = tests::Worker::start(&worker_settings).await;
    let api = setup(&app).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": "https://example.com/", "uid": "main"}),
    )
    .await;
    // The first task may be found by the runner's first look; once it has run, the runner
    // waits, and only a wake-up brings it to the second.
    for _ in 0..2 {
        let id = start(
            &api,
            "/api/v1/app/acme/endpoint/main/recover",
            json!({"since": hour_ago()}),
            "endpoint.recover",
        )
        .await;
        let done = tests::eventually(within, async || {
            let task = api.get(&format!("/api/v1/background-task/{id}")).await;
            (task["status"] == "finished").then_some(task)
        })
        .await;
        assert!(done.is_some(), "the task was not run in {within:?}");
    }
    worker.stop().await;
}

#[tokio::test]
async fn tasks_finished_ninety_days_ago_are_deleted_and_running_ones_stay() {
    use sea_orm::{ActiveValue::Set, IntoActiveModel};

    let app = local_app().await;
    let api = setup(&app).await;
    let endpoint = api
        .post(
            "/api/v1/app/acme/endpoint",
            json!({"url": "https://example.com/", "uid": "main"}),
        )
        .await;
    let endpoint = endpoint["id"].as_str().unwrap();
    let now = Utc::now();
    let old = now - task::KEPT - chrono::Duration::hours(1);
    let recent = now - task::KEPT + chrono::Duration::hours(1);
    let mut rows = Vec::new();
    for (status, updated_at) in [
        (Status::Finished, old),
        (Status::Failed, old),
        (Status::Finished, recent),
        (Status::Running, old),
    ] {
        let mut row = replay_row(&api, endpoint).await;
        row.status = status;
        row.updated_at = updated_at;
        // A running task far in the past is held by nobody alive: keep any worker off it.
        row.claimed_by = Some("elsewhere".into());
        row.lease_until = Some(now + chrono::Duration::days(1));
        rows.push(row.id.clone());
        let mut active = row.into_active_model();
        active.updated_at = Set(updated_at);
        background_task::Entity::insert(active)
            .exec(&app.ctx.db)
            .await
            .unwrap();
    }
    assert_eq!(task::purge_finished(&app.ctx, now).await.unwrap(), 2);
    let left: BTreeSet<String> = api.get("/api/v1/background-task?limit=250").await["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = rows[2..].iter().map(|id| id.to_string()).collect();
    assert_eq!(left, expected, "the recent one and the running one stay");
    assert_eq!(
        task::purge_finished(&app.ctx, now).await.unwrap(),
        0,
        "nothing more"
    );
}
