//! What a node runs with: everything from the Tessera config (or the embedded default) that the
//! node needs, checked and typed, with key files read and unlocked.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cloister_addr::Endpoint;
use cloister_core::config::server::Cors;
use cloister_core::config::ClientMode;
use cloister_core::config::SslEnvironment;
use cloister_core::config::{apply_overrides, Override, OverrideError};
use cloister_core::config::{AppType, Config, ConfigIssue, Features, SqlitePath, StoreTarget};
use cloister_core::digest::PayloadDigest;
use cloister_core::keys::file::{public_key_file_text, KeyFile};
use cloister_core::keys::source::{self, KeySourceError};
use cloister_core::keys::{KeyPair, PublicKey};
use cloister_core::partyinfo::normalize_url;
use cloister_net::ListenerLimits;
use cloister_tls::{Presenting, ProcessEnvironment};

use crate::limits::{self, PeerLimits};
use crate::secure_file;

/// Directory of the embedded default: keys, database and the Q2T socket.
pub const DEFAULT_DATA_DIR: &str = "cloister-data";
/// P2P port of the embedded default.
pub const DEFAULT_P2P_PORT: u16 = 9001;
/// ThirdParty port of the embedded default.
pub const DEFAULT_THIRD_PARTY_PORT: u16 = 9081;
/// Largest request body accepted (413 above it). Private payloads can be whole contract
/// states (extensions), so this is generous.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// A server the node runs.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// The API it serves.
    pub app: AppType,
    /// Where it listens.
    pub listen: Endpoint,
    /// Its advertised URL (normalised).
    pub advertised_url: String,
    /// CORS, when configured (never on unix sockets).
    pub cors: Option<Cors>,
    /// Its connection bounds.
    pub limits: ListenerLimits,
    /// Its TLS config, and when its certificate expires, when its `sslConfig` says `tls:
    /// STRICT` (TCP servers only).
    pub tls: Option<Presenting<rustls::ServerConfig>>,
}

/// One resident group (multiple private states).
#[derive(Debug, Clone)]
pub struct ResidentGroupSettings {
    /// The group name (its id is the name's bytes).
    pub name: String,
    /// Description.
    pub description: String,
    /// Member keys.
    pub members: Vec<PublicKey>,
}

/// Everything a node needs to start.
#[derive(Debug)]
pub struct NodeSettings {
    /// The node's key pairs; the first is the default sender.
    pub keys: Vec<KeyPair>,
    /// `alwaysSendTo` keys, added to every transaction's recipients.
    pub forwarding_keys: Vec<PublicKey>,
    /// Where the store is.
    pub store: StoreTarget,
    /// Create the schema at start.
    pub auto_create_tables: bool,
    /// The servers to run.
    pub servers: Vec<ServerSettings>,
    /// This node's advertised P2P URL (normalised).
    pub p2p_url: String,
    /// Configured peers (normalised URLs).
    pub peers: Vec<String>,
    /// How often PartyInfo is sent to every peer.
    pub party_info_interval: Duration,
    /// Only configured peers' hosts may call the P2P API.
    pub use_white_list: bool,
    /// Only configured peers may join.
    pub disable_peer_discovery: bool,
    /// Feature toggles.
    pub features: Features,
    /// Transaction-hash digest (orion mode: SHA-512/256).
    pub digest: PayloadDigest,
    /// Resident groups.
    pub resident_groups: Vec<ResidentGroupSettings>,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Start in recovery mode (`--recover`).
    pub recover: bool,
    /// How long an idempotency key's first outcome is kept (`--idempotency-ttl`).
    pub idempotency_ttl: Duration,
    /// Proxies in front of the P2P app whose `Forwarded` header the whitelist believes
    /// (`--trusted-proxy`).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// What peers may cost the node (the P2P server's properties).
    pub peer_limits: PeerLimits,
    /// The P2P client's TLS config, from the P2P server's `sslConfig` when it says `tls:
    /// STRICT` (as Tessera builds its client); `None`: `https://` peers cannot be called.
    pub peer_tls: Option<Presenting<rustls::ClientConfig>>,
}

