//! Setting an endpoint's custom headers; the rules they meet are the
//! [`CustomHeaders`] value's.

use std::collections::BTreeMap;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, Set};

use super::{
    audit::{self, Actor, Target},
    endpoint::{Owner, find_in_app},
};
use crate::{
    Context, DbContext, Result,
    entity::{StringMap, endpoint},
    id::TenantId,
    values::CustomHeaders,
};

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
        CustomHeaders::check(name, value.as_deref())?;
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
    let current = CustomHeaders::parse(current)?;
    let mut active: endpoint::ActiveModel = model.into();
    active.headers = Set(StringMap(current.into_map()));
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
