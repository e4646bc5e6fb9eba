//! Prometheus metrics: client requests by route and outcome, attempts and retries by upstream
//! and reason, the health of every upstream, and when each listener's certificate expires
//! (the series the node exports too, [`metric::TLS_CERTIFICATE_EXPIRY`]). Label values that name a listener or an
//! upstream are shared (`Arc<str>`): building the labels of a request allocates nothing.

use std::sync::Arc;
use std::time::SystemTime;

use cloister_protocol::metric;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of a client request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub(crate) listener: Arc<str>,
    pub(crate) route: &'static str,
    pub(crate) status: u16,
    pub(crate) outcome: &'static str,
}

/// Labels of a latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub(crate) listener: Arc<str>,
    pub(crate) route: &'static str,
}

/// Labels of one attempt on one upstream.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct AttemptLabels {
    pub(crate) upstream: Arc<str>,
    pub(crate) result: &'static str,
}

/// Labels of a retry.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RetryLabels {
    pub(crate) listener: Arc<str>,
    pub(crate) reason: &'static str,
}

/// Labels of a hedge's outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct HedgeLabels {
    pub(crate) listener: Arc<str>,
    pub(crate) outcome: &'static str,
}

/// Labels naming one upstream.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct UpstreamLabels {
    pub(crate) upstream: Arc<str>,
}

/// Labels of a listener's certificate: the node's `app` and `side`, and which listener.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TlsLabels {
    pub(crate) app: &'static str,
    pub(crate) side: &'static str,
    pub(crate) listener: Arc<str>,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The proxy's metrics registry.
pub struct Metrics {
    registry: Registry,
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) latency: LatencyFamily,
    pub(crate) attempts: Family<AttemptLabels, Counter>,
    pub(crate) retries: Family<RetryLabels, Counter>,
    pub(crate) healthy: Family<UpstreamLabels, Gauge>,
    pub(crate) ejections: Family<UpstreamLabels, Counter>,
    pub(crate) hedges: Family<HedgeLabels, Counter>,
    tls_expiry: Family<TlsLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        // From 50 µs (a proxied /upcheck) to ~6.5 s (past the total timeout).
        let latency: LatencyFamily =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.000_05, 2.0, 18)));
        let attempts = Family::<AttemptLabels, Counter>::default();
        let retries = Family::<RetryLabels, Counter>::default();
        let healthy = Family::<UpstreamLabels, Gauge>::default();
        let ejections = Family::<UpstreamLabels, Counter>::default();
        let hedges = Family::<HedgeLabels, Counter>::default();
        // The proxy's own series under `cloister_proxy_`, the shared ones under `cloister_`.
        let mut shared = Registry::with_prefix(metric::PREFIX);
        let registry = shared.sub_registry_with_prefix("proxy");
        registry.register(
            "requests",
            "Client requests answered, by route, status and outcome",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to answer client requests, retries included",
            latency.clone(),
        );
        registry.register(
            "upstream_attempts",
            "Attempts on each upstream, by result",
            attempts.clone(),
        );
        registry.register(
            "retries",
            "Attempts retried on the next upstream, by reason",
            retries.clone(),
        );
        registry.register(
            "upstream_healthy",
            "1 while the upstream is admitted, 0 while it is ejected",
            healthy.clone(),
        );
        registry.register(
            "upstream_ejections",
            "Times the upstream was ejected",
            ejections.clone(),
        );
        registry.register(
            "hedges",
            "Requests whose first replica was slow: hedged on another (won or lost), or not for want of budget (denied)",
            hedges.clone(),
        );
        let tls_expiry = Family::<TlsLabels, Gauge>::default();
        shared.register(
            metric::TLS_CERTIFICATE_EXPIRY.name,
            metric::TLS_CERTIFICATE_EXPIRY.help,
            tls_expiry.clone(),
        );
        Self {
            registry: shared,
            requests,
            latency,
            attempts,
            retries,
            healthy,
            ejections,
            hedges,
            tls_expiry,
        }
    }
}

impl Metrics {
    /// Creates a listener's retry counts at 0, one per reason: an alert on `increase()` then
    /// sees the first retry too (a series first scraped at 1 shows no increase).
    pub(crate) fn start_listener(&self, listener: &Arc<str>) {
        for outcome in crate::hedge::Outcome::ALL {
            let _ = self.hedges.get_or_create(&HedgeLabels {
                listener: listener.clone(),
                outcome: outcome.as_str(),
            });
        }
        for reason in crate::policy::Retry::ALL {
            let _ = self.retries.get_or_create(&RetryLabels {
                listener: listener.clone(),
                reason: reason.as_str(),
            });
        }
    }

    /// Records when the certificate `listener` presents expires (at start and at each reload).
    pub(crate) fn observe_certificate(&self, listener: &Arc<str>, not_after: SystemTime) {
        self.tls_expiry
            .get_or_create(&TlsLabels {
                app: metric::app::PROXY,
                side: metric::side::SERVER,
                listener: listener.clone(),
            })
            .set(metric::timestamp_seconds(not_after));
    }

    /// The OpenMetrics text of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail; an empty page is the worst case.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
