//! Delivery, as the domain sees it: the queue of due destinations ([`claim`]), what one
//! try needs ([`prepare`]), and what the outcomes of a batch of tries do to their
//! destinations ([`settle()`]: success, a retry at the schedule's next delay, or failure).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration as StdDuration, Instant},
};

use chrono::{DateTime, Duration, Utc};

pub use self::{
    claim::{LEASE, QueueStats},
    settle::{Report, Settlement, settle},
};
use super::endpoint_secret;
use crate::{
    Context, DbContext, Error, Result,
    entity::{attempt, destination, destination::Trigger, endpoint, message},
    id::{EndpointId, TenantId},
    program::Program,
    scope::TenantScoped,
    signing::SigningSecret,
};

pub mod claim;
pub mod lane;
mod settle;
pub mod transform;

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

/// A destination a worker holds the lease of, with its message: one try to make.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// `sending`; `attempt_count` tries made so far; `next_trigger` says what this try is.
    pub destination: destination::Model,
    pub message: message::Model,
    /// Not before this: the turn its endpoint's rate gave it (see [`lane`]).
    pub send_at: Option<DateTime<Utc>>,
}

/// Everything one try needs.
#[derive(Clone, Debug)]
pub struct Plan {
    pub destination: destination::Model,
    pub message: message::Model,
    pub endpoint: endpoint::Model,
    pub keys: Vec<SigningSecret>,
    pub send_at: Option<DateTime<Utc>>,
    /// The endpoint's transformation, compiled (or why its stored source does not
    /// compile).
    pub transformation: Option<std::result::Result<Program, String>>,
}

impl Plan {
    pub fn trigger(&self) -> Trigger {
        self.destination.next_trigger
    }
}

/// What to do with a claimed destination.
#[derive(Debug)]
pub enum Next {
    Send(Box<Plan>),
    /// Nothing can be sent; settle it so.
    Settle(Settlement),
}

/// A worker's short-lived copy of endpoints and their opened keys, so that a burst of
/// deliveries to one endpoint does not load and decrypt them once per delivery. An entry
/// lives `ttl` (a change made through the API reaches deliveries that much later at
/// most); the worker forgets an endpoint at once when a try fails or changes it.
pub struct EndpointCache {
    ttl: StdDuration,
    entries: Mutex<HashMap<EndpointId, (Instant, Arc<CachedEndpoint>)>>,
}

type CachedEndpoint = (
    endpoint::Model,
    Vec<SigningSecret>,
    Option<std::result::Result<Program, String>>,
);

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
        // Compiled once per source while any copy holds it, not once per delivery or reload.
        let transformation = endpoint.transformation.as_deref().map(|source| {
            Program::shared(source).map_err(|e| format!("the transformation does not compile: {e}"))
        });
        let entry = Arc::new((endpoint, keys, transformation));
        if !self.ttl.is_zero() {
            self.put(id.clone(), entry.clone());
        }
        Ok(Some(entry))
    }
}

/// What a claimed destination needs besides itself: its endpoint and the endpoint's
/// keys, through `cache`. A destination that cannot be sent (its endpoint is gone, or
/// disabled for a scheduled try, or retention erased the payload first) is abandoned.
pub async fn prepare(ctx: &Context, cache: &EndpointCache, claimed: Claimed) -> Result<Next> {
    let Claimed {
        destination,
        message,
        send_at,
    } = claimed;
    let abandon = |why| {
        Ok(Next::Settle(Settlement::Abandoned {
            destination: destination.id.clone(),
            tries: destination.attempt_count,
            why,
        }))
    };
    let Some(mut cached) = cache
        .load(ctx, &destination.tenant_id, &destination.endpoint_id)
        .await?
    else {
        return abandon("the endpoint no longer exists");
    };
    if cached.0.awaits_verification() {
        // The copy may be older than a verification that just succeeded: read it afresh
        // before putting the delivery off.
        cache.forget(&destination.endpoint_id);
        let Some(fresh) = cache
            .load(ctx, &destination.tenant_id, &destination.endpoint_id)
            .await?
        else {
            return abandon("the endpoint no longer exists");
        };
        cached = fresh;
        if cached.0.awaits_verification() {
            // Neither sent nor failed: it waits, keeping its place, until the endpoint
            // is verified (which makes it due at once). Not an attempt.
            return Ok(Next::Settle(Settlement::Postponed {
                destination: destination.id.clone(),
                tries: destination.attempt_count,
                at: Utc::now() + super::verification::DELIVERIES_WAIT,
            }));
        }
    }
    let (endpoint, keys) = (&cached.0, &cached.1);
    if endpoint.disabled && destination.next_trigger == Trigger::Scheduled {
        // Nothing more goes to a disabled endpoint on schedule; the delivery has failed.
        return abandon("the endpoint is disabled");
    }
    if message.payload.is_none() {
        return abandon("the payload has expired");
    }
    if let Some(at) = message.deliver_at
        && destination.attempt_count == 0
        && destination.next_trigger == Trigger::Scheduled
        && at > Utc::now()
    {
        // A scheduled message reached early (a line woke it, a lease ran out): it waits
        // for its time, keeping its place. Not an attempt.
        return Ok(Next::Settle(Settlement::Postponed {
            destination: destination.id.clone(),
            tries: destination.attempt_count,
            at,
        }));
    }
    Ok(Next::Send(Box::new(Plan {
        destination,
        message,
        endpoint: endpoint.clone(),
        keys: keys.clone(),
        send_at,
        transformation: cached.2.clone(),
    })))
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
    /// The exact request, when a transformation shaped it.
    pub request: Option<Box<crate::entity::SentRequest>>,
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

/// `5 days`, `2 hours`, `90 seconds`: the largest whole unit.
pub(super) fn spoken(d: Duration) -> String {
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
