//! One delivery try, as the domain sees it: what to send, and what a try's outcome does to
//! the destination (success, a retry at the schedule's next delay, or failure).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration as StdDuration, Instant},
};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, QueryFilter, Set};

use super::{
    endpoint_secret,
    operational::{self, Event, FAILING_AFTER_TRIES, LastAttempt},
};
use crate::{
    Context, DbContext, Error, Result,
    entity::{attempt, destination, endpoint, message},
    id::{AttemptId, EndpointId, TenantId},
    queue::{DeliveryJob, Trigger},
    scope::TenantScoped,
    signing::SigningSecret,
};

/// The default retry schedule: delays after the first try (so 8 tries in all).
pub const DEFAULT_SCHEDULE: &[u32] = &[5, 300, 1800, 7200, 18000, 36000, 36000];
/// A `Retry-After` longer than this is cut to it.
pub const MAX_RETRY_AFTER: Duration = Duration::hours(6);
/// An endpoint that has failed every try for this long is disabled, unless configured.
pub const DEFAULT_DISABLE_AFTER: Duration = Duration::days(5);
/// Response bodies are kept up to this many bytes.
pub const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// Parses a schedule like `5s,5m,30m,2h,5h,10h,10h` (plain numbers are seconds).
pub fn parse_schedule(value: &str) -> Result<Vec<u32>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (digits, unit) =
                item.split_at(item.find(|c: char| !c.is_ascii_digit()).unwrap_or(item.len()));
            let n: u32 = digits.parse().map_err(|_| {
                Error::invalid(
                    "retry_schedule",
                    format!("`{item}` is not a delay like 30s, 5m or 2h"),
                )
            })?;
            let factor = match unit {
                "" | "s" => 1,
                "m" => 60,
                "h" => 3600,
                "d" => 86400,
                _ => {
                    return Err(Error::invalid(
                        "retry_schedule",
                        format!("`{item}`: use s, m, h or d"),
                    ));
                }
            };
            n.checked_mul(factor)
                .ok_or_else(|| Error::invalid("retry_schedule", format!("`{item}` is too long")))
        })
        .collect()
}

/// Parses one period like `5d`, `12h` or `90s` (a plain number is seconds).
pub fn parse_period(field: &'static str, value: &str) -> Result<Duration> {
    match parse_schedule(value).map_err(|e| e.at(field))?.as_slice() {
        [seconds] if *seconds > 0 => Ok(Duration::seconds(i64::from(*seconds))),
        _ => Err(Error::invalid(
            field,
            format!("`{value}` is not one period like 5d, 12h or 90s"),
        )),
    }
}

/// Everything one try needs.
#[derive(Clone, Debug)]
pub struct Plan {
    pub destination: destination::Model,
    pub message: message::Model,
    pub endpoint: endpoint::Model,
    pub keys: Vec<SigningSecret>,
}

