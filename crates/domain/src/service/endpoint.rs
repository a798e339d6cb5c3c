//! Endpoints: where an application's messages are delivered, addressed by id or uid
//! within their application. Their signing keys are in [`endpoint_secret`], their custom
//! headers in [`endpoint_headers`](super::endpoint_headers), their delivery counts and the
//! endpoints that need attention in [`endpoint_health`](super::endpoint_health).

use std::collections::BTreeMap;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, ModelTrait, QueryFilter, Set};

use super::{
    application,
    audit::{self, Actor, Target},
    delivery, endpoint_secret, event_type, operational, verification,
};
use crate::{
    Context, DbContext, Error, Result,
    entity::{Delays, StringList, StringMap, application as app_entity, endpoint, endpoint::OnFailure},
    id::{AppId, EndpointId, TenantId},
    pagination::{self, PageRequest, Paged},
    program::Program,
    scope::TenantScoped,
    signing::SigningSecret,
    values::{
        Access, AccessInput, Channels, CustomHeaders, EndpointUrl, EventTypeFilter, EventTypeName,
        RetrySchedule, Timeout, Uid, access::Credentials,
    },
};

/// At most this many channels on one endpoint.
pub const MAX_CHANNELS: usize = 10;

/// Whose endpoints a call is about: an application of the tenant, by id or uid, or the
/// tenant's operational webhooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner<'a> {
    App(&'a str),
    Operational,
}

impl<'a> From<&'a str> for Owner<'a> {
    fn from(app_id_or_uid: &'a str) -> Self {
        Self::App(app_id_or_uid)
    }
}

impl<'a> From<&'a String> for Owner<'a> {
    fn from(app_id_or_uid: &'a String) -> Self {
        Self::App(app_id_or_uid)
    }
}

/// The application behind `owner`. The operational one is made on first use when
/// `create` is set; otherwise its absence means the endpoint does not exist.
pub(crate) async fn owner_app<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    owner: Owner<'_>,
    create: bool,
) -> Result<app_entity::Model> {
    match owner {
        Owner::App(id_or_uid) => application::find(conn, tenant, id_or_uid).await,
        Owner::Operational if create => application::operational_or_create(conn, tenant).await,
        Owner::Operational => application::operational(conn, tenant)
            .await?
            .ok_or(Error::NotFound("endpoint")),
    }
}

/// The endpoint's channels as a create, a PUT or a form gives them; none when empty.
pub fn parse_channels(channels: &[String]) -> Result<Option<Channels>> {
    if channels.is_empty() {
        return Ok(None);
    }
    Channels::parse("channels", channels, MAX_CHANNELS).map(Some)
}

/// What an endpoint is: the fields a create or a PUT gives whole.
#[derive(Clone, Debug)]
pub struct EndpointSettings {
    pub url: EndpointUrl,
    pub uid: Option<Uid>,
    pub description: String,
    pub disabled: bool,
    pub event_types: Option<EventTypeFilter>,
    pub channels: Option<Channels>,
    pub rate_limit: Option<u16>,
    /// The configured default when `None`.
    pub timeout: Option<Timeout>,
    /// The configured default when `None`.
    pub retry_schedule: Option<RetrySchedule>,
    pub metadata: BTreeMap<String, String>,
}

impl EndpointSettings {
    /// An endpoint at `url` with every other field at its default: no filters or limits.
    pub fn at(url: EndpointUrl) -> Self {
        Self {
            url,
            uid: None,
            description: String::new(),
            disabled: false,
            event_types: None,
            channels: None,
            rate_limit: None,
            timeout: None,
            retry_schedule: None,
            metadata: BTreeMap::new(),
        }
    }
}

/// Herald's delivery options. `None` leaves each as it is, also on a PUT (none on create).
#[derive(Clone, Debug, Default)]
pub struct DeliveryOptions {
    /// Ordered delivery, and what a final failure does to the line.
    pub ordered: Option<Option<OnFailure>>,
    /// Gateway credentials and TLS identity.
    pub access: Option<Option<AccessInput>>,
    /// A jq filter over `{eventType, channels, payload, tags}`.
    pub filter: Option<Option<Program>>,
    /// A jq program shaping the request.
    pub transformation: Option<Option<Program>>,
}

