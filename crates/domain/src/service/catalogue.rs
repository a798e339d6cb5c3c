//! The tenant's event-type catalogue moved in bulk: read from an OpenAPI document's
//! webhooks (Svix's `event-type/import/openapi`), and exported and imported whole
//! (`environment/export` and `import`), so a team brings its catalogue from Svix in two
//! calls. An import is one transaction: all of it lands or none.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::{ActiveModelTrait, ConnectionTrait, QueryOrder, Set};
use serde_json::{Map, Value};

use super::{
    audit::{self, Actor, Target},
    event_type::{self as types, NewEventType},
};
use crate::{
    Context, DbContext, Error, Result, entity::event_type, id::TenantId, scope::TenantScoped,
    values::EventTypeName,
};

/// At most this many event types in one import.
pub const MAX_IMPORT: usize = 1000;

/// How deep `$ref`s are followed into a schema; a reference past it (or in a cycle)
/// becomes `{}`, a schema any value fits.
const REF_DEPTH: usize = 32;

/// Reads an OpenAPI document given as text, JSON or YAML.
pub fn parse_spec_text(text: &str) -> Result<Value> {
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        return Ok(value);
    }
    let documents = yaml_rust2::YamlLoader::load_from_str(text)
        .map_err(|e| Error::invalid("specRaw", format!("is neither JSON nor YAML: {e}")))?;
    let first = documents
        .into_iter()
        .next()
        .ok_or_else(|| Error::invalid("specRaw", "is empty"))?;
    yaml_to_json(first)
}

fn yaml_to_json(yaml: yaml_rust2::Yaml) -> Result<Value> {
    use yaml_rust2::Yaml;
    Ok(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Integer(i) => Value::from(i),
        Yaml::Real(text) => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::String(text), Value::Number),
        Yaml::String(s) => Value::String(s),
        Yaml::Array(items) => Value::Array(items.into_iter().map(yaml_to_json).collect::<Result<_>>()?),
        Yaml::Hash(entries) => {
            let mut object = Map::new();
            for (key, value) in entries {
                let key = match key {
                    Yaml::String(s) => s,
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    _ => return Err(Error::invalid("specRaw", "has a mapping key that is not text")),
                };
                object.insert(key, yaml_to_json(value)?);
            }
            Value::Object(object)
        }
        Yaml::Alias(_) | Yaml::BadValue => {
            return Err(Error::invalid("specRaw", "has a value YAML cannot read"));
        }
    })
}

