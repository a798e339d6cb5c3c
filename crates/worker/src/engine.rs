//! One delivery: prepare (endpoint and keys), respect the endpoint's rate, sign, send,
//! classify, and hand the settlement to the recorder; plus the lease renewal of
//! deliveries that take long.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use chrono::Utc;
use domain::{
    Context,
    entity::SentRequest,
    entity::{attempt::ErrorKind, endpoint},
    id::DestinationId,
    service::delivery::{
        self, EndpointCache, Next, Outcome, Plan, Settlement, claim, lane, transform::Shaped,
    },
    signing,
    values::access::{Auth, Credentials},
};
use tokio::sync::watch;

use crate::{WorkerSettings, access::Access, backend::Job, client, recorder::Recorder};

mod verify;

/// How long a worker trusts its copy of an endpoint (see [`EndpointCache`]).
const ENDPOINT_CACHE_TTL: Duration = Duration::from_secs(1);

/// Deliveries in flight longer than this have their leases renewed, this often.
const RENEW_EVERY: Duration = Duration::from_secs(10);

pub(crate) struct Engine {
    ctx: Context,
    settings: WorkerSettings,
    sender: client::Sender,
    recorder: Recorder,
    access: Access,
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
            access: Access::default(),
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

    /// Waits for the turn the endpoint's rate gave this delivery, if any, then sends: the
    /// settlement of the try.
    async fn attempt(&self, plan: Box<Plan>) -> Settlement {
        if let Some(at) = plan.send_at {
            if let Ok(wait) = (at - Utc::now()).to_std() {
                self.ctx.metrics.limited("endpoint");
                tokio::time::sleep(wait).await;
            }
            let slack = lane::interval(plan.endpoint.rate_limit.unwrap_or(1)) / 2;
            if Utc::now() - at > slack {
                // Sent this late it could crowd the turns given after it: take a new
                // turn instead (not an attempt).
                return Settlement::Postponed {
                    destination: plan.destination.id.clone(),
                    tries: plan.destination.attempt_count,
                    at: Utc::now(),
                };
            }
        }
        let outcome = match &plan.transformation {
            None => self.deliver(&plan, None).await,
            Some(Err(reason)) => transformation_failed(&plan, reason.clone()),
            Some(Ok(program)) => {
                let url = plan.endpoint.url.as_str();
                match delivery::transform::shape(program, &plan.message, url).await {
                    Ok(shaped) => self.deliver(&plan, Some(&shaped)).await,
                    Err(reason) => transformation_failed(&plan, reason),
                }
            }
        };
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

    /// Sends `plan` (as its transformation shaped it, if it has one) with the credentials
    /// and client its endpoint asks for. An OAuth endpoint that answers 401 gets one more
    /// request, with a token fetched afresh.
    async fn deliver(&self, plan: &Plan, shaped: Option<&Shaped>) -> Outcome {
        // One timestamp for the whole try, so that the log's copy of the request has the
        // very signature sent.
        let timestamp = Utc::now().timestamp();
        let Some(shaped) = shaped else {
            return self.deliver_unlogged(plan, None, timestamp).await;
        };
        // What the receiver saw, for the attempt log (credentials left out). Without
        // credentials the request is signed once and sent as logged.
        let request = self.request(plan, Some(shaped), timestamp, None);
        let logged = SentRequest {
            method: request.method.to_string(),
            url: request.url.to_owned(),
            headers: request
                .headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .chain(
                    plan.endpoint
                        .access
                        .as_ref()
                        .and_then(|a| a.auth.as_ref())
                        .map(|_| ("authorization".to_owned(), "[credentials]".to_owned())),
                )
                .collect(),
            body: request.body.clone(),
        };
        let outcome = if plan.endpoint.access.is_none() {
            self.sender.send(request).await
        } else {
            self.deliver_unlogged(plan, Some(shaped), timestamp).await
        };
        Outcome {
            request: Some(Box::new(logged)),
            ..outcome
        }
    }

    async fn deliver_unlogged(&self, plan: &Plan, shaped: Option<&Shaped>, timestamp: i64) -> Outcome {
        if plan.endpoint.access.is_none() {
            return self
                .sender
                .send(self.request(plan, shaped, timestamp, None))
                .await;
        }
        let failed = |(kind, reason): (ErrorKind, String)| Outcome {
            url: plan.endpoint.url.clone(),
            response_status: None,
            response_body: None,
            duration: Duration::ZERO,
            error: Some((kind, reason)),
            retry_after: None,
            request: None,
        };
        let timeout = self.timeout(plan);
        let (credentials, client, authorization) = match self.present(&plan.endpoint, timeout).await {
            Ok(presented) => presented,
            Err(e) => return failed(e),
        };
        let send = |authorization: Option<String>| {
            let request = self.request(plan, shaped, timestamp, authorization);
            let client = client.clone();
            async move {
                match client {
                    Some(client) => self.sender.send_on(&client, request).await,
                    None => self.sender.send(request).await,
                }
            }
        };
        let outcome = send(authorization).await;
        let oauth = matches!(
            plan.endpoint.access.as_ref().and_then(|a| a.auth.as_ref()),
            Some(Auth::OAuth2 { .. })
        );
        if !(oauth && outcome.response_status == Some(401)) {
            return outcome;
        }
        // The token may have been revoked before its time: once more, with a new one.
        self.access.forget_token(&plan.endpoint.id).await;
        match self
            .access
            .authorization(&self.sender, &plan.endpoint, &credentials, timeout, true)
            .await
        {
            Ok(authorization) => send(authorization).await,
            Err(e) => failed(e),
        }
    }

    /// What an endpoint with gateway credentials or a TLS identity presents: its opened
    /// credentials, the client that carries its certificate (if any) and the
    /// `authorization` value (if any); or why it cannot be presented.
    pub(crate) async fn present(
        &self,
        endpoint: &endpoint::Model,
        timeout: Duration,
    ) -> Result<(Credentials, Option<reqwest::Client>, Option<String>), (ErrorKind, String)> {
        let credentials = domain::service::endpoint::open_credentials(&self.ctx, endpoint).map_err(|e| {
            (
                ErrorKind::Auth,
                format!("the endpoint's credentials do not open: {e}"),
            )
        })?;
        let client = self.access.client(&self.sender, endpoint, &credentials)?;
        let authorization = self
            .access
            .authorization(&self.sender, endpoint, &credentials, timeout, false)
            .await?;
        Ok((credentials, client, authorization))
    }

    fn timeout(&self, plan: &Plan) -> Duration {
        self.timeout_of(&plan.endpoint)
    }

    /// The endpoint's own response timeout, or the worker's.
    pub(crate) fn timeout_of(&self, endpoint: &endpoint::Model) -> Duration {
        endpoint
            .timeout_secs
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(self.settings.default_timeout)
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

    fn request<'a>(
        &self,
        plan: &'a Plan,
        shaped: Option<&'a Shaped>,
        timestamp: i64,
        authorization: Option<String>,
    ) -> client::Request<'a> {
        let body = match shaped {
            Some(shaped) => shaped.body.as_str(),
            None => plan.message.payload.as_deref().unwrap_or("{}"),
        };
        let mut headers = self.signed_headers(&plan.keys, plan.message.id.as_str(), timestamp, body);
        headers.extend(
            plan.endpoint
                .headers
                .0
                .iter()
                .filter(|(k, _)| authorization.is_none() || !k.eq_ignore_ascii_case("authorization"))
                // A transformation's header replaces the endpoint's of the same name.
                .filter(|(k, _)| !shaped.is_some_and(|s| s.headers.contains_key(&k.to_ascii_lowercase())))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        if let Some(shaped) = shaped {
            headers.extend(shaped.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        if let Some(authorization) = authorization {
            headers.push(("authorization".to_owned(), authorization));
        }
        client::Request {
            method: match shaped.map(|s| s.method) {
                Some("PUT") => reqwest::Method::PUT,
                _ => reqwest::Method::POST,
            },
            url: shaped.map_or(plan.endpoint.url.as_str(), |s| s.url.as_str()),
            headers,
            body: body.to_owned(),
            timeout: self.timeout(plan),
        }
    }

    /// The headers every request of Herald's carries: the content type, the user agent
    /// and the Standard Webhooks signature of `body` (with the `svix-*` spellings when
    /// configured).
    pub(crate) fn signed_headers(
        &self,
        keys: &[signing::SigningSecret],
        id: &str,
        timestamp: i64,
        body: &str,
    ) -> Vec<(String, String)> {
        let signature = signing::signature_header(keys, id, timestamp, body.as_bytes());
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
        headers
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

/// A try that its transformation stopped before anything was sent: not retried until the
/// program changes (see `delivery::settle`).
fn transformation_failed(plan: &Plan, reason: String) -> Outcome {
    Outcome {
        url: plan.endpoint.url.clone(),
        response_status: None,
        response_body: None,
        duration: Duration::ZERO,
        error: Some((ErrorKind::Transformation, reason)),
        retry_after: None,
        request: None,
    }
}
