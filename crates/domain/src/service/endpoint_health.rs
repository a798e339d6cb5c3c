//! How an endpoint is doing: its delivery counts, and the tenant's endpoints that need
//! attention (failing or disabled) for the overview.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, JoinType, Order, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::{
    DbContext, Result,
    entity::{application, destination, endpoint},
    id::TenantId,
    scope::TenantScoped,
};

/// Delivery counts of one endpoint by destination status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub success: i64,
    pub pending: i64,
    pub sending: i64,
    pub fail: i64,
}

/// Counts the endpoint's destinations by status, optionally within a time window.
pub async fn stats<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    endpoint: &endpoint::Model,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Result<Stats> {
    let mut select = destination::Entity::for_tenant(tenant)
        .filter(destination::Column::EndpointId.eq(endpoint.id.clone()));
    if let Some(since) = since {
        select = select.filter(destination::Column::CreatedAt.gte(since));
    }
    if let Some(until) = until {
        select = select.filter(destination::Column::CreatedAt.lt(until));
    }
    let rows: Vec<(destination::Status, i64)> = select
        .select_only()
        .column(destination::Column::Status)
        .column_as(destination::Column::Id.count(), "count")
        .group_by(destination::Column::Status)
        .into_tuple()
        .all(conn)
        .await
        .context("counting deliveries")?;
    let mut stats = Stats::default();
    for (status, count) in rows {
        match status {
            destination::Status::Success => stats.success = count,
            destination::Status::Pending => stats.pending = count,
            destination::Status::Sending => stats.sending = count,
            destination::Status::Fail => stats.fail = count,
        }
    }
    Ok(stats)
}

/// The tenant's endpoints that are failing (every try since `failing_since`) or
/// disabled, with their applications; the operational application's are left out. Oldest
/// trouble first: failing endpoints by `failing_since`, then those disabled by hand (they
/// have no `failing_since`), older endpoints first. The order is spelled out in full
/// because PostgreSQL sorts NULLs last and SQLite first.
pub async fn troubled<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    limit: u64,
) -> Result<Vec<(endpoint::Model, application::Model)>> {
    let rows = endpoint::Entity::for_tenant(tenant)
        .join(
            JoinType::InnerJoin,
            endpoint::Entity::belongs_to(application::Entity)
                .from(endpoint::Column::AppId)
                .to(application::Column::Id)
                .into(),
        )
        .filter(application::Column::TenantId.eq(tenant.clone()))
        .filter(application::Column::Operational.eq(false))
        .filter(
            Condition::any()
                .add(endpoint::Column::FailingSince.is_not_null())
                .add(endpoint::Column::Disabled.eq(true)),
        )
        .order_by(endpoint::Column::FailingSince.is_null(), Order::Asc)
        .order_by_asc(endpoint::Column::FailingSince)
        .order_by_asc(endpoint::Column::Id)
        .limit(limit)
        .select_also(application::Entity)
        .all(conn)
        .await
        .context("loading the endpoints that need attention")?;
    Ok(rows
        .into_iter()
        .filter_map(|(ep, app)| Some((ep, app?)))
        .collect())
}
