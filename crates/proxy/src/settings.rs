//! The proxy's settings and its JSON config file (documented in `docs/proxy.md`).
//!
//! ```json
//! {
//!   "listeners": [
//!     { "listen": "unix:/var/run/quorum/tm.ipc", "role": "q2t",
//!       "upstreams": ["http://10.0.0.1:9101", "unix:/srv/r2/tm.ipc"] }
//!   ],
//!   "admin": "127.0.0.1:9900",
//!   "timeouts": { "connectMs": 500, "perTryMs": 2000, "totalMs": 4000 },
//!   "health": { "intervalMs": 1000, "timeoutMs": 500, "fall": 1, "rise": 2,
//!               "passiveFailures": 3 },
//!   "connections": { "maxConnections": 1024, "maxConnectionsPerIp": 256,
//!                    "headerTimeoutMs": 30000 },
//!   "trustedProxies": ["10.0.0.9"],
//!   "upstreamTls": { "caFile": "/etc/cloister/ca.pem",
//!                    "certificateFile": "/etc/cloister/proxy.pem", "keyFile": "/etc/cloister/proxy.key" },
//!   "maxBodyBytes": 67108864,
//!   "confirmNotFound": false,
//!   "hedge": { "enabled": true, "minDelayMs": 5, "maxDelayMs": 100, "percentile": 99,
//!              "budgetPercent": 5, "burst": 20 }
//! }
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cloister_addr::{Endpoint, EndpointError};
use cloister_net::health::Thresholds;
use cloister_net::{ConnectionLimits, ListenerLimits};
pub use cloister_tls::listener::ListenerTls;
use serde::Deserialize;

use crate::error::ConfigError;
pub use crate::hedge::HedgeSettings;
use crate::policy::Role;

/// A listener's address: a whole server (no path), in any [`Endpoint`] spelling (`unix:/path`,
/// `http://host:port`, `host:port`, `https://host:port` with a `tls` certificate; port 0 for
/// any).
pub fn listen_address(text: &str) -> Result<Endpoint, ConfigError> {
    parse_address(text, Ok)
}

/// An upstream's address: as a listener's, with a port to reach; `https://` for a replica
/// that speaks TLS (see [`UpstreamTls`]).
pub fn upstream_address(text: &str) -> Result<Endpoint, ConfigError> {
    parse_address(text, Endpoint::reachable)
}

fn parse_address(
    text: &str,
    rule: impl FnOnce(Endpoint) -> Result<Endpoint, EndpointError>,
) -> Result<Endpoint, ConfigError> {
    text.parse::<Endpoint>()
        .and_then(Endpoint::whole_server)
        .and_then(rule)
        .map_err(|source| ConfigError::Address {
            address: text.to_owned(),
            source,
        })
}

/// One listener and the replicas behind it.
#[derive(Debug, Clone)]
pub struct ListenerSettings {
    /// Where clients connect.
    pub listen: Endpoint,
    /// Which API it fronts.
    pub role: Role,
    /// The replicas, in the order round-robin starts from.
    pub upstreams: Vec<Endpoint>,
    /// How it relays (`mode`).
    pub mode: Mode,
    /// `tls`: its certificate, when clients connect to it with TLS (`mode: http` only).
    pub tls: Option<ListenerTls>,
}

impl ListenerSettings {
    /// A plain HTTP listener at `listen` for `role` in front of `upstreams`.
    pub fn http(listen: Endpoint, role: Role, upstreams: Vec<Endpoint>) -> Self {
        Self {
            listen,
            role,
            upstreams,
            mode: Mode::Http,
            tls: None,
        }
    }
}

/// How a listener relays (`mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Reads each request and forwards it to a replica under the retry policy (the default).
    #[default]
    Http,
    /// Relays each client connection's bytes, unread, to one replica: for P2P replicas that
    /// share one certificate and key and terminate mutual TLS themselves, so they see the
    /// client's certificate. Health and failover act per connection: a replica that refuses
    /// or does not answer a TLS handshake is ejected, and new connections go to the others.
    Passthrough,
}

