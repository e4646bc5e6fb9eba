//! One upstream replica: connections to it (TCP or unix socket), one attempt of a buffered
//! request, and its health state, shared by every connection of every listener in front of it.
//!
//! Connections are not pooled per upstream but owned by the client connection that uses them
//! ([`Links`]): GoQuorum holds its `tm.ipc` connections open, so each of its connections gets
//! at most one connection to each replica, and a relayed exchange is driven by the client
//! connection's own task. A shared pool would hand every exchange to a connection task and back
//! (two task wake-ups per request, often across threads), which on a small machine costs more
//! than the proxy's own work.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cloister_addr::Endpoint;
use cloister_net::health::{Change, HealthCounter, Probe};
use cloister_net::{ClientStream, Stream};
use http::Method;
use tokio_rustls::TlsConnector;

use crate::http1::{Connection, Response};
use crate::metrics::{Metrics, UpstreamLabels};
use crate::policy::Failure;
use crate::settings::HealthSettings;

/// One client connection's kept connections to the upstreams, by upstream id, opened on first
/// use and closed with it.
pub(crate) type Links = HashMap<usize, Link>;

/// A connection to an upstream: plain, or TLS to an `https://` one.
pub(crate) type Link = Connection<ClientStream>;

/// How an exchange on a link failed.
enum ExchangeError {
    /// Not a byte of the request was written.
    Unsent(std::io::Error),
    /// It may have been written.
    Failed(String),
}

/// Writes `outgoing` on `link` and reads the whole answer.
async fn exchange(link: &mut Link, outgoing: &Outgoing) -> Result<Response, ExchangeError> {
    link.write_all(&outgoing.wire).await.map_err(|error| {
        if error.nothing_written {
            ExchangeError::Unsent(error.source)
        } else {
            ExchangeError::Failed(format!("writing the request: {error}"))
        }
    })?;
    link.read_response(outgoing.method == Method::HEAD)
        .await
        .map_err(|error| ExchangeError::Failed(format!("reading the answer: {error}")))
}

/// Ids that tell upstreams apart in [`Links`].
static NEXT_UPSTREAM_ID: AtomicUsize = AtomicUsize::new(0);

/// A buffered client request as it goes upstream, ready to be written any number of times.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub(crate) method: Method,
    /// The whole message: request line, fields, body.
    pub(crate) wire: Bytes,
}

/// An attempt that produced no answer.
#[derive(Debug)]
pub(crate) struct AttemptError {
    /// [`Failure::NotSent`] or [`Failure::Ambiguous`].
    pub(crate) failure: Failure,
    pub(crate) message: String,
}

/// One upstream replica and its health.
pub struct Upstream {
    label: Arc<str>,
    /// Tells it apart in every client connection's [`Links`].
    id: usize,
    connect_timeout: Duration,
    /// For an `https://` upstream.
    tls: Option<TlsConnector>,
    /// Its check (`/health`, `/upcheck`, or a TLS handshake), which also holds its address.
    probe: Probe,
    /// The state the request path reads, kept equal to `counter`'s under its lock.
    healthy: AtomicBool,
    counter: Mutex<HealthCounter>,
    health: HealthSettings,
    metrics: Arc<Metrics>,
}

impl Upstream {
    /// An upstream checked by `probe` (which holds its address), reached over TLS with `tls`
    /// when it is `https://`.
    pub(crate) fn new(
        probe: Probe,
        tls: Option<TlsConnector>,
        connect_timeout: Duration,
        health: HealthSettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        let upstream = Self {
            label: probe.endpoint().to_string().into(),
            id: NEXT_UPSTREAM_ID.fetch_add(1, Ordering::Relaxed),
            connect_timeout,
            tls,
            probe,
            healthy: AtomicBool::new(true),
            counter: Mutex::new(HealthCounter::default()),
            health,
            metrics,
        };
        upstream.gauge().set(1);
        // The count exists at 0 from the start: an alert on `increase()` then sees the first
        // ejection too (a series first scraped at 1 shows no increase).
        let _ = upstream.metrics.ejections.get_or_create(&UpstreamLabels {
            upstream: upstream.label.clone(),
        });
        upstream
    }

    /// Its address, as given.
    pub fn address(&self) -> &Endpoint {
        self.probe.endpoint()
    }

    /// Its address as text (logs, metrics, status).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Its label, shared (for metric labels and the access log).
    pub(crate) fn shared_label(&self) -> Arc<str> {
        self.label.clone()
    }

    /// Whether it is admitted (not ejected).
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Its state for `/status`: the health counter's fields, its address and checked path.
    pub fn status(&self) -> serde_json::Value {
        let mut status = serde_json::to_value(&*self.counter()).unwrap_or_default();
        status["healthy"] = serde_json::Value::from(self.is_healthy());
        status["address"] = serde_json::Value::from(&*self.label);
        status["healthPath"] = serde_json::Value::from(self.probe.path());
        status
    }

