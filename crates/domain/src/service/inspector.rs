//! Inspector inboxes: URLs of Herald's (`/in/{token}`) that record every request they get
//! and answer as the tenant says, so a tenant can watch what its endpoints would receive
//! and how Herald retries. Creating, changing and reading inboxes is here; what happens
//! when a request arrives is in `inspector/record.rs`, the signature verdict in
//! `inspector/verify.rs`.

mod limits;
mod record;
mod relay;
mod trial;
mod verify;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};

pub use self::{
    limits::{DEFAULT_PER_INBOX, DEFAULT_PER_TENANT, InboxLimits},
    record::{Answer, Incoming, Recorded, record},
    relay::{MAX_LISTEN_WAIT, RELAY_WAIT, answer, await_answer, claim, listen},
    trial::{Trial, delivers_to_inbox, endpoints_for, to_new_inbox},
    verify::{Key, Verdict, verify},
};
use crate::{
    Context, DbContext, Error, Result,
    crypto::{self, hex},
    entity::{
        inbox::{self, Script, Step},
        inbox_request,
    },
    id::{InboxId, InboxRequestId, TenantId},
    pagination::{self, PageRequest, Paged},
    scope::TenantScoped,
};

/// How long an inbox lives unless the tenant says otherwise, and the bounds it may choose.
pub const DEFAULT_EXPIRY: Duration = Duration::days(7);
pub const MIN_EXPIRY_SECS: i64 = 3600;
pub const MAX_EXPIRY_SECS: i64 = 30 * 24 * 3600;
/// The requests kept per inbox: the newest ones.
pub const KEPT_REQUESTS: u64 = 200;
/// The part of a body kept; the rest is cut and the request marked truncated.
pub const MAX_KEPT_BODY: usize = 256 * 1024;
/// The longest an inbox holds a request before answering.
pub const MAX_DELAY_MS: u32 = 30_000;
pub const MAX_NAME_LEN: usize = 256;
pub const MAX_RESPONSE_BODY: usize = 64 * 1024;
pub const MAX_SCRIPT_STEPS: usize = 50;
/// The statuses an inbox may answer with.
pub const MIN_STATUS: u16 = 200;
pub const MAX_STATUS: u16 = 599;
/// Random bytes in a token (its URL form is their hex).
const TOKEN_BYTES: usize = 20;

/// How an inbox answers when no script step is left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    status: u16,
    body: String,
    delay_ms: u32,
}

impl Default for Response {
    fn default() -> Self {
        Self {
            status: 200,
            body: String::new(),
            delay_ms: 0,
        }
    }
}

fn check_status(field: &'static str, status: u16) -> Result<u16> {
    if (MIN_STATUS..=MAX_STATUS).contains(&status) {
        Ok(status)
    } else {
        Err(Error::invalid(
            field,
            format!("must be between {MIN_STATUS} and {MAX_STATUS}"),
        ))
    }
}

fn check_body(field: &'static str, body: &str) -> Result<()> {
    if body.len() > MAX_RESPONSE_BODY {
        return Err(Error::invalid(
            field,
            format!("must be at most {MAX_RESPONSE_BODY} bytes"),
        ));
    }
    Ok(())
}

fn check_delay(field: &'static str, delay_ms: u32) -> Result<u32> {
    if delay_ms > MAX_DELAY_MS {
        return Err(Error::invalid(field, format!("must be at most {MAX_DELAY_MS}")));
    }
    Ok(delay_ms)
}

impl Response {
    pub fn parse(status: u16, body: Option<String>, delay_ms: Option<u32>) -> Result<Self> {
        let body = body.unwrap_or_default();
        check_body("response.body", &body)?;
        Ok(Self {
            status: check_status("response.status", status)?,
            body,
            delay_ms: check_delay("response.delayMs", delay_ms.unwrap_or(0))?,
        })
    }
}

