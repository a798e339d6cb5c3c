//! Commands that make something print only its id or token; every error is one clear
//! line on stderr and a non-zero exit.

use domain::{auth, entity::user, id::TenantId, scope::TenantScoped, service::token};
use herald::startup;
use tests::{TestDb, init};

use crate::{herald, migrated, new_tenant, only_line, run, settings_of};

#[tokio::test]
async fn migrate_then_tenant_create_prints_only_the_id() {
    init();
    let db = TestDb::new().await;
    migrated(&db).await;
    let id = new_tenant(&db, "Acme Inc.");
    let tenant = TenantId::parse(&id).expect("stdout is a tenant id");

    let conn = startup::connect(&settings_of(&db)).await.unwrap();
    let stored = domain::service::tenant::get(&conn, &tenant).await.unwrap();
    assert_eq!(stored.name, "Acme Inc.");
}

#[tokio::test]
async fn token_create_prints_only_a_working_token() {
    init();
    let db = TestDb::new().await;
    migrated(&db).await;
    let tenant = new_tenant(&db, "Acme");
    let jwt = only_line(&run(
        herald(&db).args(["token", "create", &tenant, "--name", "ci-bot"]),
        None,
    ));
    assert_eq!(jwt.split('.').count(), 3, "a JWT: {jwt}");

    let ctx = startup::context(&settings_of(&db), String::new()).await.unwrap();
    let claims = ctx.jwt.verify_api_token(&jwt).unwrap();
    assert_eq!(claims.sub.as_str(), tenant);
    let principal = token::authenticate(&ctx, &jwt).await.unwrap();
    assert_eq!(principal.token, claims.jti, "jti is the recorded token's id");
    assert_eq!(principal.token_name, "ci-bot");
}

#[tokio::test]
async fn user_create_reads_the_password_from_stdin_and_stores_argon2id() {
    init();
    let db = TestDb::new().await;
    migrated(&db).await;
    let tenant = new_tenant(&db, "Acme");
    let out = run(
        herald(&db).args([
            "user",
            "create",
            &tenant,
            "Ann@Example.com",
            "--role",
            "viewer",
            "--password-stdin",
        ]),
        Some("correct horse battery\n"),
    );
    let id = only_line(&out);
    assert!(id.starts_with("usr_"), "{id}");

    let conn = startup::connect(&settings_of(&db)).await.unwrap();
    let users = user::Entity::for_tenant(&TenantId::parse(&tenant).unwrap())
        .all(&conn)
        .await
        .unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].email, "ann@example.com");
    assert_eq!(users[0].role, domain::values::Role::Viewer);
    assert!(users[0].password_hash.starts_with("$argon2id$"));
    assert!(auth::verify_password(
        &users[0].password_hash,
        "correct horse battery"
    ));
}

#[tokio::test]
async fn every_error_is_one_clear_line_and_a_non_zero_exit() {
    init();
    let db = TestDb::new().await;
    migrated(&db).await;
    let tenant = new_tenant(&db, "Acme");
    let unknown = TenantId::new().to_string();
    run(
        herald(&db).args([
            "user",
            "create",
            &tenant,
            "dup@example.com",
            "--role",
            "admin",
            "--password-stdin",
        ]),
        Some("long-enough-password"),
    );

    let cases: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
        (vec!["tenant", "create", "  "], None, "invalid name"),
        (
            vec!["token", "create", "org_bogus"],
            None,
            "not a valid tenant id",
        ),
        (vec!["token", "create", &unknown], None, "tenant not found"),
        (
            vec![
                "user",
                "create",
                &tenant,
                "not-an-email",
                "--role",
                "admin",
                "--password-stdin",
            ],
            Some("pw-long-enough"),
            "invalid email",
        ),
        (
            vec![
                "user",
                "create",
                &tenant,
                "a@example.com",
                "--role",
                "root",
                "--password-stdin",
            ],
            Some("pw-long-enough"),
            "root",
        ),
        (
            vec!["user", "create", &tenant, "a@example.com", "--role", "admin"],
            None,
            "--password-stdin",
        ),
        (
            vec![
                "user",
                "create",
                &tenant,
                "a@example.com",
                "--role",
                "admin",
                "--password-stdin",
            ],
            Some("short"),
            "at least 8",
        ),
        (
            vec![
                "user",
                "create",
                &tenant,
                "a@example.com",
                "--role",
                "admin",
                "--password-stdin",
            ],
            Some(""),
            "no password",
        ),
        (
            vec![
                "user",
                "create",
                &tenant,
                "dup@example.com",
                "--role",
                "admin",
                "--password-stdin",
            ],
            Some("pw-long-enough"),
            "already exists",
        ),
        (
            vec![
                "user",
                "create",
                &unknown,
                "b@example.com",
                "--role",
                "admin",
                "--password-stdin",
            ],
            Some("pw-long-enough"),
            "tenant not found",
        ),
        (vec!["frobnicate"], None, "frobnicate"),
    ];
    for (args, stdin, expected) in cases {
        let out = run(herald(&db).args(&args), stdin);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            out.stdout.is_empty(),
            "{args:?} printed on stdout: {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
        let lines: Vec<_> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(
            lines.len(),
            1,
            "{args:?}: expected one line on stderr, got {err:?}"
        );
        assert!(
            lines[0].contains(expected),
            "{args:?}: {:?} does not mention {expected:?}",
            lines[0]
        );
    }

    let out = run(
        herald(&db)
            .arg("migrate")
            .env("HERALD_DATABASE_URL", "mysql://root@localhost/x"),
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL"));
}
