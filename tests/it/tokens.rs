//! API tokens: valid ones authenticate; revoked, forged, expired and unknown ones do not.

use chrono::{Duration, Utc};
use domain::{
    Error,
    auth::JwtKeys,
    id::ApiTokenId,
    service::{audit::Actor, token},
};
use tests::TestApp;

fn reason(err: Error) -> String {
    assert!(matches!(err, Error::Unauthenticated(_)), "{err:?}");
    err.to_string()
}

#[tokio::test]
async fn tokens_authenticate_until_revoked() {
    let app = TestApp::spawn().await;
    let (tenant, jwt) = app.tenant("T").await;
    let principal = token::authenticate(&app.ctx, &jwt).await.unwrap();
    assert_eq!(principal.tenant, tenant);

    token::revoke(&app.ctx, &tenant, &principal.token, &Actor::Cli)
        .await
        .unwrap();
    assert!(reason(token::authenticate(&app.ctx, &jwt).await.unwrap_err()).contains("revoked"));
    token::revoke(&app.ctx, &tenant, &principal.token, &Actor::Cli)
        .await
        .unwrap();
}

#[tokio::test]
async fn forged_expired_and_unknown_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let (tenant, jwt) = app.tenant("T").await;

    let forged = JwtKeys::new("some-other-secret-that-is-long-enough")
        .issue_api_token(
            &tenant,
            &token::authenticate(&app.ctx, &jwt).await.unwrap().token,
            Utc::now(),
            None,
        )
        .unwrap();
    assert!(reason(token::authenticate(&app.ctx, &forged).await.unwrap_err()).contains("signature"));

    let unknown = app
        .ctx
        .jwt
        .issue_api_token(&tenant, &ApiTokenId::new(), Utc::now(), None)
        .unwrap();
    assert!(reason(token::authenticate(&app.ctx, &unknown).await.unwrap_err()).contains("not known"));

    let expired = token::create(
        &app.ctx,
        &tenant,
        "short-lived",
        Some(Utc::now() - Duration::minutes(5)),
        &Actor::Cli,
    )
    .await
    .unwrap();
    assert!(reason(token::authenticate(&app.ctx, &expired.token).await.unwrap_err()).contains("expired"));

    assert!(reason(token::authenticate(&app.ctx, "not.a.jwt").await.unwrap_err()).contains("malformed"));
}
