//! Applications: one per customer of a tenant, addressed by id or uid.

use std::collections::BTreeMap;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, ModelTrait, QueryFilter, Set};

use super::{
    audit::{self, Actor, Target},
    verification,
};
use crate::{
    Context, DbContext, Error, Result,
    entity::{StringMap, application, endpoint},
    id::{AppId, TenantId},
    pagination::{self, PageRequest, Paged},
    scope::TenantScoped,
    values::Uid,
};

/// A valid application, ready to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewApplication {
    pub name: String,
    pub uid: Option<Uid>,
    pub rate_limit: Option<u16>,
    /// Days to keep payloads and response bodies; the configured default when `None`.
    pub retention_days: Option<u16>,
    pub metadata: BTreeMap<String, String>,
    /// Herald's extension: endpoints must echo a challenge before they get anything.
    /// `None` takes the tenant's default on creation and leaves it as it is on PUT, so
    /// that a client that does not know the field cannot turn it off.
    pub require_endpoint_verification: Option<bool>,
}

/// A PATCH: `None` leaves a field alone; `Some(None)` clears a nullable one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplicationChanges {
    pub name: Option<String>,
    pub uid: Option<Option<Uid>>,
    pub rate_limit: Option<Option<u16>>,
    pub retention_days: Option<Option<u16>>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub require_endpoint_verification: Option<bool>,
}

/// The longest retention an application may ask for, in days.
pub const MAX_RETENTION_DAYS: u16 = 3650;

/// An application's own retention period: 1 to 3650 days.
pub fn parse_retention_days(days: u16) -> Result<u16> {
    if !(1..=MAX_RETENTION_DAYS).contains(&days) {
        return Err(Error::invalid(
            "retentionDays",
            format!("must be between 1 and {MAX_RETENTION_DAYS} days"),
        ));
    }
    Ok(days)
}

/// An application's display name: 1–256 characters once trimmed.
pub fn parse_name(name: &str) -> Result<String> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid("name", "must not be empty"));
    }
    if trimmed.chars().count() > 256 {
        return Err(Error::invalid("name", "must be at most 256 characters"));
    }
    Ok(trimmed.to_owned())
}

fn uid_taken(uid: &Uid) -> String {
    format!("an application with uid `{uid}` already exists")
}

/// The tenant's own applications: every one but the hidden operational-webhook one.
fn visible(tenant: &TenantId) -> sea_orm::Select<application::Entity> {
    application::Entity::for_tenant(tenant).filter(application::Column::Operational.eq(false))
}

/// Finds an application by id or uid, within the tenant.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id_or_uid: &str,
) -> Result<application::Model> {
    let select = visible(tenant);
    let select = match AppId::parse(id_or_uid) {
        Ok(id) => select.filter(application::Column::Id.eq(id)),
        Err(_) => select.filter(application::Column::Uid.eq(id_or_uid)),
    };
    select
        .one(conn)
        .await
        .context("loading an application")?
        .ok_or(Error::NotFound("application"))
}

