//! Event types: the tenant's catalogue of what it sends, addressed by name.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, ModelTrait, QueryFilter, Set};

use super::audit::{self, Actor, Target};
use crate::{
    Context, DbContext, Error, Result,
    entity::{StringList, event_type},
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
    /// Sorted, without repeats (see [`parse_feature_flags`]).
    pub feature_flags: Vec<String>,
    pub group_name: Option<String>,
}

/// A PATCH: `None` leaves a field alone; `Some(None)` clears a nullable one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventTypeChanges {
    pub description: Option<String>,
    pub schemas: Option<Option<serde_json::Value>>,
    pub archived: Option<bool>,
    pub deprecated: Option<bool>,
    /// `Some(vec![])` clears them.
    pub feature_flags: Option<Vec<String>>,
    pub group_name: Option<Option<String>>,
}

/// At most this many feature flags on one event type.
pub const MAX_FEATURE_FLAGS: usize = 32;

/// Feature flags as stored: each named like an event type, sorted, without repeats.
pub fn parse_feature_flags(field: &'static str, flags: &[String]) -> Result<Vec<String>> {
    let mut parsed = flags
        .iter()
        .map(|flag| EventTypeName::parse_field(field, flag).map(EventTypeName::into_string))
        .collect::<Result<Vec<_>>>()?;
    parsed.sort();
    parsed.dedup();
    if parsed.len() > MAX_FEATURE_FLAGS {
        return Err(Error::invalid(
            field,
            format!("at most {MAX_FEATURE_FLAGS} feature flags"),
        ));
    }
    Ok(parsed)
}

