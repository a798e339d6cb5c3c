//! Trying again: one message to one endpoint ([`resend`]), or every failed delivery to an
//! endpoint in a window ([`recover`]). A resend is a manual, single try; it does not
//! restart the retry schedule.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, QueryFilter, Set};

use crate::{
    Context, DbContext, Error, Result,
    entity::{destination, destination::Trigger},
    id::{AppId, DestinationId, TenantId},
    scope::TenantScoped,
    service::{
        audit::{self, Actor, Target},
        endpoint as endpoints, message as messages, task,
    },
};

/// Queues one more try of `message` to `endpoint`, now. The delivery engine makes it a
/// manual, single try; it does not restart the retry schedule.
pub async fn resend(
    ctx: &Context,
    tenant: &TenantId,
    app: &AppId,
    message_id: &str,
    endpoint_id: &str,
    actor: &Actor,
) -> Result<destination::Model> {
    let txn = crate::db::begin_write(ctx).await?;
    let message = messages::find(&txn, tenant, app, message_id).await?;
    let endpoint = endpoints::find(&txn, tenant, app, endpoint_id).await?;
    if message.payload.is_none() {
        return Err(Error::rejected(
            "the message's payload has expired; it cannot be sent again",
        ));
    }
    let now = Utc::now();
    let existing = destination::Entity::for_tenant(tenant)
        .filter(destination::Column::MessageId.eq(message.id.clone()))
        .filter(destination::Column::EndpointId.eq(endpoint.id.clone()))
        .one(&txn)
        .await
        .context("loading a destination")?;
    let dest = match existing {
        Some(dest) => {
            let mut active: destination::ActiveModel = dest.into();
            active.status = Set(destination::Status::Pending);
            active.next_attempt_at = Set(Some(now));
            active.next_trigger = Set(Trigger::Manual);
            active.updated_at = Set(now);
            active.update(&*txn).await.context("queueing a resend")?
        }
        None => destination::ActiveModel {
            id: Set(DestinationId::new()),
            tenant_id: Set(tenant.clone()),
            app_id: Set(app.clone()),
            message_id: Set(message.id.clone()),
            endpoint_id: Set(endpoint.id.clone()),
            status: Set(destination::Status::Pending),
            attempt_count: Set(0),
            next_attempt_at: Set(Some(now)),
            last_attempt_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            next_trigger: Set(Trigger::Manual),
            paced: Set(endpoint.paced()),
        }
        .insert(&*txn)
        .await
        .context("queueing a resend")?,
    };
    let details = serde_json::json!({ "endpoint": endpoint.id });
    audit::record(
        &txn,
        tenant,
        actor,
        "message.resend",
        Target::new("message", &message.id),
        Some(details),
    )
    .await?;
    txn.commit().await.context("committing a resend")?;
    ctx.dispatch.wake(now);
    Ok(dest)
}

/// Queues one more try for every failed delivery to `endpoint` made in `[since, until)`
/// and waits until they are queued. Returns how many were queued. The work is a
/// persisted `endpoint.recover` task (see [`task`]), run by the caller; to leave
/// it to the workers, use [`task::recover`].
pub async fn recover(
    ctx: &Context,
    tenant: &TenantId,
    app: &AppId,
    endpoint_id: &str,
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    actor: &Actor,
) -> Result<usize> {
    let window = task::Window::parse(since, until)?;
    let done = task::recover_now(ctx, tenant, app.as_str(), endpoint_id, window, actor).await?;
    Ok(usize::try_from(done.data.messages_sent.unwrap_or(0)).unwrap_or(usize::MAX))
}
