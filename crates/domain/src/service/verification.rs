//! Endpoint verification: an application may require each endpoint to prove it wants the
//! traffic before any is sent. Such an endpoint, when made or when its URL changes, is
//! `pending`: a worker posts it a signed `webhook.verification` event with a random
//! challenge, and the endpoint is `verified` once it answers 2xx with the challenge in its
//! body (`{"challenge": "…"}` or the bare value). Until then its deliveries wait, neither
//! sent nor failed (`delivery::prepare` puts them off); after [`SCHEDULE`] runs out it is
//! `failed`, with the reason, until someone starts verification again. Once verified,
//! what waited is due at once.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::Expr,
};

use super::{
    audit::{self, Actor, Target},
    endpoint::{Owner, owner_app},
};
use crate::{
    Context, DbContext, Error, Result,
    crypto::{self, hex},
    entity::{
        application, destination,
        endpoint::{self, Verification},
    },
    id::{EndpointId, TenantId},
    scope::TenantScoped,
};

/// The event type of a challenge.
pub const EVENT_TYPE: &str = "webhook.verification";
/// The waits after each failed challenge; when they run out the endpoint has failed.
pub const SCHEDULE: [Duration; 5] = [
    Duration::seconds(5),
    Duration::seconds(30),
    Duration::minutes(2),
    Duration::minutes(10),
    Duration::minutes(30),
];
/// How long a worker holds a challenge it took before another may send it again.
const LEASE: Duration = Duration::seconds(90);
/// How long deliveries to an endpoint that is not verified are put off at a time
/// (verifying it makes them due at once).
pub const DELIVERIES_WAIT: Duration = Duration::hours(1);
/// Random bytes in a challenge.
const CHALLENGE_BYTES: usize = 24;

fn new_challenge() -> Result<String> {
    let mut bytes = [0u8; CHALLENGE_BYTES];
    crypto::random_bytes(&mut bytes)?;
    Ok(hex(&bytes))
}

/// Puts a new or re-addressed endpoint of `app` into verification when the application
/// asks for it: the state to store with it.
pub(crate) fn begin_if_required(
    app: &application::Model,
    active: &mut endpoint::ActiveModel,
    now: DateTime<Utc>,
) -> Result<()> {
    if app.require_endpoint_verification {
        begin(active, now)?;
    }
    Ok(())
}

fn begin(active: &mut endpoint::ActiveModel, now: DateTime<Utc>) -> Result<()> {
    active.verification = Set(Some(Verification::Pending));
    active.verification_challenge = Set(Some(new_challenge()?));
    active.verification_tries = Set(0);
    active.verification_due_at = Set(Some(now));
    active.verification_error = Set(None);
    active.verified_at = Set(None);
    Ok(())
}

/// Starts verification again from its first try, with a new challenge (the API's, the
/// dashboard's and the portal's "verify again"). Only for an application that requires
/// verification.
pub async fn restart<'a>(
    ctx: &Context,
    tenant: &TenantId,
    owner: impl Into<Owner<'a>>,
    id_or_uid: &str,
    actor: &Actor,
) -> Result<endpoint::Model> {
    let txn = crate::db::begin_write(ctx).await?;
    let app = owner_app(&txn, tenant, owner.into(), false).await?;
    let existing = super::endpoint::find(&txn, tenant, &app.id, id_or_uid).await?;
    if !app.require_endpoint_verification {
        return Err(Error::conflict(
            "this application does not require endpoint verification; turn it on first",
        ));
    }
    let mut active: endpoint::ActiveModel = existing.into();
    begin(&mut active, Utc::now())?;
    let model = active.update(&txn).await.context("restarting verification")?;
    audit::record(
        &txn,
        tenant,
        actor,
        "endpoint.verification.restart",
        Target::new("endpoint", &model.id),
        None,
    )
    .await?;
    txn.commit().await.context("committing a verification restart")?;
    Ok(model)
}

