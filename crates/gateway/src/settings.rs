//! The gateway's settings: a JSON config file (`--config`), command-line overrides, defaults.
//! The file speaks milliseconds (`requestTimeoutMs`); they become [`Duration`]s once, here.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cloister_addr::{unix_socket_path, Endpoint};
use cloister_net::health::Thresholds;
use cloister_net::{ConnectionLimits, ListenerLimits};
use serde::Deserialize;

/// How calls without node-bound state are spread over healthy upstreams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Everything to the first healthy upstream in configured order; the others are backups
    /// (the HA recipe's nginx `backup` server, driven by health instead of TCP failures).
    #[default]
    PrimaryBackup,
    /// Round-robin over healthy upstreams.
    Balanced,
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "primary-backup" => Ok(Self::PrimaryBackup),
            "balanced" => Ok(Self::Balanced),
            other => Err(format!(
                "unknown mode {other:?}: use primary-backup or balanced"
            )),
        }
    }
}

/// One upstream node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpstreamSettings {
    /// Its JSON-RPC endpoint: `http://host:port[/path]`, `ws://host:port[/path]`, their TLS
    /// forms `https://` and `wss://`, or `ipc:/path/geth.ipc` for the node's IPC unix socket
    /// (geth's `--ipcpath`). Over HTTP or WebSocket the other transport is assumed on the same
    /// host, port and path, with TLS if this one has it (as ganache serves both, and geth when
    /// `--ws.port` equals `--http.port`) unless `wsUrl` names the WebSocket endpoint.
    pub url: String,
    /// Its WebSocket endpoint (`ws://` or `wss://`) when `url` is `http(s)://` and the node
    /// serves WebSocket elsewhere (geth's default `--ws.port` is 8546).
    #[serde(default)]
    pub ws_url: Option<String>,
    /// A PEM file of the CA certificates that its `https://` and `wss://` certificates must
    /// chain to (a private CA); without it, the platform's trusted CAs.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// A name for logs, metrics and `/status` (default: the URL's `host:port`, or the socket
    /// path).
    #[serde(default)]
    pub name: Option<String>,
    /// The node's privacy path: where its `cloister proxy` or privacy manager serves HTTP, any
    /// [`Endpoint`] spelling (`http://host:port[/path]`, `unix:/path/tm.ipc`). When given, it is
    /// checked with `GET /health` (`GET /upcheck` where `/health` answers 404, as Tessera
    /// does) and the node gets no private transaction while it fails.
    #[serde(default)]
    pub privacy_url: Option<String>,
}

/// The URL schemes of upstream JSON-RPC over HTTP and over WebSocket without TLS: a URL of one
/// implies the other.
const PLAIN_SCHEMES: (&str, &str) = ("http://", "ws://");
/// The same over TLS.
const TLS_SCHEMES: (&str, &str) = ("https://", "wss://");
/// Both pairs.
const SCHEME_PAIRS: [(&str, &str); 2] = [PLAIN_SCHEMES, TLS_SCHEMES];
/// The member naming the CA file, in messages.
pub const CA_FILE_MEMBER: &str = "caFile";
/// The prefix of an upstream reached over its IPC unix socket, in geth's IPC framing (JSON
/// values back to back on a stream socket, no HTTP).
pub const IPC_PREFIX: &str = "ipc:";
/// The key that names the privacy path in a command-line upstream.
const PRIVACY_ARG: &str = "privacy=";
/// The key that names the CA file in a command-line upstream.
const CA_ARG: &str = "ca=";

/// Where one upstream serves each network transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// JSON-RPC over HTTP (`http://` or `https://`).
    pub http: String,
    /// JSON-RPC over WebSocket (`ws://` or `wss://`).
    pub ws: String,
}

impl Endpoints {
    /// Whether either endpoint is reached over TLS.
    pub fn uses_tls(&self) -> bool {
        self.http.starts_with(TLS_SCHEMES.0) || self.ws.starts_with(TLS_SCHEMES.1)
    }
}

/// How the gateway reaches one upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// HTTP, and WebSocket for client WebSocket connections.
    Network(Endpoints),
    /// The node's IPC unix socket.
    Ipc(PathBuf),
}