/// A valid endpoint, ready to store.
#[derive(Clone, Debug)]
pub struct NewEndpoint {
    pub settings: EndpointSettings,
    pub options: DeliveryOptions,
    /// Only on create: the caller's own signing key; otherwise Herald makes one.
    pub secret: Option<SigningSecret>,
    /// Only on create.
    pub headers: CustomHeaders,
}

impl NewEndpoint {
    /// An endpoint at `url` with every other field at its default: no filters, limits
    /// or headers, Herald's own signing key.
    pub fn at(url: EndpointUrl) -> Self {
        Self {
            settings: EndpointSettings::at(url),
            options: DeliveryOptions::default(),
            secret: None,
            headers: CustomHeaders::default(),
        }
    }
}

/// A PATCH: `None` leaves a field alone; `Some(None)` clears a nullable one.
#[derive(Clone, Debug, Default)]
pub struct EndpointChanges {
    pub url: Option<EndpointUrl>,
    pub uid: Option<Option<Uid>>,
    pub description: Option<String>,
    pub disabled: Option<bool>,
    pub event_types: Option<Option<EventTypeFilter>>,
    pub channels: Option<Option<Channels>>,
    pub rate_limit: Option<Option<u16>>,
    pub timeout: Option<Option<Timeout>>,
    pub retry_schedule: Option<Option<RetrySchedule>>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub ordered: Option<Option<OnFailure>>,
    pub access: Option<Option<AccessInput>>,
    pub filter: Option<Option<Program>>,
    pub transformation: Option<Option<Program>>,
}

impl EndpointChanges {
    /// A PUT: `settings` replace the endpoint's; each option given replaces its own.
    pub fn replacing(settings: EndpointSettings, options: DeliveryOptions) -> Self {
        Self {
            url: Some(settings.url),
            uid: Some(settings.uid),
            description: Some(settings.description),
            disabled: Some(settings.disabled),
            event_types: Some(settings.event_types),
            channels: Some(settings.channels),
            rate_limit: Some(settings.rate_limit),
            timeout: Some(settings.timeout),
            retry_schedule: Some(settings.retry_schedule),
            metadata: Some(settings.metadata),
            ordered: options.ordered,
            access: options.access,
            filter: options.filter,
            transformation: options.transformation,
        }
    }
}

fn uid_taken(uid: &Uid) -> String {
    format!("an endpoint with uid `{uid}` already exists in this application")
}

/// Lays `access` over what `endpoint` has (see [`AccessInput::over`]) and seals the
/// secrets under the main key with the endpoint's id as associated data; `None` clears
/// both.
fn seal_access(
    ctx: &Context,
    endpoint: &endpoint::Model,
    access: Option<AccessInput>,
) -> Result<(Option<Access>, Option<Vec<u8>>)> {
    let Some(access) = access else {
        return Ok((None, None));
    };
    let Some((open, secrets)) = access.over(endpoint.access.clone(), open_credentials(ctx, endpoint)?) else {
        return Ok((None, None));
    };
    let plain = serde_json::to_vec(&secrets).map_err(|e| Error::internal("sealing credentials", e))?;
    let sealed = ctx.keyring.seal(&plain, endpoint.id.as_str().as_bytes())?;
    Ok((Some(open), Some(sealed)))
}

/// Opens the sealed secrets of an endpoint's access settings (empty when it has none).
pub fn open_credentials(ctx: &Context, endpoint: &endpoint::Model) -> Result<Credentials> {
    let Some(sealed) = &endpoint.credentials else {
        return Ok(Credentials::default());
    };
    let plain = ctx.keyring.open(sealed, endpoint.id.as_str().as_bytes())?;
    serde_json::from_slice(&plain).map_err(|e| Error::internal("opening credentials", e))
}

/// Finds an endpoint by id or uid within an application of the tenant.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    app: &AppId,
    id_or_uid: &str,
) -> Result<endpoint::Model> {
    let select = endpoint::Entity::for_tenant(tenant).filter(endpoint::Column::AppId.eq(app.clone()));
    let select = match EndpointId::parse(id_or_uid) {
        Ok(id) => select.filter(endpoint::Column::Id.eq(id)),
        Err(_) => select.filter(endpoint::Column::Uid.eq(id_or_uid)),
    };
    select
        .one(conn)
        .await
        .context("loading an endpoint")?
        .ok_or(Error::NotFound("endpoint"))
}

