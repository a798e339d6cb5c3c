//! `herald listen`: an inbox's requests relayed to a developer's machine and answered with
//! what its local server said. Everything passes through the database, so the process a
//! request arrives at, the one a listener polls and the one its answer reaches may differ.
//!
//! A listener polls ([`listen`]); each poll stamps `inbox.listened_at`, and while that is
//! recent a request arriving is recorded as `waiting` rather than answered by the inbox
//! (`record`). A poll only says which requests wait; the listener then takes each one
//! ([`claim`]: a compare-and-set from `waiting` to `forwarding`, so two listeners never both
//! get one). Taking is a call of its own because a held poll outlives a listener that went
//! away (the HTTP server, or a proxy before it, keeps waiting for it): such a poll must not
//! take anything nobody will forward. The listener posts the local answer ([`answer`]),
//! which the request's own HTTP handler is waiting for ([`await_answer`]) until
//! [`RELAY_WAIT`] has passed. Wake-ups inside one process are immediate; between processes
//! a short poll of the row stands in for them.

use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr};
use tokio::sync::Notify;

use super::{Answer, MAX_DELAY_MS, check_body, record::plausible, token_hash};
use crate::{
    Context, DbContext, Error, Result,
    entity::{
        inbox,
        inbox_request::{self, RelayState},
    },
    id::{InboxRequestId, TenantId},
    scope::TenantScoped,
};

/// How long a request's sender waits for the listener's answer: the longest an inbox
/// ever holds a request.
pub const RELAY_WAIT: Duration = Duration::from_millis(MAX_DELAY_MS as u64);
/// The longest one poll of a listener is held open when nothing arrives.
pub const MAX_LISTEN_WAIT: Duration = Duration::from_secs(20);
/// The statuses a listener may answer with: whatever a local server can say.
const MIN_RELAY_STATUS: u16 = 100;
const MAX_RELAY_STATUS: u16 = 599;
/// A listener counts as there this long after a poll of its started. Longer than a held
/// poll and [`STAMP_EVERY`] together, so the moment between two polls does not send a
/// request to the inbox's own answer; a listener gone (Ctrl-C) stops counting as soon.
const LISTENER_GONE_AFTER: chrono::TimeDelta = chrono::TimeDelta::seconds(30);
/// `listened_at` is written at most this often per inbox, not on every look.
const STAMP_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(5);
/// How often a held poll looks for waiting requests another process recorded.
const LISTEN_POLL: Duration = Duration::from_millis(250);
/// How often a waiting sender looks for an answer another process received.
const ANSWER_POLL: Duration = Duration::from_millis(100);
/// The most requests one poll names.
const MAX_LISTED: u64 = 50;

/// Wakes the held polls of this process: a request is waiting.
static WAITING: Notify = Notify::const_new();
/// Wakes the waiting senders of this process: an answer came.
static ANSWERED: Notify = Notify::const_new();

/// Whether requests to `inbox` go to a listener now.
pub(super) fn listened(inbox: &inbox::Model, now: chrono::DateTime<Utc>) -> bool {
    inbox.listened_at.is_some_and(|at| now - at < LISTENER_GONE_AFTER)
}

/// Tells this process's held polls that a request was recorded as waiting (after its
/// commit).
pub(super) fn queued() {
    WAITING.notify_waiters();
}

async fn by_token(ctx: &Context, token: &str) -> Result<inbox::Model> {
    if !plausible(token) {
        return Err(Error::NotFound("inbox"));
    }
    #[expect(
        clippy::disallowed_methods,
        reason = "a token names its inbox in any tenant: it is the credential"
    )]
    let found = inbox::Entity::find()
        .filter(inbox::Column::TokenHash.eq(token_hash(token)))
        .filter(inbox::Column::ExpiresAt.gt(Utc::now()))
        .one(&ctx.db)
        .await
        .context("finding an inbox by its token")?;
    found.ok_or(Error::NotFound("inbox"))
}

