//! Retention: message payloads and attempt response bodies older than the retention
//! period (per application, or the configured default) are erased in small batches, each
//! its own short statement, so the delivery tables are never locked for long. Rows stay:
//! the log keeps every attempt, and the API shows an expired payload as `{"expired": true}`. Expired
//! idempotency keys are deleted, and so are expired inspector inboxes with what they
//! recorded.
//!
//! This runs across tenants by design (a sweep of the whole database), hence the few
//! unscoped queries below.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, SimpleExpr},
};

use crate::{
    Context, DbContext, Result,
    entity::{application, attempt, idempotency_key, inbox, inbox_request, message},
    id::{AppId, AttemptId, InboxId, MessageId},
};

/// Payloads and response bodies are kept this long unless configured otherwise.
pub const DEFAULT_RETENTION: Duration = Duration::days(30);
/// Rows changed per statement.
pub const BATCH: u64 = 500;

/// What one sweep erased.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub payloads: u64,
    pub response_bodies: u64,
    pub idempotency_keys: u64,
}

/// Which applications a cutoff applies to.
#[derive(Clone, Debug)]
enum Apps {
    One(AppId),
    AllBut(Vec<AppId>),
}

impl Apps {
    fn filter(&self, column: impl ColumnTrait) -> SimpleExpr {
        match self {
            Self::One(id) => column.eq(id.clone()),
            Self::AllBut(ids) if ids.is_empty() => Expr::value(true),
            Self::AllBut(ids) => column.is_not_in(ids.iter().cloned()),
        }
    }
}

/// Erases everything older than its application's retention (`default` where the
/// application sets none), as of `now`.
pub async fn sweep(ctx: &Context, default: Duration, now: DateTime<Utc>) -> Result<Swept> {
    #[expect(clippy::disallowed_methods, reason = "retention sweeps every tenant")]
    let overrides: Vec<(AppId, Option<i32>)> = application::Entity::find()
        .select_only()
        .column(application::Column::Id)
        .column(application::Column::RetentionDays)
        .filter(application::Column::RetentionDays.is_not_null())
        .into_tuple()
        .all(&ctx.db)
        .await
        .context("loading retention periods")?;
    let mut plans: Vec<(Apps, DateTime<Utc>)> = overrides
        .iter()
        .filter_map(|(id, days)| Some((Apps::One(id.clone()), now - Duration::days(i64::from((*days)?)))))
        .collect();
    plans.push((
        Apps::AllBut(overrides.into_iter().map(|(id, _)| id).collect()),
        now - default,
    ));
    let mut swept = Swept::default();
    for (apps, cutoff) in &plans {
        swept.payloads += erase_payloads(&ctx.db, apps, *cutoff).await?;
        swept.response_bodies += erase_response_bodies(&ctx.db, apps, *cutoff).await?;
    }
    #[expect(clippy::disallowed_methods, reason = "retention sweeps every tenant")]
    let keys = idempotency_key::Entity::delete_many()
        .filter(idempotency_key::Column::ExpiresAt.lt(now))
        .exec(&ctx.db)
        .await
        .context("deleting expired idempotency keys")?;
    swept.idempotency_keys = keys.rows_affected;
    let inboxes = delete_expired_inboxes(ctx, now).await?;
    if inboxes > 0 {
        tracing::info!(inboxes, "expired inboxes deleted");
    }
    if swept != Swept::default() {
        tracing::info!(
            payloads = swept.payloads,
            response_bodies = swept.response_bodies,
            idempotency_keys = swept.idempotency_keys,
            "retention sweep"
        );
    }
    Ok(swept)
}

