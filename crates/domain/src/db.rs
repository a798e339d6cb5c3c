//! Opening the database: an SQLite file (the embedded default, in WAL mode) or
//! PostgreSQL; write transactions.

use std::{path::PathBuf, str::FromStr, sync::Arc, time::Duration};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult,
    SqlxPostgresConnector, SqlxSqliteConnector, Statement,
};
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of(url: &str) -> Result<Self, ConnectError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(ConnectError(format!(
                "unsupported database URL `{}`: use sqlite://FILE or postgres://USER@HOST/DB",
                redact_url(url)
            )))
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectError(String);

/// The file behind an SQLite URL (`None` for in-memory databases and other backends).
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    if Backend::of(url).ok()? != Backend::Sqlite {
        return None;
    }
    if url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_path_buf())
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Opens a pool of at most `max_connections` connections.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, ConnectError> {
    let fail = |e: sqlx::Error| ConnectError(format!("cannot open the database at {}: {e}", redact_url(url)));
    match Backend::of(url)? {
        Backend::Sqlite => {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(fail)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            // Switch a new file to WAL with one connection first: two pool connections
            // doing it at once on a fresh file can fail with SQLITE_BUSY whatever the busy
            // timeout (seen under load in CI). WAL then sticks to the file.
            let first = sqlx::ConnectOptions::connect(&options).await.map_err(fail)?;
            sqlx::Connection::close(first).await.map_err(fail)?;
            // Keep connections for the life of the pool: an in-memory database lives only
            // as long as its last connection.
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections.max(1))
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await
                .map_err(fail)?;
            Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
        }
        Backend::Postgres => {
            let options = PgConnectOptions::from_str(url).map_err(fail)?;
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.max(1))
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(fail)?;
            Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool))
        }
    }
}

/// A time as text, for times passed inside JSON parameters: the form `sqlx` binds
/// timestamps in (RFC 3339, `+00:00`, as many fraction digits as needed). PostgreSQL and
/// SQLite read it back as the same instant, and on SQLite, which compares times as text,
/// it sorts like time.
pub(crate) fn time_text(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

/// `"t"."a" AS "pa", "t"."b" AS "pb", …` for every column of an entity: a join's rows,
/// read back per entity with `Model::from_query_result(row, prefix)`.
pub(crate) fn aliased<C: sea_orm::Iterable + sea_orm::Iden>(table: &str, prefix: &str) -> String {
    C::iter()
        .map(|c| {
            let name = c.to_string();
            format!("\"{table}\".\"{name}\" AS \"{prefix}{name}\"")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Takes turns between the write transactions of one process. SQLite has one writer at a
/// time; left to itself, a second `BEGIN IMMEDIATE` waits in SQLite's busy handler, which
/// sleeps in steps of up to 100 ms, so under load writers spend their time asleep while
/// the lock is free. Waiting here instead is a queue: the next writer starts as soon as
/// the last one ends. Other processes on the same file still meet the busy handler.
/// PostgreSQL needs no turns.
#[derive(Clone, Debug, Default)]
pub struct WriteGate(Option<Arc<tokio::sync::Mutex<()>>>);

impl WriteGate {
    pub fn for_backend(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self(Some(Arc::default())),
            Backend::Postgres => Self(None),
        }
    }

    /// Starts a write transaction on `db` in this process's turn (see [`begin_write`]).
    pub async fn begin(&self, db: &DatabaseConnection) -> Result<WriteTxn, DbErr> {
        use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
        let turn = match &self.0 {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        };
        let txn = db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?;
        Ok(WriteTxn { txn, _turn: turn })
    }
}

/// A write transaction that holds this process's turn to write (see [`WriteGate`]) until
/// it commits, rolls back or is dropped. Use it wherever a connection or a
/// `&DatabaseTransaction` is wanted.
pub struct WriteTxn {
    // Declared first: dropped (rolled back) before the turn passes on.
    txn: DatabaseTransaction,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTxn {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

impl std::ops::Deref for WriteTxn {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }
}

/// Starts a transaction that will write, in this process's turn (see [`WriteGate`]). On
/// SQLite it also takes the write lock at once (`BEGIN IMMEDIATE`): a deferred
/// transaction that reads first and writes later fails with `SQLITE_BUSY_SNAPSHOT`
/// whenever another connection wrote in between, and waiting does not help it.
/// PostgreSQL ignores the mode.
pub async fn begin_write(ctx: &crate::Context) -> crate::Result<WriteTxn> {
    ctx.writes
        .begin(&ctx.db)
        .await
        .map_err(|source| crate::Error::Database {
            context: "starting a transaction",
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_backends_and_files() {
        assert_eq!(Backend::of("sqlite://herald.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of("postgres://u@h/d").unwrap(), Backend::Postgres);
        assert!(Backend::of("mysql://u@h/d").is_err());
        assert_eq!(
            sqlite_file("sqlite://herald.db"),
            Some(PathBuf::from("herald.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:///var/lib/herald/h.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/herald/h.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u@h/d"), None);
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact_url("postgres://u:hunter2@h/d"), "postgres://u:***@h/d");
        assert_eq!(redact_url("sqlite://herald.db"), "sqlite://herald.db");
    }
}