/// A checked script: at most [`MAX_SCRIPT_STEPS`] steps, each within the response bounds.
pub fn parse_script(steps: Vec<Step>) -> Result<Script> {
    if steps.is_empty() || steps.len() > MAX_SCRIPT_STEPS {
        return Err(Error::invalid(
            "script",
            format!("must have 1 to {MAX_SCRIPT_STEPS} steps"),
        ));
    }
    for step in &steps {
        check_status("script.status", step.status)?;
        check_body("script.body", step.body.as_deref().unwrap_or(""))?;
        check_delay("script.delayMs", step.delay_ms.unwrap_or(0))?;
    }
    Ok(Script(steps))
}

/// A checked inbox name.
pub fn parse_name(name: String) -> Result<String> {
    if name.trim().is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(Error::invalid(
            "name",
            format!("must be 1 to {MAX_NAME_LEN} characters, not only spaces"),
        ));
    }
    Ok(name)
}

/// A checked lifetime, in seconds.
pub fn parse_expiry(seconds: i64) -> Result<Duration> {
    if !(MIN_EXPIRY_SECS..=MAX_EXPIRY_SECS).contains(&seconds) {
        return Err(Error::invalid(
            "expiresInSeconds",
            format!("must be between {MIN_EXPIRY_SECS} and {MAX_EXPIRY_SECS}"),
        ));
    }
    Ok(Duration::seconds(seconds))
}

#[derive(Clone, Debug)]
pub struct NewInbox {
    pub name: String,
    pub response: Response,
    pub script: Option<Script>,
    pub expires_in: Duration,
}

/// A PATCH: `None` leaves a part as it is; `script: Some(None)` removes the script. A
/// script given starts again from its first step.
#[derive(Clone, Debug, Default)]
pub struct InboxChanges {
    pub name: Option<String>,
    pub response: Option<Response>,
    pub script: Option<Option<Script>>,
}

/// An inbox with its token opened, for showing its URL.
#[derive(Clone, Debug)]
pub struct Inbox {
    pub model: inbox::Model,
    pub token: String,
}

impl Inbox {
    /// `{public_url}/in/{token}`.
    pub fn url(&self, ctx: &Context) -> String {
        format!("{}/in/{}", ctx.settings.public_url, self.token)
    }
}

/// A recorded body that is not text, as the API shows it.
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn open(ctx: &Context, model: inbox::Model) -> Result<Inbox> {
    let token = ctx
        .keyring
        .open(&model.token_sealed, model.id.as_str().as_bytes())?;
    let token = String::from_utf8(token).map_err(|e| Error::internal("opening an inbox token", e))?;
    Ok(Inbox { model, token })
}

/// Creates an inbox with a fresh token.
pub async fn create(ctx: &Context, tenant: &TenantId, new: NewInbox) -> Result<Inbox> {
    let mut bytes = [0u8; TOKEN_BYTES];
    crypto::random_bytes(&mut bytes)?;
    let token = hex(&bytes);
    let id = InboxId::new();
    let sealed = ctx.keyring.seal(token.as_bytes(), id.as_str().as_bytes())?;
    let now = Utc::now();
    let txn = crate::db::begin_write(ctx).await?;
    let model = inbox::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant.clone()),
        name: Set(new.name),
        token_hash: Set(token_hash(&token)),
        token_sealed: Set(sealed),
        response_status: Set(i32::from(new.response.status)),
        response_body: Set(new.response.body),
        response_delay_ms: Set(i32::try_from(new.response.delay_ms).unwrap_or(i32::MAX)),
        script: Set(new.script),
        script_cursor: Set(0),
        listened_at: Set(None),
        expires_at: Set(now + new.expires_in),
        created_at: Set(now),
    }
    .insert(&txn)
    .await
    .context("creating an inbox")?;
    txn.commit().await.context("committing an inbox")?;
    Ok(Inbox { model, token })
}

fn parse_inbox_id(id: &str) -> Result<InboxId> {
    InboxId::parse(id).map_err(|_| Error::NotFound("inbox"))
}

async fn find<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
    now: DateTime<Utc>,
) -> Result<inbox::Model> {
    inbox::Entity::find_in_tenant(tenant, parse_inbox_id(id)?)
        .filter(inbox::Column::ExpiresAt.gt(now))
        .one(conn)
        .await
        .context("loading an inbox")?
        .ok_or(Error::NotFound("inbox"))
}