/// A group name: named like an event type.
pub fn parse_group_name(name: &str) -> Result<String> {
    EventTypeName::parse_field("groupName", name).map(EventTypeName::into_string)
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

/// How deep [`example`] builds a payload from a schema before it writes `null`.
const EXAMPLE_DEPTH: usize = 16;

/// A payload for an event type with these `schemas` (JSON Schemas by version): the newest
/// version's `examples[index]` (or `example`, `default`), else one built from its
/// properties' types, else `None` when it has no schema. Svix's `send-example` and the
/// dashboard show the same.
pub fn example(schemas: Option<&serde_json::Value>, index: usize) -> Option<serde_json::Value> {
    let newest = newest_schema(schemas)?;
    if let Some(given) = newest
        .get("examples")
        .and_then(serde_json::Value::as_array)
        .and_then(|examples| examples.get(index))
    {
        return Some(given.clone());
    }
    Some(built_from(newest, EXAMPLE_DEPTH))
}

/// How many `examples` the newest schema version gives.
pub fn examples_given(schemas: Option<&serde_json::Value>) -> usize {
    newest_schema(schemas)
        .and_then(|newest| newest.get("examples"))
        .and_then(serde_json::Value::as_array)
        .map_or(0, Vec::len)
}

/// The schema of the highest version.
fn newest_schema(schemas: Option<&serde_json::Value>) -> Option<&serde_json::Value> {
    schemas?
        .as_object()?
        .iter()
        .max_by_key(|(version, _)| version.parse::<u64>().unwrap_or(0))
        .map(|(_, schema)| schema)
}

/// A value that fits `schema`: its own example, default, const or first enum value, or
/// one built from its type.
fn built_from(schema: &serde_json::Value, depth: usize) -> serde_json::Value {
    use serde_json::{Value, json};
    let given = schema
        .get("examples")
        .and_then(|e| e.get(0))
        .or_else(|| schema.get("example"))
        .or_else(|| schema.get("default"))
        .or_else(|| schema.get("const"))
        .or_else(|| schema.get("enum").and_then(|e| e.get(0)));
    if let Some(given) = given {
        return given.clone();
    }
    if depth == 0 {
        return Value::Null;
    }
    let kind = match schema.get("type") {
        Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).find(|k| *k != "null"),
        Some(kind) => kind.as_str(),
        None if schema.get("properties").is_some() => Some("object"),
        None => None,
    };
    match kind {
        Some("object") => Value::Object(
            schema
                .get("properties")
                .and_then(Value::as_object)
                .map(|properties| {
                    properties
                        .iter()
                        .map(|(name, property)| (name.clone(), built_from(property, depth - 1)))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        Some("array") => json!([schema
            .get("items")
            .map_or(Value::Null, |items| built_from(items, depth - 1))]),
        Some("string") => match schema.get("format").and_then(Value::as_str) {
            Some("date-time") => json!("2026-01-01T00:00:00Z"),
            Some("date") => json!("2026-01-01"),
            Some("email") => json!("someone@example.com"),
            Some("uri" | "url") => json!("https://example.com/"),
            Some("uuid") => json!("00000000-0000-4000-8000-000000000000"),
            _ => json!("string"),
        },
        Some("integer") => json!(0),
        Some("number") => json!(0.0),
        Some("boolean") => json!(false),
        _ => Value::Null,
    }
}

/// The longest event type description, in characters.
pub const MAX_DESCRIPTION: usize = 4096;

pub fn parse_description(description: &str) -> Result<String> {
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(Error::invalid(
            "description",
            format!("must be at most {MAX_DESCRIPTION} characters"),
        ));
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

pub(crate) fn apply(active: &mut event_type::ActiveModel, new: NewEventType) {
    active.name = Set(new.name.into_string());
    active.description = Set(new.description);
    active.schemas = Set(new.schemas);
    active.archived = Set(new.archived);
    active.deprecated = Set(new.deprecated);
    active.feature_flags = Set((!new.feature_flags.is_empty()).then_some(StringList(new.feature_flags)));
    active.group_name = Set(new.group_name);
    active.updated_at = Set(Utc::now());
}

pub(crate) async fn insert<C: ConnectionTrait>(
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
    let txn = crate::db::begin_write(ctx).await?;
    let existing = find(&txn, tenant, name).await?;
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
    if let Some(flags) = changes.feature_flags {
        active.feature_flags = Set((!flags.is_empty()).then_some(StringList(flags)));
    }
    if let Some(group) = changes.group_name {
        active.group_name = Set(group);
    }
    active.updated_at = Set(Utc::now());
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
    txn.commit().await.context("updating an event type")?;
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
    let txn = crate::db::begin_write(ctx).await?;
    let existing = find(&txn, tenant, name).await?;
    let target = Target::new("event_type", &existing.name);
    if expunge {
        existing.delete(&txn).await.context("deleting an event type")?;
        audit::record(&txn, tenant, actor, "event_type.expunge", target, None).await?;
    } else {
        let mut active: event_type::ActiveModel = existing.into();
        active.archived = Set(true);
        active.updated_at = Set(Utc::now());
        active.update(&txn).await.context("archiving an event type")?;
        audit::record(&txn, tenant, actor, "event_type.archive", target, None).await?;
    }
    txn.commit().await.context("removing an event type")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{example, examples_given};

    #[test]
    fn examples_come_from_the_newest_schema_or_are_built_from_it() {
        let schemas = json!({
            "1": {"examples": [{"old": true}]},
            "2": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "amount": {"type": ["integer", "null"]},
                    "status": {"enum": ["paid", "void"]},
                    "at": {"type": "string", "format": "date-time"},
                    "lines": {"type": "array", "items": {"properties": {"sku": {"const": "A-1"}}}},
                    "note": {"type": "string", "default": "none"}
                }
            }
        });
        assert_eq!(
            example(Some(&schemas), 0),
            Some(json!({
                "id": "00000000-0000-4000-8000-000000000000",
                "amount": 0,
                "status": "paid",
                "at": "2026-01-01T00:00:00Z",
                "lines": [{"sku": "A-1"}],
                "note": "none"
            }))
        );
        assert_eq!(examples_given(Some(&schemas)), 0);
        let given = json!({"1": {"examples": [{"n": 1}, {"n": 2}]}});
        assert_eq!(example(Some(&given), 1), Some(json!({"n": 2})));
        assert_eq!(examples_given(Some(&given)), 2);
        assert_eq!(example(None, 0), None);
        // A very deep schema ends in nulls, not a stack overflow.
        let mut deep = json!({"type": "string"});
        for _ in 0..100 {
            deep = json!({"type": "object", "properties": {"next": deep}});
        }
        let built = example(Some(&json!({"1": deep})), 0).unwrap();
        assert!(built.to_string().contains("null"));
    }
}
