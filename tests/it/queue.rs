//! The delivery queue over destination rows, driven directly with chosen clocks: claims
//! take due work in due order, once, until the lease runs out; renewals keep it; a batch
//! of settlements moves exactly the destinations that still expect their outcome.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use domain::{
    entity::{attempt, destination, endpoint},
    id::DestinationId,
    scope::TenantScoped,
    service::delivery::{self, Claimed, LEASE, Outcome, Plan, Settlement, claim},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use tests::TestApp;

use tests::api::{Api, setup};

/// An API-only app (no worker takes the work away) with one endpoint and `n` messages;
/// returns the destinations' ids, oldest first.
async fn queued(app: &TestApp, n: usize) -> (Api<'_>, Vec<DestinationId>) {
    let api = setup(app).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": "https://hooks.example.com/", "uid": "ep"}),
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..n {
        let msg = api
            .post(
                "/api/v1/app/acme/msg",
                json!({"eventType": "a", "payload": {"i": i}}),
            )
            .await;
        let dest = destination_of(app, msg["id"].as_str().unwrap()).await;
        ids.push(dest.id);
    }
    (api, ids)
}

async fn destination_of(app: &TestApp, message: &str) -> destination::Model {
    #[expect(clippy::disallowed_methods, reason = "a test reads the row it made")]
    destination::Entity::find()
        .filter(destination::Column::MessageId.eq(message))
        .one(&app.ctx.db)
        .await
        .unwrap()
        .unwrap()
}

async fn row(app: &TestApp, id: &DestinationId) -> destination::Model {
    #[expect(clippy::disallowed_methods, reason = "a test reads the row it made")]
    destination::Entity::find_by_id(id.clone())
        .one(&app.ctx.db)
        .await
        .unwrap()
        .unwrap()
}

fn ids(claimed: &[Claimed]) -> Vec<DestinationId> {
    claimed.iter().map(|c| c.destination.id.clone()).collect()
}

/// Text-stored times (SQLite) come back with the precision they went in with; compare
/// to the millisecond.
fn same_time(a: Option<DateTime<Utc>>, b: DateTime<Utc>) -> bool {
    a.is_some_and(|a| (a - b).num_milliseconds().abs() <= 1)
}

#[tokio::test]
async fn claims_take_due_work_in_due_order_once_until_the_lease_runs_out() {
    let app = TestApp::spawn().await;
    let (_, sent) = queued(&app, 3).await;
    let now = Utc::now();
    let ctx = &app.ctx;

    let first = claim::claim(ctx, 2, now).await.unwrap();
    assert_eq!(ids(&first), sent[..2], "oldest due first, no more than asked");
    for c in &first {
        assert_eq!(c.message.id, c.destination.message_id, "each with its message");
        assert!(c.message.payload.is_some());
        let leased = row(&app, &c.destination.id).await;
        assert_eq!(leased.status, destination::Status::Sending);
        assert!(same_time(leased.next_attempt_at, now + LEASE), "{leased:?}");
    }
    assert_eq!(ids(&claim::claim(ctx, 10, now).await.unwrap()), sent[2..]);
    assert!(
        claim::claim(ctx, 10, now).await.unwrap().is_empty(),
        "leased work is nobody else's"
    );
    assert!(
        claim::claim(ctx, 10, now + LEASE - Duration::milliseconds(10))
            .await
            .unwrap()
            .is_empty(),
        "until the lease runs out"
    );
    assert_eq!(
        claim::next_due(ctx)
            .await
            .unwrap()
            .map(|t| (t - now - LEASE).num_milliseconds().abs() <= 1),
        Some(true)
    );

    // The worker holding the first is slow but alive: it renews.
    let later = now + LEASE - Duration::seconds(1);
    claim::renew(ctx, &sent[..1], later).await.unwrap();
    let expired = now + LEASE + Duration::milliseconds(10);
    let again = claim::claim(ctx, 10, expired).await.unwrap();
    assert_eq!(
        ids(&again),
        sent[1..],
        "leases that ran out come back; a renewed one does not"
    );
    assert!(same_time(
        row(&app, &sent[0]).await.next_attempt_at,
        later + LEASE
    ));
}

fn outcome(status: u16) -> Outcome {
    Outcome {
        url: "https://hooks.example.com/".into(),
        response_status: Some(status),
        response_body: Some(format!("answer {status}")),
        duration: StdDuration::from_millis(3),
        error: (status >= 300).then(|| (attempt::ErrorKind::HttpStatus, format!("HTTP {status}"))),
        retry_after: None,
        request: None,
    }
}

async fn plan(app: &TestApp, claimed: &Claimed) -> Box<Plan> {
    let endpoint = endpoint::Entity::find_in_tenant(
        &claimed.destination.tenant_id,
        claimed.destination.endpoint_id.clone(),
    )
    .one(&app.ctx.db)
    .await
    .unwrap()
    .unwrap();
    Box::new(Plan {
        destination: claimed.destination.clone(),
        message: claimed.message.clone(),
        endpoint,
        keys: Vec::new(),
        send_at: None,
        transformation: None,
    })
}

