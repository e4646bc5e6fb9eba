//! One JSON-RPC call from client to node and back: classify, pick upstreams, send (repeating
//! reads, never a write that may have left), rewrite filter ids, and answer every failure with a
//! JSON-RPC error naming its cause.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::{HeaderMap, StatusCode};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::accounts::AccountLocks;
use crate::filters;
use crate::health::{Health, Need};
use crate::metrics::{self, CallLabels, Metrics, UpstreamMetrics};
use crate::routing::{classify, need, Kind, Routing};
use crate::rpc::{self, codes, methods, Call, FILTER_NOT_FOUND};
use crate::settings::GatewaySettings;
use crate::upstream::{Answer, Upstream, UpstreamError};

/// What the client's request carries besides the body that upstreams must see too.
#[derive(Debug, Default, Clone)]
pub struct Forward {
    /// The forwarded headers ([`rpc::FORWARDED_HEADERS`]).
    pub headers: HeaderMap,
    /// The query string (GoQuorum reads `PSI` from it).
    pub query: Option<String>,
}

/// An answer for the client.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status: the upstream's, or 200 for errors the gateway answers itself, because
    /// JSON-RPC clients (geth's, ethers, web3.js) read the error object only from a 200.
    pub status: StatusCode,
    /// Content type (the upstream's when it answered).
    pub content_type: Option<HeaderValue>,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    fn local(body: Vec<u8>) -> Self {
        Self {
            status: StatusCode::OK,
            content_type: None,
            body: Bytes::from(body),
        }
    }

    fn from_answer(answer: Answer) -> Self {
        Self {
            status: answer.status,
            content_type: answer.content_type,
            body: answer.body,
        }
    }
}

/// The request path: upstreams, their health, routing and limits.
pub struct Proxy {
    /// The nodes.
    pub upstreams: Arc<Vec<Upstream>>,
    /// Each node's request-path metrics, in the same order.
    pub upstream_metrics: Vec<UpstreamMetrics>,
    /// Their health.
    pub health: Arc<Health>,
    /// How calls are spread.
    pub routing: Routing,
    /// Limits and timeouts.
    pub settings: GatewaySettings,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Serialises account-scoped writes per account.
    pub accounts: AccountLocks,
    /// Set to `true` when the gateway stops, which ends client WebSocket connections (they
    /// outlive the HTTP server's graceful shutdown otherwise).
    pub stopping: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    fn local_error(
        &self,
        id: Option<&RawValue>,
        code: i64,
        message: &str,
        reason: &'static str,
    ) -> Reply {
        self.metrics.local_error(reason);
        Reply::local(rpc::error_body(id, code, message))
    }

    /// Answers one call (not a batch).
    pub async fn call(&self, body: Bytes, forward: &Forward) -> Reply {
        let call = match Call::parse(&body) {
            Ok(call) => call,
            Err((code, message)) => return self.local_error(None, code, message, "invalid"),
        };
        let kind = classify(&call);
        match kind {
            Kind::FilterCall => self.filter_call(&call, forward).await,
            Kind::NewFilter => match self.send(&call, &kind, body.clone(), forward).await {
                Ok((index, answer)) => Reply::from_answer(wrap_filter_id(index, answer)),
                Err(reply) => reply,
            },
            Kind::Account {
                ref account,
                repeatable: false,
            } => {
                let _turn = self.accounts.lock(account).await;
                match self.send(&call, &kind, body.clone(), forward).await {
                    Ok((_, answer)) => Reply::from_answer(answer),
                    Err(reply) => reply,
                }
            }
            _ => match self.send(&call, &kind, body.clone(), forward).await {
                Ok((_, answer)) => Reply::from_answer(answer),
                Err(reply) => reply,
            },
        }
    }

