//! The migrations build the whole schema, on SQLite and PostgreSQL alike.

use herald::startup;
use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use tests::{TestDb, init, settings_for};

const TABLES: &[&str] = &[
    "tenant",
    "\"user\"",
    "api_token",
    "application",
    "event_type",
    "endpoint",
    "endpoint_secret",
    "message",
    "destination",
    "attempt",
    "idempotency_key",
    "audit_event",
    "session",
    "delivery_lane",
    "portal_cutoff",
    "background_task",
    "inbox",
    "inbox_request",
];

#[tokio::test]
async fn migrations_build_every_table_and_run_twice_harmlessly() {
    init();
    let db = TestDb::new().await;
    let settings = settings_for(&db);
    let conn = startup::connect(&settings).await.unwrap();

    let err = startup::require_migrated(&conn).await.unwrap_err().to_string();
    assert!(err.contains("herald migrate"), "{err}");

    let applied = startup::migrate(&conn).await.unwrap();
    assert_eq!(applied, Migrator::migrations().len());
    startup::require_migrated(&conn).await.unwrap();
    assert_eq!(
        startup::migrate(&conn).await.unwrap(),
        0,
        "a second run applies nothing"
    );

    let backend = conn.get_database_backend();
    for table in TABLES {
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        let row = conn
            .query_one_raw(Statement::from_string(backend, sql))
            .await
            .unwrap()
            .unwrap();
        let n: i64 = row.try_get("", "n").unwrap();
        assert_eq!(n, 0, "{table} starts empty");
    }
}

#[tokio::test]
async fn accounts_and_their_sessions_survive_emails_becoming_unique_per_tenant() {
    use domain::{
        service,
        service::audit::Actor,
        values::{Email, Role},
    };
    init();
    let db = TestDb::new().await;
    let settings = settings_for(&db);
    let conn = startup::connect(&settings).await.unwrap();
    // The schema before migration 7, with a signed-in user.
    Migrator::up(&conn, Some(6)).await.unwrap();
    // The services write through a context of their own, on the same database.
    let ctx = startup::context(&settings, String::new()).await.unwrap();
    let (a, b) = (
        tests::old_tenant(&conn, "A").await,
        tests::old_tenant(&conn, "B").await,
    );
    let email = Email::parse("person@a.test").unwrap();
    let person = service::user::create(
        &ctx,
        &a,
        &email,
        Role::Admin,
        "a long password".into(),
        &Actor::Cli,
    )
    .await
    .unwrap();
    let (token, _) = service::session::start_for_user(&ctx, &person).await.unwrap();

    Migrator::up(&conn, None).await.unwrap();
    let live = service::session::find(&ctx, &token, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        live.and_then(|l| l.user().map(|u| u.id.clone())),
        Some(person.id.clone()),
        "still signed in"
    );
    // Now the same email may have an account in B, but not a second one in A.
    let twin = |tenant| {
        service::user::create(
            &ctx,
            tenant,
            &email,
            Role::Viewer,
            "another password".into(),
            &Actor::Cli,
        )
    };
    twin(&b).await.unwrap();
    let again = twin(&a).await.unwrap_err().to_string();
    assert!(again.contains("already exists in this tenant"), "{again}");

    // Back down is refused while an email has two accounts, and works once it has one.
    let since_6 = Some(u32::try_from(Migrator::migrations().len() - 6).unwrap());
    assert!(Migrator::down(&conn, since_6).await.is_err());
    // (The later migrations may have gone down before migration 7 refused.)
    Migrator::up(&conn, None).await.unwrap();
    let twin_in_b = service::user::list(&conn, &b).await.unwrap().remove(0);
    let ctx = startup::context(&settings, String::new()).await.unwrap();
    service::user::remove(&ctx, &b, &twin_in_b.id, &Actor::Cli)
        .await
        .unwrap();
    Migrator::down(&conn, since_6).await.unwrap();
    assert!(
        service::session::find(&ctx, &token, chrono::Utc::now())
            .await
            .unwrap()
            .is_some()
    );
    Migrator::up(&conn, None).await.unwrap();
    assert!(
        service::session::find(&ctx, &token, chrono::Utc::now())
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_single_feature_flag_becomes_a_set_of_one_and_back() {
    init();
    let db = TestDb::new().await;
    let settings = settings_for(&db);
    let conn = startup::connect(&settings).await.unwrap();
    Migrator::up(&conn, Some(9)).await.unwrap();
    let backend = conn.get_database_backend();
    let run = async |sql: &str| {
        conn.execute_raw(Statement::from_string(backend, sql.to_owned()))
            .await
            .unwrap();
    };
    run("INSERT INTO tenant (id, name, created_at, updated_at) VALUES ('org_1', 'T', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')").await;
    for (id, flag) in [("et_1", "'beta'"), ("et_2", "NULL")] {
        run(&format!(
            "INSERT INTO event_type (id, tenant_id, name, description, archived, deprecated, feature_flag, \
             created_at, updated_at) VALUES ('{id}', 'org_1', '{id}', '', false, false, {flag}, \
             '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
        ))
        .await;
    }
    let since_9 = Some(u32::try_from(Migrator::migrations().len() - 9).unwrap());
    Migrator::up(&conn, None).await.unwrap();
    #[expect(
        clippy::disallowed_methods,
        reason = "the test reads the rows the migration moved"
    )]
    let types = domain::entity::event_type::Entity::find()
        .all(&conn)
        .await
        .unwrap();
    let flags = |id: &str| {
        types
            .iter()
            .find(|t| t.id.as_str() == id)
            .unwrap()
            .feature_flags
            .clone()
            .map(|f| f.0)
    };
    assert_eq!(flags("et_1"), Some(vec!["beta".to_owned()]));
    assert_eq!(flags("et_2"), None);
    Migrator::down(&conn, since_9).await.unwrap();
    let row = conn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT feature_flag FROM event_type WHERE id = 'et_1'".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.try_get::<Option<String>>("", "feature_flag")
            .unwrap()
            .as_deref(),
        Some("beta")
    );
}

