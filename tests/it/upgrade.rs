//! Upgrading a database from the version that kept a second job row per try in apalis'
//! tables: the work that version had queued is delivered afterwards, manual resends
//! stay manual, finished work is not sent again, and the old queue's tables are gone.

use chrono::Utc;
use domain::{
    db::Backend,
    entity::{attempt, destination, message},
    id::{DestinationId, MessageId},
    scope::TenantScoped,
    service,
};
use herald::startup::{self, Application, Mode};
use migrations::{Migrator, MigratorTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, Statement, Value};
use std::{collections::BTreeSet, time::Duration};
use tests::{TestDb, init, receiver::Receiver, settings_for};

/// What the previous version's `SqlQueue` wrote for one try, statement for statement.
fn old_job(
    backend: Backend,
    destination: &DestinationId,
    tenant: &str,
    trigger: &str,
    attempt: i32,
    status: &str,
) -> Statement {
    let args = serde_json::json!({
        "tenant": tenant,
        "destination": destination.as_str(),
        "trigger": trigger,
        "attempt": attempt,
    })
    .to_string()
    .into_bytes();
    let id = ulid::Ulid::generate().to_string();
    let run_at = Utc::now().timestamp();
    match backend {
        Backend::Sqlite => Statement::from_sql_and_values(
            sea_orm::DbBackend::Sqlite,
            "INSERT INTO Jobs VALUES (?, ?, ?, ?, 0, ?, ?, NULL, NULL, NULL, NULL, 0, '{}', NULL)",
            [
                Value::Bytes(Some(args)),
                id.into(),
                "herald.deliver".into(),
                status.into(),
                5i64.into(),
                run_at.into(),
            ],
        ),
        Backend::Postgres => Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, metadata) \
             VALUES ($1, $2, $3, $4, 0, $5, to_timestamp($6), 0, ''::hstore)",
            [
                id.into(),
                "herald.deliver".into(),
                Value::Bytes(Some(args)),
                status.into(),
                5i32.into(),
                (run_at as f64).into(),
            ],
        ),
    }
}

async fn table_exists(conn: &sea_orm::DatabaseConnection, backend: Backend, name: &str) -> bool {
    let sql = match backend {
        Backend::Sqlite => {
            format!("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '{name}'")
        }
        Backend::Postgres => {
            let (schema, table) = name.split_once('.').unwrap_or(("public", name));
            format!(
                "SELECT COUNT(*) AS n FROM information_schema.tables \
                 WHERE table_schema = '{schema}' AND table_name = '{table}'"
            )
        }
    };
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap() > 0
}

