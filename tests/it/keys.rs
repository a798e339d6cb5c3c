//! Key rotation while Herald runs: endpoint secrets move to a new main key with every
//! secret readable and every delivery verifiable before, during and after; a wrong key
//! stops the rotation before it changes anything; old API tokens keep working until the
//! configured date.

use chrono::Utc;
use domain::{crypto::MainKey, entity::endpoint_secret, service::rekey};
use herald::{
    config::{Secret, Settings},
    startup,
};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::json;
use tests::{
    OtherApi, TestApp,
    api::{Api, setup},
    receiver::{Got, Receiver},
};

fn new_main_key() -> Secret {
    Secret::new(MainKey::generate().unwrap().encode())
}

/// Runs a delivery worker with `settings` until `work` is done.
async fn with_worker<T>(settings: &Settings, work: impl Future<Output = T>) -> T {
    let worker = tests::Worker::start(settings).await;
    let out = work.await;
    worker.stop().await;
    out
}

/// Waits until endpoint `uid` has `count` successful attempts recorded and returns the
/// last request `receiver` got.
async fn delivered(api: &Api<'_>, uid: &str, receiver: &Receiver, count: u64) -> Got {
    api.wait_for(&format!("/api/v1/app/acme/endpoint/{uid}/stats"), |v| {
        v["success"] == count
    })
    .await;
    let got = receiver.got();
    assert_eq!(got.len() as u64, count, "one request per delivery");
    got.last().unwrap().clone()
}

async fn ciphertexts(app: &TestApp) -> Vec<Vec<u8>> {
    #[expect(clippy::disallowed_methods, reason = "the test looks at every row")]
    let rows = endpoint_secret::Entity::find()
        .order_by_asc(endpoint_secret::Column::Id)
        .all(&app.ctx.db)
        .await
        .unwrap();
    rows.into_iter().map(|r| r.ciphertext).collect()
}

#[tokio::test]
async fn endpoint_secrets_move_to_a_new_main_key_and_every_delivery_verifies() {
    let app = TestApp::spawn_with(|s| {
        s.allow_private_networks = "127.0.0.0/8".into();
        s.retry_schedule = "1s".into();
    })
    .await;
    let api = setup(&app).await;
    let old_key = app.settings.main_key.clone().unwrap();
    let new_key = new_main_key();
    let first = Receiver::start(&[]).await;
    let second = Receiver::start(&[]).await;
    api.post(
        "/api/v1/app/acme/endpoint",
        json!({"url": first.url, "uid": "first"}),
    )
    .await;
    let first_secret = api.get("/api/v1/app/acme/endpoint/first/secret").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let message = json!({"eventType": "a", "payload": {"n": 1}});
    // An inspector inbox's token is sealed too: its URL must read the same throughout.
    let inbox = api.post("/api/v1/inspector", json!({"name": "box"})).await;
    let inbox_path = format!("/api/v1/inspector/{}", inbox["id"].as_str().unwrap());

    // Before: the old key seals and opens.
    with_worker(&app.settings, async {
        api.post("/api/v1/app/acme/msg", message.clone()).await;
        assert!(delivered(&api, "first", &first, 1).await.verifies(&first_secret));
    })
    .await;

    // During: processes restarted with the new key and the old one as a fallback. An
    // endpoint made now is sealed under the new key; both open.
    let mut during = app.settings.clone();
    during.main_key = Some(new_key.clone());
    during.main_key_fallbacks = Some(old_key.clone());
    let other = OtherApi::spawn(&during).await;
    let (status, _) = other
        .send(
            &api.token,
            "/api/v1/app/acme/endpoint",
            Some(json!({"url": second.url, "uid": "second"})),
        )
        .await;
    assert_eq!(status, 201);
    let (_, body) = other
        .send(&api.token, "/api/v1/app/acme/endpoint/first/secret", None)
        .await;
    assert_eq!(body["key"], first_secret.as_str(), "the old key still opens");
    let (_, body) = other
        .send(&api.token, "/api/v1/app/acme/endpoint/second/secret", None)
        .await;
    let second_secret = body["key"].as_str().unwrap().to_owned();

    let during_ctx = startup::context(&during, String::new()).await.unwrap();
    let (old_id, new_id) = (
        MainKey::parse(old_key.expose()).unwrap().id(),
        MainKey::parse(new_key.expose()).unwrap().id(),
    );
    let census = rekey::census(&during_ctx).await.unwrap();
    assert_eq!(census.by_key, [(old_id.clone(), 2), (new_id.clone(), 1)].into());

    // A wrong key changes nothing, even one that opens the first secret (sealed under
    // the old key) but not the second.
    let mut wrong = during.clone();
    wrong.main_key = Some(new_main_key());
    wrong.main_key_fallbacks = Some(old_key.clone());
    let wrong_ctx = startup::context(&wrong, String::new()).await.unwrap();
    let before = ciphertexts(&app).await;
    // One row per transaction, so only the census up front can keep the first row as it was.
    let refused = rekey::reseal(&wrong_ctx, 1).await.unwrap_err().to_string();
    assert!(
        refused.contains("does not open") && refused.contains(&new_id),
        "{refused}"
    );
    assert_eq!(ciphertexts(&app).await, before);

    // The rotation runs while the new worker delivers.
    with_worker(&during, async {
        api.post("/api/v1/app/acme/msg", message.clone()).await;
        let done = rekey::reseal(&during_ctx, 1).await.unwrap();
        assert_eq!((done.resealed, done.unchanged), (2, 1));
        assert!(delivered(&api, "first", &first, 2).await.verifies(&first_secret));
        assert!(
            delivered(&api, "second", &second, 1)
                .await
                .verifies(&second_secret)
        );
    })
    .await;
    let census = rekey::census(&during_ctx).await.unwrap();
    assert_eq!(census.by_key, [(new_id.clone(), 3)].into());
    assert_eq!(census.under_other_keys(), 0);
    assert_eq!(
        rekey::reseal(&during_ctx, 1).await.unwrap().resealed,
        0,
        "a second run has nothing to do"
    );

    // After: the fallback is dropped; everything opens under the new key alone, and the
    // old key alone no longer opens anything.
    let mut after = during.clone();
    after.main_key_fallbacks = None;
    with_worker(&after, async {
        api.post("/api/v1/app/acme/msg", message.clone()).await;
        assert!(delivered(&api, "first", &first, 3).await.verifies(&first_secret));
        assert!(
            delivered(&api, "second", &second, 2)
                .await
                .verifies(&second_secret)
        );
    })
    .await;
    let after_api = OtherApi::spawn(&after).await;
    let (status, reread) = after_api.send(&api.token, &inbox_path, None).await;
    assert_eq!(status, 200, "{reread}");
    let token = |inbox: &serde_json::Value| {
        inbox["url"]
            .as_str()
            .unwrap()
            .rsplit_once("/in/")
            .unwrap()
            .1
            .to_owned()
    };
    assert_eq!(
        token(&reread),
        token(&inbox),
        "the inbox's token opens under the new key alone"
    );
    let old_only = startup::context(&app.settings, String::new()).await.unwrap();
    let refused = rekey::census(&old_only).await.unwrap_err().to_string();
    assert!(refused.contains(&new_id), "{refused}");
}