/// Finds the application, then the endpoint in it.
pub async fn find_in_app<'a, C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    owner: impl Into<Owner<'a>>,
    id_or_uid: &str,
) -> Result<endpoint::Model> {
    let app = owner_app(conn, tenant, owner.into(), false).await?;
    find(conn, tenant, &app.id, id_or_uid).await
}

/// The endpoints of `owner`; none when the tenant has no operational webhooks yet.
pub async fn list_of<'a, C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    owner: impl Into<Owner<'a>>,
    page: &PageRequest,
) -> Result<Paged<endpoint::Model>> {
    match owner_app(conn, tenant, owner.into(), false).await {
        Ok(app) => list(conn, tenant, &app.id, page).await,
        Err(Error::NotFound("endpoint")) => Ok(Paged {
            data: Vec::new(),
            iterator: None,
            prev_iterator: None,
            done: true,
        }),
        Err(e) => Err(e),
    }
}

/// Checks an endpoint's event-type filter: live event types of the tenant, or for
/// operational webhooks, Herald's own event types.
async fn check_filter<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    app: &app_entity::Model,
    types: &[EventTypeName],
) -> Result<()> {
    if app.operational {
        operational::check_event_types(types)
    } else {
        event_type::require_live(conn, tenant, "eventTypes", types).await
    }
}

pub async fn list<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    app: &AppId,
    page: &PageRequest,
) -> Result<Paged<endpoint::Model>> {
    let select = endpoint::Entity::for_tenant(tenant).filter(endpoint::Column::AppId.eq(app.clone()));
    pagination::fetch(conn, select, endpoint::Column::Id, page, |e| e.id.to_string()).await
}

fn names(filter: &Option<EventTypeFilter>) -> Option<StringList> {
    filter.as_ref().map(|f| StringList(f.to_strings()))
}

fn seconds(timeout: Option<Timeout>) -> Option<i32> {
    timeout.map(|t| i32::from(t.secs()))
}

fn delays(schedule: Option<RetrySchedule>) -> Option<Delays> {
    schedule.map(|s| Delays(s.into_delays()))
}

fn source_of(program: Option<Program>) -> Option<String> {
    program.map(|p| p.source().to_owned())
}

fn channel_list(channels: &Option<Channels>) -> Option<StringList> {
    channels.as_ref().map(|c| StringList(c.to_strings()))
}

async fn insert<C: ConnectionTrait>(
    ctx: &Context,
    conn: &C,
    tenant: &TenantId,
    app: &app_entity::Model,
    new: NewEndpoint,
    actor: &Actor,
) -> Result<endpoint::Model> {
    let NewEndpoint {
        settings: new,
        options,
        secret,
        headers,
    } = new;
    if let Some(types) = &new.event_types {
        check_filter(conn, tenant, app, types.names()).await?;
    }
    let now = Utc::now();
    let conflict = new.uid.as_ref().map(uid_taken).unwrap_or_default();
    let mut active = endpoint::ActiveModel {
        id: Set(EndpointId::new()),
        tenant_id: Set(tenant.clone()),
        app_id: Set(app.id.clone()),
        uid: Set(new.uid.map(Uid::into_string)),
        url: Set(new.url.as_str().to_owned()),
        description: Set(new.description),
        disabled: Set(new.disabled),
        disabled_reason: Set(None),
        filter_types: Set(names(&new.event_types)),
        channels: Set(channel_list(&new.channels)),
        rate_limit: Set(new.rate_limit.map(i32::from)),
        timeout_secs: Set(seconds(new.timeout)),
        retry_schedule: Set(delays(new.retry_schedule)),
        headers: Set(StringMap(headers.into_map())),
        metadata: Set(StringMap(new.metadata)),
        failing_since: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ordered: Set(options.ordered.flatten()),
        access: Set(None),
        credentials: Set(None),
        filter: Set(source_of(options.filter.flatten())),
        transformation: Set(source_of(options.transformation.flatten())),
        verification: Set(None),
        verification_challenge: Set(None),
        verification_tries: Set(0),
        verification_due_at: Set(None),
        verification_error: Set(None),
        verified_at: Set(None),
    };
    verification::begin_if_required(app, &mut active, now)?;
    let model = active
        .insert(conn)
        .await
        .conflict_means(conflict, "creating an endpoint")?;
    let model = match options.access.flatten() {
        Some(access) => {
            let (open, sealed) = seal_access(ctx, &model, Some(access))?;
            let mut active: endpoint::ActiveModel = model.into();
            active.access = Set(open);
            active.credentials = Set(sealed);
            active
                .update(conn)
                .await
                .context("storing endpoint credentials")?
        }
        None => model,
    };
    let secret = match secret {
        Some(secret) => secret,
        None => SigningSecret::generate()?,
    };
    endpoint_secret::insert(ctx, conn, tenant, &model.id, &secret).await?;
    audit::record(
        conn,
        tenant,
        actor,
        "endpoint.create",
        Target::new("endpoint", &model.id),
        None,
    )
    .await?;
    Ok(model)
}

