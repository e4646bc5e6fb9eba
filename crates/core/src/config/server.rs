//! `serverConfigs[]`: the HTTP servers a node runs, and their typed addresses.
//!
//! Each server has an advertised `serverAddress` and an optional `bindingAddress` to listen
//! on (Tessera's HA setup advertises a load balancer and binds locally). Both are
//! [`Endpoint`]s written as URLs: `http://host:port`, `https://host:port` or, for the Q2T
//! server, a unix socket written `unix:/absolute/path` or `unix:relative/path` (relative to the
//! working directory).

use std::collections::BTreeMap;
use std::time::Duration;

use cloister_addr::Endpoint;
use serde::Deserialize;

pub use super::ssl::{SslConfig, SslConfigType, TlsMode, TrustMode};
use super::{string_map, ConfigIssue};

spelled_enum! {
    /// `serverConfigs[].app`: which API a server serves.
    pub enum AppType {
        /// Node-to-node API.
        P2P => ["P2P"],
        /// The API GoQuorum calls (often on a unix socket).
        Q2T => ["Q2T"],
        /// The API for external clients (`/partyinfo/keys`, `/storeraw`, …).
        ThirdParty => ["ThirdParty", "THIRD_PARTY"],
        /// A remote enclave's API.
        Enclave => ["ENCLAVE"],
        /// Tessera's admin API.
        Admin => ["ADMIN"],
    }
}

/// One `serverConfigs` entry (`ServerConfig` in Tessera).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServerConfig {
    /// `app` (required).
    pub app: Option<AppType>,
    /// `serverAddress` (required): the advertised URL, or `unix:…` for a unix socket.
    pub server_address: Option<String>,
    /// `bindingAddress`: where to listen, when not at `serverAddress`.
    pub binding_address: Option<String>,
    /// `communicationType`: deprecated; only `REST` exists.
    pub communication_type: Option<String>,
    /// `sslConfig`: TLS settings (see [`super::ssl`]).
    pub ssl_config: Option<SslConfig>,
    /// `cors`: cross-origin settings.
    pub cors: Option<Cors>,
    /// `properties`: free-form settings; see the typed accessors such as
    /// [`ServerConfig::party_info_interval`].
    #[serde(deserialize_with = "string_map")]
    pub properties: BTreeMap<String, String>,
    /// `influxConfig`: Tessera's metrics push; accepted and ignored.
    pub influx_config: Option<serde_json::Value>,
}

/// `serverConfigs[].cors` (Tessera's `CrossDomainConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Cors {
    /// `allowedMethods` (default GET, POST, PUT, DELETE, OPTIONS, HEAD).
    pub allowed_methods: Vec<String>,
    /// `allowedOrigins`.
    pub allowed_origins: Option<Vec<String>>,
    /// `allowedHeaders`.
    pub allowed_headers: Option<Vec<String>>,
    /// `allowCredentials` (default true).
    pub allow_credentials: bool,
}

impl Default for Cors {
    fn default() -> Self {
        Self {
            allowed_methods: ["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD"]
                .map(String::from)
                .to_vec(),
            allowed_origins: None,
            allowed_headers: None,
            allow_credentials: true,
        }
    }
}

/// A server as the node runs it: what it serves, where it listens, what it advertises.
#[derive(Debug, Clone)]
pub struct Server<'a> {
    /// The API served.
    pub app: AppType,
    /// Where to listen: `bindingAddress`, else `serverAddress` (without its path).
    pub listen: Endpoint,
    /// `serverAddress`, normalised (a trailing `/` when it has no path). For P2P this is the
    /// URL put into party info.
    pub advertised_url: String,
    /// The server config, or `None` for a legacy top-level `unixSocketFile`.
    pub config: Option<&'a ServerConfig>,
    /// The JSON path it came from (`serverConfigs[1]` or `unixSocketFile`), for messages.
    pub json_path: String,
}

/// Default of `properties.partyInfoInterval`.
pub const DEFAULT_PARTY_INFO_INTERVAL: Duration = Duration::from_millis(5000);
/// Default of `properties.enclaveKeySyncInterval`.
pub const DEFAULT_ENCLAVE_KEY_SYNC_INTERVAL: Duration = Duration::from_millis(2000);
/// Default of `properties.syncInterval`.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_millis(60000);

impl ServerConfig {
    /// The parsed `serverAddress`. Issue paths are relative to this server config.
    pub fn server_address(&self) -> Result<Endpoint, ConfigIssue> {
        let text = self
            .server_address
            .as_deref()
            .ok_or_else(|| ConfigIssue::new("serverAddress", "required"))?;
        Endpoint::parse_url(text).map_err(|e| ConfigIssue::new("serverAddress", e))
    }

    /// The parsed `bindingAddress`, if given; it must be TCP.
    pub fn binding_address(&self) -> Result<Option<Endpoint>, ConfigIssue> {
        let Some(text) = self.binding_address.as_deref() else {
            return Ok(None);
        };
        let binding = Endpoint::parse_url(text)
            .and_then(|endpoint| endpoint.tcp().map(drop).map(|()| endpoint))
            .map_err(|e| ConfigIssue::new("bindingAddress", e))?;
        Ok(Some(binding))
    }

