//! Forwarding one client request: buffer it, mark it (idempotency key, `Forwarded`), try the
//! upstreams in the group's order as the retry policy allows within the total timeout, and
//! answer with the first answer the policy accepts, or with the proxy's own error.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cloister_protocol::header::{FORWARDED, IDEMPOTENCY_KEY, REQUEST_ID};
use http::StatusCode;

use crate::error::ProxyError;
use crate::hedge::{self, Estimator, Hedging};
use crate::http1::{self, Answer, ReadError, RequestHead, Response, CONTENT_LENGTH};
use crate::metrics::{
    AttemptLabels, HedgeLabels, Metrics, RequestLabels, RetryLabels, RouteLabels,
};
use crate::policy::{self, Failure, Retry, Role, Route};
use crate::settings::Timeouts;
use crate::upstream::{AttemptError, Group, Links, Outgoing, Upstream};

/// The first pause before asking every replica again when each answered 503, doubling up to
/// [`MAX_FAILOVER_PAUSE`]: a database failover takes seconds, and a replica's 503 costs it a
/// failed connect attempt to its store.
const FAILOVER_PAUSE: Duration = Duration::from_millis(100);

/// The longest pause between rounds: short, since whatever part of it falls after the new
/// primary is writable delays the client's answer (500 ms cost up to 612 ms from the new
/// leader's lock to the first acknowledged write; 200 ms at most 372 ms).
const MAX_FAILOVER_PAUSE: Duration = Duration::from_millis(200);

/// What every request on one listener shares.
pub(crate) struct Listener {
    pub(crate) label: Arc<str>,
    pub(crate) role: Role,
    pub(crate) group: Arc<Group>,
    pub(crate) timeouts: Timeouts,
    pub(crate) max_body_bytes: usize,
    pub(crate) confirm_not_found: bool,
    /// Canonical addresses (an IPv4-mapped IPv6 address as IPv4), as callers are compared.
    pub(crate) trusted_proxies: Arc<[IpAddr]>,
    pub(crate) metrics: Arc<Metrics>,
    /// Hedging of reads and keyed writes, unless disabled (`hedge.enabled`).
    pub(crate) hedge: Option<Arc<Hedging>>,
}

/// One attempt's result and the upstream it was made on.
type Attempted<'a> = (&'a Upstream, Result<Response, AttemptError>);

/// What a hedged attempt produced: the results to judge, in the order they came (the
/// winner alone when the first to come was acceptable), and whether a hedge was sent.
struct Raced<'a> {
    results: Vec<Attempted<'a>>,
    hedged: bool,
}

/// Who is at the other end of a client connection, as every request on it names them to the
/// replicas: worked out once per connection, so relaying a request costs nothing for it.
pub(crate) struct Caller {
    /// The `Forwarded` element this proxy adds.
    forwarded: String,
    /// A trusted proxy: its own `Forwarded` fields are relayed, before this proxy's element.
    trusted: bool,
}

/// The record of one client request, for the access log and metrics.
struct Trace {
    tried: Vec<Arc<str>>,
    retries: Vec<&'static str>,
}

impl Caller {
    /// The caller at TCP address `peer` (none on a unix socket), trusted if it is one of
    /// `trusted_proxies` (canonical addresses).
    pub(crate) fn new(peer: Option<SocketAddr>, trusted_proxies: &[IpAddr]) -> Self {
        Self {
            forwarded: forwarded_for(peer),
            trusted: peer.is_some_and(|peer| trusted_proxies.contains(&peer.ip().to_canonical())),
        }
    }
}

impl Listener {
    /// Answers one client request: its head, its body as read (or why it could not be), and
    /// who sent it.
    pub(crate) async fn handle(
        &self,
        head: &RequestHead,
        body: Result<Bytes, ReadError>,
        caller: &Caller,
        links: &mut Links,
    ) -> Answer {
        let started = Instant::now();
        // The client's id when it sent an acceptable one, else a random 128-bit one: unique
        // across processes and restarts, so a node's log can be joined on it.
        let request_id = head
            .request_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let route = policy::classify(self.role, &head.method, head.path());
        let mut trace = Trace {
            tried: Vec::new(),
            retries: Vec::new(),
        };
        let result = match body {
            Ok(body) => {
                let outgoing = self.outgoing(head, &body, &route, caller, &request_id);
                self.forward(&outgoing, &route, started, &mut trace, links)
                    .await
            }
            Err(error) => Err(ProxyError::from_read(error, self.max_body_bytes)),
        };
        let (answer, outcome) = match result {
            Ok(response) => (Answer::relayed(response), "answered"),
            Err(error) => (refuse(&error), error.outcome()),
        };
        let status = answer.status.as_u16();
        let latency = started.elapsed();
        self.metrics
            .requests
            .get_or_create(&RequestLabels {
                listener: self.label.clone(),
                route: route.name,
                status,
                outcome,
            })
            .inc();
        self.metrics
            .latency
            .get_or_create(&RouteLabels {
                listener: self.label.clone(),
                route: route.name,
            })
            .observe(latency.as_secs_f64());
        tracing::info!(
            target: "cloister_proxy::access",
            request_id = %request_id,
            listener = %self.label,
            method = %head.method,
            path = %head.path(),
            route = route.name,
            kind = route.kind.as_str(),
            upstreams = %trace.tried.iter().map(|u| &**u).collect::<Vec<_>>().join(","),
            attempts = trace.tried.len(),
            retries = %trace.retries.join(","),
            status,
            outcome,
            latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
            "forwarded",
        );
        answer
    }