/// `upstreamTls`: how the proxy reaches `https://` replicas.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpstreamTls {
    /// `caFile`: the PEM certificates a replica's certificate must chain to; the platform's
    /// trusted CAs when absent.
    pub ca_file: Option<PathBuf>,
    /// `certificateFile`: the certificate the proxy presents to replicas that ask for one
    /// (`clientAuth`), leaf first.
    pub certificate_file: Option<PathBuf>,
    /// `keyFile`: its unencrypted private key.
    pub key_file: Option<PathBuf>,
}

/// The names of [`UpstreamTls`]'s members in messages.
pub mod upstream_tls_member {
    /// `upstreamTls.caFile`.
    pub const CA_FILE: &str = "upstreamTls.caFile";
    /// `upstreamTls.certificateFile`.
    pub const CERTIFICATE_FILE: &str = "upstreamTls.certificateFile";
    /// `upstreamTls.keyFile`.
    pub const KEY_FILE: &str = "upstreamTls.keyFile";
}

/// Timeouts of one client request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening a connection to an upstream; a connect that takes longer counts as not sent.
    pub connect: Duration,
    /// One attempt, from sending to the end of the answer.
    pub per_try: Duration,
    /// Everything, retries included. 4 s by default, inside GoQuorum's 5 s `--ptm.timeout`.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_millis(500),
            per_try: Duration::from_secs(2),
            total: Duration::from_secs(4),
        }
    }
}

/// Active and passive health settings, shared by every upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthSettings {
    /// Time between active checks of one upstream.
    pub interval: Duration,
    /// How long a check may take before it fails.
    pub timeout: Duration,
    /// `fall`, `rise` and `passiveFailures`.
    pub thresholds: Thresholds,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            // A replica that fails one check is out: a hung replica costs every request sent
            // to it a whole attempt, and the other replica can take the load.
            thresholds: Thresholds {
                fall: 1,
                rise: 2,
                passive_failures: 3,
            },
        }
    }
}

/// Everything the proxy needs.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// The listeners.
    pub listeners: Vec<ListenerSettings>,
    /// Where `/metrics` and `/status` are served (never on a proxied listener, so no Tessera
    /// path is shadowed); none by default.
    pub admin: Option<SocketAddr>,
    /// Request timeouts.
    pub timeouts: Timeouts,
    /// Health checks.
    pub health: HealthSettings,
    /// The largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// Ask the next replica when a read answers 404 (see [`crate::policy::retry`]).
    pub confirm_not_found: bool,
    /// Bounds on client connections (`connections`), for each listener separately, the admin
    /// one included. A unix socket never gets the header timeout (see
    /// [`ListenerLimits::for_bound`]).
    pub connections: ListenerLimits,
    /// Clients whose own `Forwarded` fields are relayed, with this proxy's element appended
    /// (`trustedProxies`, `--trusted-proxy`): another proxy in front of this one. Anyone
    /// else's are dropped, since a client can write any `Forwarded` it likes.
    pub trusted_proxies: Vec<IpAddr>,
    /// Worker threads, each a single-threaded event loop serving the connections it accepts
    /// (`workerThreads`, `--worker-threads`; nginx's `worker_processes`). Default: one per core.
    pub worker_threads: usize,
    /// `upstreamTls`: TLS to `https://` replicas.
    pub upstream_tls: UpstreamTls,
    /// `hedge`: hedged reads and keyed writes.
    pub hedge: HedgeSettings,
}

/// One worker per core, as nginx's `worker_processes auto`.
fn default_worker_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// 64 MiB: far above any private payload GoQuorum sends, low enough that buffering a body to
/// make retries possible cannot exhaust memory.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