async fn attempts_of(app: &TestApp, id: &DestinationId) -> Vec<attempt::Model> {
    #[expect(clippy::disallowed_methods, reason = "a test reads the rows it made")]
    attempt::Entity::find()
        .filter(attempt::Column::DestinationId.eq(id.clone()))
        .all(&app.ctx.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_batch_moves_each_destination_that_still_expects_its_settlement() {
    let app = TestApp::spawn().await;
    let (_, sent) = queued(&app, 5).await;
    let ctx = &app.ctx;
    let claimed = claim::claim(ctx, 5, Utc::now()).await.unwrap();
    assert_eq!(ids(&claimed), sent);
    let later = Utc::now() + Duration::seconds(30);
    let batch = vec![
        Settlement::Tried {
            plan: plan(&app, &claimed[0]).await,
            outcome: outcome(204),
            schedule: vec![60],
        },
        Settlement::Tried {
            plan: plan(&app, &claimed[1]).await,
            outcome: outcome(500),
            schedule: vec![60],
        },
        Settlement::Tried {
            plan: plan(&app, &claimed[2]).await,
            outcome: outcome(500),
            schedule: vec![],
        },
        Settlement::Postponed {
            destination: sent[3].clone(),
            tries: 0,
            at: later,
        },
        Settlement::Abandoned {
            destination: sent[4].clone(),
            tries: 0,
            why: "the endpoint is disabled",
        },
        // The same try of the first destination, recorded twice in one batch (a lease
        // that ran out under a slow worker): it moves once.
        Settlement::Tried {
            plan: plan(&app, &claimed[0]).await,
            outcome: outcome(204),
            schedule: vec![60],
        },
    ];
    let before = Utc::now();
    let report = delivery::settle(ctx, Duration::days(5), &batch).await.unwrap();
    assert_eq!(report.moved, [true, true, true, true, true, false]);

    let ok = row(&app, &sent[0]).await;
    assert_eq!(
        (ok.status, ok.attempt_count, ok.next_attempt_at),
        (destination::Status::Success, 1, None)
    );
    assert_eq!(attempts_of(&app, &sent[0]).await.len(), 1);

    let retry = row(&app, &sent[1]).await;
    assert_eq!(
        (retry.status, retry.attempt_count),
        (destination::Status::Pending, 1)
    );
    let due = retry.next_attempt_at.unwrap();
    // 60 s ± 20 % jitter, to the millisecond: no rounding to whole seconds.
    assert!(
        due >= before + Duration::seconds(48) && due <= Utc::now() + Duration::seconds(72),
        "{due}"
    );
    assert!(
        same_time(report.next_due, later),
        "the worker sets its timer to the batch's earliest due time (here, the postponement's)"
    );
    let logged = attempts_of(&app, &sent[1]).await;
    assert_eq!(logged.len(), 1);
    assert!(
        same_time(logged[0].next_attempt_at, due),
        "the attempt says when the next try is"
    );
    assert_eq!(logged[0].status, attempt::Status::Fail);

    let spent = row(&app, &sent[2]).await;
    assert_eq!(
        (spent.status, spent.attempt_count),
        (destination::Status::Fail, 1)
    );

    let postponed = row(&app, &sent[3]).await;
    assert_eq!(
        (postponed.status, postponed.attempt_count),
        (destination::Status::Pending, 0)
    );
    assert!(same_time(postponed.next_attempt_at, later));
    assert!(
        attempts_of(&app, &sent[3]).await.is_empty(),
        "waiting is not an attempt"
    );

    let abandoned = row(&app, &sent[4]).await;
    assert_eq!(
        (abandoned.status, abandoned.next_attempt_at),
        (destination::Status::Fail, None)
    );
    assert!(attempts_of(&app, &sent[4]).await.is_empty());

    // Stale settlements change nothing: a try recorded already, and a postponement of a
    // destination no longer held (it was resent meanwhile, say).
    let stale = vec![
        Settlement::Tried {
            plan: plan(&app, &claimed[1]).await,
            outcome: outcome(204),
            schedule: vec![60],
        },
        Settlement::Postponed {
            destination: sent[3].clone(),
            tries: 0,
            at: Utc::now(),
        },
    ];
    let report = delivery::settle(ctx, Duration::days(5), &stale).await.unwrap();
    assert_eq!(report.moved, [false, false]);
    assert_eq!(row(&app, &sent[1]).await.status, destination::Status::Pending);
    assert_eq!(attempts_of(&app, &sent[1]).await.len(), 1);
    assert!(same_time(row(&app, &sent[3]).await.next_attempt_at, later));
}
