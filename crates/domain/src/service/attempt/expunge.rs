//! Erasing what was sent and answered, for good: a message's payload (one, or many named
//! at once) with the bodies its tries sent, or one try's response. The log of tries stays.

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, QueryFilter, Set, sea_query::Expr};

use super::get;
use crate::{
    Context, DbContext, Error, Result,
    entity::{attempt, message},
    id::{AppId, MessageId, TenantId},
    scope::TenantScoped,
    service::audit::{self, Actor, Target},
};

/// What an expunged response body reads as, as on Svix.
pub const EXPUNGED: &str = "EXPUNGED";

/// Erases a message's payload (and the transformed bodies its tries sent), for good: the
/// API shows it as expired, its pending deliveries stop, and it can no longer be resent.
/// The log of its tries stays.
pub async fn expunge_message(
    ctx: &Context,
    tenant: &TenantId,
    message: &message::Model,
    actor: &Actor,
) -> Result<()> {
    let txn = crate::db::begin_write(ctx).await?;
    erase_payloads(&txn, tenant, std::slice::from_ref(&message.id)).await?;
    audit::record(
        &txn,
        tenant,
        actor,
        "message.expunge",
        Target::new("message", &message.id),
        None,
    )
    .await?;
    txn.commit().await.context("expunging a payload")
}

/// Erases the payloads of these messages and the transformed bodies their tries sent, in
/// the caller's transaction. Returns how many payloads there were to erase.
pub(crate) async fn erase_payloads<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    ids: &[MessageId],
) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let erased = message::Entity::update_for_tenant(tenant)
        .col_expr(
            message::Column::Payload,
            Expr::value(sea_orm::Value::String(None)),
        )
        .filter(message::Column::Id.is_in(ids.iter().cloned()))
        .filter(message::Column::Payload.is_not_null())
        .exec(conn)
        .await
        .context("expunging payloads")?;
    attempt::Entity::update_for_tenant(tenant)
        .col_expr(attempt::Column::Request, Expr::value(sea_orm::Value::Json(None)))
        .filter(attempt::Column::MessageId.is_in(ids.iter().cloned()))
        .exec(conn)
        .await
        .context("expunging sent bodies")?;
    Ok(erased.rows_affected)
}

/// Svix's `bulk-expunge`: erases the payloads of the application's messages named by id or
/// `eventId`, as [`expunge_message`] does one, in one transaction. Says for each name
/// whether it named a message (`true`) or nothing (`false`).
pub async fn expunge_messages(
    ctx: &Context,
    tenant: &TenantId,
    app: &AppId,
    names: &[String],
    actor: &Actor,
) -> Result<Vec<(String, bool)>> {
    for (i, name) in names.iter().enumerate() {
        crate::values::check_identifier("ids", name, 256).map_err(|e| e.at(format!("ids.{i}")))?;
        if names[..i].contains(name) {
            return Err(Error::invalid(
                format!("ids.{i}"),
                format!("`{name}` is listed twice"),
            ));
        }
    }
    let txn = crate::db::begin_write(ctx).await?;
    let mut results = Vec::with_capacity(names.len());
    let mut expunged = 0u64;
    // Chunks keep each statement under the databases' bound-parameter limits.
    for chunk in names.chunks(500) {
        let (ids, event_ids): (Vec<&String>, Vec<&String>) =
            chunk.iter().partition(|name| MessageId::parse(name).is_ok());
        let found = message::Entity::for_tenant(tenant)
            .filter(message::Column::AppId.eq(app.clone()))
            .filter(
                sea_orm::Condition::any()
                    .add(message::Column::Id.is_in(ids.iter().filter_map(|id| MessageId::parse(id).ok())))
                    .add(message::Column::EventId.is_in(event_ids.into_iter().cloned())),
            )
            .all(&txn)
            .await
            .context("loading messages to expunge")?;
        let named = |name: &String| {
            found.iter().find(|m| match MessageId::parse(name) {
                Ok(id) => m.id == id,
                Err(_) => m.event_id.as_ref() == Some(name),
            })
        };
        let mut hit = Vec::new();
        for name in chunk {
            let message = named(name);
            results.push((name.clone(), message.is_some()));
            hit.extend(message.map(|m| m.id.clone()));
        }
        expunged += erase_payloads(&txn, tenant, &hit).await?;
    }
    let found = results.iter().filter(|(_, found)| *found).count();
    audit::record(
        &txn,
        tenant,
        actor,
        "message.bulk_expunge",
        Target::new("application", app),
        Some(serde_json::json!({ "named": names.len(), "found": found, "expunged": expunged })),
    )
    .await?;
    txn.commit().await.context("expunging payloads")?;
    Ok(results)
}

/// Erases what the receiver answered to one try (and the body the try sent, if a
/// transformation shaped it); the try stays in the log, its response reading `EXPUNGED`.
pub async fn expunge_response(
    ctx: &Context,
    tenant: &TenantId,
    message: &message::Model,
    attempt_id: &str,
    actor: &Actor,
) -> Result<()> {
    let txn = crate::db::begin_write(ctx).await?;
    let found = get(&txn, tenant, message, attempt_id).await?;
    let mut active: attempt::ActiveModel = found.into();
    active.response_body = Set(Some(EXPUNGED.to_owned()));
    active.request = Set(None);
    let updated = active.update(&txn).await.context("expunging a response")?;
    audit::record(
        &txn,
        tenant,
        actor,
        "attempt.expunge",
        Target::new("attempt", &updated.id),
        None,
    )
    .await?;
    txn.commit().await.context("expunging a response")
}
