//! Prometheus metrics: every request counted and timed by app, route, method and status; the
//! store's health as `/health` last saw it; when each presented TLS certificate expires; and
//! how many parties the last PartyInfo round failed to reach. The alerts in
//! `ops/prometheus/alerts.yml` are written on these names.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use cloister_protocol::metric;
use cloister_store::StoreHealth;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    app: &'static str,
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    app: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabels {
    role: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabels {
    server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TlsLabels {
    app: &'static str,
    side: &'static str,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The node's metrics registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    store_reachable: Gauge,
    store_role: Family<RoleLabels, Gauge>,
    synchronous_standbys: Family<ServerLabels, Gauge>,
    tls_expiry: Family<TlsLabels, Gauge>,
    parties: Gauge,
    parties_failing: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: LatencyFamily =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.000_25, 2.0, 16)));
        let mut registry = Registry::with_prefix(metric::PREFIX);
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests",
            latency.clone(),
        );
        let store_reachable = Gauge::default();
        registry.register(
            "store_reachable",
            "1 when the store answered the last health check and takes writes, else 0",
            store_reachable.clone(),
        );
        let store_role = Family::<RoleLabels, Gauge>::default();
        registry.register(
            "store_role",
            "1 for what serves the store (sqlite, postgresql-primary, postgresql-standby or postgresql)",
            store_role.clone(),
        );
        let synchronous_standbys = Family::<ServerLabels, Gauge>::default();
        registry.register(
            "store_synchronous_standbys",
            "On a PostgreSQL primary: the standbys a commit waits for; 0 means an acknowledged write is on one server only",
            synchronous_standbys.clone(),
        );
        let tls_expiry = Family::<TlsLabels, Gauge>::default();
        registry.register(
            metric::TLS_CERTIFICATE_EXPIRY.name,
            metric::TLS_CERTIFICATE_EXPIRY.help,
            tls_expiry.clone(),
        );
        let parties = Gauge::default();
        registry.register(
            "p2p_parties",
            "Parties the last PartyInfo round posted to",
            parties.clone(),
        );
        let parties_failing = Gauge::default();
        registry.register(
            "p2p_parties_failing",
            "Parties the last PartyInfo round could not reach or that refused it",
            parties_failing.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            store_reachable,
            store_role,
            synchronous_standbys,
            tls_expiry,
            parties,
            parties_failing,
        }
    }
}

impl Metrics {
    /// Records a store health check. The role and standby series are replaced, not added to:
    /// after a failover only the new role and server are reported.
    pub fn observe_store(&self, health: &StoreHealth) {
        self.store_reachable.set(i64::from(health.is_reachable()));
        self.store_role.clear();
        self.store_role
            .get_or_create(&RoleLabels {
                role: health.role.as_str(),
            })
            .set(1);
        self.synchronous_standbys.clear();
        if let Some(count) = health.synchronous_standbys {
            let server = health.server.clone().unwrap_or_default();
            self.synchronous_standbys
                .get_or_create(&ServerLabels { server })
                .set(i64::from(count));
        }
    }

    /// Records when the certificate an app presents on `side` ([`metric::side`]) expires;
    /// `None` (nothing presented) removes nothing and records nothing.
    pub fn observe_certificate(
        &self,
        app: &'static str,
        side: &'static str,
        not_after: Option<SystemTime>,
    ) {
        let Some(not_after) = not_after else { return };
        self.tls_expiry
            .get_or_create(&TlsLabels { app, side })
            .set(metric::timestamp_seconds(not_after));
    }

    /// Records a PartyInfo round: `parties` posted to, `failing` of them not accepting it.
    pub fn observe_broadcast(&self, parties: usize, failing: usize) {
        self.parties.set(i64::try_from(parties).unwrap_or(i64::MAX));
        self.parties_failing
            .set(i64::try_from(failing).unwrap_or(i64::MAX));
    }

    /// The OpenMetrics text of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// Middleware recording one request.
pub async fn record(
    State((metrics, app)): State<(Arc<Metrics>, &'static str)>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    metrics
        .requests
        .get_or_create(&RequestLabels {
            app,
            route: route.clone(),
            method,
            status,
        })
        .inc();
    metrics
        .latency
        .get_or_create(&RouteLabels { app, route })
        .observe(started.elapsed().as_secs_f64());
    response
}
