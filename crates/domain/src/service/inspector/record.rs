//! A request arriving at an inbox: recorded with the newest [`KEPT_REQUESTS`] of its inbox
//! kept, and answered with the inbox's response or the next step of its script.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, sea_query::Expr,
};

use super::{KEPT_REQUESTS, MAX_DELAY_MS, MAX_KEPT_BODY, token_hash};
use crate::{
    Context, DbContext, Error, Result,
    entity::{
        inbox::{self, Step},
        inbox_request::{self, Headers},
    },
    id::InboxRequestId,
    scope::TenantScoped,
};

/// A request as the HTTP server received it.
#[derive(Clone, Debug, Default)]
pub struct Incoming {
    pub method: String,
    /// The path after the token: `""` or `/…`.
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    /// The whole body; what is past [`MAX_KEPT_BODY`] is cut off when recorded.
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub source_address: Option<String>,
}

/// What to answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub delay: std::time::Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recorded {
    /// Recorded; answer this.
    Answered(Answer),
    /// Over a rate: nothing recorded.
    Limited,
    /// Recorded for `herald listen`: answer what `await_answer` gives for `request`.
    Relayed {
        tenant: crate::id::TenantId,
        request: InboxRequestId,
    },
}

impl Answer {
    fn of_step(step: &Step) -> Self {
        let delay_ms = if step.timeout {
            MAX_DELAY_MS
        } else {
            step.delay_ms.unwrap_or(0).min(MAX_DELAY_MS)
        };
        Self {
            status: step.status,
            body: step.body.clone().unwrap_or_default(),
            delay: std::time::Duration::from_millis(u64::from(delay_ms)),
        }
    }

    fn of_inbox(inbox: &inbox::Model) -> Self {
        let delay_ms = u64::try_from(inbox.response_delay_ms)
            .unwrap_or(0)
            .min(u64::from(MAX_DELAY_MS));
        Self {
            status: u16::try_from(inbox.response_status).unwrap_or(200),
            body: inbox.response_body.clone(),
            delay: std::time::Duration::from_millis(delay_ms),
        }
    }
}

/// The challenge of a `webhook.verification` request (see `service::verification`).
fn verification_challenge(body: &[u8]) -> Option<String> {
    let sent: serde_json::Value = serde_json::from_slice(body).ok()?;
    if sent["type"] != crate::service::verification::EVENT_TYPE {
        return None;
    }
    sent["data"]["challenge"].as_str().map(str::to_owned)
}