    fn counter(&self) -> MutexGuard<'_, HealthCounter> {
        // A panic while holding this lock leaves plain counts behind; keep serving.
        self.counter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn gauge(&self) -> prometheus_client::metrics::gauge::Gauge {
        self.metrics
            .healthy
            .get_or_create(&UpstreamLabels {
                upstream: self.label.clone(),
            })
            .clone()
    }

    /// Sends `outgoing` once and reads the whole answer within `per_try`, on this client
    /// connection's link to the upstream (opened, or reopened, as needed). A kept link the
    /// upstream closed, or that took not a byte of the request, is replaced once, transparently.
    pub(crate) async fn attempt(
        &self,
        outgoing: &Outgoing,
        per_try: Duration,
        links: &mut Links,
    ) -> Result<Response, AttemptError> {
        let (result, link) = self
            .attempt_on(links.remove(&self.id), outgoing, per_try)
            .await;
        if let Some(link) = link {
            links.insert(self.id, link);
        }
        result
    }

    /// This client connection's kept link to it, taken out of `links` so that an attempt can
    /// run beside an attempt on another upstream (a hedge).
    pub(crate) fn take_link(&self, links: &mut Links) -> Option<Link> {
        links.remove(&self.id)
    }

    /// Gives a link back to `links` for the next request.
    pub(crate) fn keep_link(&self, links: &mut Links, link: Option<Link>) {
        if let Some(link) = link {
            links.insert(self.id, link);
        }
    }