/// Creates an endpoint with its first signing key, in one transaction.
pub async fn create<'a>(
    ctx: &Context,
    tenant: &TenantId,
    owner: impl Into<Owner<'a>>,
    new: NewEndpoint,
    actor: &Actor,
) -> Result<endpoint::Model> {
    let txn = crate::db::begin_write(ctx).await?;
    let app = owner_app(&txn, tenant, owner.into(), true).await?;
    let model = insert(ctx, &txn, tenant, &app, new, actor).await?;
    txn.commit().await.context("committing an endpoint")?;
    Ok(model)
}

/// PUT: replaces the endpoint's fields (not its key), or creates it with the path's uid.
pub async fn upsert<'a>(
    ctx: &Context,
    tenant: &TenantId,
    owner: impl Into<Owner<'a>>,
    id_or_uid: &str,
    mut new: NewEndpoint,
    actor: &Actor,
) -> Result<(endpoint::Model, bool)> {
    // Addressed by uid, the endpoint keeps that uid unless the body names another.
    if new.settings.uid.is_none() && EndpointId::parse(id_or_uid).is_err() {
        new.settings.uid = Some(Uid::parse(id_or_uid)?);
    }
    let txn = crate::db::begin_write(ctx).await?;
    let app = owner_app(&txn, tenant, owner.into(), true).await?;
    let result = match find(&txn, tenant, &app.id, id_or_uid).await {
        Ok(existing) => {
            let changes = EndpointChanges::replacing(new.settings, new.options);
            (
                apply_changes(ctx, &txn, tenant, &app, existing, changes, actor).await?,
                false,
            )
        }
        Err(Error::NotFound(_)) => {
            if EndpointId::parse(id_or_uid).is_ok() {
                return Err(Error::NotFound("endpoint"));
            }
            if new.settings.uid.is_none() {
                new.settings.uid = Some(Uid::parse(id_or_uid)?);
            }
            (insert(ctx, &txn, tenant, &app, new, actor).await?, true)
        }
        Err(e) => return Err(e),
    };
    txn.commit().await.context("committing an endpoint")?;
    Ok(result)
}