    /// Where the server listens: `bindingAddress`, else `serverAddress`, without a path.
    pub fn listen_address(&self) -> Result<Endpoint, ConfigIssue> {
        let server = self.server_address()?;
        match (self.binding_address()?, &server) {
            (Some(_), Endpoint::Unix(_)) => Err(ConfigIssue::new(
                "bindingAddress",
                "must not be given when serverAddress is a unix socket",
            )),
            (Some(binding), _) => Ok(binding.without_path()),
            (None, _) => Ok(server.without_path()),
        }
    }

    /// The advertised URL: `serverAddress`, normalised like Tessera's `URLNormalizer`.
    pub fn advertised_url(&self) -> Result<String, ConfigIssue> {
        Ok(self.server_address()?.normalized())
    }

    /// `properties.partyInfoInterval`: how often party info is polled (default 5 s).
    pub fn party_info_interval(&self) -> Result<Duration, ConfigIssue> {
        self.millis("partyInfoInterval", DEFAULT_PARTY_INFO_INTERVAL)
    }

    /// `properties.enclaveKeySyncInterval`: how often a remote enclave's keys are re-read
    /// (default 2 s).
    pub fn enclave_key_sync_interval(&self) -> Result<Duration, ConfigIssue> {
        self.millis("enclaveKeySyncInterval", DEFAULT_ENCLAVE_KEY_SYNC_INTERVAL)
    }

    /// `properties.syncInterval`: how often the resend/sync job runs (default 60 s).
    pub fn sync_interval(&self) -> Result<Duration, ConfigIssue> {
        self.millis("syncInterval", DEFAULT_SYNC_INTERVAL)
    }

    fn millis(&self, name: &str, default: Duration) -> Result<Duration, ConfigIssue> {
        Ok(self.duration_property(name)?.unwrap_or(default))
    }

    /// `properties.<name>` as a whole number of milliseconds, when given.
    pub fn duration_property(&self, name: &str) -> Result<Option<Duration>, ConfigIssue> {
        self.number_property(name, "milliseconds")
            .map(|ms| ms.map(Duration::from_millis))
    }

    /// `properties.<name>` as a count (connections, parties, bytes), when given.
    pub fn count_property(&self, name: &str) -> Result<Option<usize>, ConfigIssue> {
        self.number_property(name, "")?
            .map(|n| {
                usize::try_from(n).map_err(|_| {
                    ConfigIssue::new(format!("properties.{name}"), "the number is too large")
                })
            })
            .transpose()
    }

    /// A property holding a whole number of `unit` (which names it in errors).
    fn number_property(&self, name: &str, unit: &str) -> Result<Option<u64>, ConfigIssue> {
        let Some(text) = self.properties.get(name) else {
            return Ok(None);
        };
        let issue = |what: String| ConfigIssue::new(format!("properties.{name}"), what);
        let of = if unit.is_empty() {
            String::new()
        } else {
            format!(" of {unit}")
        };
        let text = text.trim();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(issue(format!("expected a whole number{of}")));
        }
        text.parse::<u64>()
            .map(Some)
            .map_err(|_| issue(format!("the number{of} is too large")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_address_prefers_binding_address() {
        let server = ServerConfig {
            server_address: Some("https://lb.example.com:443".into()),
            binding_address: Some("http://0.0.0.0:9001".into()),
            ..ServerConfig::default()
        };
        assert_eq!(
            server.listen_address().unwrap(),
            "http://0.0.0.0:9001".parse::<Endpoint>().unwrap()
        );
        assert_eq!(
            server.advertised_url().unwrap(),
            "https://lb.example.com:443/"
        );
        let unix = ServerConfig {
            server_address: Some("unix:/tmp/tm.ipc".into()),
            binding_address: Some("http://0.0.0.0:9001".into()),
            ..ServerConfig::default()
        };
        assert_eq!(
            unix.listen_address().unwrap_err().to_string(),
            "bindingAddress: must not be given when serverAddress is a unix socket"
        );
    }

    #[test]
    fn interval_properties_have_tessera_defaults() {
        let mut server = ServerConfig::default();
        assert_eq!(
            server.party_info_interval().unwrap(),
            Duration::from_millis(5000)
        );
        assert_eq!(
            server.enclave_key_sync_interval().unwrap(),
            Duration::from_millis(2000)
        );
        assert_eq!(
            server.sync_interval().unwrap(),
            Duration::from_millis(60000)
        );
        server
            .properties
            .insert("partyInfoInterval".into(), "1500".into());
        assert_eq!(
            server.party_info_interval().unwrap(),
            Duration::from_millis(1500)
        );
        server
            .properties
            .insert("syncInterval".into(), "soon".into());
        assert_eq!(
            server.sync_interval().unwrap_err().to_string(),
            "properties.syncInterval: expected a whole number of milliseconds"
        );
    }

    #[test]
    fn app_spellings_are_case_insensitive() {
        assert_eq!(
            AppType::from_spelling("thirdparty"),
            Some(AppType::ThirdParty)
        );
        assert_eq!(
            AppType::from_spelling("THIRD_PARTY"),
            Some(AppType::ThirdParty)
        );
        assert_eq!(AppType::from_spelling("q2t"), Some(AppType::Q2T));
        assert_eq!(AppType::from_spelling("WEB"), None);
    }
}