/// The application no longer requires verification: its endpoints that were waiting for
/// it stop waiting, and what waited for them is due now.
pub(crate) async fn drop_for_app<C: ConnectionTrait>(
    conn: &C,
    app: &application::Model,
    now: DateTime<Utc>,
) -> Result<()> {
    let waiting: Vec<EndpointId> = endpoint::Entity::for_tenant(&app.tenant_id)
        .select_only()
        .column(endpoint::Column::Id)
        .filter(endpoint::Column::AppId.eq(app.id.clone()))
        .filter(endpoint::Column::Verification.is_in([Verification::Pending, Verification::Failed]))
        .into_tuple()
        .all(conn)
        .await
        .context("finding endpoints waiting for verification")?;
    if waiting.is_empty() {
        return Ok(());
    }
    endpoint::Entity::update_for_tenant(&app.tenant_id)
        .col_expr(
            endpoint::Column::Verification,
            Expr::value(Option::<Verification>::None),
        )
        .col_expr(
            endpoint::Column::VerificationChallenge,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            endpoint::Column::VerificationDueAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            endpoint::Column::VerificationError,
            Expr::value(Option::<String>::None),
        )
        .filter(endpoint::Column::Id.is_in(waiting.clone()))
        .exec(conn)
        .await
        .context("dropping verification")?;
    for id in &waiting {
        release(conn, &app.tenant_id, id, now).await?;
    }
    Ok(())
}

/// Makes the deliveries that waited for `endpoint` due now.
async fn release<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    endpoint: &EndpointId,
    now: DateTime<Utc>,
) -> Result<u64> {
    let released = destination::Entity::update_for_tenant(tenant)
        .col_expr(destination::Column::NextAttemptAt, Expr::value(Some(now)))
        .col_expr(destination::Column::UpdatedAt, Expr::value(now))
        .filter(destination::Column::EndpointId.eq(endpoint.clone()))
        .filter(destination::Column::Status.eq(destination::Status::Pending))
        .filter(destination::Column::NextAttemptAt.gt(now))
        .exec(conn)
        .await
        .context("releasing deliveries that waited for verification")?;
    Ok(released.rows_affected)
}

/// A challenge to send: the endpoint as it was when taken.
#[derive(Clone, Debug)]
pub struct Challenge {
    pub endpoint: endpoint::Model,
    pub challenge: String,
}

impl Challenge {
    /// The body posted to the endpoint.
    pub fn body(&self, now: DateTime<Utc>) -> String {
        serde_json::json!({
            "type": EVENT_TYPE,
            "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "data": {"challenge": self.challenge},
        })
        .to_string()
    }

    /// Whether an answer's body carries the challenge: `{"challenge": "…"}` (at the top
    /// or under `data`), or the bare value.
    pub fn echoed_in(&self, body: &str) -> bool {
        let body = body.trim();
        if body == self.challenge || body.trim_matches('"') == self.challenge {
            return true;
        }
        let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
            return false;
        };
        [&value["challenge"], &value["data"]["challenge"]]
            .iter()
            .any(|v| v.as_str() == Some(self.challenge.as_str()))
    }
}

/// Takes up to `limit` challenges that are due, each leased to the caller so that no
/// other worker sends it meanwhile. Across tenants: this is the workers' queue.
pub async fn take_due(ctx: &Context, limit: u64, now: DateTime<Utc>) -> Result<Vec<Challenge>> {
    #[expect(
        clippy::disallowed_methods,
        reason = "the workers' queue of challenges spans every tenant"
    )]
    let due = endpoint::Entity::find()
        .filter(endpoint::Column::VerificationDueAt.lte(now))
        .filter(endpoint::Column::Verification.eq(Verification::Pending))
        .order_by_asc(endpoint::Column::VerificationDueAt)
        .limit(limit)
        .all(&ctx.db)
        .await
        .context("finding due verifications")?;
    let mut taken = Vec::with_capacity(due.len());
    for endpoint in due {
        let Some(challenge) = endpoint.verification_challenge.clone() else {
            continue;
        };
        // Taken by moving its due time past the lease, if nobody moved it first.
        let leased = endpoint::Entity::update_for_tenant(&endpoint.tenant_id)
            .col_expr(
                endpoint::Column::VerificationDueAt,
                Expr::value(Some(now + LEASE)),
            )
            .filter(endpoint::Column::Id.eq(endpoint.id.clone()))
            .filter(endpoint::Column::VerificationDueAt.eq(endpoint.verification_due_at))
            .filter(endpoint::Column::VerificationChallenge.eq(challenge.clone()))
            .exec(&ctx.db)
            .await
            .context("taking a verification")?;
        if leased.rows_affected == 1 {
            taken.push(Challenge { endpoint, challenge });
        }
    }
    Ok(taken)
}

