//! `attempt`: one HTTP try of a destination, with what was sent and what came back.

use sea_orm::entity::prelude::*;

use super::SentRequest;
use crate::id::{AppId, AttemptId, DestinationId, EndpointId, MessageId, TenantId};

/// What started the try.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Trigger {
    #[sea_orm(string_value = "scheduled")]
    Scheduled,
    /// A resend or a recovery asked for by a person.
    #[sea_orm(string_value = "manual")]
    Manual,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Status {
    #[sea_orm(string_value = "success")]
    Success,
    #[sea_orm(string_value = "fail")]
    Fail,
}

/// Why a try failed, in classes a person can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum ErrorKind {
    /// The endpoint answered, with a status other than 2xx.
    #[sea_orm(string_value = "http_status")]
    HttpStatus,
    #[sea_orm(string_value = "timeout")]
    Timeout,
    #[sea_orm(string_value = "connect")]
    Connect,
    #[sea_orm(string_value = "dns")]
    Dns,
    #[sea_orm(string_value = "tls")]
    Tls,
    /// The address is not allowed by the outbound network policy (SSRF guard).
    #[sea_orm(string_value = "blocked")]
    Blocked,
    /// The endpoint answered a redirect, which Herald does not follow.
    #[sea_orm(string_value = "redirect")]
    Redirect,
    /// The endpoint's transformation failed, ran over its limits or asked for a request
    /// Herald does not send (another host, a method other than POST or PUT). Not retried
    /// until the program changes; `recover` sends it again.
    #[sea_orm(string_value = "transformation")]
    Transformation,
    /// The endpoint's credentials could not be had: the OAuth token server refused or
    /// failed, or the stored credentials would not open.
    #[sea_orm(string_value = "auth")]
    Auth,
    /// Anything else that stopped the request (a malformed response, a reset).
    #[sea_orm(string_value = "other")]
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "attempt")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: AttemptId,
    pub tenant_id: TenantId,
    pub app_id: AppId,
    pub message_id: MessageId,
    pub endpoint_id: EndpointId,
    pub destination_id: DestinationId,
    /// 1 for the first try of the destination.
    pub number: i32,
    pub trigger: Trigger,
    pub status: Status,
    pub url: String,
    pub response_status: Option<i32>,
    /// At most 64 KiB of the response body.
    #[sea_orm(column_type = "Text")]
    pub response_body: Option<String>,
    pub duration_ms: i64,
    pub error_kind: Option<ErrorKind>,
    #[sea_orm(column_type = "Text")]
    pub error_reason: Option<String>,
    pub next_attempt_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// The exact request sent, when a transformation shaped it.
    #[sea_orm(column_type = "JsonBinary")]
    pub request: Option<SentRequest>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::scope::tenant_scoped!(Entity, Column::TenantId);

impl ErrorKind {
    /// The stored (and API) spelling: `http_status`, `timeout`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HttpStatus => "http_status",
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Dns => "dns",
            Self::Tls => "tls",
            Self::Blocked => "blocked",
            Self::Redirect => "redirect",
            Self::Auth => "auth",
            Self::Transformation => "transformation",
            Self::Other => "other",
        }
    }
}
