//! Event types: the tenant's catalogue of what it sends, addressed by name.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, ModelTrait, QueryFilter, Set};

use super::audit::{self, Actor, Target};
use crate::{
    Context, DbContext, Error, Result,
    entity::event_type,
    id::{EventTypeId, TenantId},
    pagination::{self, PageRequest, Paged},
    scope::TenantScoped,
    values::EventTypeName,
};

/// A valid event type, ready to store.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEventType {
    pub name: EventTypeName,
    pub description: String,
    pub schemas: Option<serde_json::Value>,
    pub archived: bool,
    pub deprecated: bool,
    pub feature_flag: Option<String>,
}

/// A PATCH: `None` leaves a field alone; `Some(None)` clears a nullable one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventTypeChanges {
    pub description: Option<String>,
    pub schemas: Option<Option<serde_json::Value>>,
    pub archived: Option<bool>,
    pub deprecated: Option<bool>,
    pub feature_flag: Option<Option<String>>,
}

/// Schemas are a JSON object mapping a version (`"1"`) to a JSON Schema object.
pub fn parse_schemas(value: serde_json::Value) -> Result<Option<serde_json::Value>> {
    match &value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Object(map) => {
            if let Some((version, _)) = map.iter().find(|(_, schema)| !schema.is_object()) {
                return Err(Error::invalid(
                    format!("schemas.{version}"),
                    "must be a JSON Schema object",
                ));
            }
            Ok(Some(value))
        }
        _ => Err(Error::invalid(
            "schemas",
            "must be an object of JSON Schemas by version",
        )),
    }
}

pub fn parse_description(description: &str) -> Result<String> {
    if description.chars().count() > 4096 {
        return Err(Error::invalid("description", "must be at most 4096 characters"));
    }
    Ok(description.to_owned())
}

pub async fn find<C: ConnectionTrait>(conn: &C, tenant: &TenantId, name: &str) -> Result<event_type::Model> {
    event_type::Entity::for_tenant(tenant)
        .filter(event_type::Column::Name.eq(name))
        .one(conn)
        .await
        .context("loading an event type")?
        .ok_or(Error::NotFound("event type"))
}

async fn find_optional<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    name: &str,
) -> Result<Option<event_type::Model>> {
    event_type::Entity::for_tenant(tenant)
        .filter(event_type::Column::Name.eq(name))
        .one(conn)
        .await
        .context("loading an event type")
}

/// Checks that every name is a live (not archived) event type of the tenant.
pub async fn require_live<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    field: &'static str,
    names: &[EventTypeName],
) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let found: Vec<String> = event_type::Entity::for_tenant(tenant)
        .filter(event_type::Column::Name.is_in(names.iter().map(EventTypeName::as_str)))
        .filter(event_type::Column::Archived.eq(false))
        .all(conn)
        .await
        .context("checking event types")?
        .into_iter()
        .map(|e| e.name)
        .collect();
    match names
        .iter()
        .enumerate()
        .find(|(_, n)| !found.iter().any(|f| f == n.as_str()))
    {
        Some((i, missing)) => Err(Error::invalid(
            format!("{field}.{i}"),
            format!("event type `{missing}` does not exist (or is archived); create it first"),
        )),
        None => Ok(()),
    }
}

/// Lists event types by name. Archived ones only with `include_archived`.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    page: &PageRequest,
    include_archived: bool,
) -> Result<Paged<event_type::Model>> {
    let mut select = event_type::Entity::for_tenant(tenant);
    if !include_archived {
        select = select.filter(event_type::Column::Archived.eq(false));
    }
    pagination::fetch(conn, select, event_type::Column::Name, page, |e| e.name.clone()).await
}

fn apply(active: &mut event_type::ActiveModel, new: NewEventType) {
    active.name = Set(new.name.into_string());
    active.description = Set(new.description);
    active.schemas = Set(new.schemas);
    active.archived = Set(new.archived);
    active.deprecated = Set(new.deprecated);
    active.feature_flag = Set(new.feature_flag);
    active.updated_at = Set(Utc::now());
}