/// What a job should do.
#[derive(Debug)]
pub enum Next {
    Send(Box<Plan>),
    /// Nothing to do: the destination is gone, done, or past this try.
    Skip(&'static str),
}

/// A worker's short-lived copy of endpoints and their opened keys, so that a burst of
/// deliveries to one endpoint does not load and decrypt them once per delivery. An entry
/// lives `ttl` (a change made through the API reaches deliveries that much later at
/// most); the worker forgets an endpoint at once when a try fails or changes it.
pub struct EndpointCache {
    ttl: StdDuration,
    entries: Mutex<HashMap<EndpointId, (Instant, Arc<CachedEndpoint>)>>,
}

type CachedEndpoint = (endpoint::Model, Vec<SigningSecret>);

/// Entries beyond this many make the cache drop its stale ones.
const CACHE_SWEEP_AT: usize = 10_000;

impl EndpointCache {
    pub fn new(ttl: StdDuration) -> Self {
        Self {
            ttl,
            entries: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<EndpointId, (Instant, Arc<CachedEndpoint>)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, id: &EndpointId) -> Option<Arc<CachedEndpoint>> {
        let entries = self.lock();
        let (at, entry) = entries.get(id)?;
        (at.elapsed() < self.ttl).then(|| entry.clone())
    }

    fn put(&self, id: EndpointId, entry: Arc<CachedEndpoint>) {
        let mut entries = self.lock();
        if entries.len() >= CACHE_SWEEP_AT {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
        }
        entries.insert(id, (Instant::now(), entry));
    }

    /// Drops `id`, so the next delivery to it reads it afresh.
    pub fn forget(&self, id: &EndpointId) {
        self.lock().remove(id);
    }

    async fn load(
        &self,
        ctx: &Context,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<Option<Arc<CachedEndpoint>>> {
        if let Some(hit) = self.get(id)
            && &hit.0.tenant_id == tenant
        {
            return Ok(Some(hit));
        }
        let Some(endpoint) = endpoint::Entity::find_in_tenant(tenant, id.clone())
            .one(&ctx.db)
            .await
            .context("loading an endpoint")?
        else {
            return Ok(None);
        };
        let keys = endpoint_secret::live_keys(ctx, &ctx.db, tenant, id, Utc::now()).await?;
        let entry = Arc::new((endpoint, keys));
        if !self.ttl.is_zero() {
            self.put(id.clone(), entry.clone());
        }
        Ok(Some(entry))
    }
}

/// Loads what `job` is to send, or says why there is nothing to do: the destination with
/// its message in one query, the endpoint and its keys through `cache`.
pub async fn plan(ctx: &Context, cache: &EndpointCache, job: &DeliveryJob) -> Result<Next> {
    let tenant = &job.tenant;
    let Some((dest, message)) = destination::Entity::find_in_tenant(tenant, job.destination.clone())
        .find_also_related(message::Entity)
        .one(&ctx.db)
        .await
        .context("loading a destination")?
    else {
        return Ok(Next::Skip("the destination no longer exists"));
    };
    if dest.attempt_count + 1 != job.attempt {
        return Ok(Next::Skip("a newer try of this destination already ran"));
    }
    if job.trigger == Trigger::Scheduled && dest.status != destination::Status::Pending {
        return Ok(Next::Skip("the destination is no longer pending"));
    }
    let Some(message) = message.filter(|m| &m.tenant_id == tenant) else {
        return Ok(Next::Skip("the message no longer exists"));
    };
    let Some(cached) = cache.load(ctx, tenant, &dest.endpoint_id).await? else {
        return Ok(Next::Skip("the endpoint no longer exists"));
    };
    let (endpoint, keys) = (&cached.0, &cached.1);
    if endpoint.disabled && job.trigger == Trigger::Scheduled {
        // Nothing more goes to a disabled endpoint on schedule; the delivery has failed.
        fail_untried(ctx, tenant, &dest).await?;
        return Ok(Next::Skip("the endpoint is disabled"));
    }
    if message.payload.is_none() {
        // Retention erased the payload before the delivery succeeded: nothing to send.
        fail_untried(ctx, tenant, &dest).await?;
        return Ok(Next::Skip("the payload has expired"));
    }
    Ok(Next::Send(Box::new(Plan {
        destination: dest,
        message,
        endpoint: endpoint.clone(),
        keys: keys.clone(),
    })))
}

/// Marks a destination failed without a try, if it still is where the job found it.
async fn fail_untried(ctx: &Context, tenant: &TenantId, dest: &destination::Model) -> Result<()> {
    destination::Entity::update_for_tenant(tenant)
        .col_expr(
            destination::Column::Status,
            sea_orm::sea_query::Expr::value(destination::Status::Fail),
        )
        .col_expr(
            destination::Column::NextAttemptAt,
            sea_orm::sea_query::Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            destination::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(destination::Column::Id.eq(dest.id.clone()))
        .filter(destination::Column::AttemptCount.eq(dest.attempt_count))
        .exec(&ctx.db)
        .await
        .context("failing a delivery without a try")?;
    Ok(())
}

/// How a try went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub url: String,
    pub response_status: Option<u16>,
    pub response_body: Option<String>,
    pub duration: StdDuration,
    /// `None` for a 2xx; otherwise the class and a sentence for the log.
    pub error: Option<(attempt::ErrorKind, String)>,
    pub retry_after: Option<StdDuration>,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

/// ±20 % around `delay`, from `random` in 0..=u32::MAX.
pub fn jitter(delay: StdDuration, random: u32) -> StdDuration {
    let factor = 0.8 + 0.4 * (f64::from(random) / f64::from(u32::MAX));
    delay.mul_f64(factor)
}

/// When the next try after `tries_so_far` failed tries should run, if any.
pub fn next_try(
    schedule: &[u32],
    tries_so_far: usize,
    retry_after: Option<StdDuration>,
    now: DateTime<Utc>,
    random: u32,
) -> Option<DateTime<Utc>> {
    let base = *schedule.get(tries_so_far.checked_sub(1)?)?;
    let mut delay = jitter(StdDuration::from_secs(u64::from(base)), random);
    if let Some(asked) = retry_after {
        let cap = MAX_RETRY_AFTER.to_std().unwrap_or(asked);
        delay = delay.max(asked.min(cap));
    }
    Some(now + Duration::from_std(delay).unwrap_or(Duration::zero()))
}

/// How failures are handled.
#[derive(Clone, Copy, Debug)]
pub struct Policy<'a> {
    /// Delays in seconds between tries, after the first.
    pub schedule: &'a [u32],
    /// An endpoint that has failed every try for this long is disabled.
    pub disable_after: Duration,
}

/// Records a try, in one transaction: the attempt row; the destination's new state; the
/// endpoint's failing-since mark; the endpoint disabled on `410 Gone` or after failing
/// for `policy.disable_after`; the operational events this causes; the next try's job.
/// Returns that job, if there is one.
pub async fn record(
    ctx: &Context,
    tenant: &TenantId,
    plan: &Plan,
    trigger: Trigger,
    outcome: &Outcome,
    policy: Policy<'_>,
) -> Result<Option<DeliveryJob>> {
    let schedule = policy.schedule;
    let now = Utc::now();
    let number = plan.destination.attempt_count + 1;
    let gone = outcome.response_status == Some(410);
    let random = {
        let mut b = [0u8; 4];
        crate::crypto::random_bytes(&mut b)?;
        u32::from_le_bytes(b)
    };
    let next_at = match (outcome.succeeded(), trigger, gone) {
        (false, Trigger::Scheduled, false) => {
            next_try(schedule, number as usize, outcome.retry_after, now, random)
        }
        _ => None,
    };
    let status = match (outcome.succeeded(), next_at) {
        (true, _) => destination::Status::Success,
        (false, Some(_)) => destination::Status::Pending,
        (false, None) => destination::Status::Fail,
    };
    let txn = crate::db::begin_write(&ctx.db).await?;
    let attempt_id = AttemptId::new();
    attempt::ActiveModel {
        id: Set(attempt_id.clone()),
        tenant_id: Set(tenant.clone()),
        app_id: Set(plan.destination.app_id.clone()),
        message_id: Set(plan.destination.message_id.clone()),
        endpoint_id: Set(plan.endpoint.id.clone()),
        destination_id: Set(plan.destination.id.clone()),
        number: Set(number),
        trigger: Set(match trigger {
            Trigger::Scheduled => attempt::Trigger::Scheduled,
            Trigger::Manual => attempt::Trigger::Manual,
        }),
        status: Set(if outcome.succeeded() {
            attempt::Status::Success
        } else {
            attempt::Status::Fail
        }),
        url: Set(outcome.url.clone()),
        response_status: Set(outcome.response_status.map(i32::from)),
        response_body: Set(outcome.response_body.clone()),
        duration_ms: Set(i64::try_from(outcome.duration.as_millis()).unwrap_or(i64::MAX)),
        error_kind: Set(outcome.error.as_ref().map(|(kind, _)| *kind)),
        error_reason: Set(outcome.error.as_ref().map(|(_, reason)| reason.clone())),
        next_attempt_at: Set(next_at),
        created_at: Set(now),
    }
    .insert(&txn)
    .await
    .context("recording an attempt")?;
    // Only the try the destination expects may move it: a concurrent duplicate changes nothing.
    let moved = destination::Entity::update_for_tenant(tenant)
        .col_expr(
            destination::Column::Status,
            sea_orm::sea_query::Expr::value(status),
        )
        .col_expr(
            destination::Column::AttemptCount,
            sea_orm::sea_query::Expr::value(number),
        )
        .col_expr(
            destination::Column::NextAttemptAt,
            sea_orm::sea_query::Expr::value(next_at),
        )
        .col_expr(
            destination::Column::LastAttemptAt,
            sea_orm::sea_query::Expr::value(Some(now)),
        )
        .col_expr(
            destination::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(destination::Column::Id.eq(plan.destination.id.clone()))
        .filter(destination::Column::AttemptCount.eq(plan.destination.attempt_count))
        .exec(&txn)
        .await
        .context("updating a destination")?;
    if moved.rows_affected == 0 {
        txn.rollback().await.context("rolling back a duplicate try")?;
        return Ok(None);
    }
    let endpoint = &plan.endpoint;
    let failing_since = if outcome.succeeded() {
        if endpoint.failing_since.is_some() {
            set_failing_since(&txn, tenant, endpoint, None).await?;
        }
        None
    } else {
        match endpoint.failing_since {
            Some(since) => Some(since),
            None => {
                set_failing_since(&txn, tenant, endpoint, Some(now)).await?;
                Some(now)
            }
        }
    };
    let disable_reason = if gone {
        Some("the endpoint answered 410 Gone".to_owned())
    } else {
        failing_since
            .filter(|since| now - *since >= policy.disable_after)
            .map(|since| {
                format!(
                    "every try has failed since {}, for {} or more",
                    since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    spoken(policy.disable_after)
                )
            })
    };
    if let Some(reason) = disable_reason
        && disable(&txn, tenant, endpoint, reason, now).await?
    {
        let event = Event::EndpointDisabled {
            endpoint,
            failing_since,
        };
        operational::emit(ctx, &txn, tenant, event).await?;
    }
    let last = || LastAttempt {
        id: attempt_id.clone(),
        response_status: outcome.response_status,
        at: now,
    };
    let attempt_event = match (status, trigger) {
        (destination::Status::Success, _) if plan.destination.attempt_count >= FAILING_AFTER_TRIES => {
            Some(operational::ATTEMPT_RECOVERED)
        }
        (destination::Status::Fail, Trigger::Scheduled) => Some(operational::ATTEMPT_EXHAUSTED),
        (destination::Status::Pending, Trigger::Scheduled) if number == FAILING_AFTER_TRIES => {
            Some(operational::ATTEMPT_FAILING)
        }
        _ => None,
    };
    if let Some(kind) = attempt_event {
        let event = Event::Attempt {
            kind,
            message: &plan.message,
            endpoint,
            last: last(),
        };
        operational::emit(ctx, &txn, tenant, event).await?;
    }
    let job = next_at.map(|at| DeliveryJob {
        tenant: tenant.clone(),
        destination: plan.destination.id.clone(),
        trigger: Trigger::Scheduled,
        attempt: number + 1,
        run_at: Some(at),
    });
    if let Some(job) = &job {
        ctx.queue.enqueue(&txn, std::slice::from_ref(job)).await?;
    }
    txn.commit().await.context("committing an attempt")?;
    Ok(job)
}

/// `5 days`, `2 hours`, `90 seconds`: the largest whole unit.
fn spoken(d: Duration) -> String {
    let (n, unit) = if d.num_days() >= 1 && d.num_seconds() % 86_400 == 0 {
        (d.num_days(), "day")
    } else if d.num_hours() >= 1 && d.num_seconds() % 3600 == 0 {
        (d.num_hours(), "hour")
    } else if d.num_minutes() >= 1 && d.num_seconds() % 60 == 0 {
        (d.num_minutes(), "minute")
    } else {
        (d.num_seconds(), "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

async fn set_failing_since(
    txn: &sea_orm::DatabaseTransaction,
    tenant: &TenantId,
    endpoint: &endpoint::Model,
    since: Option<DateTime<Utc>>,
) -> Result<()> {
    let mut update = endpoint::Entity::update_for_tenant(tenant)
        .col_expr(
            endpoint::Column::FailingSince,
            sea_orm::sea_query::Expr::value(since),
        )
        .filter(endpoint::Column::Id.eq(endpoint.id.clone()));
    if since.is_some() {
        // The first failure after a success sets the mark; later ones keep it.
        update = update.filter(endpoint::Column::FailingSince.is_null());
    }
    update.exec(txn).await.context("marking an endpoint failing")?;
    Ok(())
}

/// Disables an enabled endpoint; says whether this call did it.
async fn disable(
    txn: &sea_orm::DatabaseTransaction,
    tenant: &TenantId,
    endpoint: &endpoint::Model,
    reason: String,
    now: DateTime<Utc>,
) -> Result<bool> {
    let done = endpoint::Entity::update_for_tenant(tenant)
        .col_expr(endpoint::Column::Disabled, sea_orm::sea_query::Expr::value(true))
        .col_expr(
            endpoint::Column::DisabledReason,
            sea_orm::sea_query::Expr::value(Some(reason)),
        )
        .col_expr(endpoint::Column::UpdatedAt, sea_orm::sea_query::Expr::value(now))
        .filter(endpoint::Column::Id.eq(endpoint.id.clone()))
        .filter(endpoint::Column::Disabled.eq(false))
        .exec(txn)
        .await
        .context("disabling an endpoint")?;
    Ok(done.rows_affected == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_spoken_in_their_largest_whole_unit() {
        assert_eq!(spoken(DEFAULT_DISABLE_AFTER), "5 days");
        assert_eq!(spoken(Duration::hours(1)), "1 hour");
        assert_eq!(spoken(Duration::seconds(90)), "90 seconds");
        assert_eq!(spoken(Duration::minutes(3)), "3 minutes");
    }

    #[test]
    fn periods_parse_alone() {
        assert_eq!(parse_period("p", "5d").unwrap(), DEFAULT_DISABLE_AFTER);
        assert_eq!(parse_period("p", "90").unwrap(), Duration::seconds(90));
        assert!(parse_period("p", "1s,2s").is_err());
        assert!(parse_period("p", "0s").is_err());
        assert!(parse_period("p", "").is_err());
    }

    #[test]
    fn schedules_parse_with_units() {
        assert_eq!(
            parse_schedule("5s,5m,30m,2h,5h,10h,10h").unwrap(),
            DEFAULT_SCHEDULE
        );
        assert_eq!(parse_schedule("1, 2 ,3").unwrap(), vec![1, 2, 3]);
        assert!(parse_schedule("5x").is_err());
        assert!(parse_schedule("m").is_err());
    }

    #[test]
    fn retries_follow_the_schedule_with_jitter_and_retry_after() {
        let now = Utc::now();
        let schedule = [10, 100];
        let at = |tries, after, random| {
            next_try(&schedule, tries, after, now, random).map(|t| (t - now).num_milliseconds())
        };
        assert_eq!(at(1, None, 0), Some(8_000));
        assert_eq!(at(1, None, u32::MAX), Some(12_000));
        assert_eq!(at(2, None, u32::MAX / 2), Some(100_000 - 1));
        assert_eq!(at(3, None, 0), None, "the schedule is spent");
        assert_eq!(at(1, Some(StdDuration::from_secs(60)), 0), Some(60_000));
        assert_eq!(
            at(1, Some(StdDuration::from_secs(10 * 3600)), 0),
            Some(6 * 3600 * 1000),
            "Retry-After is bounded"
        );
    }
}
