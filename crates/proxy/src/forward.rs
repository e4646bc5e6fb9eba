//! Forwarding one client request: buffer it, mark it (idempotency key, `Forwarded`), try the
//! upstreams in the group's order as the retry policy allows within the total timeout, and
//! answer with the first answer the policy accepts, or with the proxy's own error.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{HeaderMap, Request, Response, StatusCode};
use tokio::sync::Mutex;

use crate::error::ProxyError;
use crate::metrics::{AttemptLabels, Metrics, RequestLabels, RetryLabels, RouteLabels};
use crate::policy::{self, Failure, Role, Route};
use crate::protocol::{FORWARDED, HOP_BY_HOP, IDEMPOTENCY_KEY};
use crate::settings::Timeouts;
use crate::upstream::{Answer, Group, Links, Outgoing, Upstream};

/// Request ids for the access log: unique within this process, and free (a random id per
/// request costs a `getrandom` call).
static NEXT_REQUEST_ID: AtomicU64 = AtomicU64::new(1);

/// What every request on one listener shares.
pub(crate) struct Listener {
    pub(crate) label: Arc<str>,
    pub(crate) role: Role,
    pub(crate) group: Arc<Group>,
    pub(crate) timeouts: Timeouts,
    pub(crate) max_body_bytes: usize,
    pub(crate) confirm_not_found: bool,
    pub(crate) metrics: Arc<Metrics>,
}

/// The record of one client request, for the access log and metrics.
struct Trace {
    tried: Vec<Arc<str>>,
    retries: Vec<&'static str>,
}