impl UpstreamSettings {
    /// An upstream from the command line: its URL, optionally followed by comma-separated
    /// extras: a `ws://` or `wss://` URL, `privacy=URL` for its privacy path and `ca=FILE` for
    /// its CA file (`https://node:8545,wss://node:8546,ca=/etc/ca.pem,privacy=unix:/node/tm.ipc`).
    pub fn from_arg(text: &str) -> Self {
        let mut settings = Self::default();
        let mut parts = text.split(',').map(str::trim);
        settings.url = parts.next().unwrap_or_default().to_owned();
        for part in parts {
            if let Some(privacy) = part.strip_prefix(PRIVACY_ARG) {
                settings.privacy_url = Some(privacy.to_owned());
            } else if let Some(ca_file) = part.strip_prefix(CA_ARG) {
                settings.ca_file = Some(PathBuf::from(ca_file));
            } else {
                // Validation names a second URL that is not ws://.
                settings.ws_url = Some(part.to_owned());
            }
        }
        settings
    }

    /// How the node is reached.
    pub fn transport(&self) -> Result<Transport, SettingsError> {
        if let Some(rest) = self.url.strip_prefix(IPC_PREFIX) {
            let invalid =
                |why: String| SettingsError::Invalid(format!("upstream {:?}: {why}", self.url));
            if self.ws_url.is_some() || self.ca_file.is_some() {
                return Err(invalid(format!(
                    "an IPC upstream is ipc:/path/to/geth.ipc, without a wsUrl or {CA_FILE_MEMBER}"
                )));
            }
            // The socket path follows the rule of every unix: address.
            let path = unix_socket_path(rest).map_err(|error| invalid(error.to_string()))?;
            return Ok(Transport::Ipc(path));
        }
        self.endpoints().map(Transport::Network)
    }

    /// Its HTTP and WebSocket endpoints, one derived from the other when only one is given.
    pub fn endpoints(&self) -> Result<Endpoints, SettingsError> {
        let invalid = |message: String| Err(SettingsError::Invalid(message));
        let derived = SCHEME_PAIRS.iter().find_map(|(http, ws)| {
            if let Some(rest) = self.url.strip_prefix(http) {
                Some((self.url.clone(), format!("{ws}{rest}"), false))
            } else {
                let rest = self.url.strip_prefix(ws)?;
                Some((format!("{http}{rest}"), self.url.clone(), true))
            }
        });
        let Some((http, derived_ws, given_as_ws)) = derived else {
            return invalid(format!(
                "upstream {:?}: use an http://, https://, ws:// or wss:// URL, or ipc:/path for \
                 a node's IPC socket",
                self.url
            ));
        };
        if given_as_ws && self.ws_url.is_some() {
            return invalid(format!(
                "upstream {:?}: wsUrl is for an http(s):// url; give the http(s):// URL as url",
                self.url
            ));
        }
        let ws = self.ws_url.clone().unwrap_or(derived_ws);
        if !SCHEME_PAIRS
            .iter()
            .any(|(_, scheme)| ws.starts_with(scheme))
        {
            return invalid(format!(
                "upstream {:?}: its WebSocket URL {ws:?} must be ws:// or wss://",
                self.url
            ));
        }
        for url in [&http, &ws] {
            if url.parse::<hyper::Uri>().is_err() {
                return invalid(format!("upstream URL {url:?} is not a valid URL"));
            }
        }
        let endpoints = Endpoints { http, ws };
        if self.ca_file.is_some() && !endpoints.uses_tls() {
            return invalid(format!(
                "upstream {:?}: {CA_FILE_MEMBER} is for https:// and wss:// URLs",
                self.url
            ));
        }
        Ok(endpoints)
    }

    /// Where its privacy path is served, when one is configured: any endpoint, over plain
    /// HTTP for now; a path prefixes the checked paths.
    pub fn privacy_target(&self) -> Result<Option<Endpoint>, SettingsError> {
        let Some(url) = &self.privacy_url else {
            return Ok(None);
        };
        url.parse::<Endpoint>()
            .and_then(Endpoint::reachable)
            .and_then(Endpoint::plain)
            .map(Some)
            .map_err(|error| {
                SettingsError::Invalid(format!(
                    "upstream {:?}: privacy URL {url:?}: {error}",
                    self.url
                ))
            })
    }
}