/// Deletes inboxes that expired before `now` with their requests, [`BATCH`] inboxes per
/// transaction; says how many.
pub async fn delete_expired_inboxes(ctx: &Context, now: DateTime<Utc>) -> Result<u64> {
    let mut total = 0;
    loop {
        #[expect(clippy::disallowed_methods, reason = "retention sweeps every tenant")]
        let ids: Vec<InboxId> = inbox::Entity::find()
            .select_only()
            .column(inbox::Column::Id)
            .filter(inbox::Column::ExpiresAt.lte(now))
            .order_by_asc(inbox::Column::Id)
            .limit(BATCH)
            .into_tuple()
            .all(&ctx.db)
            .await
            .context("finding expired inboxes")?;
        if ids.is_empty() {
            return Ok(total);
        }
        let txn = crate::db::begin_write(ctx).await?;
        #[expect(clippy::disallowed_methods, reason = "retention sweeps every tenant")]
        inbox_request::Entity::delete_many()
            .filter(inbox_request::Column::InboxId.is_in(ids.clone()))
            .exec(&txn)
            .await
            .context("deleting the requests of expired inboxes")?;
        #[expect(clippy::disallowed_methods, reason = "retention sweeps every tenant")]
        let done = inbox::Entity::delete_many()
            .filter(inbox::Column::Id.is_in(ids.clone()))
            .exec(&txn)
            .await
            .context("deleting expired inboxes")?;
        txn.commit()
            .await
            .context("committing the deletion of expired inboxes")?;
        total += done.rows_affected;
        if (ids.len() as u64) < BATCH {
            return Ok(total);
        }
    }
}

/// One erasable column of one table, with the words for its errors.
struct Erasable<E: EntityTrait> {
    id: E::Column,
    app: E::Column,
    field: E::Column,
    finding: &'static str,
    erasing: &'static str,
}

async fn erase_payloads<C: ConnectionTrait>(db: &C, apps: &Apps, cutoff: DateTime<Utc>) -> Result<u64> {
    let what = Erasable::<message::Entity> {
        id: message::Column::Id,
        app: message::Column::AppId,
        field: message::Column::Payload,
        finding: "finding expired payloads",
        erasing: "erasing expired payloads",
    };
    erase(db, apps, &what, MessageId::first_at(cutoff)).await
}

async fn erase_response_bodies<C: ConnectionTrait>(
    db: &C,
    apps: &Apps,
    cutoff: DateTime<Utc>,
) -> Result<u64> {
    let what = Erasable::<attempt::Entity> {
        id: attempt::Column::Id,
        app: attempt::Column::AppId,
        field: attempt::Column::ResponseBody,
        finding: "finding expired response bodies",
        erasing: "erasing expired response bodies",
    };
    erase(db, apps, &what, AttemptId::first_at(cutoff)).await
}

/// Sets `what.field` to NULL on rows with ids below `below`: batches of ids first (by
/// primary key, oldest first), then an UPDATE of exactly those.
async fn erase<C, E, Id>(db: &C, apps: &Apps, what: &Erasable<E>, below: Id) -> Result<u64>
where
    C: ConnectionTrait,
    E: EntityTrait,
    Id: sea_orm::TryGetable + Into<sea_orm::Value> + Clone + Send + Sync,
{
    let mut total = 0;
    let mut after: Option<Id> = None;
    loop {
        #[expect(clippy::disallowed_methods, reason = "retention sweeps every tenant")]
        let mut select = E::find()
            .select_only()
            .column(what.id)
            .filter(what.id.lt(below.clone()))
            .filter(what.field.is_not_null())
            .filter(apps.filter(what.app))
            .order_by_asc(what.id)
            .limit(BATCH);
        if let Some(after) = &after {
            select = select.filter(what.id.gt(after.clone()));
        }
        let ids: Vec<Id> = select.into_tuple().all(db).await.context(what.finding)?;
        let Some(last) = ids.last().cloned() else {
            return Ok(total);
        };
        let count = ids.len() as u64;
        #[expect(clippy::disallowed_methods, reason = "retention sweeps every tenant")]
        let done = E::update_many()
            .col_expr(what.field, Expr::value(Option::<String>::None))
            .filter(what.id.is_in(ids))
            .exec(db)
            .await
            .context(what.erasing)?;
        total += done.rows_affected;
        if count < BATCH {
            return Ok(total);
        }
        after = Some(last);
    }
}