/// How a challenge went: `None` when the endpoint echoed it, else why not.
pub async fn settle(
    ctx: &Context,
    challenge: &Challenge,
    failure: Option<String>,
    now: DateTime<Utc>,
) -> Result<Verification> {
    let endpoint = &challenge.endpoint;
    let tenant = &endpoint.tenant_id;
    let tries = endpoint.verification_tries + 1;
    let txn = crate::db::begin_write(ctx).await?;
    let mut update = endpoint::Entity::update_for_tenant(tenant)
        .col_expr(endpoint::Column::VerificationTries, Expr::value(tries))
        .col_expr(endpoint::Column::UpdatedAt, Expr::value(now));
    let state = match &failure {
        None => {
            update = update
                .col_expr(
                    endpoint::Column::Verification,
                    Expr::value(Verification::Verified),
                )
                .col_expr(
                    endpoint::Column::VerificationDueAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(
                    endpoint::Column::VerificationError,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(endpoint::Column::VerifiedAt, Expr::value(Some(now)));
            Verification::Verified
        }
        Some(why) => {
            let next = usize::try_from(tries - 1)
                .ok()
                .and_then(|i| SCHEDULE.get(i))
                .map(|wait| now + *wait);
            update = update
                .col_expr(endpoint::Column::VerificationDueAt, Expr::value(next))
                .col_expr(
                    endpoint::Column::VerificationError,
                    Expr::value(Some(why.clone())),
                );
            if next.is_none() {
                update = update.col_expr(endpoint::Column::Verification, Expr::value(Verification::Failed));
                Verification::Failed
            } else {
                Verification::Pending
            }
        }
    };
    // Only the challenge that was sent: a restart meanwhile made a new one.
    let moved = update
        .filter(endpoint::Column::Id.eq(endpoint.id.clone()))
        .filter(endpoint::Column::Verification.eq(Verification::Pending))
        .filter(endpoint::Column::VerificationChallenge.eq(challenge.challenge.clone()))
        .exec(&txn)
        .await
        .context("recording a verification")?;
    if moved.rows_affected == 0 {
        return Ok(Verification::Pending);
    }
    let released = if state == Verification::Verified {
        release(&txn, tenant, &endpoint.id, now).await?
    } else {
        0
    };
    txn.commit().await.context("committing a verification")?;
    if released > 0 {
        ctx.dispatch.wake(now);
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_counts_as_echoed_bare_or_in_json_only() {
        let challenge = Challenge {
            endpoint: endpoint_model(),
            challenge: "abc123".to_owned(),
        };
        for echoed in [
            "abc123",
            " abc123\n",
            "\"abc123\"",
            r#"{"challenge": "abc123"}"#,
            r#"{"data": {"challenge": "abc123"}}"#,
        ] {
            assert!(challenge.echoed_in(echoed), "{echoed}");
        }
        for not in [
            "",
            "ok",
            "abc12",
            r#"{"challenge": "abc"}"#,
            r#"{"x": "abc123"}"#,
            "abc123abc123",
        ] {
            assert!(!challenge.echoed_in(not), "{not}");
        }
        let body: serde_json::Value = serde_json::from_str(&challenge.body(Utc::now())).unwrap();
        assert_eq!(body["type"], EVENT_TYPE);
        assert_eq!(body["data"]["challenge"], "abc123");
    }

    fn endpoint_model() -> endpoint::Model {
        let now = Utc::now();
        endpoint::Model {
            id: EndpointId::new(),
            tenant_id: TenantId::new(),
            app_id: crate::id::AppId::new(),
            uid: None,
            url: "https://example.com".into(),
            description: String::new(),
            disabled: false,
            disabled_reason: None,
            filter_types: None,
            channels: None,
            rate_limit: None,
            timeout_secs: None,
            retry_schedule: None,
            headers: Default::default(),
            metadata: Default::default(),
            failing_since: None,
            created_at: now,
            updated_at: now,
            ordered: None,
            access: None,
            credentials: None,
            filter: None,
            transformation: None,
            verification: Some(Verification::Pending),
            verification_challenge: Some("abc123".into()),
            verification_tries: 0,
            verification_due_at: Some(now),
            verification_error: None,
            verified_at: None,
        }
    }
}
