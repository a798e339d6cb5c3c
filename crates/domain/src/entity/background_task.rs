//! `background_task`: one of Svix's background tasks (`qtask_…`), its input, its progress
//! and the lease of the worker running it.

use sea_orm::{FromJsonQueryResult, entity::prelude::*};
use serde::{Deserialize, Serialize};

use crate::id::{AppId, EndpointId, TaskId, TenantId};

/// What a task does, named as Svix names it (`task` in the API).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Kind {
    /// `replay-missing`: the messages of a window the endpoint never had.
    #[sea_orm(string_value = "endpoint.replay")]
    Replay,
    /// `recover`: the endpoint's failed deliveries of a window, tried again.
    #[sea_orm(string_value = "endpoint.recover")]
    Recover,
    /// `bulk-replay`: the endpoint's deliveries of a window, sent again.
    #[sea_orm(string_value = "endpoint.bulk-replay")]
    BulkReplay,
    /// `expunge-all-contents`: every payload of an application erased.
    #[sea_orm(string_value = "application.purge_content")]
    PurgeContent,
}

impl Kind {
    /// The name the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replay => "endpoint.replay",
            Self::Recover => "endpoint.recover",
            Self::BulkReplay => "endpoint.bulk-replay",
            Self::PurgeContent => "application.purge_content",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Status {
    /// Waiting for a worker, or being worked on.
    #[sea_orm(string_value = "running")]
    Running,
    #[sea_orm(string_value = "finished")]
    Finished,
    /// Stopped for good; `error` says why.
    #[sea_orm(string_value = "failed")]
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Finished => "finished",
            Self::Failed => "failed",
        }
    }
}

/// What a task was asked to do, beyond its kind and application: fixed when it is made.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct Params {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<EndpointId>,
    /// The window of messages, `[since, until)`; `until` is the task's creation time when
    /// the caller gave none, so a task resumed later covers the same messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTimeUtc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTimeUtc>,
    /// Bulk replay's filters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Svix's `MessageStatus` number: 0 success, 1 pending, 2 fail, 3 sending, 4 canceled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u8>,
    /// Svix's `StatusCodeClass`: 0 (no response), 100 … 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code_class: Option<u16>,
}

/// What a task has done so far (`data` in the API), saved with every chunk it commits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Replays and recoveries: deliveries queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages_sent: Option<u64>,
    /// Purges: payloads erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages_purged: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "background_task")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: TaskId,
    pub tenant_id: TenantId,
    pub app_id: Option<AppId>,
    pub task: Kind,
    pub status: Status,
    #[sea_orm(column_type = "JsonBinary")]
    pub params: Params,
    #[sea_orm(column_type = "JsonBinary")]
    pub data: Progress,
    /// The key of the last row done: a resumed task starts after it.
    pub cursor: Option<String>,
    /// Why a failed task stopped.
    #[sea_orm(column_type = "Text")]
    pub error: Option<String>,
    /// The worker holding the task, until `lease_until`.
    pub claimed_by: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::scope::tenant_scoped!(Entity, Column::TenantId);
