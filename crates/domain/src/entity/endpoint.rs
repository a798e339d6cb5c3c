//! `endpoint`: a URL of an application that receives webhooks, with its filters and limits.

use sea_orm::entity::prelude::*;

use super::{Delays, StringList, StringMap};
use crate::{
    id::{AppId, EndpointId, TenantId},
    values::Access,
};

/// An ordered endpoint's line, when a message there finally fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum OnFailure {
    /// The next message goes; the failed one stays failed.
    #[sea_orm(string_value = "release")]
    Release,
    /// Nothing more goes until someone acts: resends a message or releases the line.
    #[sea_orm(string_value = "stop")]
    Stop,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "endpoint")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: EndpointId,
    pub tenant_id: TenantId,
    pub app_id: AppId,
    /// Tenant-chosen id, unique within the application.
    pub uid: Option<String>,
    pub url: String,
    pub description: String,
    pub disabled: bool,
    /// Why Herald disabled it (`410 Gone`, failing for days), if Herald did.
    pub disabled_reason: Option<String>,
    /// Event type names it receives; `None` means every type.
    #[sea_orm(column_type = "JsonBinary")]
    pub filter_types: Option<StringList>,
    /// Channels it listens to; `None` means every message.
    #[sea_orm(column_type = "JsonBinary")]
    pub channels: Option<StringList>,
    /// Messages per second (`throttleRate`).
    pub rate_limit: Option<i32>,
    /// Seconds to wait for a response; `None` means the configured default.
    pub timeout_secs: Option<i32>,
    /// Delays between tries; `None` means the configured default.
    #[sea_orm(column_type = "JsonBinary")]
    pub retry_schedule: Option<Delays>,
    /// Custom headers sent with every delivery.
    #[sea_orm(column_type = "JsonBinary")]
    pub headers: StringMap,
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: StringMap,
    /// Set at the first failed try after a success; cleared by the next success.
    pub failing_since: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Ordered delivery (one at a time, in acceptance order), and what a final failure
    /// does to the line; `None` means unordered.
    pub ordered: Option<OnFailure>,
    /// Gateway credentials and TLS identity, without their secrets.
    #[sea_orm(column_type = "JsonBinary")]
    pub access: Option<Access>,
    /// The secrets of `access`, sealed under the main key (the endpoint id is the
    /// associated data).
    pub credentials: Option<Vec<u8>>,
    /// A jq program over `{eventType, channels, payload, tags}`: the endpoint gets a
    /// message only when its first output is truthy (see [`crate::program`]).
    #[sea_orm(column_type = "Text")]
    pub filter: Option<String>,
    /// A jq program whose output is the body to send, or `{body, headers, method, url}`.
    #[sea_orm(column_type = "Text")]
    pub transformation: Option<String>,
    /// Where the endpoint stands in proving it wants the traffic, when its application
    /// asks for that; `None` when nobody asked.
    pub verification: Option<Verification>,
    /// What the endpoint must echo to be verified.
    pub verification_challenge: Option<String>,
    /// Challenges sent since the last (re)start of verification.
    pub verification_tries: i32,
    /// When the next challenge goes out; `None` when none is due.
    pub verification_due_at: Option<DateTimeUtc>,
    /// Why the last challenge did not verify it.
    #[sea_orm(column_type = "Text")]
    pub verification_error: Option<String>,
    pub verified_at: Option<DateTimeUtc>,
}

/// An endpoint's verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Verification {
    /// Challenged or about to be; its deliveries wait.
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "verified")]
    Verified,
    /// Every try failed; its deliveries wait until verification is started again.
    #[sea_orm(string_value = "failed")]
    Failed,
}

impl Verification {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Verified => "verified",
            Self::Failed => "failed",
        }
    }
}

impl Model {
    /// Whether deliveries must wait for the endpoint to be verified.
    pub fn awaits_verification(&self) -> bool {
        matches!(
            self.verification,
            Some(Verification::Pending | Verification::Failed)
        )
    }

    /// Whether claims must take turns on this endpoint: it has a rate or a line.
    pub fn paced(&self) -> bool {
        self.rate_limit.is_some_and(|r| r > 0) || self.ordered.is_some()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::scope::tenant_scoped!(Entity, Column::TenantId);
