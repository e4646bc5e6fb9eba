//! The core loop: N workers, each on its own keep-alive connection, sending requests back to
//! back (closed loop) until the level's budget runs out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloister_addr::Endpoint;

use crate::client::Connection;
use crate::latency::Latencies;
use crate::scenario::Requests;

/// The runtime the load's workers run on: `client_threads` worker threads, at least one.
pub fn client_runtime(client_threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(client_threads.max(1))
        .enable_all()
        .build()
}

/// Refuses a run without concurrency levels or with a level of 0 (no workers).
pub fn check_levels(concurrency: &[usize]) -> anyhow::Result<()> {
    anyhow::ensure!(
        !concurrency.is_empty() && !concurrency.contains(&0),
        "concurrency levels must be at least 1"
    );
    Ok(())
}

/// How much load one level applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// Keep sending for this long (requests in flight at the end still complete).
    For(Duration),
    /// Send exactly this many requests in total across all workers.
    Requests(usize),
}

/// The outcome of one level.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Requests attempted.
    pub requests: usize,
    /// Requests that failed: a non-2xx answer or a broken connection.
    pub errors: usize,
    /// The first few failures, for the report.
    pub error_samples: Vec<String>,
    /// Latencies of the successful requests only, so that fast failures cannot flatter them.
    pub latencies: Latencies,
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// The `key` of every transaction created (send scenarios, when asked to collect).
    pub keys: Vec<String>,
}

impl Outcome {
    /// Successful requests per second.
    pub fn throughput(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.latencies.len() as f64 / seconds
        } else {
            0.0
        }
    }

    fn absorb(&mut self, other: Outcome) {
        self.requests += other.requests;
        self.errors += other.errors;
        let room = MAX_ERROR_SAMPLES.saturating_sub(self.error_samples.len());
        self.error_samples
            .extend(other.error_samples.into_iter().take(room));
        self.latencies.merge(other.latencies);
        self.keys.extend(other.keys);
    }

    fn fail(&mut self, error: String) {
        self.errors += 1;
        if self.error_samples.len() < MAX_ERROR_SAMPLES {
            self.error_samples.push(error);
        }
    }
}

/// Enough failures to see what kind they are without flooding the report.
const MAX_ERROR_SAMPLES: usize = 3;

/// How long a worker waits before reconnecting after its connection broke, so that a node
/// that is down produces a steady trickle of errors rather than a busy loop.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);

/// What makes an answer a success besides a 2xx status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The status alone.
    Status,
    /// A `/send` answer with a `key`, which is kept (send scenarios).
    Key,
    /// A JSON-RPC answer with a `result` (a node or gateway answers errors with 200).
    RpcResult,
}

impl Check {
    /// Judges a successful answer's `body`: what it yields to keep (a `/send`'s key), or the
    /// member it lacks.
    pub(crate) fn judge(self, body: &[u8]) -> Result<Option<String>, &'static str> {
        match self {
            Check::Status => Ok(None),
            Check::Key => key_of(body).map(Some).ok_or("key"),
            Check::RpcResult => has_result(body).then_some(None).ok_or("result"),
        }
    }
}

/// Shared across a level's workers: whether another request may start.
enum Gate {
    Until(Instant),
    Remaining(AtomicUsize),
}

impl Gate {
    fn take(&self) -> bool {
        match self {
            Gate::Until(deadline) => Instant::now() < *deadline,
            Gate::Remaining(left) => left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }
}

/// Runs one level: `concurrency` workers on connections to `endpoint`, making `requests` until
/// `budget` is spent, each answer judged by `check`.
///
/// Connections are opened before the clock starts, so the figures hold request handling only.
/// Must run inside a Tokio runtime.
pub async fn run_level(
    endpoint: &Endpoint,
    requests: Arc<Requests>,
    concurrency: usize,
    budget: Budget,
    check: Check,
) -> anyhow::Result<Outcome> {
    let mut connections = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.max(1) {
        connections.push(Connection::open(endpoint).await?);
    }
    let started = Instant::now();
    let gate = Arc::new(match budget {
        Budget::For(duration) => Gate::Until(started + duration),
        Budget::Requests(n) => Gate::Remaining(AtomicUsize::new(n)),
    });
    let workers: Vec<_> = connections
        .into_iter()
        .map(|connection| {
            tokio::spawn(worker(
                endpoint.clone(),
                connection,
                requests.clone(),
                gate.clone(),
                check,
            ))
        })
        .collect();
    let mut outcome = Outcome::default();
    for worker in workers {
        outcome.absorb(worker.await?);
    }
    outcome.elapsed = started.elapsed();
    Ok(outcome)
}

async fn worker(
    endpoint: Endpoint,
    connection: Connection,
    requests: Arc<Requests>,
    gate: Arc<Gate>,
    check: Check,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut connection = Some(connection);
    while gate.take() {
        outcome.requests += 1;
        let call = requests.next();
        let open = match connection.as_mut() {
            Some(open) => open,
            None => match Connection::open(&endpoint).await {
                Ok(fresh) => connection.insert(fresh),
                Err(error) => {
                    outcome.fail(format!("connect: {error:#}"));
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            },
        };
        let sent = Instant::now();
        match open.call(&call).await {
            Ok(answer) if answer.status.is_success() => {
                let latency = sent.elapsed();
                match check.judge(&answer.body) {
                    Ok(kept) => {
                        outcome.keys.extend(kept);
                        outcome.latencies.record(latency);
                    }
                    Err(what) => outcome.fail(format!(
                        "{} {}: no {what} in {}",
                        call.method,
                        call.target,
                        String::from_utf8_lossy(&answer.body[..answer.body.len().min(200)])
                    )),
                }
            }
            Ok(answer) => outcome.fail(format!(
                "{} {}: {} {}",
                call.method,
                call.target,
                answer.status,
                String::from_utf8_lossy(&answer.body[..answer.body.len().min(200)])
            )),
            Err(error) => {
                outcome.fail(format!("{} {}: {error:#}", call.method, call.target));
                connection = None;
            }
        }
    }
    outcome
}

/// The `key` member of a `/send` answer.
fn key_of(body: &[u8]) -> Option<String> {
    let answer: serde_json::Value = serde_json::from_slice(body).ok()?;
    Some(answer.get("key")?.as_str()?.to_owned())
}

/// Whether a JSON-RPC answer carries a `result` (rather than an `error`).
fn has_result(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v.get("result").is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_budget_admits_exactly_that_many() {
        let gate = Gate::Remaining(AtomicUsize::new(3));
        assert_eq!((0..10).filter(|_| gate.take()).count(), 3);
    }

    #[test]
    fn finds_the_key_of_a_send_answer() {
        assert_eq!(
            key_of(br#"{"key":"abc=","managedParties":[]}"#),
            Some("abc=".into())
        );
        assert_eq!(key_of(b"not json"), None);
    }

    #[test]
    fn a_json_rpc_error_is_no_result() {
        assert!(has_result(br#"{"jsonrpc":"2.0","id":1,"result":"0x0"}"#));
        assert!(!has_result(
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"no"}}"#
        ));
        assert!(!has_result(b"<html>"));
    }
}
