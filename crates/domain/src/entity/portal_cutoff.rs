//! `portal_cutoff`: an application whose portal links issued before a time were withdrawn.

use sea_orm::entity::prelude::*;

use crate::id::{AppId, TenantId};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portal_cutoff")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub app_id: AppId,
    pub tenant_id: TenantId,
    /// Portal tokens issued before this…
    pub issued_before: DateTimeUtc,
    /// …stop working at this time (later than `issued_before` when a grace was given).
    pub effective_at: DateTimeUtc,
    /// Portal tokens issued before this were withdrawn by an earlier call already in force.
    pub dead_before: Option<DateTimeUtc>,
}

impl Model {
    /// Whether a portal token issued at `issued` is refused at `now`.
    pub fn refuses(&self, issued: DateTimeUtc, now: DateTimeUtc) -> bool {
        self.dead_before.is_some_and(|dead| issued < dead)
            || (issued < self.issued_before && now >= self.effective_at)
    }

    /// What an application withdrawn like this becomes when withdrawn again at `now`.
    pub fn dead_before_next(&self, now: DateTimeUtc) -> Option<DateTimeUtc> {
        if now >= self.effective_at {
            Some(self.issued_before)
        } else {
            self.dead_before
        }
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::scope::tenant_scoped!(Entity, Column::TenantId);
