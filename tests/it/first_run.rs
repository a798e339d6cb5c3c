//! The first run sets up an empty database once: tenant, admin, token.

use domain::{
    auth,
    entity::user,
    scope::TenantScoped,
    service::{bootstrap, token},
};
use tests::TestApp;

#[tokio::test]
async fn first_run_makes_a_tenant_an_admin_and_a_working_token_once() {
    let app = TestApp::spawn().await;
    let first = bootstrap::first_run(&app.ctx)
        .await
        .unwrap()
        .expect("an empty database gets set up");
    assert_eq!(first.email, bootstrap::ADMIN_EMAIL);
    assert!(first.password.len() >= 16);

    let principal = token::authenticate(&app.ctx, &first.token).await.unwrap();
    assert_eq!(principal.tenant, first.tenant_id);

    let users = user::Entity::for_tenant(&first.tenant_id)
        .all(&app.ctx.db)
        .await
        .unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].role, domain::values::Role::Admin);
    assert!(auth::verify_password(&users[0].password_hash, &first.password));

    assert!(
        bootstrap::first_run(&app.ctx).await.unwrap().is_none(),
        "the second run sets up nothing"
    );
}