#[tokio::test]
async fn old_api_tokens_work_until_the_configured_date() {
    let app = TestApp::spawn().await;
    let (_, old_token) = app.tenant("T").await;
    let old_secret = app.settings.jwt_secret.clone().unwrap();
    let rotated = |until: chrono::DateTime<Utc>| {
        let mut settings = app.settings.clone();
        settings.jwt_secret = Some(Secret::new("a-new-signing-secret-of-enough-length-0"));
        settings.jwt_secret_fallbacks = Some(old_secret.clone());
        settings.jwt_fallbacks_until = Some(until.to_rfc3339());
        settings
    };

    let valid_settings = rotated(Utc::now() + chrono::Duration::days(7));
    let valid = OtherApi::spawn(&valid_settings).await;
    assert_eq!(valid.send(&old_token, "/api/v1/app", None).await.0, 200);

    // Tokens issued now are signed with the new secret, which old processes do not know.
    let new_ctx = startup::context(&valid_settings, String::new()).await.unwrap();
    let (tenant, _) = app.tenant("U").await;
    let new_token = domain::service::token::create(
        &new_ctx,
        &tenant,
        "new",
        None,
        &domain::service::audit::Actor::Cli,
    )
    .await
    .unwrap()
    .token;
    assert_eq!(valid.send(&new_token, "/api/v1/app", None).await.0, 200);

    let expired = OtherApi::spawn(&rotated(Utc::now() - chrono::Duration::seconds(1))).await;
    let (status, body) = expired.send(&old_token, "/api/v1/app", None).await;
    assert_eq!(status, 401);
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("retired signing key")),
        "{body}"
    );
    assert_eq!(expired.send(&new_token, "/api/v1/app", None).await.0, 200);

    // A fallback without an end date is a configuration error.
    let mut endless = rotated(Utc::now());
    endless.jwt_fallbacks_until = None;
    let err = startup::context(&endless, String::new()).await.unwrap_err();
    assert!(err.to_string().contains("HERALD_JWT_FALLBACKS_UNTIL"), "{err}");
}