    /// The request as every attempt sends it: the client's request line and end-to-end fields,
    /// the request id, an idempotency key on a write that has none, this proxy's `Forwarded`
    /// element, and the body re-framed with `Content-Length`.
    fn outgoing(
        &self,
        head: &RequestHead,
        body: &Bytes,
        route: &Route,
        caller: &Caller,
        request_id: &str,
    ) -> Outgoing {
        let mut line = Vec::with_capacity(head.target.len() + 20);
        http1::request_line(&mut line, &head.method, &head.target);
        let key = (route.kind.is_write() && !head.has_idempotency_key)
            .then(|| uuid::Uuid::new_v4().hyphenated().to_string());
        // Only a trusted proxy's own Forwarded fields pass, ours after them: anyone else could
        // name any caller, and a replica that believes the last element (its whitelist behind
        // `--trusted-proxy`) must find exactly the caller this proxy saw.
        let client_forwarded: &[u8] = if caller.trusted { &head.forwarded } else { &[] };
        let mut length = itoa::Buffer::new();
        let mut extra: Vec<(&str, &[u8])> = Vec::with_capacity(4);
        extra.push((REQUEST_ID, request_id.as_bytes()));
        if let Some(key) = &key {
            extra.push((IDEMPOTENCY_KEY, key.as_bytes()));
        }
        extra.push((FORWARDED, caller.forwarded.as_bytes()));
        if head.declares_body() || !body.is_empty() {
            extra.push((CONTENT_LENGTH, length.format(body.len()).as_bytes()));
        }
        Outgoing {
            method: head.method.clone(),
            wire: http1::message(&[&line, &head.fields, client_forwarded], &extra, body).into(),
        }
    }

