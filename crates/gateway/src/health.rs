//! Upstream health from the chain itself: each node's head block, sync status and peer count,
//! probed periodically, plus the failures of real calls, counted with the thresholds every
//! Cloister part shares ([`cloister_net::health`]): a node is ejected after `fall` failed probes
//! or `passiveFailures` failed calls in a row, and comes back after `rise` good probes in a row.
//! It is also out while it syncs, has too few peers, or lags the best upstream by more than
//! `maxLagBlocks` (re-judged on every probe). Lag is relative to other nodes, never to the
//! clock, so a chain where no node advances stays healthy.
//!
//! A node's privacy path (its `cloister proxy` or privacy manager), when configured, is checked
//! in the same rounds with the shared probe (`GET /health`, falling back to `/upcheck`). A
//! failing path does not take the node out: its chain still serves reads, raw transactions,
//! filters and subscriptions. It takes the node out of the calls that need the privacy manager
//! ([`Need::Privacy`]) and, so that one account's nonces keep coming from one txpool, of
//! account-scoped calls while another node's path works ([`Need::PrivacyIfAny`]). The path
//! counts as down from its first failed check (its `fall` is 1), since sending a private
//! transaction there fails it (and may leave its outcome unknown) while sending it elsewhere
//! costs nothing, and as up again after `rise` good checks in a row.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use cloister_net::health::{Change, HealthCounter, Probe, ProbeError, Thresholds};
use hyper::HeaderMap;
use serde::Serialize;
use serde_json::Value;

use crate::metrics::{self, Metrics};
use crate::rpc::methods;
use crate::settings::HealthSettings;
use crate::upstream::{Upstream, UpstreamError};

/// What is known of one upstream.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamState {
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
    /// Whether it takes traffic.
    pub healthy: bool,
    /// Why not, when it does not.
    pub reason: Option<String>,
    /// Its head block, from the last good probe.
    pub block: Option<u64>,
    /// Blocks behind the best upstream.
    pub lag: u64,
    /// `eth_syncing` was not `false`.
    pub syncing: bool,
    /// `net_peerCount`, when the node answers it.
    pub peers: Option<u64>,
    /// Ejected for failures (until `rise` good probes).
    pub ejected: bool,
    /// Failed and good probes and failed calls in a row, ejections.
    #[serde(flatten)]
    pub counter: HealthCounter,
    /// The last failure.
    pub last_error: Option<String>,
    /// Its privacy path, when one is configured.
    pub privacy: Option<PrivacyState>,
}

/// What is known of one node's privacy path.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivacyState {
    /// Its URL.
    pub url: String,
    /// Whether the node may take private calls.
    pub up: bool,
    /// The last failed check.
    pub last_error: Option<String>,
    /// Its checks, counted as the node's own are.
    #[serde(skip)]
    counter: HealthCounter,
}

/// Which nodes a call may use beyond being healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any healthy node.
    Chain,
    /// A healthy node whose privacy path works (or has none configured): the call reaches the
    /// privacy manager.
    Privacy,
    /// As [`Need::Privacy`] while any healthy node qualifies, else any healthy node: public
    /// account-scoped calls, which must follow the account's private ones to the same node.
    PrivacyIfAny,
}

/// `/status`: the gateway's view of its upstreams.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The highest head among usable upstreams.
    pub best_block: Option<u64>,
    /// Each upstream, in configured order.
    pub upstreams: Vec<UpstreamState>,
}

/// Health of every upstream, shared by the prober and the request path.
pub struct Health {
    settings: HealthSettings,
    states: Mutex<Vec<UpstreamState>>,
    /// Per upstream: whether a failure streak may be running, so that a success, on every
    /// call, takes the lock only when there is a streak to end.
    streaks: Vec<AtomicBool>,
    metrics: Arc<Metrics>,
}