impl Default for ProxySettings {
    fn default() -> Self {
        Self {
            listeners: Vec::new(),
            admin: None,
            timeouts: Timeouts::default(),
            health: HealthSettings::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            confirm_not_found: false,
            connections: ListenerLimits::default(),
            trusted_proxies: Vec::new(),
            worker_threads: default_worker_threads(),
            upstream_tls: UpstreamTls::default(),
            hedge: HedgeSettings::default(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileListener {
    listen: String,
    #[serde(default = "default_role")]
    role: Role,
    upstreams: Vec<String>,
    #[serde(default)]
    mode: Mode,
    tls: Option<ListenerTls>,
}

fn default_role() -> Role {
    Role::Q2t
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileTimeouts {
    connect_ms: Option<u64>,
    per_try_ms: Option<u64>,
    total_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileHealth {
    interval_ms: Option<u64>,
    timeout_ms: Option<u64>,
    fall: Option<u32>,
    rise: Option<u32>,
    passive_failures: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileHedge {
    enabled: Option<bool>,
    min_delay_ms: Option<u64>,
    max_delay_ms: Option<u64>,
    percentile: Option<f64>,
    budget_percent: Option<f64>,
    burst: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileConnections {
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    header_timeout_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct File {
    #[serde(default)]
    listeners: Vec<FileListener>,
    admin: Option<SocketAddr>,
    #[serde(default)]
    timeouts: FileTimeouts,
    #[serde(default)]
    health: FileHealth,
    max_body_bytes: Option<usize>,
    confirm_not_found: Option<bool>,
    #[serde(default)]
    connections: FileConnections,
    #[serde(default)]
    trusted_proxies: Vec<IpAddr>,
    worker_threads: Option<usize>,
    #[serde(default)]
    upstream_tls: UpstreamTls,
    #[serde(default)]
    hedge: FileHedge,
}

impl ProxySettings {
    /// Reads a JSON config file; absent members keep their defaults.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_json(&text).map_err(|error| match error {
            ConfigError::Json(message) => {
                ConfigError::Json(format!("{}: {message}", path.display()))
            }
            other => other,
        })
    }

    /// Parses the config file's JSON text.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let file: File =
            serde_json::from_str(text).map_err(|e| ConfigError::Json(e.to_string()))?;
        let defaults = Self::default();
        let default_thresholds = defaults.health.thresholds;
        let ms =
            |value: Option<u64>, default: Duration| value.map_or(default, Duration::from_millis);
        let listeners = file
            .listeners
            .into_iter()
            .map(|l| {
                Ok(ListenerSettings {
                    listen: listen_address(&l.listen)?,
                    role: l.role,
                    upstreams: l
                        .upstreams
                        .iter()
                        .map(|u| upstream_address(u))
                        .collect::<Result<_, _>>()?,
                    mode: l.mode,
                    tls: l.tls,
                })
            })
            .collect::<Result<_, ConfigError>>()?;
        let settings = Self {
            listeners,
            admin: file.admin,
            timeouts: Timeouts {
                connect: ms(file.timeouts.connect_ms, defaults.timeouts.connect),
                per_try: ms(file.timeouts.per_try_ms, defaults.timeouts.per_try),
                total: ms(file.timeouts.total_ms, defaults.timeouts.total),
            },
            health: HealthSettings {
                interval: ms(file.health.interval_ms, defaults.health.interval),
                timeout: ms(file.health.timeout_ms, defaults.health.timeout),
                thresholds: Thresholds {
                    fall: file.health.fall.unwrap_or(default_thresholds.fall),
                    rise: file.health.rise.unwrap_or(default_thresholds.rise),
                    passive_failures: file
                        .health
                        .passive_failures
                        .unwrap_or(default_thresholds.passive_failures),
                },
            },
            max_body_bytes: file.max_body_bytes.unwrap_or(defaults.max_body_bytes),
            confirm_not_found: file.confirm_not_found.unwrap_or(defaults.confirm_not_found),
            connections: ListenerLimits {
                connections: ConnectionLimits {
                    max_connections: file
                        .connections
                        .max_connections
                        .unwrap_or(defaults.connections.connections.max_connections),
                    max_per_ip: file
                        .connections
                        .max_connections_per_ip
                        .unwrap_or(defaults.connections.connections.max_per_ip),
                },
                header_timeout: file.connections.header_timeout_ms.map_or(
                    defaults.connections.header_timeout,
                    ListenerLimits::header_timeout_from_millis,
                ),
            },
            trusted_proxies: file.trusted_proxies,
            worker_threads: file.worker_threads.unwrap_or(defaults.worker_threads),
            upstream_tls: file.upstream_tls,
            hedge: HedgeSettings {
                enabled: file.hedge.enabled.unwrap_or(defaults.hedge.enabled),
                min_delay: ms(file.hedge.min_delay_ms, defaults.hedge.min_delay),
                max_delay: ms(file.hedge.max_delay_ms, defaults.hedge.max_delay),
                percentile: file.hedge.percentile.unwrap_or(defaults.hedge.percentile),
                budget_percent: file
                    .hedge
                    .budget_percent
                    .unwrap_or(defaults.hedge.budget_percent),
                burst: file.hedge.burst.unwrap_or(defaults.hedge.burst),
            },
        };
        Ok(settings)
    }

    /// Checks what the types cannot: something to listen on, upstreams behind each listener,
    /// timeouts that nest, and connection bounds that admit someone.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |why: String| Err(ConfigError::Invalid(why));
        if self.listeners.is_empty() {
            return invalid("no listener: give --listen or listeners in the config file".into());
        }
        for listener in &self.listeners {
            if listener.upstreams.is_empty() {
                return invalid(format!("listener {} has no upstream", listener.listen));
            }
            listener.check_tls()?;
        }
        let t = &self.upstream_tls;
        if t.certificate_file.is_some() != t.key_file.is_some() {
            return invalid(format!(
                "{} and {} go together",
                upstream_tls_member::CERTIFICATE_FILE,
                upstream_tls_member::KEY_FILE
            ));
        }
        let t = &self.timeouts;
        if t.connect.is_zero() || t.per_try.is_zero() || t.total.is_zero() {
            return invalid("timeouts must be above zero".into());
        }
        if t.per_try > t.total {
            return invalid("timeouts.perTryMs must not exceed timeouts.totalMs".into());
        }
        if self.worker_threads == 0 {
            return invalid("workerThreads must be at least 1".into());
        }
        if let Some(member) = self.connections.connections.zero_bound() {
            return invalid(format!(
                "connections.{member} must be at least 1 (0 would refuse every connection)"
            ));
        }
        self.hedge.check().map_err(ConfigError::Invalid)?;
        let h = &self.health;
        if h.interval.is_zero() || h.timeout.is_zero() {
            return invalid("health.intervalMs and health.timeoutMs must be above zero".into());
        }
        h.thresholds
            .check()
            .map_err(|error| ConfigError::Invalid(error.to_string()))
    }
}

impl ListenerSettings {
    /// A TLS listener needs a certificate and a TCP socket; a passthrough one leaves TLS to
    /// the replicas.
    fn check_tls(&self) -> Result<(), ConfigError> {
        let listen = &self.listen;
        let why = match (&self.tls, self.mode) {
            (Some(_), Mode::Passthrough) => {
                "a passthrough listener relays TLS, it does not terminate it: drop its tls"
            }
            (Some(_), Mode::Http) if listen.unix_path().is_some() => {
                "tls is for TCP listeners, not a unix socket"
            }
            (None, Mode::Http) if listen.is_tls() => {
                "an https:// listener needs tls: { certificateFile, keyFile }"
            }
            _ => return Ok(()),
        };
        Err(ConfigError::Invalid(format!("listener {listen}: {why}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_in_every_spelling() {
        let written = |text| upstream_address(text).map(|a| a.to_string()).ok();
        assert_eq!(written("unix:/a/tm.ipc").as_deref(), Some("unix:/a/tm.ipc"));
        assert_eq!(
            written("unix:///a/tm.ipc").as_deref(),
            Some("unix:/a/tm.ipc")
        );
        assert_eq!(
            written("http://127.0.0.1:9101/").as_deref(),
            Some("http://127.0.0.1:9101")
        );
        assert_eq!(written("[::1]:80").as_deref(), Some("http://[::1]:80"));
        assert_eq!(
            written("https://r1:9443").as_deref(),
            Some("https://r1:9443")
        );
        for bad in [
            "unix:",
            "unix://sock/tm.ipc",
            "http://a",
            "http://a:1/x",
            "a:b",
            "h:0",
        ] {
            assert!(upstream_address(bad).is_err(), "{bad}");
        }
        assert!(
            listen_address("127.0.0.1:0").is_ok(),
            "any port to listen on"
        );
    }

    #[test]
    fn the_config_file_overrides_defaults_member_by_member() {
        let settings = ProxySettings::from_json(
            r#"{ "listeners": [ { "listen": "unix:/t/tm.ipc", "upstreams": ["http://a:1", "unix:/b"] },
                                { "listen": "0.0.0.0:9000", "role": "p2p", "upstreams": ["b:2"] } ],
                 "admin": "127.0.0.1:9900",
                 "timeouts": { "totalMs": 3000 },
                 "health": { "intervalMs": 250, "rise": 3 },
                 "maxBodyBytes": 10 }"#,
        )
        .unwrap();
        settings.validate().unwrap();
        assert_eq!(settings.listeners.len(), 2);
        assert_eq!(settings.listeners[0].role, Role::Q2t);
        assert_eq!(settings.listeners[1].role, Role::P2p);
        assert_eq!(settings.timeouts.total, Duration::from_secs(3));
        assert_eq!(settings.timeouts.per_try, Timeouts::default().per_try);
        assert_eq!(settings.health.interval, Duration::from_millis(250));
        assert_eq!(settings.health.thresholds.rise, 3);
        assert_eq!(settings.health.thresholds.fall, 1);
        assert_eq!(settings.max_body_bytes, 10);
    }

    #[test]
    fn unknown_members_and_inverted_timeouts_are_refused() {
        assert!(ProxySettings::from_json(r#"{ "listener": [] }"#).is_err());
        let settings = ProxySettings::from_json(
            r#"{ "listeners": [ { "listen": "unix:/t", "upstreams": ["a:1"] } ],
                 "timeouts": { "perTryMs": 5000, "totalMs": 4000 } }"#,
        )
        .unwrap();
        assert!(settings.validate().is_err());
    }

    fn listening(members: &str) -> Result<ProxySettings, ConfigError> {
        ProxySettings::from_json(&format!(
            r#"{{ "listeners": [ {{ "listen": "unix:/t", "upstreams": ["a:1"] }} ] {members} }}"#
        ))
    }

    #[test]
    fn connection_bounds_and_trusted_proxies_are_read_member_by_member() {
        let defaults = listening("").unwrap();
        assert_eq!(defaults.connections, ListenerLimits::default());
        assert_eq!(
            defaults.connections.connections,
            ConnectionLimits {
                max_connections: cloister_net::admission::DEFAULT_MAX_CONNECTIONS,
                max_per_ip: cloister_net::admission::DEFAULT_MAX_CONNECTIONS_PER_IP,
            }
        );
        assert_eq!(
            defaults.connections.header_timeout,
            Some(Duration::from_secs(30))
        );
        assert!(defaults.trusted_proxies.is_empty());

        let settings = listening(
            r#", "connections": { "maxConnectionsPerIp": 2, "headerTimeoutMs": 300 },
                 "trustedProxies": ["10.0.0.9", "::1"]"#,
        )
        .unwrap();
        settings.validate().unwrap();
        assert_eq!(
            settings.connections.connections.max_connections,
            cloister_net::admission::DEFAULT_MAX_CONNECTIONS
        );
        assert_eq!(settings.connections.connections.max_per_ip, 2);
        assert_eq!(
            settings.connections.header_timeout,
            Some(Duration::from_millis(300))
        );
        assert_eq!(
            settings.trusted_proxies,
            [
                "10.0.0.9".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );

        let untimed = listening(r#", "connections": { "headerTimeoutMs": 0 }"#).unwrap();
        untimed.validate().unwrap();
        assert_eq!(untimed.connections.header_timeout, None, "0: no timeout");
    }

    #[test]
    fn a_zero_connection_bound_and_unknown_or_malformed_members_are_refused() {
        for (member, named) in [
            (r#""maxConnections": 0"#, "connections.maxConnections"),
            (
                r#""maxConnectionsPerIp": 0"#,
                "connections.maxConnectionsPerIp",
            ),
        ] {
            let settings = listening(&format!(r#", "connections": {{ {member} }}"#)).unwrap();
            let refused = settings.validate().unwrap_err().to_string();
            assert!(refused.contains(named), "{refused}");
            assert!(refused.contains("at least 1"), "{refused}");
        }
        for bad in [
            r#", "connections": { "maxConnectionsPerIP": 2 }"#,
            r#", "connections": { "headerTimeoutMs": -1 }"#,
            r#", "connections": { "idleTimeoutMs": 1000 }"#,
            r#", "trustedProxies": ["proxy.example"]"#,
            r#", "trustedProxies": "10.0.0.9""#,
            r#", "trustedProxy": ["10.0.0.9"]"#,
        ] {
            assert!(matches!(listening(bad), Err(ConfigError::Json(_))), "{bad}");
        }
    }

    #[test]
    fn the_default_budget_fits_inside_goquorums_timeout() {
        let t = Timeouts::default();
        assert!(t.total < Duration::from_secs(5) && t.per_try <= t.total);
    }
}