    /// Tries the upstreams in order until one gives an answer the policy accepts. When every
    /// replica answered 503 (each one's store is unavailable: the database is failing over,
    /// and none committed anything), the plan is tried again after a pause, for as long as
    /// the budget allows one more round, so a failover shorter than the budget costs the
    /// client a wait, not an error.
    async fn forward(
        &self,
        outgoing: &Outgoing,
        route: &Route,
        started: Instant,
        trace: &mut Trace,
        links: &mut Links,
    ) -> Result<Response, ProxyError> {
        let deadline = started + self.timeouts.total;
        let mut pause = FAILOVER_PAUSE;
        if let Some((hedging, _)) = self.hedging_for(route) {
            hedging.budget().earn();
        }
        loop {
            let round = self.round(outgoing, route, deadline, trace, links).await;
            let all_unavailable = matches!(&round, Ok(answer) if answer.head.status == StatusCode::SERVICE_UNAVAILABLE);
            let next = Instant::now() + pause;
            if !all_unavailable || next + self.timeouts.connect >= deadline {
                return round;
            }
            trace.retries.push(Retry::Unavailable.as_str());
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_FAILOVER_PAUSE);
        }
    }

    /// This request's hedging, when it may be hedged: the listener's and the route's.
    fn hedging_for(&self, route: &Route) -> Option<(&Hedging, &Estimator)> {
        let hedging = self.hedge.as_deref()?;
        if !hedge::hedgeable(route.kind) {
            return None;
        }
        Some((hedging, hedging.estimator(route.name)?))
    }

    /// Whether `answer` is one the policy relays rather than retries.
    fn acceptable(&self, route: &Route, result: &Result<Response, AttemptError>) -> bool {
        matches!(result, Ok(answer) if policy::retry(route, Failure::Status(answer.head.status), self.confirm_not_found).is_none())
    }

    /// One pass over the plan: the answer the policy accepts, else the last replica's own
    /// answer, else why there was none. A hedgeable request's attempt on an upstream is raced
    /// against a hedge on the next admitted one (once per pass; see [`crate::hedge`]).
    async fn round(
        &self,
        outgoing: &Outgoing,
        route: &Route,
        deadline: Instant,
        trace: &mut Trace,
        links: &mut Links,
    ) -> Result<Response, ProxyError> {
        let plan = self.group.plan();
        let hedging = self.hedging_for(route);
        let mut last_answer: Option<Response> = None;
        let mut last_error: Option<String> = None;
        let mut everything_unsent = true;
        let mut hedged = false;
        let mut next = 0;
        'plan: while next < plan.len() {
            let upstream = plan[next];
            next += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                last_error = Some(format!("retry budget of {:?} spent", self.timeouts.total));
                everything_unsent = false;
                break;
            }
            trace.tried.push(upstream.shared_label());
            let per_try = self.timeouts.per_try.min(remaining);
            let alternate = plan.get(next).filter(|u| !hedged && u.is_healthy());
            let results = match (hedging, alternate) {
                (Some((hedging, estimator)), Some(alternate)) => {
                    let raced = self
                        .race(
                            [upstream, alternate],
                            outgoing,
                            route,
                            per_try,
                            deadline,
                            (hedging, estimator),
                            links,
                        )
                        .await;
                    if raced.hedged {
                        hedged = true;
                        trace.tried.push(alternate.shared_label());
                        // A hedge that got no answer either does not use up its replica's
                        // turn: the plan goes on to it with what is left of the budget, as it
                        // would have without hedging (a store hang stalls every replica alike;
                        // racing them must not make the request fail sooner).
                        if raced.results.iter().any(|(_, result)| result.is_ok()) {
                            next += 1;
                        }
                    }
                    raced.results
                }
                (hedging, _) => {
                    let attempted = Instant::now();
                    let result = upstream.attempt(outgoing, per_try, links).await;
                    if let (Some((_, estimator)), Ok(_)) = (hedging, &result) {
                        estimator.observe(attempted.elapsed());
                    }
                    vec![(upstream, result)]
                }
            };
            let count = results.len();
            for (k, (upstream, result)) in results.into_iter().enumerate() {
                let failure = match result {
                    Ok(answer) => {
                        let failure = Failure::Status(answer.head.status);
                        upstream.record_request(policy::counts_against_upstream(failure));
                        self.count_attempt(upstream, status_class(answer.head.status));
                        let retry = policy::retry(route, failure, self.confirm_not_found);
                        last_answer = Some(answer);
                        everything_unsent = false;
                        match retry {
                            Some(reason) => reason,
                            None => break 'plan,
                        }
                    }
                    Err(error) => {
                        upstream.record_request(policy::counts_against_upstream(error.failure));
                        let sent = error.failure != Failure::NotSent;
                        self.count_attempt(upstream, if sent { "no-answer" } else { "not-sent" });
                        tracing::debug!(upstream = upstream.label(), error = %error.message, "attempt failed");
                        everything_unsent &= !sent;
                        // A failure without an answer supersedes an earlier answer only if the
                        // answer was itself retriable; keep the answer to relay it if nothing
                        // better.
                        last_error = Some(format!("{}: {}", upstream.label(), error.message));
                        match policy::retry(route, error.failure, self.confirm_not_found) {
                            Some(reason) => reason,
                            None => {
                                return Err(ProxyError::NotRetriable { route: route.name });
                            }
                        }
                    }
                };
                if k + 1 < count || next < plan.len() {
                    trace.retries.push(failure.as_str());
                    self.metrics
                        .retries
                        .get_or_create(&RetryLabels {
                            listener: self.label.clone(),
                            reason: failure.as_str(),
                        })
                        .inc();
                }
            }
        }
        // A replica's own answer (a 503 from each, a 404 from each) is the truth; relay it.
        if let Some(answer) = last_answer {
            return Ok(answer);
        }
        let attempts = trace.tried.len();
        if everything_unsent {
            Err(ProxyError::NoUpstream { attempts })
        } else {
            Err(ProxyError::NoAnswer {
                attempts,
                last: last_error.unwrap_or_default(),
            })
        }
    }

    /// An attempt on `first`; if it has not answered after the route's hedge delay and the
    /// budget allows, the same request on `second` too. The first acceptable answer wins and
    /// the other attempt is dropped (its connection closed); when the first to come is not
    /// acceptable, the other is awaited and both are judged. A first replica overtaken by
    /// its hedge counts as a failed request towards its passive ejection: it did not answer
    /// within the delay and the whole of another replica's exchange.
    #[allow(clippy::too_many_arguments)]
    async fn race<'a>(
        &self,
        [first, second]: [&'a Upstream; 2],
        outgoing: &Outgoing,
        route: &Route,
        per_try: Duration,
        deadline: Instant,
        (hedging, estimator): (&Hedging, &Estimator),
        links: &mut Links,
    ) -> Raced<'a> {
        let started = Instant::now();
        let one = first.attempt_on(first.take_link(links), outgoing, per_try);
        tokio::pin!(one);
        let early = tokio::select! {
            biased;
            done = &mut one => Some(done),
            () = tokio::time::sleep(estimator.delay()) => None,
        };
        let alone = match early {
            Some(done) => Some(done),
            None if hedging.budget().spend() => None,
            None => {
                self.count_hedge(hedging, hedge::Outcome::Denied);
                Some(one.as_mut().await)
            }
        };
        if let Some((result, link)) = alone {
            first.keep_link(links, link);
            if result.is_ok() {
                estimator.observe(started.elapsed());
            }
            return Raced {
                results: vec![(first, result)],
                hedged: false,
            };
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        let two = second.attempt_on(
            second.take_link(links),
            outgoing,
            self.timeouts.per_try.min(remaining),
        );
        tokio::pin!(two);
        let results = tokio::select! {
            (result, link) = &mut one => {
                first.keep_link(links, link);
                if self.acceptable(route, &result) {
                    estimator.observe(started.elapsed());
                    self.count_hedge(hedging, hedge::Outcome::Lost);
                    vec![(first, result)]
                } else {
                    let (other, link) = two.as_mut().await;
                    second.keep_link(links, link);
                    let won = self.acceptable(route, &other);
                    self.count_hedge(hedging, if won { hedge::Outcome::Won } else { hedge::Outcome::Lost });
                    vec![(first, result), (second, other)]
                }
            }
            (result, link) = &mut two => {
                second.keep_link(links, link);
                if self.acceptable(route, &result) {
                    estimator.observe(started.elapsed());
                    self.count_hedge(hedging, hedge::Outcome::Won);
                    first.record_request(true);
                    self.count_attempt(first, "overtaken");
                    vec![(second, result)]
                } else {
                    let (other, link) = one.as_mut().await;
                    first.keep_link(links, link);
                    self.count_hedge(hedging, hedge::Outcome::Lost);
                    vec![(second, result), (first, other)]
                }
            }
        };
        Raced {
            results,
            hedged: true,
        }
    }

    fn count_hedge(&self, hedging: &Hedging, outcome: hedge::Outcome) {
        hedging.count(outcome);
        self.metrics
            .hedges
            .get_or_create(&HedgeLabels {
                listener: self.label.clone(),
                outcome: outcome.as_str(),
            })
            .inc();
    }

    fn count_attempt(&self, upstream: &Upstream, result: &'static str) {
        self.metrics
            .attempts
            .get_or_create(&AttemptLabels {
                upstream: upstream.shared_label(),
                result,
            })
            .inc();
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// RFC 7239 `for=`: an IPv6 address is quoted and bracketed; a unix-socket caller is `unknown`.
/// An IPv4 caller on a dual-stack listener shows as IPv4, as a whitelist lists it.
fn forwarded_for(peer: Option<SocketAddr>) -> String {
    match peer.map(|peer| peer.ip().to_canonical()) {
        Some(IpAddr::V4(ip)) => format!("for={ip}"),
        Some(IpAddr::V6(ip)) => format!("for=\"[{ip}]\""),
        None => "for=unknown".to_owned(),
    }
}

/// The proxy's own answer: plain text, so GoQuorum logs a readable reason.
pub(crate) fn refuse(error: &ProxyError) -> Answer {
    Answer::own(
        error.status(),
        "text/plain; charset=utf-8",
        error.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_follows_rfc_7239() {
        assert_eq!(
            forwarded_for(Some("10.1.2.3:5000".parse().unwrap())),
            "for=10.1.2.3"
        );
        assert_eq!(
            forwarded_for(Some("[::1]:5000".parse().unwrap())),
            "for=\"[::1]\""
        );
        assert_eq!(forwarded_for(None), "for=unknown");
    }

    #[test]
    fn an_ipv4_caller_on_a_dual_stack_listener_is_named_as_ipv4() {
        assert_eq!(
            forwarded_for(Some("[::ffff:10.1.2.3]:5000".parse().unwrap())),
            "for=10.1.2.3"
        );
    }
}
