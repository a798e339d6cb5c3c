//! Accepted messages written together. Each request hands its message and destinations
//! to one writer task and waits for the commit; whatever arrives while a batch is being
//! written goes into the next, so under load many messages share one statement (on
//! PostgreSQL) or one transaction (SQLite), and an idle server writes each at once. The
//! writer is a task of its own, so a request that goes away (its client hung up) cannot
//! cut a batch short for the others.
//!
//! Each message carries the fingerprint of its application and endpoints as the request
//! read them (perhaps from this process's copy); the write checks it in the same
//! statement and leaves out a message whose application changed since, which the
//! request then accepts again from a fresh read. A batch that fails is written again
//! one message at a time, so that each request gets its own answer: a duplicate
//! `eventId` is that message's 409.

use std::collections::HashSet;

use sea_orm::{ActiveEnum, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, Statement};
use serde_json::json;
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinSet,
};

use crate::{
    db::{Backend, WriteGate, time_text},
    entity::{destination, message},
};

/// At most this many messages per batch.
const MAX_BATCH: usize = 128;

/// A message with its destinations, ready to write.
pub(crate) struct Accepted {
    pub(crate) message: message::Model,
    pub(crate) destinations: Vec<destination::Model>,
    /// Of the application and its endpoints the destinations were chosen from (see
    /// [`application::fingerprint`](super::application::fingerprint)).
    pub(crate) fingerprint: String,
}

/// How writing a message went.
#[derive(Debug)]
pub(crate) enum Written {
    Stored,
    /// Not written: its application or an endpoint changed since it was read.
    Stale,
}

/// Each request gets its message back with how the write went.
type Reply = oneshot::Sender<(Accepted, Result<Written, DbErr>)>;

/// The handle requests write through. Cloning is cheap; the writer stops when the last
/// handle is dropped.
#[derive(Clone, Debug)]
pub struct Intake {
    tx: mpsc::Sender<(Accepted, Reply)>,
}

impl Intake {
    /// Starts the writer on `db`.
    pub fn start(db: DatabaseConnection, backend: Backend, writes: WriteGate) -> Self {
        let (tx, mut rx) = mpsc::channel::<(Accepted, Reply)>(4 * MAX_BATCH);
        tokio::spawn(async move {
            let mut writing = JoinSet::new();
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                while writing.len() >= parallel(backend) {
                    let _ = writing.join_next().await;
                }
                let (db, writes) = (db.clone(), writes.clone());
                let batch = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH));
                writing.spawn(async move { write_and_reply(&db, backend, &writes, batch).await });
            }
            while writing.join_next().await.is_some() {}
        });
        Self { tx }
    }

    /// Writes `accepted` (with others) and waits for the commit; hands it back with the
    /// outcome. `None` if the writer has stopped (the process is going down).
    pub(crate) async fn write(&self, accepted: Accepted) -> Option<(Accepted, Result<Written, DbErr>)> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((accepted, reply)).await.ok()?;
        answer.await.ok()
    }
}

/// Batches in flight at once: on PostgreSQL several, so that a request waits for its own
/// batch, not for the one before it too (their rows are distinct); SQLite has one writer.
pub const PARALLEL_POSTGRES: usize = 4;

fn parallel(backend: Backend) -> usize {
    match backend {
        Backend::Postgres => PARALLEL_POSTGRES,
        Backend::Sqlite => 1,
    }
}

async fn write_and_reply(
    db: &DatabaseConnection,
    backend: Backend,
    writes: &WriteGate,
    batch: Vec<(Accepted, Reply)>,
) {
    let (accepted, replies): (Vec<Accepted>, Vec<Reply>) = batch.into_iter().unzip();
    match write(db, backend, writes, &accepted).await {
        Ok(stored) => {
            for (one, reply) in accepted.into_iter().zip(replies) {
                let written = if stored.contains(one.message.id.as_str()) {
                    Written::Stored
                } else {
                    Written::Stale
                };
                let _ = reply.send((one, Ok(written)));
            }
        }
        Err(e) if accepted.len() == 1 => {
            if let (Some(one), Some(reply)) = (accepted.into_iter().next(), replies.into_iter().next()) {
                let _ = reply.send((one, Err(e)));
            }
        }
        Err(_) => {
            for (one, reply) in accepted.into_iter().zip(replies) {
                let alone = write(db, backend, writes, std::slice::from_ref(&one))
                    .await
                    .map(|stored| {
                        if stored.is_empty() {
                            Written::Stale
                        } else {
                            Written::Stored
                        }
                    });
                let _ = reply.send((one, alone));
            }
        }
    }
}