async fn insert<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    new: NewEventType,
    actor: &Actor,
) -> Result<event_type::Model> {
    let now = Utc::now();
    let conflict = format!("an event type named `{}` already exists", new.name);
    let mut active = event_type::ActiveModel {
        id: Set(EventTypeId::new()),
        tenant_id: Set(tenant.clone()),
        created_at: Set(now),
        ..Default::default()
    };
    apply(&mut active, new);
    let model = active
        .insert(conn)
        .await
        .conflict_means(conflict, "creating an event type")?;
    audit::record(
        conn,
        tenant,
        actor,
        "event_type.create",
        Target::new("event_type", &model.name),
        None,
    )
    .await?;
    Ok(model)
}

/// Creates an event type. Creating the name of an archived one brings it back with the
/// new description and schemas, as Svix does; a live one with the name is a conflict.
pub async fn create(
    ctx: &Context,
    tenant: &TenantId,
    new: NewEventType,
    actor: &Actor,
) -> Result<event_type::Model> {
    let txn = crate::db::begin_write(ctx).await?;
    let model = match find_optional(&txn, tenant, new.name.as_str()).await? {
        Some(existing) if existing.archived => {
            let mut active: event_type::ActiveModel = existing.into();
            apply(&mut active, new);
            let model = active.update(&txn).await.context("restoring an event type")?;
            audit::record(
                &txn,
                tenant,
                actor,
                "event_type.unarchive",
                Target::new("event_type", &model.name),
                None,
            )
            .await?;
            model
        }
        Some(existing) => {
            return Err(Error::conflict(format!(
                "an event type named `{}` already exists",
                existing.name
            )));
        }
        None => insert(&txn, tenant, new, actor).await?,
    };
    txn.commit().await.context("committing an event type")?;
    Ok(model)
}

/// PUT: replaces the event type named in the path, or creates it. The flag says whether
/// it was created.
pub async fn upsert(
    ctx: &Context,
    tenant: &TenantId,
    name: &str,
    mut new: NewEventType,
    actor: &Actor,
) -> Result<(event_type::Model, bool)> {
    new.name = EventTypeName::parse(name)?;
    let txn = crate::db::begin_write(ctx).await?;
    let result = match find_optional(&txn, tenant, name).await? {
        Some(existing) => {
            let mut active: event_type::ActiveModel = existing.into();
            apply(&mut active, new);
            let model = active.update(&txn).await.context("updating an event type")?;
            audit::record(
                &txn,
                tenant,
                actor,
                "event_type.update",
                Target::new("event_type", &model.name),
                None,
            )
            .await?;
            (model, false)
        }
        None => (insert(&txn, tenant, new, actor).await?, true),
    };
    txn.commit().await.context("committing an event type")?;
    Ok(result)
}

pub async fn patch(
    ctx: &Context,
    tenant: &TenantId,
    name: &str,
    changes: EventTypeChanges,
    actor: &Actor,
) -> Result<event_type::Model> {
    let existing = find(&ctx.db, tenant, name).await?;
    let mut active: event_type::ActiveModel = existing.into();
    if let Some(description) = changes.description {
        active.description = Set(description);
    }
    if let Some(schemas) = changes.schemas {
        active.schemas = Set(schemas);
    }
    if let Some(archived) = changes.archived {
        active.archived = Set(archived);
    }
    if let Some(deprecated) = changes.deprecated {
        active.deprecated = Set(deprecated);
    }
    if let Some(flag) = changes.feature_flag {
        active.feature_flag = Set(flag);
    }
    active.updated_at = Set(Utc::now());
    let model = active.update(&ctx.db).await.context("updating an event type")?;
    audit::record(
        &ctx.db,
        tenant,
        actor,
        "event_type.update",
        Target::new("event_type", &model.name),
        None,
    )
    .await?;
    Ok(model)
}

/// Archives the event type (endpoints keep filtering on it), or with `expunge` removes it.
pub async fn delete(
    ctx: &Context,
    tenant: &TenantId,
    name: &str,
    expunge: bool,
    actor: &Actor,
) -> Result<()> {
    let existing = find(&ctx.db, tenant, name).await?;
    let target = Target::new("event_type", &existing.name);
    if expunge {
        existing.delete(&ctx.db).await.context("deleting an event type")?;
        audit::record(&ctx.db, tenant, actor, "event_type.expunge", target, None).await?;
    } else {
        let mut active: event_type::ActiveModel = existing.into();
        active.archived = Set(true);
        active.updated_at = Set(Utc::now());
        active.update(&ctx.db).await.context("archiving an event type")?;
        audit::record(&ctx.db, tenant, actor, "event_type.archive", target, None).await?;
    }
    Ok(())
}
