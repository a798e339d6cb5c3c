//! The migrations build the whole schema, on SQLite and PostgreSQL alike.

use herald::startup;
use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Statement};
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