/// Writes the messages of `batch` whose fingerprints still hold, with their
/// destinations; returns the ids of those it wrote.
async fn write(
    db: &DatabaseConnection,
    backend: Backend,
    writes: &WriteGate,
    batch: &[Accepted],
) -> Result<HashSet<String>, DbErr> {
    match backend {
        Backend::Postgres => {
            // One statement, so no transaction around it: the messages and, in a
            // data-modifying WITH, the destinations of those written.
            let sql = format!(
                "WITH message_rows AS ( \
                     INSERT INTO message ({MESSAGE_COLUMNS}) \
                     SELECT {MESSAGE_COLUMNS} FROM jsonb_to_recordset(CAST($1 AS jsonb)) \
                         AS m({MESSAGE_TYPES}, fingerprint text) \
                     WHERE {} = m.fingerprint \
                     RETURNING id \
                 ), destination_rows AS ( \
                     INSERT INTO destination ({DESTINATION_COLUMNS}) \
                     SELECT {DESTINATION_COLUMNS} FROM jsonb_to_recordset(CAST($2 AS jsonb)) AS d({DESTINATION_TYPES}) \
                     WHERE d.message_id IN (SELECT id FROM message_rows) \
                 ) \
                 SELECT id FROM message_rows",
                super::application::fingerprint(backend, "m.app_id"),
            );
            let messages = json!(
                batch
                    .iter()
                    .map(|a| {
                        let mut row = message_row(&a.message);
                        row["fingerprint"] = json!(a.fingerprint);
                        row
                    })
                    .collect::<Vec<_>>()
            );
            let destinations: Vec<serde_json::Value> = batch
                .iter()
                .flat_map(|a| &a.destinations)
                .map(destination_row)
                .collect();
            let rows = db
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    sql,
                    [
                        messages.to_string().into(),
                        json!(destinations).to_string().into(),
                    ],
                ))
                .await?;
            rows.iter().map(|row| row.try_get::<String>("", "id")).collect()
        }
        Backend::Sqlite => {
            let txn = writes.begin(db).await?;
            let check = format!(
                "SELECT {} AS fingerprint",
                super::application::fingerprint(backend, "?")
            );
            let mut fresh = Vec::with_capacity(batch.len());
            for accepted in batch {
                let app_id = accepted.message.app_id.as_str();
                let now = txn
                    .query_one_raw(Statement::from_sql_and_values(
                        DbBackend::Sqlite,
                        check.clone(),
                        [app_id.into(), app_id.into()],
                    ))
                    .await?
                    .and_then(|row| row.try_get::<Option<String>>("", "fingerprint").ok().flatten());
                if now.as_deref() == Some(accepted.fingerprint.as_str()) {
                    fresh.push(accepted);
                }
            }
            if !fresh.is_empty() {
                message::Entity::insert_many(
                    fresh
                        .iter()
                        .map(|a| message::ActiveModel::from(a.message.clone())),
                )
                .exec_without_returning(&*txn)
                .await?;
                let destinations: Vec<&destination::Model> =
                    fresh.iter().flat_map(|a| &a.destinations).collect();
                // Batches keep each INSERT under the databases' bound-parameter limits.
                for chunk in destinations.chunks(500) {
                    destination::Entity::insert_many(
                        chunk.iter().map(|d| destination::ActiveModel::from((*d).clone())),
                    )
                    .exec_without_returning(&*txn)
                    .await?;
                }
            }
            txn.commit().await?;
            Ok(fresh.iter().map(|a| a.message.id.to_string()).collect())
        }
    }
}

const MESSAGE_COLUMNS: &str =
    "id, tenant_id, app_id, event_id, event_type, channels, tags, payload, created_at, deliver_at, filtered";
const MESSAGE_TYPES: &str = "id text, tenant_id text, app_id text, event_id text, event_type text, \
     channels jsonb, tags jsonb, payload text, created_at timestamptz, deliver_at timestamptz, filtered jsonb";
const DESTINATION_COLUMNS: &str = "id, tenant_id, app_id, message_id, endpoint_id, status, attempt_count, \
     next_attempt_at, last_attempt_at, created_at, updated_at, next_trigger, paced";
const DESTINATION_TYPES: &str = "id text, tenant_id text, app_id text, message_id text, endpoint_id text, \
     status text, attempt_count integer, next_attempt_at timestamptz, last_attempt_at timestamptz, \
     created_at timestamptz, updated_at timestamptz, next_trigger text, paced boolean";

fn message_row(m: &message::Model) -> serde_json::Value {
    json!({
        "id": m.id.as_str(),
        "tenant_id": m.tenant_id.as_str(),
        "app_id": m.app_id.as_str(),
        "event_id": m.event_id,
        "event_type": m.event_type,
        "channels": m.channels.as_ref().map(|c| &c.0),
        "tags": m.tags.as_ref().map(|t| &t.0),
        "payload": m.payload,
        "created_at": time_text(m.created_at),
        "deliver_at": m.deliver_at.map(time_text),
        "filtered": m.filtered,
    })
}

fn destination_row(d: &destination::Model) -> serde_json::Value {
    json!({
        "id": d.id.as_str(),
        "tenant_id": d.tenant_id.as_str(),
        "app_id": d.app_id.as_str(),
        "message_id": d.message_id.as_str(),
        "endpoint_id": d.endpoint_id.as_str(),
        "status": d.status.to_value(),
        "attempt_count": d.attempt_count,
        "next_attempt_at": d.next_attempt_at.map(time_text),
        "last_attempt_at": d.last_attempt_at.map(time_text),
        "created_at": time_text(d.created_at),
        "updated_at": time_text(d.updated_at),
        "next_trigger": d.next_trigger.to_value(),
        "paced": d.paced,
    })
}
