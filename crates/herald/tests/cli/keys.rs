//! `herald keys`: generating keys, and rotating the main key that seals endpoint secrets.

use herald::{
    config::{Secret, Settings},
    startup,
};
use tests::{TestDb, init};

use crate::{herald, migrated, only_line, run, settings_of, stdout};

#[tokio::test]
async fn keys_rotate_moves_secrets_to_the_new_main_key_and_refuses_a_wrong_one() {
    use domain::service::{application, endpoint};
    init();
    let db = TestDb::new().await;
    migrated(&db).await;
    let generate = |args: &[&str]| only_line(&run(herald(&db).args(["keys", "generate"]).args(args), None));
    let (old, new, wrong) = (generate(&[]), generate(&[]), generate(&[]));
    assert!(domain::crypto::MainKey::parse(&new).is_ok(), "{new}");
    assert!(generate(&["--jwt"]).len() >= 32);
    let jwt = "keys-test-jwt-secret-0123456789abcdef";

    // Two endpoints whose secrets the old key sealed.
    let settings = Settings {
        jwt_secret: Some(Secret::new(jwt)),
        main_key: Some(Secret::new(&old)),
        ..settings_of(&db)
    };
    let ctx = startup::context(&settings, String::new()).await.unwrap();
    let tenant = domain::service::tenant::create(&ctx, "T").await.unwrap().id;
    let (app, _) = application::create(
        &ctx,
        &tenant,
        application::NewApplication {
            name: "app".into(),
            uid: None,
            rate_limit: None,
            retention_days: None,
            metadata: Default::default(),
            require_endpoint_verification: None,
        },
        false,
        &domain::service::audit::Actor::Cli,
    )
    .await
    .unwrap();
    for n in 0..2 {
        endpoint::create(
            &ctx,
            &tenant,
            app.id.as_str(),
            endpoint::NewEndpoint::at(
                domain::values::EndpointUrl::parse(&format!("https://example.com/{n}")).unwrap(),
            ),
            &domain::service::audit::Actor::Cli,
        )
        .await
        .unwrap();
    }
    let keys = |main: &str, fallbacks: &str, command: &str| {
        run(
            herald(&db)
                .env("HERALD_JWT_SECRET", jwt)
                .env("HERALD_MAIN_KEY", main)
                .env("HERALD_MAIN_KEY_FALLBACKS", fallbacks)
                .args(["keys", command]),
            None,
        )
    };
    let id = |key: &str| domain::crypto::MainKey::parse(key).unwrap().id();

    // Without the old key as a fallback, the new key opens nothing: exit 1, one line,
    // naming both keys.
    let refused = keys(&new, &wrong, "rotate");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&id(&old)) && stderr.contains(&id(&new)),
        "{stderr}"
    );
    assert!(refused.stdout.is_empty());
    let status = stdout(&keys(&old, "", "status"));
    assert!(
        status.contains(&format!("main key {} (current): 2 endpoint secrets", id(&old))),
        "nothing changed: {status}"
    );

    let rotated = stdout(&keys(&new, &format!(" {wrong}, {old} "), "rotate"));
    assert!(
        rotated.contains(&format!(
            "re-sealed 2 endpoint secrets under main key {} (0 already were)",
            id(&new)
        )),
        "{rotated}"
    );
    assert!(
        rotated.contains("HERALD_MAIN_KEY_FALLBACKS is not needed"),
        "{rotated}"
    );
    let status = stdout(&keys(&new, "", "status"));
    assert!(
        status.contains(&format!("main key {} (current): 2 endpoint secrets", id(&new))),
        "{status}"
    );
    let unusable = keys(&new, "not-a-key", "status");
    assert!(
        String::from_utf8_lossy(&unusable.stderr).contains("HERALD_MAIN_KEY_FALLBACKS"),
        "{}",
        String::from_utf8_lossy(&unusable.stderr)
    );
}