async fn apply_changes<C: ConnectionTrait>(
    ctx: &Context,
    conn: &C,
    tenant: &TenantId,
    app: &app_entity::Model,
    existing: endpoint::Model,
    changes: EndpointChanges,
    actor: &Actor,
) -> Result<endpoint::Model> {
    if let Some(Some(types)) = &changes.event_types {
        check_filter(conn, tenant, app, types.names()).await?;
    }
    let was_ordered = existing.ordered.is_some();
    let old_url = existing.url.clone();
    let was_paced = existing.paced();
    let sealed = changes
        .access
        .map(|access| seal_access(ctx, &existing, access))
        .transpose()?;
    let mut active: endpoint::ActiveModel = existing.into();
    let mut conflict = String::new();
    if let Some(ordered) = changes.ordered {
        active.ordered = Set(ordered);
    }
    if let Some((open, sealed)) = sealed {
        active.access = Set(open);
        active.credentials = Set(sealed);
    }
    if let Some(url) = changes.url {
        if url.as_str() != old_url {
            // A new address must prove itself again.
            verification::begin_if_required(app, &mut active, Utc::now())?;
        }
        active.url = Set(url.as_str().to_owned());
    }
    if let Some(uid) = changes.uid {
        conflict = uid.as_ref().map(uid_taken).unwrap_or_default();
        active.uid = Set(uid.map(Uid::into_string));
    }
    if let Some(description) = changes.description {
        active.description = Set(description);
    }
    if let Some(disabled) = changes.disabled {
        active.disabled = Set(disabled);
        if !disabled {
            active.disabled_reason = Set(None);
            active.failing_since = Set(None);
        }
    }
    if let Some(types) = changes.event_types {
        active.filter_types = Set(names(&types));
    }
    if let Some(channels) = changes.channels {
        active.channels = Set(channel_list(&channels));
    }
    if let Some(rate_limit) = changes.rate_limit {
        active.rate_limit = Set(rate_limit.map(i32::from));
    }
    if let Some(timeout) = changes.timeout {
        active.timeout_secs = Set(seconds(timeout));
    }
    if let Some(schedule) = changes.retry_schedule {
        active.retry_schedule = Set(delays(schedule));
    }
    if let Some(metadata) = changes.metadata {
        active.metadata = Set(StringMap(metadata));
    }
    if let Some(filter) = changes.filter {
        active.filter = Set(source_of(filter));
    }
    if let Some(transformation) = changes.transformation {
        active.transformation = Set(source_of(transformation));
    }
    active.updated_at = Set(Utc::now());
    let model = active
        .update(conn)
        .await
        .conflict_means(conflict, "updating an endpoint")?;
    if was_paced != model.paced() {
        delivery::lane::repace(conn, ctx.backend, &model.id, model.paced()).await?;
    }
    if was_ordered && model.ordered.is_none() {
        delivery::lane::unorder(conn, ctx.backend, &model.id, Utc::now()).await?;
    }
    audit::record(
        conn,
        tenant,
        actor,
        "endpoint.update",
        Target::new("endpoint", &model.id),
        None,
    )
    .await?;
    Ok(model)
}

pub async fn patch<'a>(
    ctx: &Context,
    tenant: &TenantId,
    owner: impl Into<Owner<'a>>,
    id_or_uid: &str,
    changes: EndpointChanges,
    actor: &Actor,
) -> Result<endpoint::Model> {
    let txn = crate::db::begin_write(ctx).await?;
    let app = owner_app(&txn, tenant, owner.into(), false).await?;
    let existing = find(&txn, tenant, &app.id, id_or_uid).await?;
    let model = apply_changes(ctx, &txn, tenant, &app, existing, changes, actor).await?;
    txn.commit().await.context("committing an endpoint")?;
    Ok(model)
}

/// Deletes the endpoint with its keys and delivery records.
pub async fn delete<'a>(
    ctx: &Context,
    tenant: &TenantId,
    owner: impl Into<Owner<'a>>,
    id_or_uid: &str,
    actor: &Actor,
) -> Result<()> {
    let txn = crate::db::begin_write(ctx).await?;
    let model = find_in_app(&txn, tenant, owner, id_or_uid).await?;
    let target = Target::new("endpoint", &model.id);
    let details = serde_json::json!({ "url": model.url, "uid": model.uid });
    model.delete(&txn).await.context("deleting an endpoint")?;
    audit::record(&txn, tenant, actor, "endpoint.delete", target, Some(details)).await?;
    txn.commit().await.context("committing an endpoint's deletion")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_listens_to_at_most_ten_channels() {
        let channels = |n: usize| (0..n).map(|i| format!("c{i}")).collect::<Vec<_>>();
        assert_eq!(parse_channels(&[]).unwrap(), None, "none: every channel");
        assert!(parse_channels(&channels(MAX_CHANNELS)).is_ok());
        let err = parse_channels(&channels(MAX_CHANNELS + 1))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "invalid channels: must hold at most 10 channels");
    }
}