impl Listener {
    /// Answers one client request; `peer` is the caller's TCP address (none on a unix socket).
    pub(crate) async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        peer: Option<SocketAddr>,
        links: Arc<Mutex<Links>>,
    ) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let request_id = NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed);
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let route = policy::classify(self.role, &method, &path);
        let mut trace = Trace {
            tried: Vec::new(),
            retries: Vec::new(),
        };
        let result = match self.buffer(request, &route, peer).await {
            Ok(outgoing) => {
                let mut links = links.lock().await;
                self.forward(&outgoing, &route, started, &mut trace, &mut links)
                    .await
            }
            Err(error) => Err(error),
        };
        let (response, outcome) = match result {
            Ok(answer) => (relay(answer), "answered"),
            Err(error) => (refuse(&error), error.outcome()),
        };
        let status = response.status().as_u16();
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
            %method,
            path = %path,
            route = route.name,
            kind = route.kind.as_str(),
            upstreams = %trace.tried.iter().map(|u| &**u).collect::<Vec<_>>().join(","),
            attempts = trace.tried.len(),
            retries = %trace.retries.join(","),
            status,
            outcome,
            latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        );
        response
    }

    /// Reads the whole body (so any retry is possible) and prepares the headers to forward.
    async fn buffer(
        &self,
        request: Request<Incoming>,
        route: &Route,
        peer: Option<SocketAddr>,
    ) -> Result<Outgoing, ProxyError> {
        let too_large = ProxyError::BodyTooLarge {
            limit: self.max_body_bytes,
        };
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body_bytes as u64) {
            return Err(too_large);
        }
        let (parts, body) = request.into_parts();
        let body = match Limited::new(body, self.max_body_bytes).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => return Err(too_large),
            Err(error) => return Err(ProxyError::BadRequest(error.to_string())),
        };
        let mut headers = end_to_end(parts.headers);
        if route.kind.is_write() && !headers.contains_key(IDEMPOTENCY_KEY) {
            let key = uuid::Uuid::new_v4().to_string();
            headers.insert(
                HeaderName::from_static(IDEMPOTENCY_KEY),
                HeaderValue::try_from(key).map_err(|e| ProxyError::BadRequest(e.to_string()))?,
            );
        }
        if matches!(self.role, Role::P2p | Role::ThirdParty) {
            // Appended, never replaced: a client can write any Forwarded it likes, so the
            // replica must trust only the element this proxy adds, the last one.
            headers.append(HeaderName::from_static(FORWARDED), forwarded_for(peer));
        }
        let path_and_query = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| hyper::http::uri::PathAndQuery::from_static("/"));
        Ok(Outgoing {
            method: parts.method,
            path_and_query,
            headers,
            body,
        })
    }

    /// Tries the upstreams in order until one gives an answer the policy accepts.
    async fn forward(
        &self,
        outgoing: &Outgoing,
        route: &Route,
        started: Instant,
        trace: &mut Trace,
        links: &mut Links,
    ) -> Result<Answer, ProxyError> {
        let deadline = started + self.timeouts.total;
        let plan = self.group.plan();
        let mut last_answer: Option<Answer> = None;
        let mut last_error: Option<String> = None;
        let mut everything_unsent = true;
        for (index, upstream) in plan.iter().enumerate() {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                last_error = Some(format!("retry budget of {:?} spent", self.timeouts.total));
                everything_unsent = false;
                break;
            }
            trace.tried.push(upstream.shared_label());
            let per_try = self.timeouts.per_try.min(remaining);
            let failure = match upstream.attempt(outgoing, per_try, links).await {
                Ok(answer) => {
                    let failure = Failure::Status(answer.status);
                    upstream.record_request(policy::counts_against_upstream(failure));
                    self.count_attempt(upstream, status_class(answer.status));
                    let retry = policy::retry(route, failure, self.confirm_not_found);
                    last_answer = Some(answer);
                    everything_unsent = false;
                    match retry {
                        Some(reason) => reason,
                        None => break,
                    }
                }
                Err(error) => {
                    upstream.record_request(policy::counts_against_upstream(error.failure));
                    let sent = error.failure != Failure::NotSent;
                    self.count_attempt(upstream, if sent { "no-answer" } else { "not-sent" });
                    tracing::debug!(upstream = upstream.label(), error = %error.message, "attempt failed");
                    everything_unsent &= !sent;
                    // A failure without an answer supersedes an earlier answer only if the
                    // answer was itself retriable; keep the answer to relay it if nothing better.
                    last_error = Some(format!("{}: {}", upstream.label(), error.message));
                    match policy::retry(route, error.failure, self.confirm_not_found) {
                        Some(reason) => reason,
                        None => {
                            return Err(ProxyError::NotRetriable { route: route.name });
                        }
                    }
                }
            };
            if index + 1 < plan.len() {
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

/// Drops hop-by-hop headers, including any the `Connection` header names.
fn end_to_end(mut headers: HeaderMap) -> HeaderMap {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers
}

/// RFC 7239 `for=`: an IPv6 address is quoted and bracketed; a unix-socket caller is `unknown`.
fn forwarded_for(peer: Option<SocketAddr>) -> HeaderValue {
    let value = match peer {
        Some(SocketAddr::V4(address)) => format!("for={}", address.ip()),
        Some(SocketAddr::V6(address)) => format!("for=\"[{}]\"", address.ip()),
        None => "for=unknown".to_owned(),
    };
    HeaderValue::try_from(value).unwrap_or_else(|_| HeaderValue::from_static("for=unknown"))
}

fn relay(answer: Answer) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(answer.body));
    *response.status_mut() = answer.status;
    // Content-Length is re-derived from the buffered body by the server.
    let mut headers = end_to_end(answer.headers);
    headers.remove(CONTENT_LENGTH);
    *response.headers_mut() = headers;
    response
}

/// The proxy's own answer: plain text, so GoQuorum logs a readable reason.
pub(crate) fn refuse(error: &ProxyError) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(error.to_string())));
    *response.status_mut() = error.status();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_dropped_and_the_rest_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-private"),
        );
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        headers.insert("c11n-to", HeaderValue::from_static("key"));
        headers.insert("host", HeaderValue::from_static("c"));
        let kept = end_to_end(headers);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept["c11n-to"], "key");
        assert_eq!(kept["host"], "c");
    }

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
}
