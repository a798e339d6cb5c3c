//! The destination row becomes the delivery job. Until now every try had a second row in
//! apalis' own job tables; from here on a worker claims due destinations directly:
//! `status` says whether one waits (`pending`) or is held by a worker (`sending`, with
//! `next_attempt_at` as the end of that worker's lease), and `next_trigger` whether its
//! next try is a scheduled one or a manual resend.
//!
//! Pending work moves over: destinations already said what was due and when, so they are
//! delivered as they are; the only thing apalis' rows knew besides is which tries were
//! manual resends, and that is copied into `next_trigger`. Then the old queue's tables are
//! dropped (SQLite: `Jobs`, `Workers` and apalis' `_sqlx_migrations`; PostgreSQL: the
//! `apalis` schema and `public._sqlx_migrations`), unless they hold jobs that are not
//! Herald's, in which case only Herald's rows are removed.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::ConnectionTrait};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Destination {
    Table,
    NextTrigger,
}

/// The apalis queue Herald's deliveries used (`job_type`).
const OLD_QUEUE: &str = "herald.deliver";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Destination::Table)
                .add_column(string(Destination::NextTrigger).default("scheduled"))
                .to_owned(),
        )
        .await?;
        let db = m.get_connection();
        // Claims read due work in due order from this index alone; finished destinations
        // (nearly all of them) are not in it. Written out: sea-query's index builder has
        // no WHERE; both databases accept this text.
        db.execute_unprepared("DROP INDEX idx_destination_due").await?;
        db.execute_unprepared(
            "CREATE INDEX idx_destination_due ON destination (next_attempt_at) \
             WHERE status IN ('pending', 'sending')",
        )
        .await?;
        match db.get_database_backend() {
            sea_orm::DbBackend::Postgres => move_from_postgres_queue(db).await,
            _ => move_from_sqlite_queue(db).await,
        }
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX idx_destination_due").await?;
        db.execute_unprepared("CREATE INDEX idx_destination_due ON destination (status, next_attempt_at)")
            .await?;
        m.alter_table(
            Table::alter()
                .table(Destination::Table)
                .drop_column(Destination::NextTrigger)
                .to_owned(),
        )
        .await
    }
}

/// Whether `sql` (a `SELECT COUNT(*) AS n ...`) counts anything.
async fn any(db: &SchemaManagerConnection<'_>, sql: &str) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql))
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<i64>("", "n")? > 0,
        None => false,
    })
}

/// Jobs of the old queue that were still to run.
const OPEN: &str = "status NOT IN ('Done', 'Killed')";

async fn move_from_sqlite_queue(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    if !any(
        db,
        "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'Jobs'",
    )
    .await?
    {
        return Ok(());
    }
    db.execute_unprepared(&format!(
        "UPDATE destination SET next_trigger = 'manual' \
         WHERE status = 'pending' AND id IN ( \
             SELECT json_extract(CAST(job AS TEXT), '$.destination') FROM Jobs \
             WHERE job_type = '{OLD_QUEUE}' AND {OPEN} \
               AND json_extract(CAST(job AS TEXT), '$.trigger') = 'manual')"
    ))
    .await?;
    db.execute_unprepared(&format!("DELETE FROM Jobs WHERE job_type = '{OLD_QUEUE}'"))
        .await?;
    if any(db, "SELECT COUNT(*) AS n FROM Jobs").await? {
        return Ok(());
    }
    for statement in [
        "DROP TABLE Jobs",
        "DROP TABLE IF EXISTS Jobs_old",
        "DROP TABLE IF EXISTS Workers",
        "DROP TABLE IF EXISTS _sqlx_migrations",
    ] {
        db.execute_unprepared(statement).await?;
    }
    Ok(())
}

async fn move_from_postgres_queue(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    if !any(
        db,
        "SELECT COUNT(*) AS n FROM information_schema.tables \
         WHERE table_schema = 'apalis' AND table_name = 'jobs'",
    )
    .await?
    {
        return Ok(());
    }
    db.execute_unprepared(&format!(
        "UPDATE destination SET next_trigger = 'manual' \
         WHERE status = 'pending' AND id IN ( \
             SELECT convert_from(job, 'UTF8')::jsonb ->> 'destination' FROM apalis.jobs \
             WHERE job_type = '{OLD_QUEUE}' AND {OPEN} \
               AND convert_from(job, 'UTF8')::jsonb ->> 'trigger' = 'manual')"
    ))
    .await?;
    db.execute_unprepared(&format!("DELETE FROM apalis.jobs WHERE job_type = '{OLD_QUEUE}'"))
        .await?;
    if any(db, "SELECT COUNT(*) AS n FROM apalis.jobs").await? {
        return Ok(());
    }
    db.execute_unprepared("DROP SCHEMA apalis CASCADE").await?;
    db.execute_unprepared("DROP TABLE IF EXISTS public._sqlx_migrations")
        .await?;
    Ok(())
}