/// How long idempotency records are kept unless told otherwise: far longer than any client
/// retries (GoQuorum gives up after its `--ptm.timeout`), short enough to keep the table small.
pub const DEFAULT_IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Why settings could not be built. Names the config path or file; never a secret.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file is not valid Tessera JSON.
    #[error("{path}: {source}")]
    ParseConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: cloister_core::config::ConfigError,
    },
    /// A command-line override (`-o key.path=value`) does not apply to the config.
    #[error("{path}: {source}")]
    Override {
        /// The file.
        path: PathBuf,
        /// Which override, and why (the path, never the value).
        source: cloister_core::config::OverrideError,
    },
    /// The config breaks one or more rules.
    #[error("{path}: invalid configuration:\n  {}", issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every issue found.
        issues: Vec<ConfigIssue>,
    },
    /// A key could not be loaded.
    #[error(transparent)]
    Keys(#[from] KeySourceError),
    /// A file of the embedded default could not be created.
    #[error("cannot prepare {path}: {source}")]
    DataDir {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A server's `sslConfig` says `tls: STRICT` and its key or trust material is unusable.
    /// The message names the server and the member at fault, never a password or a key.
    #[error("{server}.sslConfig: {source}")]
    Tls {
        /// The server's JSON path (`serverConfigs[1]`).
        server: String,
        /// What is wrong, naming the member.
        source: cloister_tls::TlsConfigError,
    },
    /// The embedded default's key file is not usable.
    #[error("{path}: {reason}")]
    DefaultKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl NodeSettings {
    /// Reads, validates and resolves a Tessera config file. Warnings (unknown keys) are logged.
    pub fn from_config_file(path: &Path) -> Result<Self, SettingsError> {
        Self::from_config_file_with(path, &[])
    }

    /// [`Self::from_config_file`] with Tessera's command-line overrides (`-o key.path=value`)
    /// applied, in order, to the file's JSON before it is parsed; the file itself is not
    /// changed.
    pub fn from_config_file_with(
        path: &Path,
        overrides: &[Override],
    ) -> Result<Self, SettingsError> {
        let bytes = std::fs::read(path).map_err(|source| SettingsError::ReadConfig {
            path: path.to_owned(),
            source,
        })?;
        let bytes = apply_overrides(&bytes, overrides).map_err(|source| match source {
            OverrideError::Config(source) => SettingsError::ParseConfig {
                path: path.to_owned(),
                source,
            },
            source => SettingsError::Override {
                path: path.to_owned(),
                source,
            },
        })?;
        let loaded = Config::parse(&bytes).map_err(|source| SettingsError::ParseConfig {
            path: path.to_owned(),
            source,
        })?;
        for warning in &loaded.warnings {
            tracing::warn!(config = %path.display(), "{warning}");
        }
        let invalid = |issues| SettingsError::Invalid {
            path: path.to_owned(),
            issues,
        };
        loaded.config.validate().map_err(invalid)?;
        loaded
            .config
            .validate_tls(&ProcessEnvironment)
            .map_err(invalid)?;
        let mut settings = Self::from_config(&loaded.config)
            .map_err(invalid)?
            .resolve_keys(&loaded.config)?;
        settings.build_tls(path, &loaded.config, &ProcessEnvironment)?;
        Ok(settings)
    }

    /// Builds the TLS configs of every server whose `sslConfig` says `tls: STRICT`, and the
    /// P2P client's from the P2P server's, as Tessera does: key and trust material are read
    /// (a missing keystore generated) now, so a misconfigured member stops the start.
    fn build_tls(
        &mut self,
        path: &Path,
        config: &Config,
        env: &dyn SslEnvironment,
    ) -> Result<(), SettingsError> {
        let servers = config.servers().map_err(|issues| SettingsError::Invalid {
            path: path.to_owned(),
            issues,
        })?;
        for (settings, server) in self.servers.iter_mut().zip(&servers) {
            let Some((server_config, ssl)) = server.config.and_then(|c| {
                c.ssl_config
                    .as_ref()
                    .filter(|ssl| ssl.is_strict())
                    .map(|ssl| (c, ssl))
            }) else {
                continue;
            };
            let tls_error = |source| SettingsError::Tls {
                server: server.json_path.clone(),
                source,
            };
            if let Endpoint::Unix(path) = &settings.listen {
                // Tessera never puts TLS on a unix socket; neither does Cloister.
                tracing::warn!(server = %server.json_path, socket = %path.display(), "sslConfig.tls is STRICT on a unix socket: ignored, unix sockets are never TLS");
                continue;
            }
            let address = server_config
                .binding_address
                .as_deref()
                .or(server_config.server_address.as_deref())
                .unwrap_or_default();
            settings.tls = Some(cloister_tls::server_config(ssl, address, env).map_err(tls_error)?);
            if server.app == AppType::P2P {
                let address = server_config.server_address.as_deref().unwrap_or_default();
                self.peer_tls =
                    Some(cloister_tls::client_config(ssl, address, env).map_err(tls_error)?);
            }
        }
        Ok(())
    }

    /// The embedded default: one node under `data_dir` with a key pair (generated on first
    /// start), an SQLite store, P2P on 9001, ThirdParty on 9081 and Q2T on `data_dir/tm.ipc`.
    pub fn embedded_default(data_dir: &Path) -> Result<Self, SettingsError> {
        create_private_dir(data_dir)?;
        let pair = default_key_pair(data_dir)?;
        let tcp = |port| Endpoint::from(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
        let q2t = Endpoint::unix(data_dir.join("tm.ipc"));
        let p2p_url = tcp(DEFAULT_P2P_PORT).normalized();
        Ok(Self {
            keys: vec![pair],
            forwarding_keys: Vec::new(),
            store: StoreTarget::Sqlite {
                path: SqlitePath::File(data_dir.join("cloister.db")),
                params: Default::default(),
            },
            auto_create_tables: true,
            servers: vec![
                ServerSettings {
                    app: AppType::P2P,
                    listen: tcp(DEFAULT_P2P_PORT),
                    advertised_url: p2p_url.clone(),
                    cors: None,
                    limits: ListenerLimits::default(),
                    tls: None,
                },
                ServerSettings {
                    app: AppType::ThirdParty,
                    listen: tcp(DEFAULT_THIRD_PARTY_PORT),
                    advertised_url: tcp(DEFAULT_THIRD_PARTY_PORT).normalized(),
                    cors: None,
                    limits: ListenerLimits::default(),
                    tls: None,
                },
                ServerSettings {
                    app: AppType::Q2T,
                    advertised_url: q2t.normalized(),
                    listen: q2t,
                    cors: None,
                    limits: ListenerLimits::default(),
                    tls: None,
                },
            ],
            p2p_url,
            peers: Vec::new(),
            party_info_interval: Duration::from_secs(5),
            use_white_list: false,
            disable_peer_discovery: false,
            features: Features::default(),
            digest: PayloadDigest::Sha3_512,
            resident_groups: Vec::new(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            recover: false,
            idempotency_ttl: DEFAULT_IDEMPOTENCY_TTL,
            trusted_proxies: Vec::new(),
            peer_limits: PeerLimits::default(),
            peer_tls: None,
        })
    }

    /// Everything but the keys, from a validated config.
    fn from_config(config: &Config) -> Result<Unresolved, Vec<ConfigIssue>> {
        let servers = config.servers()?;
        let mut issues = Vec::new();
        let p2p = servers.iter().find(|s| s.app == AppType::P2P);
        let party_info_interval = match p2p.and_then(|s| s.config) {
            Some(config) => config.party_info_interval().map_err(|issue| vec![issue])?,
            None => cloister_core::config::server::DEFAULT_PARTY_INFO_INTERVAL,
        };
        let peer_limits = PeerLimits::from_config(p2p.and_then(|s| s.config))
            .map_err(|issue| vec![issue.within(p2p.map_or("", |s| &s.json_path))])?;
        let mut listener_limits = Vec::new();
        for server in &servers {
            match limits::listener_limits(server.config) {
                Ok(limits) => listener_limits.push(limits),
                Err(issue) => issues.push(issue.within(&server.json_path)),
            }
        }
        let jdbc = config.jdbc.as_ref();
        let store = jdbc
            .map(|j| j.store_target())
            .transpose()
            .map_err(|issue| vec![issue])?;
        let digest = match config.client_mode().map_err(|issue| vec![issue])? {
            ClientMode::Tessera => PayloadDigest::Sha3_512,
            ClientMode::Orion => PayloadDigest::Sha512_256,
        };
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(Unresolved {
            store: store.ok_or_else(|| vec![ConfigIssue::new("jdbc", "is required")])?,
            auto_create_tables: jdbc.is_some_and(|j| j.auto_create_tables),
            p2p_url: p2p.map(|s| s.advertised_url.clone()).unwrap_or_default(),
            servers: servers
                .iter()
                .zip(listener_limits)
                .map(|(s, limits)| ServerSettings {
                    app: s.app,
                    listen: s.listen.clone(),
                    advertised_url: s.advertised_url.clone(),
                    cors: match s.listen {
                        Endpoint::Tcp(_) => s.config.and_then(|c| c.cors.clone()),
                        Endpoint::Unix(_) => None,
                    },
                    limits,
                    tls: None,
                })
                .collect(),
            party_info_interval,
            digest,
            peer_limits,
        })
    }
}

struct Unresolved {
    store: StoreTarget,
    auto_create_tables: bool,
    p2p_url: String,
    servers: Vec<ServerSettings>,
    party_info_interval: Duration,
    digest: PayloadDigest,
    peer_limits: PeerLimits,
}

impl Unresolved {
    fn resolve_keys(self, config: &Config) -> Result<NodeSettings, SettingsError> {
        let keys = match &config.keys {
            Some(keys) => source::resolve(keys, &mut |path| std::fs::read(path))?,
            None => Vec::new(),
        };
        let parse_keys = |texts: &[String]| -> Vec<PublicKey> {
            texts
                .iter()
                .filter_map(|t| PublicKey::from_base64(t, "key").ok())
                .collect()
        };
        Ok(NodeSettings {
            keys,
            forwarding_keys: parse_keys(&config.always_send_to),
            store: self.store,
            auto_create_tables: self.auto_create_tables,
            servers: self.servers,
            p2p_url: self.p2p_url,
            peers: config
                .peer
                .iter()
                .filter_map(|p| p.url.as_deref())
                .map(normalize_url)
                .collect(),
            party_info_interval: self.party_info_interval,
            use_white_list: config.use_white_list,
            disable_peer_discovery: config.disable_peer_discovery,
            features: config.features,
            digest: self.digest,
            resident_groups: config
                .resident_groups
                .iter()
                .map(|g| ResidentGroupSettings {
                    name: g.name.clone().unwrap_or_default(),
                    description: g.description.clone().unwrap_or_default(),
                    members: parse_keys(&g.members),
                })
                .collect(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            recover: false,
            idempotency_ttl: DEFAULT_IDEMPOTENCY_TTL,
            trusted_proxies: Vec::new(),
            peer_limits: self.peer_limits,
            peer_tls: None,
        })
    }
}

fn create_private_dir(dir: &Path) -> Result<(), SettingsError> {
    use std::os::unix::fs::DirBuilderExt;
    let result = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir);
    result.map_err(|source| SettingsError::DataDir {
        path: dir.to_owned(),
        source,
    })
}

/// The default node's key pair: read from `node.key`/`node.pub`, or generated (unlocked, 0600)
/// on first start.
fn default_key_pair(dir: &Path) -> Result<KeyPair, SettingsError> {
    let (key_path, pub_path) = (dir.join("node.key"), dir.join("node.pub"));
    let bad = |path: &Path, reason: String| SettingsError::DefaultKey {
        path: path.to_owned(),
        reason,
    };
    if key_path.exists() {
        let bytes = std::fs::read(&key_path).map_err(|e| bad(&key_path, e.to_string()))?;
        let file = KeyFile::parse(&bytes).map_err(|e| bad(&key_path, e.to_string()))?;
        let private = file
            .unlock(None)
            .map_err(|e| bad(&key_path, e.to_string()))?;
        return Ok(KeyPair::from_private(private));
    }
    let pair = KeyPair::generate(&mut rand_core::OsRng);
    let write = |path: &Path, mode: u32, text: &[u8]| {
        secure_file::create_new(path, mode, text).map_err(|source| SettingsError::DataDir {
            path: path.to_owned(),
            source,
        })
    };
    write(
        &key_path,
        secure_file::PRIVATE,
        KeyFile::unlocked(pair.private()).to_json().as_bytes(),
    )?;
    write(
        &pub_path,
        secure_file::PUBLIC,
        public_key_file_text(pair.public()).as_bytes(),
    )?;
    tracing::info!(public_key = %pair.public(), path = %pub_path.display(), "generated the default node's key pair");
    Ok(pair)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_file(dir: &Path, p2p_extra: &str) -> PathBuf {
        let private = "yAWAJjwPqUtNVlqGjSrBmr1/iIkghuOh1803Yzx9jLM=";
        let public = "/+UuD63zItL1EbjxkKUljMgG8Z1w0AJ8pNOR4iq2yQc=";
        let text = format!(
            r#"{{"jdbc": {{"url": "jdbc:sqlite:{dir}/db"}},
                "serverConfigs": [{{"app": "P2P", "serverAddress": "http://127.0.0.1:9001"{p2p_extra}}}],
                "peer": [], "keys": {{"keyData": [{{"privateKey": "{private}", "publicKey": "{public}"}}]}},
                "unknownThing": 1}}"#,
            dir = dir.display()
        );
        let path = dir.join("config.json");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_tessera_config_becomes_settings() {
        let dir = tempfile::tempdir().unwrap();
        let settings = NodeSettings::from_config_file(&config_file(dir.path(), "")).unwrap();
        assert_eq!(settings.p2p_url, "http://127.0.0.1:9001/");
        assert_eq!(
            settings.keys[0].public().to_base64(),
            "/+UuD63zItL1EbjxkKUljMgG8Z1w0AJ8pNOR4iq2yQc="
        );
        assert_eq!(settings.party_info_interval, Duration::from_secs(5));
    }

    /// A P2P `sslConfig` fragment (a leading comma, for [`config_file`]).
    fn ssl(members: &str) -> String {
        format!(
            r#", "sslConfig": {{"tls": "STRICT", "serverTrustMode": "NONE", "clientTrustMode": "NONE"{members}}}"#
        )
    }

    /// A PEM key and certificate, and a second key belonging to neither.
    fn pem_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        let paths = (
            dir.join("key.pem"),
            dir.join("cert.pem"),
            dir.join("other.pem"),
        );
        std::fs::write(&paths.0, key.serialize_pem()).unwrap();
        std::fs::write(&paths.1, certificate.pem()).unwrap();
        std::fs::write(&paths.2, other.serialize_pem()).unwrap();
        paths
    }

    fn settings_error(dir: &Path, p2p_extra: &str) -> String {
        NodeSettings::from_config_file(&config_file(dir, p2p_extra))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn strict_tls_gives_the_server_and_the_peer_client_their_configs() {
        let dir = tempfile::tempdir().unwrap();
        let (key, certificate, _) = pem_files(dir.path());
        let members = format!(
            r#", "serverTlsKeyPath": "{k}", "serverTlsCertificatePath": "{c}", "clientTlsKeyPath": "{k}", "clientTlsCertificatePath": "{c}""#,
            k = key.display(),
            c = certificate.display()
        );
        let settings =
            NodeSettings::from_config_file(&config_file(dir.path(), &ssl(&members))).unwrap();
        assert!(settings.servers[0].tls.is_some());
        assert!(settings.peer_tls.is_some());
        // Without sslConfig, neither.
        let plain = NodeSettings::from_config_file(&config_file(dir.path(), "")).unwrap();
        assert!(plain.servers[0].tls.is_none() && plain.peer_tls.is_none());
    }

    #[test]
    fn strict_tls_without_material_gets_tesseras_sentence() {
        let dir = tempfile::tempdir().unwrap();
        let message = settings_error(dir.path(), &ssl(""));
        assert!(
            message.contains("serverConfigs[0].sslConfig: Server keystore configuration not valid"),
            "{message}"
        );
    }

    #[test]
    fn a_wrong_keystore_password_names_the_member() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("server.jks");
        cloister_tls::generate::generate_keystore(
            &store,
            "right-password",
            "https://localhost:9001",
        )
        .unwrap();
        let members = format!(
            r#", "serverKeyStore": "{s}", "serverKeyStorePassword": "wrong-password", "clientKeyStore": "{s}", "clientKeyStorePassword": "right-password""#,
            s = store.display()
        );
        let message = settings_error(dir.path(), &ssl(&members));
        assert!(
            message.contains("serverConfigs[0].sslConfig: ") && message.contains("serverKeyStore"),
            "{message}"
        );
        assert!(
            !message.contains("wrong-password"),
            "a password leaked: {message}"
        );
    }

    #[test]
    fn a_key_not_matching_its_certificate_names_the_member() {
        let dir = tempfile::tempdir().unwrap();
        let (key, certificate, other) = pem_files(dir.path());
        let members = format!(
            r#", "serverTlsKeyPath": "{o}", "serverTlsCertificatePath": "{c}", "clientTlsKeyPath": "{k}", "clientTlsCertificatePath": "{c}""#,
            o = other.display(),
            k = key.display(),
            c = certificate.display()
        );
        let message = settings_error(dir.path(), &ssl(&members));
        assert!(
            message.contains("serverConfigs[0].sslConfig: ")
                && message.contains("serverTlsKeyPath")
                && message.contains("does not match"),
            "{message}"
        );
        assert!(!message.contains("PRIVATE KEY"), "{message}");
    }

    #[test]
    fn a_missing_trust_file_names_the_member() {
        let dir = tempfile::tempdir().unwrap();
        let (key, certificate, _) = pem_files(dir.path());
        let members = format!(
            r#", "serverTlsKeyPath": "{k}", "serverTlsCertificatePath": "{c}", "clientTlsKeyPath": "{k}", "clientTlsCertificatePath": "{c}", "serverTrustMode": "CA", "serverTrustCertificates": ["{d}/no-such-ca.pem"]"#,
            k = key.display(),
            c = certificate.display(),
            d = dir.path().display()
        );
        let message = settings_error(
            dir.path(),
            &ssl(&members).replacen(r#""serverTrustMode": "NONE", "#, "", 1),
        );
        assert!(
            message.contains("serverConfigs[0].sslConfig: ")
                && message.contains("serverTrustCertificates")
                && message.contains("no-such-ca.pem"),
            "{message}"
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let error = NodeSettings::from_config_file(Path::new("/no/such/tessera.json")).unwrap_err();
        assert!(error
            .to_string()
            .starts_with("cannot read config file /no/such/tessera.json"));
    }

    #[test]
    fn the_embedded_default_creates_its_key_once() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = NodeSettings::embedded_default(&data).unwrap();
        let second = NodeSettings::embedded_default(&data).unwrap();
        assert_eq!(first.keys[0].public(), second.keys[0].public());
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| {
            std::fs::metadata(data.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!((mode("node.key"), mode(".")), (0o600, 0o700));
    }
}