    /// [`Upstream::attempt`] on the link `kept` (if any): the result, and the link to keep
    /// when it may carry another request.
    pub(crate) async fn attempt_on(
        &self,
        mut kept: Option<Link>,
        outgoing: &Outgoing,
        per_try: Duration,
    ) -> (Result<Response, AttemptError>, Option<Link>) {
        let deadline = Instant::now() + per_try;
        let result = loop {
            let reusable = kept
                .take()
                .and_then(|mut link| link.is_reusable().then_some(link));
            let reused = reusable.is_some();
            let mut link = match reusable {
                Some(link) => link,
                None => match self.connect(deadline).await {
                    Ok(link) => link,
                    Err(error) => break Err(error),
                },
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(remaining, exchange(&mut link, outgoing)).await {
                Ok(Ok(response)) => {
                    let keep = response.head.keep_alive.then_some(link);
                    return (Ok(response), keep);
                }
                Ok(Err(ExchangeError::Unsent(_))) if reused => {}
                Ok(Err(ExchangeError::Unsent(error))) => {
                    break Err(AttemptError {
                        failure: Failure::NotSent,
                        message: format!("writing the request: {error}"),
                    })
                }
                Ok(Err(ExchangeError::Failed(message))) => {
                    break Err(AttemptError {
                        failure: Failure::Ambiguous,
                        message,
                    })
                }
                Err(_) => {
                    break Err(AttemptError {
                        failure: Failure::Ambiguous,
                        message: format!("no answer within {per_try:?}"),
                    })
                }
            }
        };
        (result, None)
    }

    /// Opens a link within the connect timeout and before `deadline`. Nothing has been
    /// written when this fails.
    async fn connect(&self, deadline: Instant) -> Result<Link, AttemptError> {
        let limit = self
            .connect_timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        match self.open(limit).await {
            Ok(stream) => Ok(Connection::new(stream)),
            Err(error) => Err(AttemptError {
                failure: Failure::NotSent,
                message: format!("connect: {error}"),
            }),
        }
    }

    /// A connection to it within `limit`, its TLS handshake included: a replica that accepts
    /// TCP but never answers (a stopped process) fails within the connect timeout, as one that
    /// refuses does.
    pub(crate) async fn open(&self, limit: Duration) -> std::io::Result<ClientStream> {
        cloister_net::connect_tls(self.address(), limit, self.tls.as_ref()).await
    }

    /// A connection to it within `limit` that the proxy will not speak on: plain TCP whatever
    /// the scheme, since a passthrough client speaks TLS through it.
    pub(crate) async fn open_unread(&self, limit: Duration) -> std::io::Result<Stream> {
        cloister_net::connect(self.address(), limit).await
    }

    /// Passive health: records the outcome of a proxied attempt.
    pub(crate) fn record_request(&self, failed: bool) {
        let mut counter = self.counter();
        let change = counter.record_request(failed, &self.health.thresholds);
        self.apply(change, &counter, "passive");
    }

    /// Runs one active check: `GET /health`, or `/upcheck` where `/health` is unknown.
    pub(crate) async fn check(&self) -> bool {
        match self.probe.check(self.health.timeout).await {
            Ok(()) => true,
            Err(error) => {
                tracing::debug!(upstream = %self.label, %error, "check failed");
                false
            }
        }
    }

    /// Records an active check's result, ejecting after `fall` failures in a row and
    /// re-admitting after `rise` passes in a row.
    pub(crate) fn record_check(&self, passed: bool) {
        let mut counter = self.counter();
        let change = counter.record_check(passed, &self.health.thresholds);
        self.apply(change, &counter, "active");
    }

    /// Publishes a change of state: the request path's flag, the gauge, the log and the count.
    fn apply(&self, change: Option<Change>, counter: &HealthCounter, by: &'static str) {
        match change {
            None => {}
            Some(Change::Readmitted) => {
                self.healthy.store(true, Ordering::Relaxed);
                self.gauge().set(1);
                tracing::info!(upstream = %self.label, "upstream re-admitted");
            }
            Some(Change::Ejected) => {
                self.healthy.store(false, Ordering::Relaxed);
                self.gauge().set(0);
                self.metrics
                    .ejections
                    .get_or_create(&UpstreamLabels {
                        upstream: self.label.clone(),
                    })
                    .inc();
                tracing::warn!(upstream = %self.label, by, failures = counter.failures(), "upstream ejected");
            }
        }
    }
}

/// The upstreams behind one listener and the round-robin cursor over them.
pub struct Group {
    pub(crate) upstreams: Vec<Arc<Upstream>>,
    next: std::sync::atomic::AtomicUsize,
}

impl Group {
    pub(crate) fn new(upstreams: Vec<Arc<Upstream>>) -> Self {
        Self {
            upstreams,
            next: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The order to try upstreams in for one request: the admitted ones round-robin, then the
    /// ejected ones, so that when every replica is ejected the proxy still tries them all (a
    /// replica that came back answers at once, before any check re-admits it).
    pub(crate) fn plan(&self) -> Vec<&Upstream> {
        let n = self.upstreams.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut plan: Vec<&Upstream> = (0..n).map(|i| &*self.upstreams[(start + i) % n]).collect();
        // Stable: the admitted keep their round-robin order, then the ejected keep theirs.
        plan.sort_by_key(|u| !u.is_healthy());
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(index: usize, health: HealthSettings) -> Arc<Upstream> {
        Arc::new(Upstream::new(
            Probe::new(Endpoint::unix(format!("/nonexistent/{index}"))),
            None,
            Duration::from_millis(100),
            health,
            Arc::new(Metrics::default()),
        ))
    }

    #[tokio::test]
    async fn passive_failures_eject_and_checks_readmit() {
        let mut health = HealthSettings::default();
        health.thresholds.passive_failures = 2;
        health.thresholds.rise = 2;
        let u = upstream(0, health);
        u.record_request(true);
        assert!(u.is_healthy());
        u.record_request(false);
        u.record_request(true);
        assert!(u.is_healthy(), "a success in between resets the count");
        u.record_request(true);
        assert!(!u.is_healthy());
        u.record_check(true);
        assert!(!u.is_healthy(), "one pass is not enough with rise 2");
        u.record_check(true);
        assert!(u.is_healthy());
        assert_eq!(u.status()["ejections"], 1);
    }

    #[tokio::test]
    async fn the_plan_puts_ejected_upstreams_last_but_keeps_them() {
        let mut health = HealthSettings::default();
        health.thresholds.fall = 1;
        let group = Group::new(vec![upstream(0, health), upstream(1, health)]);
        group.upstreams[0].record_check(false);
        for _ in 0..4 {
            let plan = group.plan();
            assert_eq!(plan.len(), 2);
            assert!(plan[0].is_healthy() && !plan[1].is_healthy());
        }
        group.upstreams[1].record_check(false);
        let starts: std::collections::HashSet<_> =
            (0..4).map(|_| group.plan()[0].label().to_owned()).collect();
        assert_eq!(starts.len(), 2, "round-robin goes on among ejected ones");
    }

    /// An upstream on the unix socket `path`, with a 200 ms connect timeout.
    fn at(path: std::path::PathBuf) -> Upstream {
        Upstream::new(
            Probe::new(Endpoint::Unix(path)),
            None,
            Duration::from_millis(200),
            HealthSettings::default(),
            Arc::new(Metrics::default()),
        )
    }

    fn send() -> Outgoing {
        Outgoing {
            method: Method::POST,
            wire: Bytes::from_static(b"POST /send HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}"),
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_not_sent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead.sock");
        // A socket file with nobody listening: connect is refused.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let u = at(path);
        let outgoing = send();
        let error = u
            .attempt(&outgoing, Duration::from_secs(1), &mut Links::new())
            .await
            .unwrap_err();
        assert_eq!(error.failure, Failure::NotSent, "{}", error.message);
        assert!(!u.check().await);
    }

    #[tokio::test]
    async fn a_request_that_gets_no_answer_is_ambiguous() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hung.sock");
        // Accepts (the kernel does, from the backlog) but never answers: as a SIGSTOPped node.
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let u = at(path);
        let outgoing = send();
        let error = u
            .attempt(&outgoing, Duration::from_millis(200), &mut Links::new())
            .await
            .unwrap_err();
        assert_eq!(error.failure, Failure::Ambiguous, "{}", error.message);
    }
}