/// How upstream health is judged: the thresholds every Cloister part shares, plus the
/// chain's own signs of ill health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSettings {
    /// Time between probe rounds.
    pub interval: Duration,
    /// Time a probe may take.
    pub timeout: Duration,
    /// `fall` failed probes or `passiveFailures` failed calls in a row eject a node; `rise`
    /// good probes in a row bring it back (a privacy path is down from its first failed check
    /// and up after `rise` good ones: see [`crate::health`]).
    pub thresholds: Thresholds,
    /// A node more than this many blocks behind the best upstream is taken out. Lag is measured
    /// against other nodes, never against the clock, so an idle chain (QBFT with long empty
    /// block periods, Raft without transactions) stays healthy.
    pub max_lag_blocks: u64,
    /// Minimum `net_peerCount`; 0 disables the check (a single-node chain has no peers).
    pub min_peers: u64,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            thresholds: Thresholds {
                fall: 3,
                rise: 2,
                passive_failures: 3,
            },
            max_lag_blocks: 5,
            min_peers: 0,
        }
    }
}

/// Everything the gateway needs to run.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Where clients connect (TCP).
    pub listen: Endpoint,
    /// The nodes behind the gateway, in priority order.
    pub upstreams: Vec<UpstreamSettings>,
    /// How calls are spread.
    pub mode: Mode,
    /// Time one attempt of a call may take.
    pub request_timeout: Duration,
    /// Per-method attempt timeouts overriding `request_timeout`.
    pub method_timeouts: BTreeMap<String, Duration>,
    /// Time to open a connection to an upstream.
    pub connect_timeout: Duration,
    /// Largest request body accepted (geth's default is 5 MiB).
    pub max_request_bytes: usize,
    /// Largest batch accepted (geth's default is 1000 calls).
    pub max_batch_size: usize,
    /// Health checking.
    pub health: HealthSettings,
    /// Threads of the async runtime that serves clients and calls upstreams (read by the
    /// `cloister gateway` command, which builds the runtime). A call costs the gateway some
    /// 30-40 µs of CPU, most of it the kernel's socket work, so one thread serves about 25,000
    /// calls a second, and on small machines more threads mostly add cross-thread wake-ups;
    /// raise it when the gateway's CPU, not the nodes', is the limit.
    pub worker_threads: usize,
    /// `maxConnections`, `maxConnectionsPerIp` and `headerTimeoutMs` (0 in the file: none), as
    /// every Cloister listener has them. A WebSocket counts against the connection bounds
    /// until it closes; once upgraded it is not subject to the header timeout (subscriptions
    /// sit idle).
    pub listener: ListenerLimits,
    /// `maxWebSocketInFlight`: calls of one client WebSocket connection that the gateway
    /// answers itself (account-scoped and private calls, routed over HTTP) held at once, from
    /// being read to their answer being written; while that many are held the gateway reads
    /// nothing more from the connection, so a client that floods calls waits instead of being
    /// buffered. Also how many of the node's messages queue for the client before the gateway
    /// stops reading the node.
    pub max_websocket_in_flight: usize,
    /// `webSocketSendTimeoutMs`: how long a message to a client WebSocket may wait for the
    /// client's socket to take it. A client that reads nothing for that long while answers or
    /// notifications wait for it is disconnected (see [`crate::websocket`]).
    pub websocket_send_timeout: Duration,
    /// `tls`: when set, clients connect with TLS (`https://`, `wss://`) and this is the
    /// gateway's certificate; plain HTTP otherwise.
    pub tls: Option<ListenerTls>,
}

pub use cloister_tls::listener::ListenerTls;

/// Default `maxWebSocketInFlight`: far more concurrent sends than one client's nonces allow
/// (one account's writes run one at a time anyway), few enough that a flood holds little.
pub const DEFAULT_MAX_WEBSOCKET_IN_FLIGHT: usize = 64;