/// The event types an OpenAPI document describes: one per operation of its `webhooks`
/// (OpenAPI 3.1) or `x-webhooks` (3.0). The webhook's key names it (else the operation's
/// `operationId`); the description is the operation's, else its summary; the schema is the
/// JSON request body's, with `$ref`s to `components/schemas` written out, as version "1";
/// `deprecated`, and Svix's `x-svix-feature-flag(s)` and `x-svix-group-name`, carry over.
pub fn from_openapi(spec: &Value) -> Result<Vec<NewEventType>> {
    let Some(spec) = spec.as_object() else {
        return Err(Error::invalid("spec", "must be an OpenAPI document (an object)"));
    };
    let webhooks = spec
        .get("webhooks")
        .or_else(|| spec.get("x-webhooks"))
        .and_then(Value::as_object)
        .ok_or_else(|| Error::invalid("spec", "has no `webhooks` (or `x-webhooks`) to import"))?;
    let components = spec
        .get("components")
        .and_then(|c| c.get("schemas"))
        .and_then(Value::as_object);
    let mut found = Vec::new();
    let mut seen = BTreeSet::new();
    for (key, item) in webhooks {
        let Some(operations) = item.as_object() else {
            continue;
        };
        for (method, operation) in operations {
            if !["post", "put", "patch", "get", "delete"].contains(&method.as_str()) {
                continue;
            }
            // Event type names hold dots, so the webhook is named in the reason, not the path.
            let at_hook = |e: Error| match e {
                Error::Invalid { field, reason } => {
                    Error::invalid("spec", format!("webhook `{key}` ({method}): {field} {reason}"))
                }
                other => other,
            };
            let name = EventTypeName::parse(key)
                .or_else(|_| {
                    operation
                        .get("operationId")
                        .and_then(Value::as_str)
                        .map_or_else(|| EventTypeName::parse(key), EventTypeName::parse)
                })
                .map_err(|_| {
                    Error::invalid(
                        "spec",
                        format!("webhook `{key}` ({method}): neither its key nor its operationId is a valid event type name"),
                    )
                })?;
            if !seen.insert(name.as_str().to_owned()) {
                return Err(Error::invalid(
                    "spec",
                    format!("webhook `{key}` ({method}): `{name}` is described twice"),
                ));
            }
            let text = |k: &str| operation.get(k).and_then(Value::as_str).unwrap_or_default();
            let description = if text("description").is_empty() {
                text("summary")
            } else {
                text("description")
            };
            let schema = operation
                .pointer("/requestBody/content/application~1json/schema")
                .map(|schema| resolved(schema, components, 0));
            let mut flags: Vec<String> = operation
                .get("x-svix-feature-flags")
                .and_then(Value::as_array)
                .map(|flags| {
                    flags
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if let Some(flag) = operation.get("x-svix-feature-flag").and_then(Value::as_str) {
                flags.push(flag.to_owned());
            }
            let group_name = operation
                .get("x-svix-group-name")
                .and_then(Value::as_str)
                .map(types::parse_group_name)
                .transpose()
                .map_err(at_hook)?;
            found.push(NewEventType {
                name,
                description: types::parse_description(description).map_err(at_hook)?,
                schemas: schema.map(|schema| serde_json::json!({ "1": schema })),
                archived: false,
                deprecated: operation
                    .get("deprecated")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                feature_flags: types::parse_feature_flags("featureFlags", &flags).map_err(at_hook)?,
                group_name,
            });
        }
    }
    if found.len() > MAX_IMPORT {
        return Err(Error::invalid(
            "spec",
            format!(
                "describes {} event types; at most {MAX_IMPORT} at once",
                found.len()
            ),
        ));
    }
    Ok(found)
}

/// `schema` with every `$ref` to `#/components/schemas/…` replaced by what it names.
fn resolved(schema: &Value, components: Option<&Map<String, Value>>, depth: usize) -> Value {
    match schema {
        Value::Object(object) => {
            if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
                let target = reference
                    .strip_prefix("#/components/schemas/")
                    .and_then(|name| components?.get(name));
                return match target {
                    Some(target) if depth < REF_DEPTH => resolved(target, components, depth + 1),
                    _ => Value::Object(Map::new()),
                };
            }
            Value::Object(
                object
                    .iter()
                    .map(|(k, v)| (k.clone(), resolved(v, components, depth)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| resolved(v, components, depth)).collect()),
        other => other.clone(),
    }
}

/// Writes `types` into the tenant's catalogue in one transaction: new names are created,
/// changed ones replaced (an archived one comes back unless the import archives it), the
/// same ones left alone; with `archive_others`, every live event type not among them is
/// archived. With `dry_run` nothing is written. Answers the names created, changed or
/// archived (or that would be), and the event types written.
pub async fn import(
    ctx: &Context,
    tenant: &TenantId,
    types: Vec<NewEventType>,
    archive_others: bool,
    dry_run: bool,
    actor: &Actor,
) -> Result<Vec<NewEventType>> {
    if types.len() > MAX_IMPORT {
        return Err(Error::invalid(
            "eventTypes",
            format!("at most {MAX_IMPORT} event types at once"),
        ));
    }
    let mut names = BTreeSet::new();
    for (i, new) in types.iter().enumerate() {
        if !names.insert(new.name.as_str().to_owned()) {
            return Err(Error::invalid(
                format!("eventTypes.{i}.name"),
                format!("`{}` appears twice", new.name),
            ));
        }
    }
    let txn = crate::db::begin_write(ctx).await?;
    let existing: BTreeMap<String, event_type::Model> = event_type::Entity::for_tenant(tenant)
        .order_by_asc(event_type::Column::Name)
        .all(&txn)
        .await
        .context("reading the event types")?
        .into_iter()
        .map(|model| (model.name.clone(), model))
        .collect();
    let mut changed = Vec::new();
    for new in types {
        match existing.get(new.name.as_str()) {
            Some(old) if same(old, &new) => {}
            Some(old) => {
                if !dry_run {
                    let mut active: event_type::ActiveModel = old.clone().into();
                    types::apply(&mut active, new.clone());
                    active.update(&txn).await.context("replacing an event type")?;
                    record(&txn, tenant, actor, "event_type.update", &old.name).await?;
                }
                changed.push(new);
            }
            None => {
                if !dry_run {
                    types::insert(&txn, tenant, new.clone(), actor).await?;
                }
                changed.push(new);
            }
        }
    }
    if archive_others {
        for old in existing
            .values()
            .filter(|old| !old.archived && !names.contains(&old.name))
        {
            if !dry_run {
                let mut active: event_type::ActiveModel = old.clone().into();
                active.archived = Set(true);
                active.updated_at = Set(chrono::Utc::now());
                active.update(&txn).await.context("archiving an event type")?;
                record(&txn, tenant, actor, "event_type.archive", &old.name).await?;
            }
            changed.push(NewEventType {
                name: EventTypeName::parse(&old.name)?,
                description: old.description.clone(),
                schemas: old.schemas.clone(),
                archived: true,
                deprecated: old.deprecated,
                feature_flags: old.feature_flags.clone().map(|f| f.0).unwrap_or_default(),
                group_name: old.group_name.clone(),
            });
        }
    }
    if !dry_run {
        txn.commit().await.context("importing event types")?;
    }
    Ok(changed)
}

async fn record<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    actor: &Actor,
    action: &str,
    name: &str,
) -> Result<()> {
    audit::record(conn, tenant, actor, action, Target::new("event_type", name), None).await
}

fn same(old: &event_type::Model, new: &NewEventType) -> bool {
    old.description == new.description
        && old.schemas == new.schemas
        && old.archived == new.archived
        && old.deprecated == new.deprecated
        && old.feature_flags.as_ref().map_or(&[][..], |f| f.0.as_slice()) == new.feature_flags.as_slice()
        && old.group_name == new.group_name
}

/// Every event type of the tenant, archived ones too, by name.
pub async fn export<C: ConnectionTrait>(conn: &C, tenant: &TenantId) -> Result<Vec<event_type::Model>> {
    event_type::Entity::for_tenant(tenant)
        .order_by_asc(event_type::Column::Name)
        .all(conn)
        .await
        .context("exporting the event types")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_webhooks_with_their_schemas_flags_and_groups() {
        let spec = json!({
            "openapi": "3.1.0",
            "webhooks": {
                "invoice.paid": {"post": {
                    "summary": "An invoice was paid",
                    "x-svix-feature-flag": "beta",
                    "x-svix-group-name": "billing",
                    "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Invoice"}}}}
                }},
                "Legacy Hook": {"post": {"operationId": "legacy.hook", "description": "Old", "deprecated": true}}
            },
            "components": {"schemas": {
                "Invoice": {"type": "object", "properties": {"id": {"type": "string"}, "self": {"$ref": "#/components/schemas/Invoice"}}}
            }}
        });
        let found = from_openapi(&spec).unwrap();
        assert_eq!(found.len(), 2);
        let paid = found.iter().find(|t| t.name.as_str() == "invoice.paid").unwrap();
        assert_eq!(paid.description, "An invoice was paid");
        assert_eq!(paid.feature_flags, ["beta"]);
        assert_eq!(paid.group_name.as_deref(), Some("billing"));
        let schema = &paid.schemas.as_ref().unwrap()["1"];
        assert_eq!(schema["properties"]["id"]["type"], "string");
        assert!(schema.to_string().len() < 100_000, "a cycle stops");
        let legacy = found.iter().find(|t| t.name.as_str() == "legacy.hook").unwrap();
        assert!(legacy.deprecated && legacy.schemas.is_none());

        assert!(from_openapi(&json!({"openapi": "3.1.0"})).is_err());
        assert!(from_openapi(&json!({"webhooks": {"bad name": {"post": {}}}})).is_err());
    }

    #[test]
    fn spec_text_may_be_yaml() {
        let yaml = "openapi: 3.1.0\nwebhooks:\n  user.created:\n    post:\n      description: A user\n      x-svix-feature-flags: [a, b]\n";
        let found = from_openapi(&parse_spec_text(yaml).unwrap()).unwrap();
        assert_eq!(found[0].name.as_str(), "user.created");
        assert_eq!(found[0].feature_flags, ["a", "b"]);
        assert!(parse_spec_text("{not: [valid").is_err());
    }
}