/// An application by id or uid, within the tenant, with its enabled endpoints and their
/// fingerprint: one query, for accepting a message. `None` when there is no such
/// application.
pub(crate) async fn with_endpoints(
    db: &sea_orm::DatabaseConnection,
    backend: crate::db::Backend,
    tenant: &TenantId,
    id_or_uid: &str,
) -> Result<Option<crate::cache::AppCopy>> {
    use sea_orm::{FromQueryResult, Statement};
    let (by, p1, p2) = match (AppId::parse(id_or_uid), backend) {
        (Ok(_), crate::db::Backend::Postgres) => ("id", "$1", "$2"),
        (Err(_), crate::db::Backend::Postgres) => ("uid", "$1", "$2"),
        (Ok(_), crate::db::Backend::Sqlite) => ("id", "?", "?"),
        (Err(_), crate::db::Backend::Sqlite) => ("uid", "?", "?"),
    };
    let sql = format!(
        "SELECT {}, {}, {} AS fingerprint FROM application \
         LEFT JOIN endpoint ON endpoint.app_id = application.id AND NOT endpoint.disabled \
         WHERE application.tenant_id = {p1} AND application.{by} = {p2} AND NOT application.operational \
         ORDER BY endpoint.id",
        crate::db::aliased::<application::Column>("application", "a_"),
        crate::db::aliased::<endpoint::Column>("endpoint", "e_"),
        fingerprint(backend, "application.id"),
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            [tenant.as_str().into(), id_or_uid.into()],
        ))
        .await
        .context("loading an application and its endpoints")?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let app = application::Model::from_query_result(first, "a_").context("reading an application")?;
    let fingerprint = first
        .try_get::<String>("", "fingerprint")
        .context("reading an application's fingerprint")?;
    let endpoints = rows
        .iter()
        .map(|row| endpoint::Model::from_query_result_optional(row, "e_"))
        .collect::<std::result::Result<Vec<_>, _>>()
        .context("reading endpoints")?;
    let endpoints: Vec<endpoint::Model> = endpoints.into_iter().flatten().collect();
    Ok(Some(crate::cache::AppCopy {
        app,
        filters: super::message::Filters::of(&endpoints),
        endpoints,
        fingerprint,
    }))
}

/// SQL for a text that changes whenever the application `app_id` (an SQL expression for
/// its id) or any of its endpoints is created, changed or deleted: their number, the
/// sum of their `updated_at` times, and the application's own `updated_at`. NULL when
/// the application is gone.
pub(crate) fn fingerprint(backend: crate::db::Backend, app_id: &str) -> String {
    match backend {
        crate::db::Backend::Postgres => format!(
            "((SELECT CAST(COUNT(*) AS text) || ':' \
                  || CAST(COALESCE(SUM(EXTRACT(EPOCH FROM fp_e.updated_at)), 0) AS text) \
               FROM endpoint AS fp_e WHERE fp_e.app_id = {app_id}) \
              || '/' || (SELECT CAST(EXTRACT(EPOCH FROM fp_a.updated_at) AS text) \
               FROM application AS fp_a WHERE fp_a.id = {app_id}))"
        ),
        crate::db::Backend::Sqlite => format!(
            "((SELECT COUNT(*) || ':' || COALESCE(SUM(unixepoch(fp_e.updated_at, 'subsec')), 0) \
               FROM endpoint AS fp_e WHERE fp_e.app_id = {app_id}) \
              || '/' || (SELECT fp_a.updated_at FROM application AS fp_a WHERE fp_a.id = {app_id}))"
        ),
    }
}