/// Default `webSocketSendTimeoutMs`: a client paused that long (with the kernel's buffers to
/// it full) is not coming back soon; shorter pauses (a GC, a busy event loop) pass.
pub const DEFAULT_WEBSOCKET_SEND_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            listen: Endpoint::from(SocketAddr::from(([127, 0, 0, 1], 8545))),
            upstreams: Vec::new(),
            mode: Mode::default(),
            request_timeout: Duration::from_secs(30),
            method_timeouts: BTreeMap::new(),
            connect_timeout: Duration::from_secs(1),
            max_request_bytes: 5 * 1024 * 1024,
            max_batch_size: 1000,
            health: HealthSettings::default(),
            worker_threads: DEFAULT_WORKER_THREADS,
            listener: ListenerLimits::default(),
            max_websocket_in_flight: DEFAULT_MAX_WEBSOCKET_IN_FLIGHT,
            websocket_send_timeout: DEFAULT_WEBSOCKET_SEND_TIMEOUT,
            tls: None,
        }
    }
}

/// The config file's `health` member.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FileHealth {
    interval_ms: Option<u64>,
    timeout_ms: Option<u64>,
    fall: Option<u32>,
    rise: Option<u32>,
    passive_failures: Option<u32>,
    max_lag_blocks: Option<u64>,
    min_peers: Option<u64>,
    /// Before the health vocabulary was shared: `fall` and `passiveFailures` at once.
    max_failures: Option<u32>,
    /// Before the health vocabulary was shared: `rise`.
    readmit_after: Option<u32>,
}

/// The config file, in its own units (milliseconds).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct File {
    listen: Option<String>,
    #[serde(default)]
    upstreams: Vec<UpstreamSettings>,
    mode: Option<Mode>,
    request_timeout_ms: Option<u64>,
    #[serde(default)]
    method_timeouts_ms: BTreeMap<String, u64>,
    connect_timeout_ms: Option<u64>,
    max_request_bytes: Option<usize>,
    max_batch_size: Option<usize>,
    #[serde(default)]
    health: FileHealth,
    worker_threads: Option<usize>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    header_timeout_ms: Option<u64>,
    max_web_socket_in_flight: Option<usize>,
    web_socket_send_timeout_ms: Option<u64>,
    tls: Option<ListenerTls>,
}

impl FileHealth {
    /// The settings, each absent member at its default; the old names warn.
    fn settings(self, defaults: HealthSettings) -> HealthSettings {
        let mut thresholds = defaults.thresholds;
        if let Some(failures) = self.max_failures {
            tracing::warn!("health.maxFailures is deprecated: it sets health.fall and health.passiveFailures, use those");
            thresholds.fall = failures;
            thresholds.passive_failures = failures;
        }
        if let Some(rise) = self.readmit_after {
            tracing::warn!("health.readmitAfter is deprecated: use health.rise");
            thresholds.rise = rise;
        }
        HealthSettings {
            interval: self
                .interval_ms
                .map_or(defaults.interval, Duration::from_millis),
            timeout: self
                .timeout_ms
                .map_or(defaults.timeout, Duration::from_millis),
            thresholds: Thresholds {
                fall: self.fall.unwrap_or(thresholds.fall),
                rise: self.rise.unwrap_or(thresholds.rise),
                passive_failures: self.passive_failures.unwrap_or(thresholds.passive_failures),
            },
            max_lag_blocks: self.max_lag_blocks.unwrap_or(defaults.max_lag_blocks),
            min_peers: self.min_peers.unwrap_or(defaults.min_peers),
        }
    }
}

/// Why settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The config file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file is not valid gateway config; names the member.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The error, with the JSON path of the bad member.
        source: serde_path_to_error::Error<serde_json::Error>,
    },
    /// Settings are inconsistent.
    #[error("{0}")]
    Invalid(String),
}

/// The runtime threads when not configured (see [`GatewaySettings::worker_threads`]).
pub const DEFAULT_WORKER_THREADS: usize = 1;

/// The most upstreams a filter id can name (one byte in the rewritten id).
pub const MAX_UPSTREAMS: usize = 256;

