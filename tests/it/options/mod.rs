//! Delivery options end to end: an endpoint's rate kept by several workers together, and
//! ordered delivery (its line, a failure that releases or stops it, resend and release).
//! Credentials for the receiver's gateway and TLS identities are in [`access`].

mod access;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use tests::{
    TestApp, Worker,
    api::{Api, setup},
};

/// One request a [`Server`] got.
#[derive(Clone, Debug)]
struct Hit {
    authorization: Option<String>,
    body: String,
    at: Instant,
    status: u16,
}

type Handler = dyn Fn(&HttpRequest, &str) -> (u16, String) + Send + Sync;

/// A local HTTP server answering with `handler` and recording every request, with the
/// most requests it ever had in flight at once.
struct Server {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    most_at_once: Arc<Mutex<(usize, usize)>>,
    _handle: actix_web::dev::ServerHandle,
}

impl Server {
    async fn start(handler: impl Fn(&HttpRequest, &str) -> (u16, String) + Send + Sync + 'static) -> Self {
        let handler: Arc<Handler> = Arc::new(handler);
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let most_at_once: Arc<Mutex<(usize, usize)>> = Arc::default();
        let (h, m, f) = (hits.clone(), most_at_once.clone(), handler);
        let server = HttpServer::new(move || {
            let (h, m, f) = (h.clone(), m.clone(), f.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (h, m, f) = (h.clone(), m.clone(), f.clone());
                async move {
                    {
                        let mut m = m.lock().unwrap();
                        m.0 += 1;
                        m.1 = m.1.max(m.0);
                    }
                    let body = String::from_utf8_lossy(&body).into_owned();
                    let (status, answer) = f(&req, &body);
                    // Long enough for a second delivery to overlap if one were sent.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    h.lock().unwrap().push(Hit {
                        authorization: req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned),
                        body,
                        at: Instant::now(),
                        status,
                    });
                    m.lock().unwrap().0 -= 1;
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                        .content_type("application/json")
                        .body(answer)
                }
            }))
        })
        .workers(2)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            hits,
            most_at_once,
            _handle: handle,
        }
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    fn most_at_once(&self) -> usize {
        self.most_at_once.lock().unwrap().1
    }
}

/// `n` of a delivered payload `{"n": …}`.
fn n_of(hit: &Hit) -> i64 {
    serde_json::from_str::<Value>(&hit.body).unwrap()["n"]
        .as_i64()
        .unwrap()
}

async fn send(api: &Api<'_>, n: i64) -> String {
    let msg = api
        .post(
            "/api/v1/app/acme/msg",
            json!({"eventType": "a", "payload": {"n": n}}),
        )
        .await;
    msg["id"].as_str().unwrap().to_owned()
}

/// Waits (up to `within`) until `server` has `count` answered successfully.
async fn succeeded(server: &Server, count: usize, within: Duration) {
    let done = tests::eventually(within, async || {
        (server.hits().iter().filter(|h| h.status < 300).count() >= count).then_some(())
    })
    .await;
    assert!(
        done.is_some(),
        "only {} of {count} succeeded: {:?}",
        server.hits().iter().filter(|h| h.status < 300).count(),
        server.hits().iter().map(n_of).collect::<Vec<_>>()
    );
}

/// Asserts that `hits` came no faster than `rate` a second from `start`, however loaded
/// the machine: Herald gives an endpoint's turns one interval apart, the first no earlier
/// than the claim after the first message (after `start`), and sends each request at or
/// after its turn, so the k-th request to arrive came no earlier than `start + k / rate`.
/// Load only makes requests later; a rate kept by each worker on its own, or not at all,
/// sends the later ones too early.
fn assert_paced(hits: &[Hit], start: Instant, rate: u32) {
    let mut arrived: Vec<Duration> = hits
        .iter()
        .map(|h| h.at.saturating_duration_since(start))
        .collect();
    arrived.sort();
    let interval = Duration::from_secs(1) / rate;
    // Turns are given by the wall clock, arrivals read on the monotonic one.
    let margin = Duration::from_millis(10);
    for (k, at) in arrived.iter().enumerate() {
        let turn = interval * u32::try_from(k).unwrap();
        assert!(
            *at + margin >= turn,
            "request {k} came {at:?} after the first message, before the {turn:?} its turn allows at {rate}/s"
        );
    }
}