#[tokio::test]
async fn work_the_previous_version_queued_is_delivered_after_the_upgrade() {
    init();
    let db = TestDb::new().await;
    let mut settings = settings_for(&db);
    settings.serve_worker = true;
    settings.allow_private_networks = "127.0.0.0/8".into();
    let receiver = Receiver::start(&[]).await;

    // The previous version's schema, with apalis' tables as its `herald migrate` made them.
    let conn = startup::connect(&settings).await.unwrap();
    Migrator::up(&conn, Some(3)).await.unwrap();
    match db.backend {
        Backend::Sqlite => apalis_sqlite::SqliteStorage::setup(conn.get_sqlite_connection_pool())
            .await
            .unwrap(),
        Backend::Postgres => apalis_postgres::PostgresStorage::setup(conn.get_postgres_connection_pool())
            .await
            .unwrap(),
    }
    // A tenant with one endpoint at the receiver.
    let ctx = startup::context(&settings, String::new()).await.unwrap();
    let tenant = tests::old_tenant(&conn, "Old").await;
    let p = |i: usize| match db.backend {
        Backend::Sqlite => "?".to_owned(),
        Backend::Postgres => format!("${i}"),
    };
    let json = |i: usize| match db.backend {
        Backend::Sqlite => p(i),
        Backend::Postgres => format!("CAST({} AS jsonb)", p(i)),
    };
    let now = Utc::now();
    // The application and the endpoint as that schema has them (later versions added
    // columns).
    let app = domain::id::AppId::new();
    conn.execute_raw(Statement::from_sql_and_values(
        conn.get_database_backend(),
        format!(
            "INSERT INTO application (id, tenant_id, name, metadata, operational, created_at, updated_at) \
             VALUES ({}, {}, 'Acme', {}, false, {}, {})",
            p(1),
            p(2),
            json(3),
            p(4),
            p(5)
        ),
        [
            app.as_str().into(),
            tenant.as_str().into(),
            "{}".into(),
            now.into(),
            now.into(),
        ],
    ))
    .await
    .unwrap();
    let endpoint = domain::id::EndpointId::new();
    conn.execute_raw(Statement::from_sql_and_values(
        conn.get_database_backend(),
        format!(
            "INSERT INTO endpoint (id, tenant_id, app_id, url, description, disabled, headers, metadata, \
             created_at, updated_at) VALUES ({}, {}, {}, {}, '', false, {}, {}, {}, {})",
            p(1),
            p(2),
            p(3),
            p(4),
            json(5),
            json(6),
            p(7),
            p(8)
        ),
        [
            endpoint.as_str().into(),
            tenant.as_str().into(),
            app.as_str().into(),
            receiver.url.as_str().into(),
            "{}".into(),
            "{}".into(),
            now.into(),
            now.into(),
        ],
    ))
    .await
    .unwrap();
    service::endpoint_secret::store(
        &ctx,
        &tenant,
        &endpoint,
        &domain::signing::SigningSecret::generate().unwrap(),
    )
    .await
    .unwrap();

    // Three messages as the previous version left them: one queued for its first try, one
    // resent by hand after a failed try, one delivered.
    let cases = [
        ("pending", 0, "scheduled", 1, "Pending"),
        ("pending", 1, "manual", 2, "Pending"),
        ("success", 1, "scheduled", 1, "Done"),
    ];
    let mut ids = Vec::new();
    for (n, (status, tries, trigger, attempt, job_status)) in cases.into_iter().enumerate() {
        let now = Utc::now();
        // The columns the previous version had (later ones, such as `filtered`, left out),
        // and no `RETURNING` of columns it lacked.
        let msg_id = MessageId::new();
        message::Entity::insert(message::ActiveModel {
            id: Set(msg_id.clone()),
            tenant_id: Set(tenant.clone()),
            app_id: Set(app.clone()),
            event_id: Set(None),
            event_type: Set("invoice.paid".into()),
            channels: Set(None),
            tags: Set(None),
            payload: Set(Some(format!(r#"{{"n":{n}}}"#))),
            created_at: Set(now),
            ..Default::default()
        })
        .exec_without_returning(&ctx.db)
        .await
        .unwrap();
        let destination = DestinationId::new();
        conn.execute_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            format!(
                "INSERT INTO destination (id, tenant_id, app_id, message_id, endpoint_id, status, \
                 attempt_count, next_attempt_at, last_attempt_at, created_at, updated_at) \
                 VALUES ({}, {}, {}, {}, {}, {}, {}, {}, NULL, {}, {})",
                p(1),
                p(2),
                p(3),
                p(4),
                p(5),
                p(6),
                p(7),
                p(8),
                p(9),
                p(10)
            ),
            [
                destination.as_str().into(),
                tenant.as_str().into(),
                app.as_str().into(),
                msg_id.as_str().into(),
                endpoint.as_str().into(),
                status.into(),
                tries.into(),
                (status == "pending").then_some(now).into(),
                now.into(),
                now.into(),
            ],
        ))
        .await
        .unwrap();
        conn.execute_raw(old_job(
            db.backend,
            &destination,
            tenant.as_str(),
            trigger,
            attempt,
            job_status,
        ))
        .await
        .unwrap();
        ids.push((msg_id, destination));
    }
    drop(ctx);

    // The new version starts on it: it migrates, and its worker delivers.
    let app_handle = Application::build(&settings, Mode::Serve).await.unwrap();
    let ctx = app_handle.context().clone();
    let server = app_handle.handle();
    tokio::spawn(app_handle.run_until_stopped());
    let delivered = tests::eventually(Duration::from_secs(20), async || {
        let open = destination::Entity::for_tenant(&tenant)
            .filter(destination::Column::Status.ne(destination::Status::Success))
            .all(&ctx.db)
            .await
            .unwrap();
        open.is_empty().then_some(())
    })
    .await;
    assert!(
        delivered.is_some(),
        "the queued work was not delivered after the upgrade"
    );
    let got: Vec<String> = receiver
        .got()
        .iter()
        .map(|g| g.header("webhook-id").unwrap().to_owned())
        .collect();
    let arrived: BTreeSet<&str> = got.iter().map(String::as_str).collect();
    assert_eq!(
        arrived,
        BTreeSet::from([ids[0].0.as_str(), ids[1].0.as_str()]),
        "both queued messages arrived, and the finished one was not sent again"
    );
    assert_eq!(got.len(), 2, "each once");
    let resent = attempt::Entity::for_tenant(&tenant)
        .filter(attempt::Column::DestinationId.eq(ids[1].1.clone()))
        .all(&ctx.db)
        .await
        .unwrap();
    assert_eq!(resent.len(), 1);
    assert_eq!(
        (resent[0].number, resent[0].trigger),
        (2, attempt::Trigger::Manual),
        "a resend queued before the upgrade is still one manual try"
    );
    let old_tables = match db.backend {
        Backend::Sqlite => ["Jobs", "Workers"],
        Backend::Postgres => ["apalis.jobs", "apalis.workers"],
    };
    for table in old_tables {
        assert!(
            !table_exists(&ctx.db, db.backend, table).await,
            "{table} is dropped"
        );
    }
    drop(server.stop(false));
}