async fn find_optional<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id_or_uid: &str,
) -> Result<Option<application::Model>> {
    match find(conn, tenant, id_or_uid).await {
        Ok(app) => Ok(Some(app)),
        Err(Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn list<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    page: &PageRequest,
) -> Result<Paged<application::Model>> {
    search(conn, tenant, "", page).await
}

/// The applications whose name or uid contains `query` (any case); all of them when it
/// is blank.
pub async fn search<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    query: &str,
    page: &PageRequest,
) -> Result<Paged<application::Model>> {
    let mut select = visible(tenant);
    let query = query.trim().to_lowercase();
    if !query.is_empty() {
        use sea_orm::sea_query::{Expr, ExprTrait, Func};
        // LIKE's wildcards in the query are taken literally.
        let pattern = format!(
            "%{}%",
            query
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let like = |column: application::Column| {
            Expr::expr(Func::lower(Expr::col(column)))
                .like(sea_orm::sea_query::LikeExpr::new(&pattern).escape('\\'))
        };
        select = select.filter(
            sea_orm::Condition::any()
                .add(like(application::Column::Name))
                .add(like(application::Column::Uid)),
        );
    }
    pagination::fetch(conn, select, application::Column::Id, page, |a| a.id.to_string()).await
}

/// The tenant's operational-webhook application, if it has made one.
pub async fn operational<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
) -> Result<Option<application::Model>> {
    application::Entity::for_tenant(tenant)
        .filter(application::Column::Operational.eq(true))
        .one(conn)
        .await
        .context("loading the operational-webhook application")
}

/// The tenant's operational-webhook application, made on first use.
pub(crate) async fn operational_or_create<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
) -> Result<application::Model> {
    if let Some(app) = operational(conn, tenant).await? {
        return Ok(app);
    }
    let now = Utc::now();
    application::ActiveModel {
        id: Set(AppId::new()),
        tenant_id: Set(tenant.clone()),
        uid: Set(None),
        name: Set("Operational webhooks".to_owned()),
        rate_limit: Set(None),
        retention_days: Set(None),
        metadata: Set(StringMap::default()),
        operational: Set(true),
        require_endpoint_verification: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(conn)
    .await
    .conflict_means(
        "operational webhooks were being set up at the same moment; try again".to_owned(),
        "creating the operational-webhook application",
    )
}

/// Inserts a new application in the caller's connection.
pub(crate) async fn insert<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    new: NewApplication,
    actor: &Actor,
) -> Result<application::Model> {
    let now = Utc::now();
    let conflict = new.uid.as_ref().map(uid_taken).unwrap_or_default();
    let require_endpoint_verification = match new.require_endpoint_verification {
        Some(required) => required,
        None => {
            super::tenant::get(conn, tenant)
                .await?
                .require_endpoint_verification
        }
    };
    let app = application::ActiveModel {
        id: Set(AppId::new()),
        tenant_id: Set(tenant.clone()),
        uid: Set(new.uid.map(Uid::into_string)),
        name: Set(new.name),
        rate_limit: Set(new.rate_limit.map(i32::from)),
        retention_days: Set(new.retention_days.map(i32::from)),
        operational: Set(false),
        metadata: Set(StringMap(new.metadata)),
        require_endpoint_verification: Set(require_endpoint_verification),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(conn)
    .await
    .conflict_means(conflict, "creating an application")?;
    audit::record(
        conn,
        tenant,
        actor,
        "application.create",
        Target::new("application", &app.id),
        None,
    )
    .await?;
    Ok(app)
}

/// Creates an application. With `get_if_exists`, an existing one with the same uid is
/// returned instead of a conflict; the flag says whether it was created.
pub async fn create(
    ctx: &Context,
    tenant: &TenantId,
    new: NewApplication,
    get_if_exists: bool,
    actor: &Actor,
) -> Result<(application::Model, bool)> {
    if get_if_exists
        && let Some(uid) = &new.uid
        && let Some(existing) = find_optional(&ctx.db, tenant, uid.as_str()).await?
    {
        return Ok((existing, false));
    }
    // The row and its audit entry in one transaction.
    let txn = crate::db::begin_write(ctx).await?;
    match insert(&txn, tenant, new.clone(), actor).await {
        Ok(app) => {
            txn.commit().await.context("committing an application")?;
            Ok((app, true))
        }
        // Lost a race with a concurrent create of the same uid: that transaction is spent
        // (rolled back as it drops); the winner's row is read outside it.
        Err(Error::Conflict(_)) if get_if_exists && new.uid.is_some() => {
            drop(txn);
            let uid = new.uid.as_ref().map(Uid::as_str).unwrap_or_default();
            Ok((find(&ctx.db, tenant, uid).await?, false))
        }
        Err(e) => Err(e),
    }
}

/// PUT: replaces the application's fields, or creates it (with the path's uid) when
/// missing. The flag says whether it was created.
pub async fn upsert(
    ctx: &Context,
    tenant: &TenantId,
    id_or_uid: &str,
    mut new: NewApplication,
    actor: &Actor,
) -> Result<(application::Model, bool)> {
    // Addressed by uid, the application keeps that uid unless the body names another.
    if new.uid.is_none() && AppId::parse(id_or_uid).is_err() {
        new.uid = Some(Uid::parse(id_or_uid).map_err(|e| e.at("uid"))?);
    }
    let txn = crate::db::begin_write(ctx).await?;
    let result = match find_optional(&txn, tenant, id_or_uid).await? {
        Some(existing) => {
            let conflict = new.uid.as_ref().map(uid_taken).unwrap_or_default();
            let required_before = existing.require_endpoint_verification;
            let mut active: application::ActiveModel = existing.into();
            if let Some(required) = new.require_endpoint_verification {
                active.require_endpoint_verification = Set(required);
            }
            active.name = Set(new.name);
            active.uid = Set(new.uid.map(Uid::into_string));
            active.rate_limit = Set(new.rate_limit.map(i32::from));
            active.retention_days = Set(new.retention_days.map(i32::from));
            active.metadata = Set(StringMap(new.metadata));
            active.updated_at = Set(Utc::now());
            let app = active
                .update(&txn)
                .await
                .conflict_means(conflict, "updating an application")?;
            if required_before && !app.require_endpoint_verification {
                verification::drop_for_app(&txn, &app, Utc::now()).await?;
            }
            audit::record(
                &txn,
                tenant,
                actor,
                "application.update",
                Target::new("application", &app.id),
                None,
            )
            .await?;
            (app, false)
        }
        None => {
            if AppId::parse(id_or_uid).is_ok() {
                // An id that does not exist cannot be created: ids are Herald's to give.
                return Err(Error::NotFound("application"));
            }
            if new.uid.is_none() {
                new.uid = Some(Uid::parse(id_or_uid).map_err(|e| e.at("uid"))?);
            }
            (insert(&txn, tenant, new, actor).await?, true)
        }
    };
    txn.commit().await.context("committing an application")?;
    Ok(result)
}

pub async fn patch(
    ctx: &Context,
    tenant: &TenantId,
    id_or_uid: &str,
    changes: ApplicationChanges,
    actor: &Actor,
) -> Result<application::Model> {
    let txn = crate::db::begin_write(ctx).await?;
    let existing = find(&txn, tenant, id_or_uid).await?;
    let required_before = existing.require_endpoint_verification;
    let mut active: application::ActiveModel = existing.into();
    let mut conflict = String::new();
    if let Some(required) = changes.require_endpoint_verification {
        active.require_endpoint_verification = Set(required);
    }
    if let Some(name) = changes.name {
        active.name = Set(name);
    }
    if let Some(uid) = changes.uid {
        conflict = uid.as_ref().map(uid_taken).unwrap_or_default();
        active.uid = Set(uid.map(Uid::into_string));
    }
    if let Some(rate_limit) = changes.rate_limit {
        active.rate_limit = Set(rate_limit.map(i32::from));
    }
    if let Some(days) = changes.retention_days {
        active.retention_days = Set(days.map(i32::from));
    }
    if let Some(metadata) = changes.metadata {
        active.metadata = Set(StringMap(metadata));
    }
    active.updated_at = Set(Utc::now());
    let app = active
        .update(&txn)
        .await
        .conflict_means(conflict, "updating an application")?;
    if required_before && !app.require_endpoint_verification {
        verification::drop_for_app(&txn, &app, Utc::now()).await?;
    }
    audit::record(
        &txn,
        tenant,
        actor,
        "application.update",
        Target::new("application", &app.id),
        None,
    )
    .await?;
    txn.commit().await.context("committing an application")?;
    Ok(app)
}

/// Deletes the application with its endpoints, messages and logs.
pub async fn delete(ctx: &Context, tenant: &TenantId, id_or_uid: &str, actor: &Actor) -> Result<()> {
    let txn = crate::db::begin_write(ctx).await?;
    let app = find(&txn, tenant, id_or_uid).await?;
    let details = serde_json::json!({ "name": app.name, "uid": app.uid });
    let id = app.id.clone();
    app.delete(&txn).await.context("deleting an application")?;
    audit::record(
        &txn,
        tenant,
        actor,
        "application.delete",
        Target::new("application", &id),
        Some(details),
    )
    .await?;
    txn.commit()
        .await
        .context("committing an application's deletion")?;
    Ok(())
}
