//! Herald's Prometheus metrics: one registry per process, filled by the API (requests,
//! rate limits) and the worker (deliveries, latencies), rendered in the text format.

use std::sync::atomic::AtomicU64;

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

/// One try's outcome: `success` or `fail`, and for a failure its error class.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub outcome: &'static str,
    pub error: &'static str,
}

/// An API request: the route's pattern (never the concrete path, to keep the series
/// few), the method and the status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
}

/// What a rate limit held back: `api` requests or `endpoint` deliveries.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    pub limit: &'static str,
}

/// A request to an inspector inbox: `recorded`, `limited` (refused by a rate, not
/// recorded) or `truncated` (recorded with its body cut).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InboxLabels {
    pub outcome: &'static str,
}

/// A server error: `5xx` for an error answer, `panic` for a panic caught while handling a
/// request (answered 500 and counted only here).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerErrorLabels {
    pub kind: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub deliveries: Family<DeliveryLabels, Counter>,
    /// Seconds from a message's acceptance to its successful delivery.
    pub delivery_latency: Histogram,
    /// Seconds one HTTP try took.
    pub attempt_duration: Histogram,
    pub api_requests: Family<RequestLabels, Counter>,
    pub rate_limited: Family<LimitLabels, Counter>,
    /// Every 5xx answer and every caught panic of the HTTP server (API and pages).
    pub server_errors: Family<ServerErrorLabels, Counter>,
    /// Requests to inspector inboxes by outcome.
    pub inbox_requests: Family<InboxLabels, Counter>,
    /// Delivery jobs due now and not yet claimed (set when rendered).
    pub queue_depth: Gauge,
    /// Age in seconds of the oldest due, unclaimed job (set when rendered).
    pub queue_oldest_due_seconds: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("herald");
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "deliveries",
            "Delivery tries by outcome and error class",
            deliveries.clone(),
        );
        // 5 ms to about 11 h: deliveries that wait for retries are counted too.
        let delivery_latency = Histogram::new(exponential_buckets(0.005, 3.0, 16));
        registry.register(
            "delivery_latency_seconds",
            "Time from a message's acceptance to its successful delivery",
            delivery_latency.clone(),
        );
        let attempt_duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register(
            "attempt_duration_seconds",
            "Time one HTTP delivery try took",
            attempt_duration.clone(),
        );
        let api_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "api_requests",
            "API requests by route, method and status",
            api_requests.clone(),
        );
        let rate_limited = Family::<LimitLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests and deliveries held back by a rate limit",
            rate_limited.clone(),
        );
        let server_errors = Family::<ServerErrorLabels, Counter>::default();
        registry.register(
            "http_server_errors",
            "HTTP answers with a 5xx status (kind=5xx) and panics caught while handling a request (kind=panic)",
            server_errors.clone(),
        );
        let inbox_requests = Family::<InboxLabels, Counter>::default();
        registry.register(
            "inbox_requests",
            "Requests to inspector inboxes: recorded, limited (refused, not recorded), truncated (body cut)",
            inbox_requests.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Delivery jobs due now and not yet claimed",
            queue_depth.clone(),
        );
        let queue_oldest_due_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "queue_oldest_due_seconds",
            "Age of the oldest due, unclaimed delivery job",
            queue_oldest_due_seconds.clone(),
        );
        Self {
            registry,
            deliveries,
            delivery_latency,
            attempt_duration,
            api_requests,
            rate_limited,
            server_errors,
            inbox_requests,
            queue_depth,
            queue_oldest_due_seconds,
        }
    }

    /// Counts one held-back request or delivery.
    pub fn limited(&self, limit: &'static str) {
        self.rate_limited.get_or_create(&LimitLabels { limit }).inc();
    }

    /// Counts one request to an inspector inbox by its `outcome`.
    pub fn inbox_request(&self, outcome: &'static str) {
        self.inbox_requests.get_or_create(&InboxLabels { outcome }).inc();
    }

    /// Counts one server error of `kind` (`5xx` or `panic`).
    pub fn server_error(&self, kind: &'static str) {
        self.server_errors
            .get_or_create(&ServerErrorLabels { kind })
            .inc();
    }

    /// The registry in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// The metrics page: the queue gauges refreshed from the database, then every series.
pub async fn page(ctx: &crate::Context) -> crate::Result<String> {
    let stats = crate::service::delivery::claim::stats(ctx, chrono::Utc::now()).await?;
    ctx.metrics.queue_depth.set(stats.depth);
    ctx.metrics.queue_oldest_due_seconds.set(stats.oldest_due_seconds);
    Ok(ctx.metrics.render())
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_render_with_their_labels() {
        let m = Metrics::new();
        m.deliveries
            .get_or_create(&DeliveryLabels {
                outcome: "fail",
                error: "timeout",
            })
            .inc();
        m.limited("endpoint");
        m.server_error("panic");
        m.attempt_duration.observe(0.02);
        let text = m.render();
        assert!(
            text.contains(r#"herald_deliveries_total{outcome="fail",error="timeout"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"herald_rate_limited_total{limit="endpoint"} 1"#));
        assert!(text.contains("herald_attempt_duration_seconds_count 1"));
        assert!(
            text.contains(r#"herald_http_server_errors_total{kind="panic"} 1"#),
            "{text}"
        );
        assert!(text.contains("herald_queue_depth 0"));
    }
}