/// A token can only be 40 lower-case hex characters; anything else is unknown without a
/// look in the database.
pub(super) fn plausible(token: &str) -> bool {
    token.len() == 2 * super::TOKEN_BYTES
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Records `incoming` in the inbox whose token is `token`, if the process's inbox limits
/// let it in, and says what to answer. An unknown or expired token is `NotFound`, with
/// nothing written.
pub async fn record(ctx: &Context, token: &str, incoming: Incoming) -> Result<Recorded> {
    if !plausible(token) {
        return Err(Error::NotFound("inbox"));
    }
    let now = Utc::now();
    #[expect(
        clippy::disallowed_methods,
        reason = "a token names its inbox in any tenant: it is the credential"
    )]
    let found = inbox::Entity::find()
        .filter(inbox::Column::TokenHash.eq(token_hash(token)))
        .filter(inbox::Column::ExpiresAt.gt(now))
        .one(&ctx.db)
        .await
        .context("finding an inbox by its token")?
        .ok_or(Error::NotFound("inbox"))?;
    if !ctx.inbox_limits.admit(&found.tenant_id, &found.id) {
        ctx.metrics.inbox_request("limited");
        return Ok(Recorded::Limited);
    }
    let tenant = found.tenant_id.clone();
    // While `herald listen` polls, the request goes to it (`relay.rs`), not to the inbox's answer.
    let relayed = super::relay::listened(&found, now);
    let mut body = incoming.body;
    let truncated = body.len() > MAX_KEPT_BODY;
    body.truncate(MAX_KEPT_BODY);

    let txn = crate::db::begin_write(ctx).await?;
    // The script's next step is taken by a compare-and-set on its cursor, so two requests
    // at once never get the same step. A lost race reads the cursor again; a few are
    // plenty, since each one means another request took a step.
    let mut tries = 0;
    let mut answer = loop {
        tries += 1;
        if tries > 16 {
            return Err(Error::internal(
                "advancing an inbox's script",
                "the cursor kept moving",
            ));
        }
        // A relayed request is answered by the listener; the script waits for the next one.
        if relayed {
            break Answer::of_inbox(&found);
        }
        let inbox = inbox::Entity::find_in_tenant(&tenant, found.id.clone())
            .one(&txn)
            .await
            .context("loading an inbox")?
            .ok_or(Error::NotFound("inbox"))?;
        let cursor = inbox.script_cursor;
        let step = inbox
            .script
            .as_ref()
            .and_then(|s| s.0.get(usize::try_from(cursor).unwrap_or(usize::MAX)));
        let Some(step) = step else {
            break Answer::of_inbox(&inbox);
        };
        let moved = inbox::Entity::update_for_tenant(&tenant)
            .col_expr(inbox::Column::ScriptCursor, Expr::value(cursor + 1))
            .filter(inbox::Column::Id.eq(inbox.id.clone()))
            .filter(inbox::Column::ScriptCursor.eq(cursor))
            .exec(&txn)
            .await
            .context("advancing an inbox's script")?;
        if moved.rows_affected == 1 {
            break Answer::of_step(step);
        }
    };
    // An endpoint on an inbox verifies itself: a challenge is echoed unless the inbox was
    // told what to say (its status still counts, so a scripted failure still fails).
    if answer.body.is_empty()
        && let Some(challenge) = verification_challenge(&body)
    {
        answer.body = serde_json::json!({ "challenge": challenge }).to_string();
    }
    let id = InboxRequestId::new();
    inbox_request::ActiveModel {
        id: Set(id.clone()),
        inbox_id: Set(found.id.clone()),
        tenant_id: Set(tenant.clone()),
        method: Set(incoming.method),
        path: Set(incoming.path),
        query: Set(incoming.query),
        headers: Set(Headers(incoming.headers)),
        body: Set(body),
        truncated: Set(truncated),
        content_type: Set(incoming.content_type),
        source_address: Set(incoming.source_address),
        received_at: Set(now),
        relay_state: Set(relayed.then_some(inbox_request::RelayState::Waiting)),
        relay_status: Set(None),
        relay_body: Set(None),
    }
    .insert(&txn)
    .await
    .context("recording an inbox request")?;
    // The oldest kept is the KEPT_REQUESTS-th newest; anything older goes.
    let oldest_kept: Option<InboxRequestId> = inbox_request::Entity::for_tenant(&tenant)
        .select_only()
        .column(inbox_request::Column::Id)
        .filter(inbox_request::Column::InboxId.eq(found.id.clone()))
        .order_by_desc(inbox_request::Column::Id)
        .offset(KEPT_REQUESTS - 1)
        .limit(1)
        .into_tuple()
        .one(&txn)
        .await
        .context("finding an inbox's oldest kept request")?;
    if let Some(oldest_kept) = oldest_kept {
        inbox_request::Entity::delete_for_tenant(&tenant)
            .filter(inbox_request::Column::InboxId.eq(found.id.clone()))
            .filter(inbox_request::Column::Id.lt(oldest_kept))
            .exec(&txn)
            .await
            .context("dropping an inbox's oldest requests")?;
    }
    txn.commit().await.context("committing an inbox request")?;
    ctx.metrics.inbox_request("recorded");
    if truncated {
        ctx.metrics.inbox_request("truncated");
    }
    if relayed {
        super::relay::queued();
        return Ok(Recorded::Relayed { tenant, request: id });
    }
    Ok(Recorded::Answered(answer))
}
