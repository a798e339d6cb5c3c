//! Endpoint signing secrets are sealed under the main key: never plaintext in the
//! database, readable again with the right key, refused cleanly with a wrong one.

use std::sync::Arc;

use chrono::Utc;
use domain::{
    Error,
    crypto::{Keyring, MainKey},
    entity::{StringMap, application, endpoint},
    id::{AppId, EndpointId},
    service::endpoint_secret,
    signing::SigningSecret,
};
use sea_orm::{ActiveModelTrait, Set};
use tests::TestApp;

async fn an_endpoint(app: &TestApp) -> (domain::id::TenantId, EndpointId) {
    let (tenant, _) = app.tenant("T").await;
    let now = Utc::now();
    let application = application::ActiveModel {
        id: Set(AppId::new()),
        tenant_id: Set(tenant.clone()),
        uid: Set(None),
        name: Set("app".into()),
        rate_limit: Set(None),
        retention_days: Set(None),
        operational: Set(false),
        require_endpoint_verification: Set(false),
        metadata: Set(StringMap::default()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.ctx.db)
    .await
    .unwrap();
    let endpoint = endpoint::ActiveModel {
        id: Set(EndpointId::new()),
        tenant_id: Set(tenant.clone()),
        app_id: Set(application.id),
        uid: Set(None),
        url: Set("https://example.com/".into()),
        description: Set(String::new()),
        disabled: Set(false),
        disabled_reason: Set(None),
        filter_types: Set(None),
        channels: Set(None),
        rate_limit: Set(None),
        timeout_secs: Set(None),
        retry_schedule: Set(None),
        headers: Set(StringMap::default()),
        metadata: Set(StringMap::default()),
        failing_since: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ordered: Set(None),
        access: Set(None),
        credentials: Set(None),
        filter: Set(None),
        transformation: Set(None),
        verification: Set(None),
        verification_challenge: Set(None),
        verification_tries: Set(0),
        verification_due_at: Set(None),
        verification_error: Set(None),
        verified_at: Set(None),
    }
    .insert(&app.ctx.db)
    .await
    .unwrap();
    (tenant, endpoint.id)
}

#[tokio::test]
async fn secrets_round_trip_and_are_never_stored_in_plaintext() {
    let app = TestApp::spawn().await;
    let (tenant, endpoint) = an_endpoint(&app).await;
    let secret = SigningSecret::generate().unwrap();
    let row = endpoint_secret::store(&app.ctx, &tenant, &endpoint, &secret)
        .await
        .unwrap();

    let stored = &row.ciphertext;
    assert!(
        !stored
            .windows(secret.as_bytes().len())
            .any(|w| w == secret.as_bytes())
    );
    assert!(!String::from_utf8_lossy(stored).contains(&secret.to_whsec()[6..]));

    let keys = endpoint_secret::live_keys(&app.ctx, &app.ctx.db, &tenant, &endpoint, Utc::now())
        .await
        .unwrap();
    assert_eq!(keys, vec![secret]);
}

#[tokio::test]
async fn a_wrong_main_key_fails_cleanly() {
    let app = TestApp::spawn().await;
    let (tenant, endpoint) = an_endpoint(&app).await;
    endpoint_secret::store(&app.ctx, &tenant, &endpoint, &SigningSecret::generate().unwrap())
        .await
        .unwrap();

    let mut wrong = app.ctx.clone();
    wrong.keyring = Arc::new(Keyring::new(MainKey::generate().unwrap()));
    let err = endpoint_secret::live_keys(&wrong, &wrong.db, &tenant, &endpoint, Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Crypto(_)), "{err:?}");
    assert!(err.to_string().contains("HERALD_MAIN_KEY"), "{err}");
}