impl Health {
    /// Every upstream starts healthy; [`Health::probe_all`] runs once before serving.
    pub fn new(upstreams: &[Upstream], settings: HealthSettings, metrics: Arc<Metrics>) -> Self {
        let states = upstreams
            .iter()
            .map(|u| UpstreamState {
                name: u.name.clone(),
                url: u.url.clone(),
                healthy: true,
                privacy: u.privacy.as_ref().map(|p| PrivacyState {
                    url: p.endpoint().to_string(),
                    up: true,
                    ..PrivacyState::default()
                }),
                ..UpstreamState::default()
            })
            .collect();
        Self {
            settings,
            streaks: upstreams.iter().map(|_| AtomicBool::new(false)).collect(),
            states: Mutex::new(states),
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<UpstreamState>> {
        // A panic while holding this lock leaves plain data behind; keep serving.
        self.states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Indices of upstreams taking traffic, in configured order.
    pub fn healthy(&self) -> Vec<usize> {
        self.lock()
            .iter()
            .enumerate()
            .filter(|(_, s)| s.healthy)
            .map(|(i, _)| i)
            .collect()
    }

    /// Indices of upstreams that may take a call with `need`, in configured order.
    pub fn usable(&self, need: Need) -> Vec<usize> {
        let states = self.lock();
        let healthy = states.iter().enumerate().filter(|(_, s)| s.healthy);
        let private = |s: &UpstreamState| s.privacy.as_ref().is_none_or(|p| p.up);
        let pick = |need_privacy: bool| {
            healthy
                .clone()
                .filter(|(_, s)| !need_privacy || private(s))
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
        };
        match need {
            Need::Chain => pick(false),
            Need::Privacy => pick(true),
            Need::PrivacyIfAny => {
                let with_privacy = pick(true);
                if with_privacy.is_empty() {
                    pick(false)
                } else {
                    with_privacy
                }
            }
        }
    }

    /// One line per upstream saying why it takes no private calls.
    pub fn privacy_reasons(&self) -> String {
        self.lock()
            .iter()
            .map(|s| {
                let why = match (&s.reason, &s.privacy) {
                    (Some(reason), _) => reason.clone(),
                    (None, Some(p)) if !p.up => p
                        .last_error
                        .clone()
                        .unwrap_or_else(|| "privacy path down".to_owned()),
                    _ => "healthy".to_owned(),
                };
                format!("{}: {why}", s.name)
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Whether upstream `index` takes traffic.
    pub fn is_healthy(&self, index: usize) -> bool {
        self.lock().get(index).is_some_and(|s| s.healthy)
    }

    /// One line per upstream saying why it takes no traffic.
    pub fn unavailable_reasons(&self) -> String {
        self.lock()
            .iter()
            .map(|s| format!("{}: {}", s.name, s.reason.as_deref().unwrap_or("healthy")))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// A snapshot for `/status`.
    pub fn status(&self) -> Status {
        let upstreams = self.lock().clone();
        Status {
            best_block: best_block(&upstreams),
            upstreams,
        }
    }

    /// A real call failed in transport: counts towards ejection.
    pub fn record_failure(&self, index: usize, error: &UpstreamError) {
        let mut states = self.lock();
        if let Some(streak) = self.streaks.get(index) {
            streak.store(true, Ordering::Release);
        }
        if let Some(state) = states.get_mut(index) {
            state.last_error = Some(error.to_string());
            let change = state
                .counter
                .record_request(true, &self.settings.thresholds);
            self.announce(state, change);
        }
        self.judge(&mut states);
    }

    /// A real call got an answer: the failure streak is over.
    pub fn record_success(&self, index: usize) {
        if !self
            .streaks
            .get(index)
            .is_some_and(|s| s.load(Ordering::Acquire))
        {
            return;
        }
        let mut states = self.lock();
        if let Some(state) = states.get_mut(index) {
            state
                .counter
                .record_request(false, &self.settings.thresholds);
            self.streaks[index].store(false, Ordering::Release);
        }
    }

    /// Logs and counts an ejection or a readmission.
    fn announce(&self, state: &mut UpstreamState, change: Option<Change>) {
        state.ejected = !state.counter.is_healthy();
        match change {
            Some(Change::Ejected) => {
                self.metrics
                    .ejections
                    .get_or_create(&metrics::upstream(&state.name))
                    .inc();
                tracing::warn!(upstream = %state.name, error = ?state.last_error, "upstream ejected");
            }
            Some(Change::Readmitted) => {
                tracing::info!(upstream = %state.name, "upstream readmitted");
            }
            None => {}
        }
    }

    /// Re-derives every upstream's `healthy`, `lag` and `reason` from what is known.
    fn judge(&self, states: &mut [UpstreamState]) {
        let best = best_block(states);
        for state in states.iter_mut() {
            state.lag = match (best, state.block) {
                (Some(best), Some(block)) => best.saturating_sub(block),
                _ => 0,
            };
            let reason = if state.ejected {
                Some(format!(
                    "ejected after {} failures: {}",
                    state.counter.failures(),
                    state.last_error.as_deref().unwrap_or("unknown")
                ))
            } else if state.syncing {
                Some("syncing".to_owned())
            } else if state.lag > self.settings.max_lag_blocks {
                Some(format!("lagging {} blocks behind the best", state.lag))
            } else if state.peers.is_some_and(|p| p < self.settings.min_peers) {
                Some(format!("only {} peers", state.peers.unwrap_or_default()))
            } else {
                None
            };
            let healthy = reason.is_none();
            if healthy != state.healthy {
                tracing::info!(upstream = %state.name, healthy, reason = ?reason, "upstream health changed");
            }
            state.healthy = healthy;
            state.reason = reason;
            let labels = metrics::upstream(&state.name);
            self.metrics
                .healthy
                .get_or_create(&labels)
                .set(i64::from(healthy));
            if let Some(block) = state.block {
                self.metrics
                    .head_block
                    .get_or_create(&labels)
                    .set(i64::try_from(block).unwrap_or(i64::MAX));
            }
        }
    }

    /// Probes every upstream once, concurrently, then re-judges them all.
    pub async fn probe_all(&self, upstreams: &[Upstream]) {
        let timeout = self.settings.timeout;
        let probes = upstreams.iter().map(|u| async move {
            tokio::join!(
                probe_chain(u, timeout),
                check_privacy(u.privacy.as_ref(), timeout)
            )
        });
        let results = futures_util::future::join_all(probes).await;
        let thresholds = self.settings.thresholds;
        let mut states = self.lock();
        for (state, (result, privacy)) in states.iter_mut().zip(results) {
            if let (Some(path), Some(check)) = (state.privacy.as_mut(), privacy) {
                self.judge_privacy(&state.name, path, check);
            }
            let passed = match result {
                Ok(probe) => {
                    state.block = Some(probe.block);
                    state.syncing = probe.syncing;
                    state.peers = probe.peers;
                    true
                }
                Err(error) => {
                    state.last_error = Some(error.to_string());
                    false
                }
            };
            let change = state.counter.record_check(passed, &thresholds);
            self.announce(state, change);
        }
        self.judge(&mut states);
    }

    /// Down at the first failed check, up after `rise` good ones (see the module doc).
    fn judge_privacy(&self, name: &str, path: &mut PrivacyState, check: Result<(), ProbeError>) {
        let thresholds = Thresholds {
            fall: 1,
            ..self.settings.thresholds
        };
        let change = path.counter.record_check(check.is_ok(), &thresholds);
        if let Err(error) = check {
            path.last_error = Some(error.to_string());
        }
        path.up = path.counter.is_healthy();
        match change {
            Some(Change::Ejected) => {
                tracing::warn!(upstream = %name, error = ?path.last_error, "privacy path down: no private calls");
            }
            Some(Change::Readmitted) => {
                tracing::info!(upstream = %name, "privacy path back: private calls resume");
            }
            None => {}
        }
        self.metrics
            .privacy_up
            .get_or_create(&metrics::upstream(name))
            .set(i64::from(path.up));
    }

    /// Probes forever at the configured interval.
    pub async fn run(self: Arc<Self>, upstreams: Arc<Vec<Upstream>>) {
        let mut ticker = tokio::time::interval(self.settings.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            self.probe_all(&upstreams).await;
        }
    }
}

/// The highest head among upstreams that are neither ejected nor syncing.
fn best_block(states: &[UpstreamState]) -> Option<u64> {
    states
        .iter()
        .filter(|s| !s.ejected && !s.syncing)
        .filter_map(|s| s.block)
        .max()
}

/// The privacy path's check, when the node has one.
async fn check_privacy(path: Option<&Probe>, timeout: Duration) -> Option<Result<(), ProbeError>> {
    Some(path?.check(timeout).await)
}

struct ChainView {
    block: u64,
    syncing: bool,
    peers: Option<u64>,
}

/// Why a node's chain probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainProbeError {
    /// The call got no answer.
    #[error(transparent)]
    Call(#[from] UpstreamError),
    /// The answer is not JSON.
    #[error("{method}: HTTP {status} with a body that is not JSON")]
    NotJson {
        /// The method probed.
        method: &'static str,
        /// The answer's HTTP status.
        status: hyper::StatusCode,
    },
    /// The node answered with a JSON-RPC error.
    #[error("{method}: {error}")]
    Rpc {
        /// The method probed.
        method: &'static str,
        /// The error object.
        error: Value,
    },
    /// `eth_blockNumber` answered something that is not a quantity.
    #[error("eth_blockNumber answered {0}")]
    NotABlockNumber(Value),
}

/// `eth_blockNumber` must answer; `eth_syncing` and `net_peerCount` count only when the node
/// answers them (some deployments do not expose the `net` API).
async fn probe_chain(upstream: &Upstream, timeout: Duration) -> Result<ChainView, ChainProbeError> {
    let (block, syncing, peers) = tokio::join!(
        ask(upstream, methods::BLOCK_NUMBER, timeout),
        ask(upstream, methods::SYNCING, timeout),
        ask(upstream, methods::PEER_COUNT, timeout),
    );
    let block = block?;
    let block = quantity(&block).ok_or(ChainProbeError::NotABlockNumber(block))?;
    Ok(ChainView {
        block,
        syncing: syncing.is_ok_and(|v| v != Value::Bool(false)),
        peers: peers.ok().as_ref().and_then(quantity),
    })
}

async fn ask(
    upstream: &Upstream,
    method: &'static str,
    timeout: Duration,
) -> Result<Value, ChainProbeError> {
    let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":[]}}"#);
    let answer = upstream
        .call(Bytes::from(body), &HeaderMap::new(), None, timeout)
        .await?;
    let mut value: Value =
        serde_json::from_slice(&answer.body).map_err(|_| ChainProbeError::NotJson {
            method,
            status: answer.status,
        })?;
    match value.get_mut("result") {
        Some(result) => Ok(result.take()),
        None => Err(ChainProbeError::Rpc {
            method,
            error: value["error"].take(),
        }),
    }
}

/// A JSON-RPC hex quantity (`"0x1a"`).
fn quantity(value: &Value) -> Option<u64> {
    let text = value.as_str()?.strip_prefix("0x")?;
    u64::from_str_radix(text, 16).ok()
}
