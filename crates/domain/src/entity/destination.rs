//! `destination`: the delivery state of one message to one endpoint, and the delivery
//! queue's job: `pending` and due at `next_attempt_at`, or `sending` under a worker's
//! lease until then.

use sea_orm::entity::prelude::*;

pub use super::attempt::Trigger;
use crate::id::{AppId, DestinationId, EndpointId, MessageId, TenantId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Status {
    /// Waiting for its next try.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// A worker holds it (its lease ends at `next_attempt_at`) and is trying it now.
    #[sea_orm(string_value = "sending")]
    Sending,
    #[sea_orm(string_value = "success")]
    Success,
    /// Every try failed, or the endpoint was disabled.
    #[sea_orm(string_value = "fail")]
    Fail,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "destination")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: DestinationId,
    pub tenant_id: TenantId,
    pub app_id: AppId,
    pub message_id: MessageId,
    pub endpoint_id: EndpointId,
    pub status: Status,
    pub attempt_count: i32,
    pub next_attempt_at: Option<DateTimeUtc>,
    pub last_attempt_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// What the next try is: one of the retry schedule, or a manual resend.
    pub next_trigger: Trigger,
    /// Its endpoint takes turns (a rate or a line): only `delivery::lane` claims it.
    pub paced: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::message::Entity",
        from = "Column::MessageId",
        to = "super::message::Column::Id"
    )]
    Message,
}

impl Related<super::message::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Message.def()
    }
}

impl Model {
    /// When the next try is due, for people to read: `next_attempt_at` while pending.
    /// While a worker holds the destination that column is the end of its lease, and the
    /// try is happening now.
    pub fn next_try_at(&self) -> Option<DateTimeUtc> {
        match self.status {
            Status::Pending => self.next_attempt_at,
            Status::Sending | Status::Success | Status::Fail => None,
        }
    }
}

impl ActiveModelBehavior for ActiveModel {}

crate::scope::tenant_scoped!(Entity, Column::TenantId);

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    #[test]
    fn only_a_pending_destination_shows_a_next_try() {
        let now = Utc::now();
        let mut d = Model {
            id: DestinationId::new(),
            tenant_id: TenantId::new(),
            app_id: AppId::new(),
            message_id: MessageId::new(),
            endpoint_id: EndpointId::new(),
            status: Status::Pending,
            attempt_count: 1,
            next_attempt_at: Some(now),
            last_attempt_at: None,
            created_at: now,
            updated_at: now,
            next_trigger: Trigger::Scheduled,
            paced: false,
        };
        assert_eq!(d.next_try_at(), Some(now));
        d.status = Status::Sending;
        assert_eq!(d.next_try_at(), None, "a lease's end is not a try's time");
    }
}
