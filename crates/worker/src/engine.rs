//! One delivery: prepare (endpoint and keys), respect the endpoint's rate, sign, send,
//! classify, and hand the settlement to the recorder; plus the lease renewal of
//! deliveries that take long.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use chrono::Utc;
use domain::{
    Context,
    id::{DestinationId, EndpointId},
    service::delivery::{self, EndpointCache, Next, Outcome, Plan, Settlement, claim},
    signing,
};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::watch;

use crate::{WorkerSettings, backend::Job, client, recorder::Recorder};

/// How long a worker trusts its copy of an endpoint (see [`EndpointCache`]).
const ENDPOINT_CACHE_TTL: Duration = Duration::from_secs(1);

/// How long a delivery waits in place for its endpoint's rate limit before it is put
/// back in the queue (not an attempt) for a second later.
const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(2);

/// Deliveries in flight longer than this have their leases renewed, this often.
const RENEW_EVERY: Duration = Duration::from_secs(10);

pub(crate) struct Engine {
    ctx: Context,
    settings: WorkerSettings,
    sender: client::Sender,
    recorder: Recorder,
    limiters: Mutex<HashMap<EndpointId, (u32, Arc<DefaultDirectRateLimiter>)>>,
    endpoints: EndpointCache,
    /// Deliveries in flight and when each started, for lease renewal.
    in_flight: Mutex<HashMap<DestinationId, Instant>>,
}

/// Removes its delivery from the in-flight set however the delivery ends.
struct InFlight<'a> {
    engine: &'a Engine,
    id: DestinationId,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.engine
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

impl Engine {
    pub(crate) fn new(
        ctx: Context,
        settings: WorkerSettings,
        sender: client::Sender,
        recorder: Recorder,
    ) -> Self {
        Self {
            ctx,
            settings,
            sender,
            recorder,
            limiters: Mutex::default(),
            endpoints: EndpointCache::new(ENDPOINT_CACHE_TTL),
            in_flight: Mutex::default(),
        }
    }