/// The requests waiting for a listener of the inbox whose token is `token`, oldest first,
/// for it to [`claim`]. When none is waiting the poll is held up to `wait` (at most
/// [`MAX_LISTEN_WAIT`]) and ends as soon as one arrives; empty when none did. An unknown or
/// expired token is `NotFound`.
pub async fn listen(ctx: &Context, token: &str, wait: Duration) -> Result<Vec<InboxRequestId>> {
    let inbox = by_token(ctx, token).await?;
    let deadline = Instant::now() + wait.min(MAX_LISTEN_WAIT);
    // Only when the poll starts: a held poll may have lost its listener already.
    let now = Utc::now();
    if inbox.listened_at.is_none_or(|at| now - at >= STAMP_EVERY) {
        stamp(ctx, &inbox, now).await?;
    }
    loop {
        // Registered before looking, so a request queued in between still wakes this poll.
        let woken = WAITING.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let waiting = waiting(ctx, &inbox).await?;
        if !waiting.is_empty() {
            return Ok(waiting);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Vec::new());
        }
        tokio::select! {
            () = &mut woken => {}
            () = tokio::time::sleep(LISTEN_POLL.min(left)) => {}
        }
    }
}

async fn stamp(ctx: &Context, inbox: &inbox::Model, now: chrono::DateTime<Utc>) -> Result<()> {
    let txn = crate::db::begin_write(ctx).await?;
    inbox::Entity::update_for_tenant(&inbox.tenant_id)
        .col_expr(inbox::Column::ListenedAt, Expr::value(Some(now)))
        .filter(inbox::Column::Id.eq(inbox.id.clone()))
        .exec(&txn)
        .await
        .context("noting an inbox's listener")?;
    txn.commit().await.context("committing an inbox's listener")?;
    Ok(())
}

/// The requests of `inbox` waiting for a listener. Those whose sender has given up are
/// left out.
async fn waiting(ctx: &Context, inbox: &inbox::Model) -> Result<Vec<InboxRequestId>> {
    inbox_request::Entity::for_tenant(&inbox.tenant_id)
        .select_only()
        .column(inbox_request::Column::Id)
        .filter(inbox_request::Column::InboxId.eq(inbox.id.clone()))
        .filter(inbox_request::Column::RelayState.eq(RelayState::Waiting))
        .filter(inbox_request::Column::ReceivedAt.gt(Utc::now() - RELAY_WAIT))
        .order_by_asc(inbox_request::Column::Id)
        .limit(MAX_LISTED)
        .into_tuple()
        .all(&ctx.db)
        .await
        .context("finding an inbox's waiting requests")
}

/// Takes a request [`listen`] named for the caller to forward: the request, now
/// `forwarding`. A request another listener took first, or whose sender stopped waiting,
/// is a `Conflict`; one that is not the inbox's is `NotFound`.
pub async fn claim(ctx: &Context, token: &str, request_id: &str) -> Result<inbox_request::Model> {
    let inbox = by_token(ctx, token).await?;
    let id = InboxRequestId::parse(request_id).map_err(|_| Error::NotFound("inbox request"))?;
    let txn = crate::db::begin_write(ctx).await?;
    let moved = inbox_request::Entity::update_for_tenant(&inbox.tenant_id)
        .col_expr(
            inbox_request::Column::RelayState,
            Expr::value(RelayState::Forwarding),
        )
        .filter(inbox_request::Column::Id.eq(id.clone()))
        .filter(inbox_request::Column::InboxId.eq(inbox.id.clone()))
        .filter(inbox_request::Column::RelayState.eq(RelayState::Waiting))
        .filter(inbox_request::Column::ReceivedAt.gt(Utc::now() - RELAY_WAIT))
        .exec(&txn)
        .await
        .context("taking a waiting request")?;
    let found = inbox_request::Entity::find_in_tenant(&inbox.tenant_id, id)
        .filter(inbox_request::Column::InboxId.eq(inbox.id))
        .one(&txn)
        .await
        .context("loading a relayed request")?
        .ok_or(Error::NotFound("inbox request"))?;
    txn.commit().await.context("committing a taken request")?;
    if moved.rows_affected == 1 {
        return Ok(found);
    }
    Err(Error::conflict(match found.relay_state {
        Some(RelayState::Forwarding | RelayState::Answered) => {
            "another listener took this request".to_owned()
        }
        Some(RelayState::Waiting | RelayState::Expired) => expired(),
        None => NOT_RELAYED.to_owned(),
    }))
}

const NOT_RELAYED: &str = "this request was not relayed: the inbox answered it itself";

fn expired() -> String {
    format!(
        "too late: the request's sender stopped waiting after {} s and was answered 504",
        RELAY_WAIT.as_secs()
    )
}

