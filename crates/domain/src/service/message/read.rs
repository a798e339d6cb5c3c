//! Reading messages: one by id or `eventId`, and an application's messages filtered by
//! event type, channel, tag and time.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, QueryFilter,
    sea_query::{Expr, SimpleExpr},
};

use crate::{
    Context, DbContext, Error, Result,
    db::Backend,
    entity::message,
    id::{AppId, MessageId, TenantId},
    pagination::{self, PageRequest, Paged},
    scope::TenantScoped,
    values::EventTypeName,
};

/// Filters of a message list.
#[derive(Clone, Debug, Default)]
pub struct MessageFilter {
    pub event_types: Vec<EventTypeName>,
    pub channel: Option<String>,
    pub tag: Option<String>,
    pub before: Option<DateTime<Utc>>,
    pub after: Option<DateTime<Utc>>,
}

/// A message of an application, by id or by the tenant's `eventId`.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    app: &AppId,
    id_or_event_id: &str,
) -> Result<message::Model> {
    let select = message::Entity::for_tenant(tenant).filter(message::Column::AppId.eq(app.clone()));
    let select = match MessageId::parse(id_or_event_id) {
        Ok(id) => select.filter(message::Column::Id.eq(id)),
        Err(_) => select.filter(message::Column::EventId.eq(id_or_event_id)),
    };
    select
        .one(conn)
        .await
        .context("loading a message")?
        .ok_or(Error::NotFound("message"))
}

/// `column` (a JSON array of strings) contains `value`, on either database.
pub(crate) fn json_array_contains(backend: Backend, table: &str, column: &str, value: &str) -> SimpleExpr {
    match backend {
        Backend::Postgres => Expr::cust_with_values(
            format!("\"{table}\".\"{column}\" @> CAST($1 AS jsonb)"),
            [serde_json::json!([value]).to_string()],
        ),
        Backend::Sqlite => Expr::cust_with_values(
            format!("EXISTS (SELECT 1 FROM json_each(\"{table}\".\"{column}\") WHERE json_each.value = ?)"),
            [value.to_owned()],
        ),
    }
}

/// An application's messages, newest first.
pub async fn list(
    ctx: &Context,
    tenant: &TenantId,
    app: &AppId,
    page: &PageRequest,
    filter: &MessageFilter,
) -> Result<Paged<message::Model>> {
    let mut select = message::Entity::for_tenant(tenant).filter(message::Column::AppId.eq(app.clone()));
    if !filter.event_types.is_empty() {
        select =
            select.filter(message::Column::EventType.is_in(filter.event_types.iter().map(|t| t.as_str())));
    }
    if let Some(channel) = &filter.channel {
        select = select.filter(json_array_contains(ctx.backend, "message", "channels", channel));
    }
    if let Some(tag) = &filter.tag {
        select = select.filter(json_array_contains(ctx.backend, "message", "tags", tag));
    }
    if let Some(before) = filter.before {
        select = select.filter(message::Column::Id.lt(MessageId::first_at(before)));
    }
    if let Some(after) = filter.after {
        select = select.filter(message::Column::CreatedAt.gt(after));
    }
    pagination::fetch(&ctx.db, select, message::Column::Id, page, |m| m.id.to_string()).await
}

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, EntityTrait, QueryFilter, QueryTrait};

    use crate::{db::Backend, entity::message};

    /// sea-query fills `$1` on PostgreSQL and `?` on SQLite in custom SQL; a wrong one
    /// leaves the placeholder unbound.
    #[test]
    fn channel_filters_bind_their_value_on_both_databases() {
        for (backend, db, expected) in [
            (
                Backend::Postgres,
                DbBackend::Postgres,
                r#"@> CAST('["eu"]' AS jsonb)"#,
            ),
            (Backend::Sqlite, DbBackend::Sqlite, "json_each.value = 'eu'"),
        ] {
            #[expect(clippy::disallowed_methods, reason = "renders SQL; runs no query")]
            let sql = message::Entity::find()
                .filter(super::json_array_contains(backend, "message", "channels", "eu"))
                .build(db)
                .to_string();
            assert!(sql.contains(expected), "{sql}");
        }
    }
}
