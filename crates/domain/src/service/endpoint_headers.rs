//! An endpoint's custom headers: the rules a name and a value must meet (Herald's own and
//! HTTP's headers are off limits), which ones are never shown back, and setting them.

use std::collections::BTreeMap;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, Set};

use super::{
    audit::{self, Actor, Target},
    endpoint::{Owner, find_in_app},
};
use crate::{Context, DbContext, Error, Result, entity::StringMap, entity::endpoint, id::TenantId};

/// Headers a tenant may not set: Herald owns them, or HTTP does.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "user-agent",
    "expect",
];
const RESERVED_PREFIXES: &[&str] = &["webhook-", "svix-", "proxy-", "x-herald-"];
/// Headers whose values are never shown back, only their names.
const SENSITIVE_HEADERS: &[&str] = &["authorization", "cookie", "x-api-key", "x-auth-token"];

pub const MAX_HEADERS: usize = 50;

/// Checks one custom header name and value; names are kept as given, compared without case.
pub fn check_header(name: &str, value: Option<&str>) -> Result<()> {
    let field = format!("headers.{name}");
    let lower = name.to_ascii_lowercase();
    let is_token = !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !is_token {
        return Err(Error::invalid(field, "is not a valid HTTP header name"));
    }
    if RESERVED_HEADERS.contains(&lower.as_str()) || RESERVED_PREFIXES.iter().any(|p| lower.starts_with(p)) {
        return Err(Error::invalid(
            field,
            format!("`{name}` is set by Herald and cannot be overridden"),
        ));
    }
    if let Some(value) = value
        && (value.len() > 4096 || value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0))
    {
        return Err(Error::invalid(
            field,
            "must be at most 4096 bytes with no line breaks",
        ));
    }
    Ok(())
}

/// Checks a whole set of custom headers.
pub fn parse_headers(headers: BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
    if headers.len() > MAX_HEADERS {
        return Err(Error::invalid(
            "headers",
            format!("must hold at most {MAX_HEADERS} headers"),
        ));
    }
    for (name, value) in &headers {
        check_header(name, Some(value))?;
    }
    Ok(headers)
}

pub fn is_sensitive_header(name: &str) -> bool {
    SENSITIVE_HEADERS.contains(&name.to_ascii_lowercase().as_str())
}

/// Sets the custom headers: with `replace` the given map becomes the whole set; otherwise
/// it is merged in, and a `None` value removes that header.
pub async fn set_headers<'a>(
    ctx: &Context,
    tenant: &TenantId,
    owner: impl Into<Owner<'a>>,
    id_or_uid: &str,
    headers: BTreeMap<String, Option<String>>,
    replace: bool,
    actor: &Actor,
) -> Result<endpoint::Model> {
    for (name, value) in &headers {
        check_header(name, value.as_deref())?;
    }
    let txn = crate::db::begin_write(ctx).await?;
    let model = find_in_app(&txn, tenant, owner, id_or_uid).await?;
    let mut current = if replace {
        BTreeMap::new()
    } else {
        model.headers.0.clone()
    };
    for (name, value) in headers {
        current.retain(|k, _| !k.eq_ignore_ascii_case(&name));
        if let Some(value) = value {
            current.insert(name, value);
        }
    }
    if current.len() > MAX_HEADERS {
        return Err(Error::invalid(
            "headers",
            format!("must hold at most {MAX_HEADERS} headers"),
        ));
    }
    let mut active: endpoint::ActiveModel = model.into();
    active.headers = Set(StringMap(current));
    active.updated_at = Set(Utc::now());
    let model = active.update(&txn).await.context("updating endpoint headers")?;
    audit::record(
        &txn,
        tenant,
        actor,
        "endpoint.headers.update",
        Target::new("endpoint", &model.id),
        None,
    )
    .await?;
    txn.commit().await.context("committing endpoint headers")?;
    Ok(model)
}