/// The local server's answer to a request a listener took ([`claim`]): `status` and `body`
/// are what the request's sender gets. Only the listener's inbox's requests in `forwarding`
/// can be answered, and only once; an answer that comes after the sender stopped waiting is a
/// `Conflict` that says so.
pub async fn answer(ctx: &Context, token: &str, request_id: &str, status: u16, body: String) -> Result<()> {
    let inbox = by_token(ctx, token).await?;
    let id = InboxRequestId::parse(request_id).map_err(|_| Error::NotFound("inbox request"))?;
    if !(MIN_RELAY_STATUS..=MAX_RELAY_STATUS).contains(&status) {
        return Err(Error::invalid(
            "status",
            format!("must be between {MIN_RELAY_STATUS} and {MAX_RELAY_STATUS}"),
        ));
    }
    check_body("body", &body)?;
    let txn = crate::db::begin_write(ctx).await?;
    let moved = inbox_request::Entity::update_for_tenant(&inbox.tenant_id)
        .col_expr(
            inbox_request::Column::RelayState,
            Expr::value(RelayState::Answered),
        )
        .col_expr(
            inbox_request::Column::RelayStatus,
            Expr::value(Some(i32::from(status))),
        )
        .col_expr(inbox_request::Column::RelayBody, Expr::value(Some(body)))
        .filter(inbox_request::Column::Id.eq(id.clone()))
        .filter(inbox_request::Column::InboxId.eq(inbox.id.clone()))
        .filter(inbox_request::Column::RelayState.eq(RelayState::Forwarding))
        .exec(&txn)
        .await
        .context("answering a relayed request")?;
    txn.commit().await.context("committing a relayed answer")?;
    if moved.rows_affected == 1 {
        ctx.metrics.inbox_request("relayed");
        ANSWERED.notify_waiters();
        return Ok(());
    }
    let found = inbox_request::Entity::find_in_tenant(&inbox.tenant_id, id)
        .filter(inbox_request::Column::InboxId.eq(inbox.id))
        .one(&ctx.db)
        .await
        .context("loading a relayed request")?
        .ok_or(Error::NotFound("inbox request"))?;
    Err(Error::conflict(match found.relay_state {
        Some(RelayState::Answered) => "this request has been answered already".to_owned(),
        Some(RelayState::Expired) => expired(),
        Some(RelayState::Waiting | RelayState::Forwarding) => {
            "this request had not been taken by a listener: claim it first".to_owned()
        }
        None => NOT_RELAYED.to_owned(),
    }))
}

/// What the sender of relayed request `request` is to be answered: the listener's answer
/// as soon as it comes, or `None` if none came by `deadline` (the request then expires, and
/// a later answer is refused) or the request is gone.
pub async fn await_answer(
    ctx: &Context,
    tenant: &TenantId,
    request: &InboxRequestId,
    deadline: Instant,
) -> Result<Option<Answer>> {
    loop {
        let woken = ANSWERED.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let Some(found) = load(ctx, tenant, request).await? else {
            return Ok(None);
        };
        if let Some(answer) = answered(&found) {
            return Ok(Some(answer));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        tokio::select! {
            () = &mut woken => {}
            () = tokio::time::sleep(ANSWER_POLL.min(left)) => {}
        }
    }
    let txn = crate::db::begin_write(ctx).await?;
    let moved = inbox_request::Entity::update_for_tenant(tenant)
        .col_expr(
            inbox_request::Column::RelayState,
            Expr::value(RelayState::Expired),
        )
        .filter(inbox_request::Column::Id.eq(request.clone()))
        .filter(inbox_request::Column::RelayState.is_in([RelayState::Waiting, RelayState::Forwarding]))
        .exec(&txn)
        .await
        .context("expiring a relayed request")?;
    txn.commit().await.context("committing an expired relay")?;
    if moved.rows_affected == 0 {
        // The answer came between the last look and the expiry.
        if let Some(found) = load(ctx, tenant, request).await? {
            return Ok(answered(&found));
        }
        return Ok(None);
    }
    ctx.metrics.inbox_request("relay_expired");
    Ok(None)
}

async fn load(
    ctx: &Context,
    tenant: &TenantId,
    request: &InboxRequestId,
) -> Result<Option<inbox_request::Model>> {
    inbox_request::Entity::find_in_tenant(tenant, request.clone())
        .one(&ctx.db)
        .await
        .context("loading a relayed request")
}

fn answered(request: &inbox_request::Model) -> Option<Answer> {
    if request.relay_state != Some(RelayState::Answered) {
        return None;
    }
    Some(Answer {
        status: request
            .relay_status
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(502),
        body: request.relay_body.clone().unwrap_or_default(),
        delay: Duration::ZERO,
    })
}