#[tokio::test]
async fn a_rate_holds_across_three_workers() {
    // The API alone, and three workers with their own pools and caches: three processes
    // as far as the database can tell.
    let app = TestApp::spawn_with(|s| s.allow_private_networks = "127.0.0.0/8".into()).await;
    let workers = [
        Worker::start(&app.settings).await,
        Worker::start(&app.settings).await,
        Worker::start(&app.settings).await,
    ];
    let api = setup(&app).await;
    let server = Server::start(|_, _| (200, "{}".into())).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": server.url, "uid": "paced", "throttleRate": 10}),
    )
    .await;
    let start = Instant::now();
    for n in 0..100 {
        send(&api, n).await;
    }
    succeeded(&server, 100, Duration::from_secs(60)).await;
    let hits = server.hits();
    assert_eq!(hits.len(), 100, "one request per message");
    assert_paced(&hits, start, 10);
    let stats = api.get("/api/v1/app/acme/endpoint/paced/stats").await;
    assert_eq!(stats["success"], 100);
    assert_eq!(stats["fail"], 0, "waiting for the rate never fails a delivery");
    let attempts = api.get("/api/v1/app/acme/attempt/endpoint/paced?limit=250").await;
    assert_eq!(
        attempts["data"].as_array().unwrap().len(),
        100,
        "waiting for the rate is not an attempt"
    );
    for worker in workers {
        worker.stop().await;
    }
}

#[tokio::test]
async fn an_ordered_endpoint_gets_every_message_in_acceptance_order() {
    let app = TestApp::spawn_with(|s| {
        s.allow_private_networks = "127.0.0.0/8".into();
        s.api_rate_limit = 100_000;
    })
    .await;
    let workers = [
        Worker::start(&app.settings).await,
        Worker::start(&app.settings).await,
        Worker::start(&app.settings).await,
    ];
    let api = setup(&app).await;
    // Every hundredth message fails its first try.
    let failed_once = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let server = Server::start(move |_, body| {
        let n = serde_json::from_str::<Value>(body).unwrap()["n"]
            .as_i64()
            .unwrap();
        if n % 100 == 42 && failed_once.lock().unwrap().insert(n) {
            (500, "{}".into())
        } else {
            (200, "{}".into())
        }
    })
    .await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": server.url, "uid": "line", "ordered": true, "retrySchedule": [1]}),
    )
    .await;
    const COUNT: i64 = 1000;
    for n in 0..COUNT {
        send(&api, n).await;
    }
    succeeded(&server, COUNT as usize, Duration::from_secs(240)).await;
    let hits = server.hits();
    let order: Vec<i64> = hits.iter().filter(|h| h.status < 300).map(n_of).collect();
    assert_eq!(order, (0..COUNT).collect::<Vec<_>>(), "in acceptance order");
    let tries: Vec<i64> = hits.iter().map(n_of).collect();
    assert!(
        tries.windows(2).all(|w| w[0] <= w[1]),
        "a retry keeps its place: nothing after it goes first"
    );
    assert_eq!(
        hits.len() as i64,
        COUNT + COUNT / 100,
        "one retry per failed message"
    );
    assert_eq!(server.most_at_once(), 1, "one delivery in flight at a time");
    for worker in workers {
        worker.stop().await;
    }
}