    /// Sends `body` to the upstreams routing picks for `kind`, in order, moving on only when
    /// that cannot execute the call twice: always for repeatable kinds, for the others only when
    /// the request never left. Gives the index of the upstream that answered.
    async fn send(
        &self,
        call: &Call<'_>,
        kind: &Kind,
        body: Bytes,
        forward: &Forward,
    ) -> Result<(usize, Answer), Reply> {
        let method = call.method();
        let need = need(call, kind);
        let order = self.routing.order(kind, self.health.usable(need));
        if order.is_empty() {
            let message = if need == Need::Privacy {
                format!(
                    "no healthy upstream with a working privacy path for {method} ({})",
                    self.health.privacy_reasons()
                )
            } else {
                format!(
                    "no healthy upstream for {method} ({})",
                    self.health.unavailable_reasons()
                )
            };
            return Err(self.local_error(call.id, codes::INTERNAL_ERROR, &message, "no_upstream"));
        }
        let timeout = self.settings.timeout_for(method);
        let mut failures = Vec::new();
        let mut maybe_executed = false;
        for (attempt, &index) in order.iter().enumerate() {
            if attempt > 0 {
                self.metrics.retries.inc();
            }
            let upstream = &self.upstreams[index];
            let started = Instant::now();
            let result = upstream
                .call(
                    body.clone(),
                    &forward.headers,
                    forward.query.as_deref(),
                    timeout,
                )
                .await;
            let handles = &self.upstream_metrics[index];
            handles.latency.observe(started.elapsed().as_secs_f64());
            let outcome = match &result {
                Ok(answer) if answer.status.is_server_error() => "http_error",
                Ok(_) => metrics::OK,
                Err(UpstreamError::Unsent { .. }) => "unsent",
                Err(UpstreamError::Failed { .. }) => "failed",
                Err(UpstreamError::TimedOut { .. }) => "timeout",
                Err(UpstreamError::Unsuitable { .. }) => "unsuitable",
            };
            if outcome == metrics::OK {
                handles.ok.inc();
            } else {
                self.metrics
                    .calls
                    .get_or_create(&CallLabels {
                        upstream: upstream.name.clone(),
                        outcome,
                    })
                    .inc();
            }
            match result {
                Ok(answer) if answer.status.is_server_error() && kind.repeatable() => {
                    failures.push(format!("{}: HTTP {}", upstream.name, answer.status));
                }
                Ok(answer) => {
                    self.health.record_success(index);
                    return Ok((index, answer));
                }
                Err(error) => {
                    if error.counts_against_health() {
                        self.health.record_failure(index, &error);
                    }
                    failures.push(error.to_string());
                    if !kind.repeatable() && !error.unsent() {
                        maybe_executed = true;
                        break;
                    }
                }
            }
        }
        let mut message = format!("no upstream answered {method}: {}", failures.join("; "));
        if maybe_executed {
            message.push_str(
                "; not sent to another node because it may have been executed on this one",
            );
        }
        Err(self.local_error(call.id, codes::INTERNAL_ERROR, &message, "no_upstream"))
    }

    /// A call on a filter goes to the node that created it, with the node's own id. A filter
    /// whose node is gone or unhealthy gets the answer a node gives for an unknown filter, so
    /// clients recreate it (on a healthy node).
    async fn filter_call(&self, call: &Call<'_>, forward: &Forward) -> Reply {
        let method = call.method();
        let mut params = call.params_array();
        let target = params
            .first()
            .and_then(Value::as_str)
            .and_then(filters::unwrap)
            .filter(|(index, _)| *index < self.upstreams.len() && self.health.is_healthy(*index));
        let Some((index, original)) = target else {
            return self.filter_not_found(call);
        };
        params[0] = Value::String(original);
        let body = rewrite_params(call, &params);
        let upstream = &self.upstreams[index];
        let timeout = self.settings.timeout_for(method);
        match upstream
            .call(body, &forward.headers, forward.query.as_deref(), timeout)
            .await
        {
            Ok(answer) => {
                self.health.record_success(index);
                Reply::from_answer(answer)
            }
            Err(error) => {
                if error.counts_against_health() {
                    self.health.record_failure(index, &error);
                }
                self.filter_not_found(call)
            }
        }
    }