impl GatewaySettings {
    /// Reads a JSON config file; absent members keep their defaults.
    pub fn from_file(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read(path).map_err(|source| SettingsError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut deserializer = serde_json::Deserializer::from_slice(&text);
        let file: File = serde_path_to_error::deserialize(&mut deserializer).map_err(|source| {
            SettingsError::Parse {
                path: path.display().to_string(),
                source,
            }
        })?;
        Self::from_parsed(file)
    }

    fn from_parsed(file: File) -> Result<Self, SettingsError> {
        let defaults = Self::default();
        let ms = |value: Option<u64>, default| value.map_or(default, Duration::from_millis);
        let listen = match file.listen {
            Some(text) => listen_endpoint(&text)?,
            None => defaults.listen,
        };
        Ok(Self {
            listen,
            upstreams: file.upstreams,
            mode: file.mode.unwrap_or(defaults.mode),
            request_timeout: ms(file.request_timeout_ms, defaults.request_timeout),
            method_timeouts: file
                .method_timeouts_ms
                .into_iter()
                .map(|(method, ms)| (method, Duration::from_millis(ms)))
                .collect(),
            connect_timeout: ms(file.connect_timeout_ms, defaults.connect_timeout),
            max_request_bytes: file.max_request_bytes.unwrap_or(defaults.max_request_bytes),
            max_batch_size: file.max_batch_size.unwrap_or(defaults.max_batch_size),
            health: file.health.settings(defaults.health),
            worker_threads: file.worker_threads.unwrap_or(defaults.worker_threads),
            listener: ListenerLimits {
                connections: ConnectionLimits {
                    max_connections: file
                        .max_connections
                        .unwrap_or(defaults.listener.connections.max_connections),
                    max_per_ip: file
                        .max_connections_per_ip
                        .unwrap_or(defaults.listener.connections.max_per_ip),
                },
                header_timeout: file.header_timeout_ms.map_or(
                    defaults.listener.header_timeout,
                    ListenerLimits::header_timeout_from_millis,
                ),
            },
            max_websocket_in_flight: file
                .max_web_socket_in_flight
                .unwrap_or(defaults.max_websocket_in_flight),
            websocket_send_timeout: ms(
                file.web_socket_send_timeout_ms,
                defaults.websocket_send_timeout,
            ),
            tls: file.tls,
        })
    }

    /// Checks what the types cannot: upstreams present, usable URLs, non-zero limits.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |message: String| Err(SettingsError::Invalid(message));
        listen_endpoint(&self.listen.to_string())?;
        if self.upstreams.is_empty() {
            return invalid("no upstreams: give at least one --upstream URL".into());
        }
        if self.upstreams.len() > MAX_UPSTREAMS {
            return invalid(format!("at most {MAX_UPSTREAMS} upstreams"));
        }
        for upstream in &self.upstreams {
            upstream.transport()?;
            upstream.privacy_target()?;
        }
        if self.request_timeout.is_zero() || self.health.interval.is_zero() {
            return invalid("requestTimeoutMs and health.intervalMs must be positive".into());
        }
        if self.worker_threads == 0 {
            return invalid("workerThreads must be positive".into());
        }
        // A bound of 0 would refuse every connection, or read no WebSocket message at all.
        if let Some(member) = self.listener.connections.zero_bound() {
            return invalid(format!("{member} must be at least 1"));
        }
        if self.max_websocket_in_flight == 0 {
            return invalid("maxWebSocketInFlight must be at least 1".into());
        }
        if self.max_websocket_in_flight > tokio::sync::Semaphore::MAX_PERMITS {
            return invalid(format!(
                "maxWebSocketInFlight must be at most {}",
                tokio::sync::Semaphore::MAX_PERMITS
            ));
        }
        if self.websocket_send_timeout.is_zero() {
            return invalid("webSocketSendTimeoutMs must be positive".into());
        }
        self.health
            .thresholds
            .check()
            .map_err(|error| SettingsError::Invalid(error.to_string()))
    }

    /// The attempt timeout for `method`.
    pub fn timeout_for(&self, method: &str) -> Duration {
        self.method_timeouts
            .get(method)
            .copied()
            .unwrap_or(self.request_timeout)
    }
}