#[tokio::test]
async fn a_final_failure_releases_or_stops_the_line() {
    let app = TestApp::spawn_with(|s| {
        s.serve_worker = true;
        s.allow_private_networks = "127.0.0.0/8".into();
    })
    .await;
    let api = setup(&app).await;
    let failing = |always: bool| {
        let tried = Arc::new(Mutex::new(false));
        move |_: &HttpRequest, body: &str| {
            let n = serde_json::from_str::<Value>(body).unwrap()["n"]
                .as_i64()
                .unwrap();
            let mut tried = tried.lock().unwrap();
            let first = !*tried;
            if n == 1 {
                *tried = true;
            }
            if n == 1 && (always || first) {
                (500, "{}".into())
            } else {
                (200, "{}".into())
            }
        }
    };
    let released = Server::start(failing(true)).await;
    let resent = Server::start(failing(false)).await;
    let stopped = Server::start(failing(true)).await;
    for (uid, server, on_failure) in [
        ("released", &released, "release"),
        ("resent", &resent, "stop"),
        ("stopped", &stopped, "stop"),
    ] {
        let ep = api
            .post(
                "/api/v1/app/acme/endpoint",
                json!({"url": server.url, "uid": uid, "ordered": true,
                       "orderedOnFailure": on_failure, "retrySchedule": []}),
            )
            .await;
        assert_eq!(ep["ordered"], true);
        assert_eq!(ep["orderedOnFailure"], on_failure);
    }
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(send(&api, n).await);
    }
    // Release: 1 fails for good and the line goes on.
    succeeded(&released, 4, Duration::from_secs(20)).await;
    let order: Vec<i64> = released.hits().iter().map(n_of).collect();
    assert_eq!(order, [0, 1, 2, 3, 4]);
    // Stop: nothing after the failed message goes.
    let line = api
        .wait_for("/api/v1/app/acme/endpoint/stopped/line", |v| {
            v["stoppedBy"] == ids[1].as_str()
        })
        .await;
    assert_eq!(line["head"], ids[2].as_str(), "{line}");
    assert_eq!(line["behind"], 2, "{line}");
    tests::quiet_window(Duration::from_millis(1500)).await;
    assert_eq!(stopped.hits().iter().map(n_of).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(resent.hits().iter().map(n_of).collect::<Vec<_>>(), [0, 1]);
    // Someone acts: a resend of the failed message, which now succeeds, restarts the line.
    api.post(
        &format!("/api/v1/app/acme/msg/{}/endpoint/resent/resend", ids[1]),
        json!({}),
    )
    .await;
    succeeded(&resent, 5, Duration::from_secs(20)).await;
    let order: Vec<i64> = resent.hits().iter().map(n_of).collect();
    assert_eq!(order, [0, 1, 1, 2, 3, 4]);
    // Or a release: the failed message stays failed, the rest go in order.
    let release = app
        .http
        .post(app.url("/api/v1/app/acme/endpoint/stopped/line/release"))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(release.status(), 204);
    succeeded(&stopped, 4, Duration::from_secs(20)).await;
    assert_eq!(
        stopped.hits().iter().map(n_of).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    let again = app
        .http
        .post(app.url("/api/v1/app/acme/endpoint/stopped/line/release"))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409, "a line that runs cannot be released");
    let line = api.get("/api/v1/app/acme/endpoint/stopped/line").await;
    assert_eq!(line, json!({"behind": 0, "heldByRate": 0}));
}

#[tokio::test]
async fn an_endpoint_can_stop_being_ordered_and_its_line_goes() {
    let app = TestApp::spawn_with(|s| s.allow_private_networks = "127.0.0.0/8".into()).await;
    let api = setup(&app).await;
    let server = Server::start(|_, _| (200, "{}".into())).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": server.url, "uid": "line", "ordered": true}),
    )
    .await;
    for n in 0..5 {
        send(&api, n).await;
    }
    // No worker yet: a claim by hand parks everything behind the head.
    let claimed = domain::service::delivery::claim::claim(&app.ctx, 10, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "only the head of the line is claimed");
    let line = api.get("/api/v1/app/acme/endpoint/line/line").await;
    assert_eq!(line["behind"], 4, "{line}");
    let ep = app
        .http
        .patch(app.url("/api/v1/app/acme/endpoint/line"))
        .bearer_auth(&api.token)
        .json(&json!({"ordered": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(ep.status(), 200);
    let worker = Worker::start(&app.settings).await;
    // The four parked ones go at once; the claimed head once its lease runs out (30 s),
    // which this test does not wait for.
    succeeded(&server, 4, Duration::from_secs(20)).await;
    worker.stop().await;
}

#[tokio::test]
async fn a_head_left_parked_is_woken_by_the_sweep() {
    let app = TestApp::spawn_with(|s| s.allow_private_networks = "127.0.0.0/8".into()).await;
    let api = setup(&app).await;
    let server = Server::start(|_, _| (200, "{}".into())).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": server.url, "uid": "line", "ordered": true}),
    )
    .await;
    for n in 0..3 {
        send(&api, n).await;
    }
    let claimed = domain::service::delivery::claim::claim(&app.ctx, 10, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    // The head finishes without waking the next (as when a claim and its settlement
    // cross): the line would wait for ever but for the sweep.
    app.ctx
        .db
        .execute_raw(Statement::from_string(
            app.ctx.db.get_database_backend(),
            format!(
                "UPDATE destination SET status = 'success', next_attempt_at = NULL WHERE id = '{}'",
                claimed[0].destination.id
            ),
        ))
        .await
        .unwrap();
    let worker = Worker::start(&app.settings).await;
    succeeded(&server, 2, Duration::from_secs(20)).await;
    assert_eq!(server.hits().iter().map(n_of).collect::<Vec<_>>(), [1, 2]);
    worker.stop().await;
}