    fn filter_not_found(&self, call: &Call<'_>) -> Reply {
        self.metrics.local_error("filter_not_found");
        if call.method() == methods::UNINSTALL_FILTER {
            // geth answers `false` for removing a filter it does not know.
            return Reply::local(rpc::result_body(call.id, &Value::Bool(false)));
        }
        Reply::local(rpc::error_body(
            call.id,
            codes::SERVER_ERROR,
            FILTER_NOT_FOUND,
        ))
    }

    /// Answers a batch: each call routed on its own, concurrently, the answers put back in the
    /// order of the calls (each keeps its own id, since each upstream echoes it).
    pub async fn batch(&self, body: Bytes, forward: &Forward) -> Reply {
        let calls: Vec<&RawValue> = match serde_json::from_slice(&body) {
            Ok(calls) => calls,
            Err(_) => return self.local_error(None, codes::PARSE_ERROR, "parse error", "invalid"),
        };
        if calls.is_empty() {
            return self.local_error(None, codes::INVALID_REQUEST, "empty batch", "invalid");
        }
        if calls.len() > self.settings.max_batch_size {
            let message = format!(
                "batch of {} calls exceeds the limit of {}",
                calls.len(),
                self.settings.max_batch_size
            );
            return self.local_error(None, codes::INVALID_REQUEST, &message, "invalid");
        }
        let replies = futures_util::future::join_all(
            calls
                .iter()
                .map(|raw| self.call(Bytes::copy_from_slice(raw.get().as_bytes()), forward)),
        )
        .await;
        let mut out =
            Vec::with_capacity(replies.iter().map(|r| r.body.len() + 1).sum::<usize>() + 2);
        out.push(b'[');
        for (reply, raw) in replies.iter().zip(&calls) {
            let element = batch_element(reply, raw);
            if element.is_empty() {
                continue; // a notification: no answer in the batch
            }
            if out.len() > 1 {
                out.push(b',');
            }
            out.extend_from_slice(&element);
        }
        out.push(b']');
        Reply::local(out)
    }
}

/// A reply as a member of a batch answer: a JSON object, or an error object for the call when
/// the upstream answered something else (an HTTP error page, say).
pub(crate) fn batch_element(reply: &Reply, raw: &RawValue) -> Vec<u8> {
    let body = reply.body.trim_ascii();
    if body.is_empty() || body.first() == Some(&b'{') {
        return body.to_vec();
    }
    let id = Call::parse(raw.get().as_bytes()).ok().and_then(|c| c.id);
    let message = format!(
        "upstream answered HTTP {} without a JSON-RPC object",
        reply.status
    );
    rpc::error_body(id, codes::INTERNAL_ERROR, &message)
}

/// The call with new parameters (the rest of the envelope as the client sent it).
fn rewrite_params(call: &Call<'_>, params: &[Value]) -> Bytes {
    let params = Value::from(params.to_vec());
    let method = Value::from(call.method());
    let text = match call.id {
        Some(id) => format!(
            r#"{{"jsonrpc":"2.0","id":{},"method":{method},"params":{params}}}"#,
            id.get()
        ),
        None => format!(r#"{{"jsonrpc":"2.0","method":{method},"params":{params}}}"#),
    };
    Bytes::from(text)
}

/// A new filter's id rewritten to name the node that holds it; errors pass through untouched.
fn wrap_filter_id(index: usize, mut answer: Answer) -> Answer {
    let Ok(mut value) = serde_json::from_slice::<Value>(&answer.body) else {
        return answer;
    };
    let Some(id) = value.get("result").and_then(Value::as_str) else {
        return answer;
    };
    value["result"] = Value::String(filters::wrap(index, id));
    answer.body = Bytes::from(value.to_string());
    answer
}