    fn hold(&self, id: &DestinationId) -> InFlight<'_> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.clone(), Instant::now());
        InFlight {
            engine: self,
            id: id.clone(),
        }
    }

    /// Tries `job`'s destination once and hands the outcome to the recorder. Never fails:
    /// what cannot be recorded stays leased and is tried again when the lease runs out.
    pub(crate) async fn run(&self, job: Job) {
        let Job { claimed, slot } = job;
        let destination = claimed.destination.id.clone();
        let _held = self.hold(&destination);
        let (settlement, endpoint) = match delivery::prepare(&self.ctx, &self.endpoints, claimed).await {
            Ok(Next::Send(plan)) => {
                let endpoint = plan.endpoint.id.clone();
                (self.attempt(plan).await, Some(endpoint))
            }
            Ok(Next::Settle(settlement)) => (settlement, None),
            Err(e) => {
                tracing::error!(error = %e.chain(), %destination, "preparing a delivery failed; it is tried again when its lease runs out");
                return;
            }
        };
        if let Some(endpoint) = endpoint
            && match &settlement {
                Settlement::Tried { outcome, plan, .. } => {
                    !outcome.succeeded() || plan.endpoint.failing_since.is_some()
                }
                Settlement::Postponed { .. } | Settlement::Abandoned { .. } => false,
            }
        {
            // The try may change the endpoint (failing mark, disabled): read it afresh.
            self.endpoints.forget(&endpoint);
        }
        self.recorder.record(settlement).await;
        drop(slot);
    }

    /// Respects the endpoint's rate, then sends: the settlement of the try, or of its
    /// postponement.
    async fn attempt(&self, plan: Box<Plan>) -> Settlement {
        let rate = plan
            .endpoint
            .rate_limit
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or(0);
        if let Some(limiter) = self.limiter(&plan.endpoint.id, rate)
            && tokio::time::timeout(MAX_THROTTLE_WAIT, limiter.until_ready())
                .await
                .is_err()
        {
            // Over the endpoint's rate for a while: try again shortly; not an attempt.
            self.ctx.metrics.limited("endpoint");
            return Settlement::Postponed {
                destination: plan.destination.id.clone(),
                tries: plan.destination.attempt_count,
                at: Utc::now() + chrono::Duration::seconds(1),
            };
        }
        let outcome = self.sender.send(self.request(&plan)).await;
        self.observe(&plan, &outcome);
        tracing::info!(
            tenant = %plan.destination.tenant_id,
            endpoint = %plan.endpoint.id,
            message = %plan.message.id,
            status = ?outcome.response_status,
            ok = outcome.succeeded(),
            "delivery attempt"
        );
        let schedule = plan
            .endpoint
            .retry_schedule
            .as_ref()
            .map(|d| d.0.clone())
            .unwrap_or_else(|| self.settings.schedule.clone());
        Settlement::Tried {
            plan,
            outcome,
            schedule,
        }
    }

    fn limiter(&self, endpoint: &EndpointId, per_second: u32) -> Option<Arc<DefaultDirectRateLimiter>> {
        let rate = NonZeroU32::new(per_second)?;
        let mut limiters = self.limiters.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = limiters
            .entry(endpoint.clone())
            .or_insert_with(|| (per_second, Arc::new(RateLimiter::direct(Quota::per_second(rate)))));
        if entry.0 != per_second {
            *entry = (per_second, Arc::new(RateLimiter::direct(Quota::per_second(rate))));
        }
        Some(entry.1.clone())
    }

    fn observe(&self, plan: &Plan, outcome: &Outcome) {
        let metrics = &self.ctx.metrics;
        let (result, error) = match &outcome.error {
            None => ("success", "none"),
            Some((kind, _)) => ("fail", kind.as_str()),
        };
        metrics
            .deliveries
            .get_or_create(&domain::metrics::DeliveryLabels {
                outcome: result,
                error,
            })
            .inc();
        metrics.attempt_duration.observe(outcome.duration.as_secs_f64());
        if outcome.succeeded() {
            let waited = Utc::now() - plan.message.created_at;
            metrics
                .delivery_latency
                .observe(waited.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6);
        }
    }

    fn request<'a>(&self, plan: &'a Plan) -> client::Request<'a> {
        let body = plan.message.payload.as_deref().unwrap_or("{}");
        let timestamp = Utc::now().timestamp();
        let id = plan.message.id.as_str();
        let signature = signing::signature_header(&plan.keys, id, timestamp, body.as_bytes());
        let timestamp = timestamp.to_string();
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                "user-agent".to_owned(),
                concat!("Herald/", env!("CARGO_PKG_VERSION")).to_owned(),
            ),
            ("webhook-id".to_owned(), id.to_owned()),
            ("webhook-timestamp".to_owned(), timestamp.clone()),
            ("webhook-signature".to_owned(), signature.clone()),
        ];
        if self.settings.svix_headers {
            headers.push(("svix-id".to_owned(), id.to_owned()));
            headers.push(("svix-timestamp".to_owned(), timestamp));
            headers.push(("svix-signature".to_owned(), signature));
        }
        headers.extend(
            plan.endpoint
                .headers
                .0
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        let timeout = plan
            .endpoint
            .timeout_secs
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(self.settings.default_timeout);
        client::Request {
            url: &plan.endpoint.url,
            headers,
            body: body.to_owned(),
            timeout,
        }
    }

    /// Every [`RENEW_EVERY`], extends the leases of deliveries in flight longer than
    /// that (an endpoint may take up to a minute to answer; a lease lasts
    /// [`delivery::LEASE`]), until `stopped`.
    pub(crate) async fn renew_leases(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        loop {
            if tokio::time::timeout(RENEW_EVERY, stopped.wait_for(|s| *s))
                .await
                .is_ok()
            {
                return;
            }
            let long: Vec<DestinationId> = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .filter(|(_, since)| since.elapsed() >= RENEW_EVERY)
                .map(|(id, _)| id.clone())
                .collect();
            if let Err(e) = claim::renew(&self.ctx, &long, Utc::now()).await {
                tracing::warn!(error = %e.chain(), count = long.len(), "could not renew delivery leases");
            }
        }
    }
}