/// Where the gateway listens: a TCP endpoint without a path, over plain HTTP for now.
pub fn listen_endpoint(text: &str) -> Result<Endpoint, SettingsError> {
    text.parse::<Endpoint>()
        .and_then(|endpoint| endpoint.tcp().map(drop).map(|()| endpoint))
        .and_then(Endpoint::whole_server)
        .and_then(Endpoint::plain)
        .map_err(|error| SettingsError::Invalid(format!("listen {text:?}: {error}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_config_file_overrides_defaults_and_names_bad_members() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let good = dir.join("good.json");
        std::fs::write(
            &good,
            r#"{"mode":"balanced","upstreams":[{"url":"http://127.0.0.1:1"}],
                "methodTimeoutsMs":{"eth_call":5},"health":{"maxLagBlocks":9}}"#,
        )
        .unwrap();
        let settings = GatewaySettings::from_file(&good).unwrap();
        assert_eq!(settings.mode, Mode::Balanced);
        assert_eq!(settings.health.max_lag_blocks, 9);
        assert_eq!(settings.health.thresholds.fall, 3);
        assert_eq!(settings.timeout_for("eth_call"), Duration::from_millis(5));
        assert_eq!(settings.timeout_for("eth_chainId"), Duration::from_secs(30));
        settings.validate().unwrap();

        let old_names = dir.join("old.json");
        std::fs::write(
            &old_names,
            r#"{"health":{"maxFailures":7,"readmitAfter":4},"listen":"127.0.0.1:0"}"#,
        )
        .unwrap();
        let settings = GatewaySettings::from_file(&old_names).unwrap();
        let thresholds = settings.health.thresholds;
        assert_eq!(
            (
                thresholds.fall,
                thresholds.passive_failures,
                thresholds.rise
            ),
            (7, 7, 4)
        );

        let limits = dir.join("limits.json");
        std::fs::write(
            &limits,
            r#"{"maxConnections":10,"maxConnectionsPerIp":2,"headerTimeoutMs":300,
                "maxWebSocketInFlight":8,"webSocketSendTimeoutMs":500}"#,
        )
        .unwrap();
        let settings = GatewaySettings::from_file(&limits).unwrap();
        assert_eq!(
            settings.listener.connections,
            ConnectionLimits {
                max_connections: 10,
                max_per_ip: 2
            }
        );
        assert_eq!(
            settings.listener.header_timeout,
            Some(Duration::from_millis(300))
        );
        assert_eq!(settings.max_websocket_in_flight, 8);
        assert_eq!(settings.websocket_send_timeout, Duration::from_millis(500));
        let defaults = GatewaySettings::from_file(&old_names).unwrap();
        assert_eq!(defaults.listener.connections.max_connections, 1024);
        assert_eq!(defaults.listener.connections.max_per_ip, 256);
        assert_eq!(
            defaults.listener.header_timeout,
            Some(Duration::from_secs(30))
        );
        assert_eq!(defaults.max_websocket_in_flight, 64);
        let no_timeout = dir.join("no-timeout.json");
        std::fs::write(&no_timeout, r#"{"headerTimeoutMs":0}"#).unwrap();
        let settings = GatewaySettings::from_file(&no_timeout).unwrap();
        assert_eq!(settings.listener.header_timeout, None);

        let bad = dir.join("bad.json");
        std::fs::write(&bad, r#"{"health":{"maxLag":1}}"#).unwrap();
        let error = GatewaySettings::from_file(&bad).unwrap_err().to_string();
        assert!(error.contains("health"), "{error}");
        assert!(error.contains("maxLag"), "{error}");
    }

    #[test]
    fn validation_refuses_missing_and_unsupported_upstreams() {
        let mut settings = GatewaySettings::default();
        assert!(settings
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--upstream"));
        settings.upstreams.push(UpstreamSettings {
            url: "ftp://127.0.0.1:1".into(),
            ..UpstreamSettings::default()
        });
        assert!(settings
            .validate()
            .unwrap_err()
            .to_string()
            .contains("ftp://127.0.0.1:1"));
        settings.upstreams[0] = UpstreamSettings::from_arg("http://a:1,http://a:2");
        assert!(settings
            .validate()
            .unwrap_err()
            .to_string()
            .contains("must be ws:// or wss://"));
        for ca_without_tls in ["http://a:1,ca=/ca.pem", "ipc:/a.ipc,ca=/ca.pem"] {
            settings.upstreams[0] = UpstreamSettings::from_arg(ca_without_tls);
            let error = settings.validate().unwrap_err().to_string();
            assert!(error.contains("caFile"), "{ca_without_tls}: {error}");
        }
        settings.upstreams[0] = UpstreamSettings::from_arg("http://a:1");
        settings.validate().unwrap();
        settings.listener.connections.max_per_ip = 0;
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("maxConnectionsPerIp"), "{error}");
        settings.listener.connections.max_per_ip = 1;
        settings.max_websocket_in_flight = 0;
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("maxWebSocketInFlight"), "{error}");
    }

    #[test]
    fn one_transport_is_derived_from_the_other_unless_both_are_given() {
        let endpoints = |arg: &str| UpstreamSettings::from_arg(arg).endpoints().unwrap();
        let same_port = Endpoints {
            http: "http://n:8545/rpc".into(),
            ws: "ws://n:8545/rpc".into(),
        };
        assert_eq!(endpoints("http://n:8545/rpc"), same_port);
        assert_eq!(endpoints("ws://n:8545/rpc"), same_port);
        let over_tls = Endpoints {
            http: "https://n:8545/rpc".into(),
            ws: "wss://n:8545/rpc".into(),
        };
        assert_eq!(endpoints("https://n:8545/rpc"), over_tls);
        assert_eq!(endpoints("wss://n:8545/rpc"), over_tls);
        assert!(over_tls.uses_tls() && !same_port.uses_tls());
        let ca = UpstreamSettings::from_arg("https://n:1,wss://n:2,ca=/etc/ca.pem");
        assert_eq!(ca.ca_file.as_deref(), Some(Path::new("/etc/ca.pem")));
        assert_eq!(ca.endpoints().unwrap().ws, "wss://n:2");
        assert_eq!(
            endpoints("http://n:8545, ws://n:8546"),
            Endpoints {
                http: "http://n:8545".into(),
                ws: "ws://n:8546".into(),
            }
        );
        let both_ws = UpstreamSettings {
            url: "ws://n:1".into(),
            ws_url: Some("ws://n:2".into()),
            ..UpstreamSettings::default()
        };
        assert!(both_ws.endpoints().is_err());
    }

    #[test]
    fn ipc_upstreams_and_privacy_paths_are_read_from_the_command_line() {
        let upstream = UpstreamSettings::from_arg("ipc:/q1/geth.ipc, privacy=unix:/q1/tm.ipc");
        assert_eq!(
            upstream.transport().unwrap(),
            Transport::Ipc(PathBuf::from("/q1/geth.ipc"))
        );
        assert_eq!(
            upstream.privacy_target().unwrap(),
            Some(Endpoint::unix("/q1/tm.ipc"))
        );
        let upstream =
            UpstreamSettings::from_arg("http://q2:8545,ws://q2:8546,privacy=http://q2:9101/pm/");
        assert_eq!(upstream.endpoints().unwrap().ws, "ws://q2:8546");
        let privacy = upstream.privacy_target().unwrap().unwrap();
        assert_eq!(privacy.to_string(), "http://q2:9101/pm/");
        assert_eq!(privacy.path(), "/pm/");
        for bad in [
            "http://q:1,privacy=https://pm:1",
            "http://q:1,privacy=unix:",
            "http://q:1,privacy=unix://sock/tm.ipc",
            "http://q:1,privacy=http://pm",
            "ipc:",
            "ipc://sock/geth.ipc",
            "ipc:/a.ipc,ws://q:1",
        ] {
            let mut settings = GatewaySettings::default();
            settings.upstreams.push(UpstreamSettings::from_arg(bad));
            let error = settings.validate().unwrap_err().to_string();
            assert!(error.contains("upstream"), "{bad}: {error}");
        }
    }
}
