//! `serverConfigs[]`: the HTTP servers a node runs, and their typed addresses.
//!
//! Each server has an advertised `serverAddress` and an optional `bindingAddress` to listen
//! on (Tessera's HA setup advertises a load balancer and binds locally). Both are
//! [`Endpoint`]s written as URLs: `http://host:port`, `https://host:port` or, for the Q2T
//! server, a unix socket written `unix:/absolute/path` or `unix:relative/path` (relative to the
//! working directory).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use cloister_addr::Endpoint;
use serde::Deserialize;

use super::{string_map, ConfigIssue, Secret};

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
    /// `sslConfig`: TLS settings.
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

spelled_enum! {
    /// `sslConfig.tls`.
    pub enum TlsMode {
        /// TLS on.
        Strict => ["STRICT"],
        /// TLS off (the default).
        Off => ["OFF"],
    }
}

spelled_enum! {
    /// `sslConfig.serverTrustMode` / `clientTrustMode`.
    pub enum TrustMode {
        /// Certificates must chain to a trusted CA.
        Ca => ["CA"],
        /// Trust on first use (remembered in the known-hosts file).
        Tofu => ["TOFU"],
        /// Only certificates listed in the known-hosts file.
        Whitelist => ["WHITELIST"],
        /// CA, else trust on first use.
        CaOrTofu => ["CA_OR_TOFU"],
        /// Any certificate.
        None => ["NONE"],
    }
}

spelled_enum! {
    /// `sslConfig.sslConfigType`.
    pub enum SslConfigType {
        /// Only the server side.
        ServerOnly => ["SERVER_ONLY"],
        /// Only the client side.
        ClientOnly => ["CLIENT_ONLY"],
        /// Both (the default).
        ServerAndClient => ["SERVER_AND_CLIENT"],
    }
}

/// `serverConfigs[].sslConfig`. Paths are kept as given; store passwords are secrets.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SslConfig {
    /// `tls`: `STRICT` or `OFF` (default).
    pub tls: TlsMode,
    /// `generateKeyStoreIfNotExisted`.
    pub generate_key_store_if_not_existed: bool,
    /// `sslConfigType`.
    pub ssl_config_type: Option<SslConfigType>,
    /// `serverKeyStore`: a Java key store path.
    pub server_key_store: Option<String>,
    /// `serverKeyStorePassword`.
    pub server_key_store_password: Option<Secret>,
    /// `serverTlsKeyPath`: PEM private key.
    pub server_tls_key_path: Option<String>,
    /// `serverTlsCertificatePath`: PEM certificate.
    pub server_tls_certificate_path: Option<String>,
    /// `serverTrustStore`: a Java trust store path.
    pub server_trust_store: Option<String>,
    /// `serverTrustStorePassword`.
    pub server_trust_store_password: Option<Secret>,
    /// `serverTrustCertificates`: PEM CA certificates.
    pub server_trust_certificates: Vec<String>,
    /// `serverTrustMode`.
    pub server_trust_mode: Option<TrustMode>,
    /// `clientKeyStore`.
    pub client_key_store: Option<String>,
    /// `clientKeyStorePassword`.
    pub client_key_store_password: Option<Secret>,
    /// `clientTlsKeyPath`.
    pub client_tls_key_path: Option<String>,
    /// `clientTlsCertificatePath`.
    pub client_tls_certificate_path: Option<String>,
    /// `clientTrustStore`.
    pub client_trust_store: Option<String>,
    /// `clientTrustStorePassword`.
    pub client_trust_store_password: Option<Secret>,
    /// `clientTrustCertificates`.
    pub client_trust_certificates: Vec<String>,
    /// `clientTrustMode`.
    pub client_trust_mode: Option<TrustMode>,
    /// `knownClientsFile`: TOFU/whitelist file of client certificates.
    pub known_clients_file: Option<String>,
    /// `knownServersFile`: TOFU/whitelist file of server certificates.
    pub known_servers_file: Option<String>,
    /// `environmentVariablePrefix`: prefix of env variables holding the store passwords.
    pub environment_variable_prefix: Option<String>,
    /// `excludeCipherSuites`.
    pub exclude_cipher_suites: Vec<String>,
    /// `clientAuth`: require client certificates (default true).
    pub client_auth: bool,
}

impl Default for SslConfig {
    fn default() -> Self {
        Self {
            tls: TlsMode::Off,
            generate_key_store_if_not_existed: false,
            ssl_config_type: None,
            server_key_store: None,
            server_key_store_password: None,
            server_tls_key_path: None,
            server_tls_certificate_path: None,
            server_trust_store: None,
            server_trust_store_password: None,
            server_trust_certificates: Vec::new(),
            server_trust_mode: None,
            client_key_store: None,
            client_key_store_password: None,
            client_tls_key_path: None,
            client_tls_certificate_path: None,
            client_trust_store: None,
            client_trust_store_password: None,
            client_trust_certificates: Vec::new(),
            client_trust_mode: None,
            known_clients_file: None,
            known_servers_file: None,
            environment_variable_prefix: None,
            exclude_cipher_suites: Vec::new(),
            client_auth: true,
        }
    }
}

impl fmt::Debug for SslConfig {
    // Everything but the store passwords, which are secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SslConfig")
            .field("tls", &self.tls)
            .field("ssl_config_type", &self.ssl_config_type)
            .field("server_key_store", &self.server_key_store)
            .field("server_tls_key_path", &self.server_tls_key_path)
            .field(
                "server_tls_certificate_path",
                &self.server_tls_certificate_path,
            )
            .field("server_trust_store", &self.server_trust_store)
            .field("server_trust_certificates", &self.server_trust_certificates)
            .field("server_trust_mode", &self.server_trust_mode)
            .field("client_key_store", &self.client_key_store)
            .field("client_tls_key_path", &self.client_tls_key_path)
            .field(
                "client_tls_certificate_path",
                &self.client_tls_certificate_path,
            )
            .field("client_trust_store", &self.client_trust_store)
            .field("client_trust_certificates", &self.client_trust_certificates)
            .field("client_trust_mode", &self.client_trust_mode)
            .field("known_clients_file", &self.known_clients_file)
            .field("known_servers_file", &self.known_servers_file)
            .field("client_auth", &self.client_auth)
            .finish_non_exhaustive()
    }
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