/// One inbox of the tenant that has not expired.
pub async fn get(ctx: &Context, tenant: &TenantId, id: &str) -> Result<Inbox> {
    open(ctx, find(&ctx.db, tenant, id, Utc::now()).await?)
}

/// The tenant's inboxes that have not expired, newest first.
pub async fn list(ctx: &Context, tenant: &TenantId, page: &PageRequest) -> Result<Paged<Inbox>> {
    let select = inbox::Entity::for_tenant(tenant).filter(inbox::Column::ExpiresAt.gt(Utc::now()));
    let found = pagination::fetch(&ctx.db, select, inbox::Column::Id, page, |m| m.id.to_string()).await?;
    let data = found
        .data
        .iter()
        .cloned()
        .map(|m| open(ctx, m))
        .collect::<Result<Vec<_>>>()?;
    Ok(Paged {
        data,
        iterator: found.iterator,
        prev_iterator: found.prev_iterator,
        done: found.done,
    })
}

/// Changes an inbox's name, response or script.
pub async fn update(ctx: &Context, tenant: &TenantId, id: &str, changes: InboxChanges) -> Result<Inbox> {
    let txn = crate::db::begin_write(ctx).await?;
    let model = find(&txn, tenant, id, Utc::now()).await?;
    let mut active: inbox::ActiveModel = model.into();
    if let Some(name) = changes.name {
        active.name = Set(name);
    }
    if let Some(response) = changes.response {
        active.response_status = Set(i32::from(response.status));
        active.response_body = Set(response.body);
        active.response_delay_ms = Set(i32::try_from(response.delay_ms).unwrap_or(i32::MAX));
    }
    if let Some(script) = changes.script {
        active.script = Set(script);
        active.script_cursor = Set(0);
    }
    let model = active.update(&txn).await.context("changing an inbox")?;
    txn.commit().await.context("committing an inbox change")?;
    open(ctx, model)
}

/// Deletes an inbox and what it recorded.
pub async fn delete(ctx: &Context, tenant: &TenantId, id: &str) -> Result<()> {
    let txn = crate::db::begin_write(ctx).await?;
    let model = find(&txn, tenant, id, Utc::now()).await?;
    inbox_request::Entity::delete_for_tenant(tenant)
        .filter(inbox_request::Column::InboxId.eq(model.id.clone()))
        .exec(&txn)
        .await
        .context("deleting an inbox's requests")?;
    inbox::Entity::delete_for_tenant(tenant)
        .filter(inbox::Column::Id.eq(model.id))
        .exec(&txn)
        .await
        .context("deleting an inbox")?;
    txn.commit().await.context("committing an inbox deletion")?;
    Ok(())
}

/// The requests an inbox recorded, newest first unless asked otherwise.
pub async fn requests(
    ctx: &Context,
    tenant: &TenantId,
    inbox_id: &str,
    page: &PageRequest,
) -> Result<Paged<inbox_request::Model>> {
    let inbox = find(&ctx.db, tenant, inbox_id, Utc::now()).await?;
    let select =
        inbox_request::Entity::for_tenant(tenant).filter(inbox_request::Column::InboxId.eq(inbox.id));
    pagination::fetch(&ctx.db, select, inbox_request::Column::Id, page, |m| {
        m.id.to_string()
    })
    .await
}

/// One request an inbox recorded.
pub async fn request(
    ctx: &Context,
    tenant: &TenantId,
    inbox_id: &str,
    request_id: &str,
) -> Result<inbox_request::Model> {
    let inbox = find(&ctx.db, tenant, inbox_id, Utc::now()).await?;
    let id = InboxRequestId::parse(request_id).map_err(|_| Error::NotFound("inbox request"))?;
    inbox_request::Entity::find_in_tenant(tenant, id)
        .filter(inbox_request::Column::InboxId.eq(inbox.id))
        .one(&ctx.db)
        .await
        .context("loading an inbox request")?
        .ok_or(Error::NotFound("inbox request"))
}