#[tokio::test]
async fn background_tasks_come_with_migration_11_and_go_with_it() {
    use domain::{
        entity::background_task::{self, Kind, Params, Progress, Status},
        id::TaskId,
        scope::TenantScoped,
    };
    use sea_orm::ActiveModelTrait;
    init();
    let db = TestDb::new().await;
    let settings = settings_for(&db);
    let conn = startup::connect(&settings).await.unwrap();
    let backend = conn.get_database_backend();
    let count = async || {
        conn.query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM background_task".to_owned(),
        ))
        .await
    };
    Migrator::up(&conn, Some(10)).await.unwrap();
    assert!(count().await.is_err(), "no table before migration 11");
    Migrator::up(&conn, Some(1)).await.unwrap();
    let tenant = tests::old_tenant(&conn, "T").await;
    let now = chrono::Utc::now();
    let task = background_task::Model {
        id: TaskId::new(),
        tenant_id: tenant.clone(),
        app_id: None,
        task: Kind::BulkReplay,
        status: Status::Running,
        params: Params {
            since: Some(now),
            event_types: vec!["a".into()],
            status: Some(2),
            ..Params::default()
        },
        data: Progress {
            messages_sent: Some(3),
            messages_purged: None,
        },
        cursor: Some("msgep_x".into()),
        error: None,
        claimed_by: Some("w".into()),
        lease_until: Some(now),
        created_at: now,
        updated_at: now,
    };
    background_task::ActiveModel::from(task.clone())
        .insert(&conn)
        .await
        .unwrap();
    let read = background_task::Entity::find_in_tenant(&tenant, task.id.clone())
        .one(&conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (read.params, read.data, read.cursor),
        (task.params, task.data, task.cursor)
    );

    Migrator::down(&conn, Some(1)).await.unwrap();
    assert!(count().await.is_err(), "the table went down with it");
    Migrator::up(&conn, None).await.unwrap();
    let row = count().await.unwrap().unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 0);
}

#[tokio::test]
async fn scheduled_messages_come_with_migration_12_and_go_with_it() {
    init();
    let db = TestDb::new().await;
    let settings = settings_for(&db);
    let conn = startup::connect(&settings).await.unwrap();
    let backend = conn.get_database_backend();
    let column = async || {
        conn.query_one_raw(Statement::from_string(
            backend,
            "SELECT deliver_at FROM message".to_owned(),
        ))
        .await
    };
    Migrator::up(&conn, Some(11)).await.unwrap();
    assert!(column().await.is_err(), "no deliver_at before migration 12");
    Migrator::up(&conn, Some(1)).await.unwrap();
    assert!(column().await.is_ok());
    Migrator::down(&conn, Some(1)).await.unwrap();
    assert!(column().await.is_err(), "the column went down with it");
    Migrator::up(&conn, None).await.unwrap();
    assert!(column().await.is_ok());
}

#[tokio::test]
async fn relay_columns_come_with_migration_14_and_go_with_it() {
    init();
    let db = TestDb::new().await;
    let settings = settings_for(&db);
    let conn = startup::connect(&settings).await.unwrap();
    let backend = conn.get_database_backend();
    let columns = async || {
        let inbox = conn
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT listened_at FROM inbox".to_owned(),
            ))
            .await;
        let request = conn
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT relay_state, relay_status, relay_body FROM inbox_request".to_owned(),
            ))
            .await;
        (inbox.is_ok(), request.is_ok())
    };
    Migrator::up(&conn, Some(13)).await.unwrap();
    assert_eq!(columns().await, (false, false), "none before migration 14");
    Migrator::up(&conn, Some(1)).await.unwrap();
    assert_eq!(columns().await, (true, true));
    Migrator::down(&conn, Some(1)).await.unwrap();
    assert_eq!(columns().await, (false, false), "they went down with it");
    Migrator::up(&conn, None).await.unwrap();
    assert_eq!(columns().await, (true, true));
}
