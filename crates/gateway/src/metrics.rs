//! Prometheus metrics: calls per upstream and outcome, retries, local errors, and each
//! upstream's health, head block, privacy path and ejections, client WebSocket connections per
//! upstream and the calls they have in flight, and when the listener's certificate expires (the
//! series the node exports too, [`metric::TLS_CERTIFICATE_EXPIRY`]).

use std::time::SystemTime;

use cloister_protocol::metric;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The outcome label of a call the upstream answered.
pub const OK: &str = "ok";

/// Labels of one upstream call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// The upstream's name.
    pub upstream: String,
    /// `ok`, `http_error`, `unsent`, `failed`, `timeout` or `unsuitable` (a call IPC cannot
    /// carry).
    pub outcome: &'static str,
}

/// Labels naming an upstream.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    /// The upstream's name.
    pub upstream: String,
}

/// Labels of an error the gateway answered itself.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LocalLabels {
    /// Why: `no_upstream`, `too_large`, `invalid`, `filter_not_found`, or
    /// `websocket_stalled` (a client WebSocket disconnected for reading nothing).
    pub reason: &'static str,
}

/// Labels of the listener's certificate: the node's `app` and `side`, and which listener.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TlsLabels {
    /// [`metric::app::GATEWAY`].
    pub app: &'static str,
    /// [`metric::side::SERVER`].
    pub side: &'static str,
    /// The address the gateway listens on.
    pub listener: String,
}

type LatencyFamily = Family<UpstreamLabels, Histogram, fn() -> Histogram>;

/// The gateway's metrics registry.
pub struct Metrics {
    registry: Registry,
    /// Upstream calls by outcome.
    pub calls: Family<CallLabels, Counter>,
    /// Upstream call latency.
    pub latency: LatencyFamily,
    /// Reads repeated on another node (or writes that were never sent).
    pub retries: Counter,
    /// Errors answered by the gateway itself.
    pub local_errors: Family<LocalLabels, Counter>,
    /// 1 when the upstream takes traffic.
    pub healthy: Family<UpstreamLabels, Gauge>,
    /// The upstream's head block.
    pub head_block: Family<UpstreamLabels, Gauge>,
    /// 1 when the upstream's privacy path works (only upstreams with one configured).
    pub privacy_up: Family<UpstreamLabels, Gauge>,
    /// Times the upstream was taken out.
    pub ejections: Family<UpstreamLabels, Counter>,
    /// Client WebSocket connections open, by the upstream they are pinned to.
    pub websocket_connections: Family<UpstreamLabels, Gauge>,
    /// Calls of client WebSocket connections the gateway answers itself (account-scoped and
    /// private ones), from being read to their answer being written, over all connections;
    /// each connection holds at most `maxWebSocketInFlight`.
    pub websocket_in_flight: Gauge,
    /// When the listener's certificate expires.
    pub tls_expiry: Family<TlsLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        // The gateway's own series under `cloister_gateway_`, the shared ones under `cloister_`.
        let mut shared = Registry::with_prefix(metric::PREFIX);
        let registry = shared.sub_registry_with_prefix("gateway");
        let calls = Family::<CallLabels, Counter>::default();
        let latency: LatencyFamily =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.000_1, 2.0, 18)));
        let retries = Counter::default();
        let local_errors = Family::<LocalLabels, Counter>::default();
        let healthy = Family::<UpstreamLabels, Gauge>::default();
        let head_block = Family::<UpstreamLabels, Gauge>::default();
        let ejections = Family::<UpstreamLabels, Counter>::default();
        let privacy_up = Family::<UpstreamLabels, Gauge>::default();
        registry.register("upstream_calls", "Calls sent to upstreams", calls.clone());
        registry.register(
            "upstream_call_duration_seconds",
            "Time upstreams took to answer",
            latency.clone(),
        );
        registry.register(
            "retries",
            "Calls repeated on another upstream",
            retries.clone(),
        );
        registry.register(
            "local_errors",
            "Errors answered by the gateway itself",
            local_errors.clone(),
        );
        registry.register(
            "upstream_healthy",
            "1 when the upstream takes traffic",
            healthy.clone(),
        );
        registry.register(
            "upstream_head_block",
            "The upstream's head block number",
            head_block.clone(),
        );
        registry.register(
            "upstream_privacy_up",
            "1 when the upstream's privacy path answers its health check",
            privacy_up.clone(),
        );
        registry.register(
            "upstream_ejections",
            "Times the upstream was taken out of rotation",
            ejections.clone(),
        );
        let websocket_connections = Family::<UpstreamLabels, Gauge>::default();
        registry.register(
            "websocket_connections",
            "Client WebSocket connections open, by the upstream they are pinned to",
            websocket_connections.clone(),
        );
        let websocket_in_flight = Gauge::default();
        registry.register(
            "websocket_in_flight",
            "Calls of client WebSocket connections the gateway is answering over HTTP",
            websocket_in_flight.clone(),
        );
        let tls_expiry = Family::<TlsLabels, Gauge>::default();
        shared.register(
            metric::TLS_CERTIFICATE_EXPIRY.name,
            metric::TLS_CERTIFICATE_EXPIRY.help,
            tls_expiry.clone(),
        );
        Self {
            registry: shared,
            tls_expiry,
            websocket_connections,
            websocket_in_flight,
            calls,
            latency,
            retries,
            local_errors,
            healthy,
            head_block,
            privacy_up,
            ejections,
        }
    }
}

/// One upstream's metrics on the request path, looked up once: a lookup in a family hashes and
/// allocates its labels and takes a lock, on every call.
#[derive(Debug, Clone)]
pub struct UpstreamMetrics {
    /// Its call latency.
    pub latency: Histogram,
    /// Its calls answered (`outcome="ok"`).
    pub ok: Counter,
}

impl Metrics {
    /// The request-path metrics of the upstream called `name`.
    pub fn for_upstream(&self, name: &str) -> UpstreamMetrics {
        // The count exists at 0 from the start: an alert on `increase()` then sees the first
        // ejection too (a series first scraped at 1 shows no increase).
        let _ = self.ejections.get_or_create(&upstream(name));
        UpstreamMetrics {
            latency: self.latency.get_or_create(&upstream(name)).clone(),
            ok: self
                .calls
                .get_or_create(&CallLabels {
                    upstream: name.to_owned(),
                    outcome: OK,
                })
                .clone(),
        }
    }

    /// Records when the certificate the gateway presents on `listener` expires (at start and
    /// at each reload).
    pub fn observe_certificate(&self, listener: &str, not_after: SystemTime) {
        self.tls_expiry
            .get_or_create(&TlsLabels {
                app: metric::app::GATEWAY,
                side: metric::side::SERVER,
                listener: listener.to_owned(),
            })
            .set(metric::timestamp_seconds(not_after));
    }

    /// The OpenMetrics text of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }

    /// Counts an error the gateway answered itself.
    pub fn local_error(&self, reason: &'static str) {
        self.local_errors
            .get_or_create(&LocalLabels { reason })
            .inc();
    }
}

/// Labels for an upstream.
pub fn upstream(name: &str) -> UpstreamLabels {
    UpstreamLabels {
        upstream: name.to_owned(),
    }
}
