//! `serverConfigs[].sslConfig`: Tessera's TLS settings, the rules Tessera checks before it
//! starts, and where the store passwords come from.
//!
//! The model has every member of Tessera's `SslConfig` and nothing else. Three things are read
//! the way Tessera reads them:
//!
//! - Booleans may be JSON booleans or the JSON strings `"true"`/`"false"` (any case), because
//!   Tessera's own sample configs write `"generateKeyStoreIfNotExisted": "false"`.
//! - Paths are kept as written. A relative path is relative to the process working directory,
//!   not to the config file (Tessera's `PathAdapter` is `Paths.get`), which is also what
//!   `std::fs` does with a relative path; nothing here rewrites it.
//! - Validation ([`SslConfig::check`]) runs only for `tls: STRICT`, stops at the first failure
//!   and reports it with Tessera's exact sentence ([`SslConfigInvalid`]).
//!
//! This module does no I/O: the validation and the password lookup read environment variables
//! and test files for existence through an [`SslEnvironment`] the caller supplies.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use zeroize::Zeroizing;

use super::Secret;

spelled_enum! {
    /// `sslConfig.tls` (Tessera's `SslAuthenticationMode`).
    pub enum TlsMode {
        /// TLS on: every other member is read and validated.
        Strict => ["STRICT"],
        /// TLS off: every other member is ignored. Also what an absent `tls` means, since
        /// Tessera only turns TLS on for an explicit `STRICT`.
        Off => ["OFF"],
    }
}

spelled_enum! {
    /// `sslConfig.serverTrustMode` / `clientTrustMode` (Tessera's `SslTrustMode`).
    pub enum TrustMode {
        /// The peer's chain must validate against the trust store or trust certificates.
        Ca => ["CA"],
        /// Trust on first use: a certificate's first subject CN is recorded with its SHA-1
        /// fingerprint in the known-hosts file, and later must match.
        Tofu => ["TOFU"],
        /// Only CNs listed in the known-hosts file, with the listed fingerprint.
        Whitelist => ["WHITELIST"],
        /// CA, else trust on first use.
        CaOrTofu => ["CA_OR_TOFU"],
        /// Any certificate.
        None => ["NONE"],
    }
}

spelled_enum! {
    /// `sslConfig.sslConfigType`: which sides the validation checks. The runtime ignores it.
    pub enum SslConfigType {
        /// Only the server side is validated.
        ServerOnly => ["SERVER_ONLY"],
        /// Only the client side is validated.
        ClientOnly => ["CLIENT_ONLY"],
        /// Both sides (also what an absent value means).
        ServerAndClient => ["SERVER_AND_CLIENT"],
    }
}

/// `serverConfigs[].sslConfig` (Tessera's `SslConfig`). Paths are kept as written; store
/// passwords are secrets, wiped on drop and never printed.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SslConfig {
    /// `tls`: `STRICT` or `OFF`. Absent means off.
    pub tls: TlsMode,
    /// `generateKeyStoreIfNotExisted`: only relaxes validation. A keystore path whose file is
    /// missing is generated whatever this says (see `cloister-tls`).
    #[serde(deserialize_with = "lenient_bool::<false, _>")]
    pub generate_key_store_if_not_existed: bool,
    /// `sslConfigType`: which sides are validated; null means both.
    pub ssl_config_type: Option<SslConfigType>,
    /// `serverKeyStore`: a JKS or PKCS#12 keystore holding the server's key and chain.
    pub server_key_store: Option<String>,
    /// `serverKeyStorePassword`.
    pub server_key_store_password: Option<Secret>,
    /// `serverTlsKeyPath`: PEM private key, used only when `serverKeyStore` is absent.
    pub server_tls_key_path: Option<String>,
    /// `serverTlsCertificatePath`: PEM certificate chain, used only when `serverKeyStore` is
    /// absent.
    pub server_tls_certificate_path: Option<String>,
    /// `serverTrustStore`: a JKS or PKCS#12 trust store (CA and CA_OR_TOFU).
    pub server_trust_store: Option<String>,
    /// `serverTrustStorePassword`.
    pub server_trust_store_password: Option<Secret>,
    /// `serverTrustCertificates`: PEM files of trusted certificates, used when there is no
    /// trust store. Kept as an option because Tessera's validation tells an absent list from
    /// an empty one.
    pub server_trust_certificates: Option<Vec<String>>,
    /// `serverTrustMode`: how client certificates are checked.
    pub server_trust_mode: Option<TrustMode>,
    /// `clientKeyStore`: the outgoing P2P client's keystore.
    pub client_key_store: Option<String>,
    /// `clientKeyStorePassword`.
    pub client_key_store_password: Option<Secret>,
    /// `clientTlsKeyPath`: PEM private key, used only when `clientKeyStore` is absent.
    pub client_tls_key_path: Option<String>,
    /// `clientTlsCertificatePath`: PEM certificate chain, used only when `clientKeyStore` is
    /// absent.
    pub client_tls_certificate_path: Option<String>,
    /// `clientTrustStore`.
    pub client_trust_store: Option<String>,
    /// `clientTrustStorePassword`.
    pub client_trust_store_password: Option<Secret>,
    /// `clientTrustCertificates`: PEM files of trusted certificates.
    pub client_trust_certificates: Option<Vec<String>>,
    /// `clientTrustMode`: how server certificates are checked.
    pub client_trust_mode: Option<TrustMode>,
    /// `knownClientsFile`: the known-hosts file of client certificates (TOFU, WHITELIST,
    /// CA_OR_TOFU); `knownClients` in the working directory when absent.
    pub known_clients_file: Option<String>,
    /// `knownServersFile`: the known-hosts file of server certificates; `knownServers` in the
    /// working directory when absent.
    pub known_servers_file: Option<String>,
    /// `environmentVariablePrefix`: `<prefix>_TESSERA_…_PWD` variables override the config's
    /// passwords (see [`SslSideConfig::key_store_password`]).
    pub environment_variable_prefix: Option<String>,
    /// `excludeCipherSuites`: Jetty regexes of cipher suites the server must not offer, added
    /// to Jetty's own excludes.
    pub exclude_cipher_suites: Vec<String>,
    /// `clientAuth`: the server requires a client certificate (default true).
    #[serde(deserialize_with = "lenient_bool::<true, _>")]
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
            server_trust_certificates: None,
            server_trust_mode: None,
            client_key_store: None,
            client_key_store_password: None,
            client_tls_key_path: None,
            client_tls_certificate_path: None,
            client_trust_store: None,
            client_trust_store_password: None,
            client_trust_certificates: None,
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
    // Everything but the store passwords, which are secrets: only whether each is set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |p: &Option<Secret>| p.as_ref().map(|_| "<set>");
        f.debug_struct("SslConfig")
            .field("tls", &self.tls)
            .field(
                "generate_key_store_if_not_existed",
                &self.generate_key_store_if_not_existed,
            )
            .field("ssl_config_type", &self.ssl_config_type)
            .field("server_key_store", &self.server_key_store)
            .field(
                "server_key_store_password",
                &set(&self.server_key_store_password),
            )
            .field("server_tls_key_path", &self.server_tls_key_path)
            .field(
                "server_tls_certificate_path",
                &self.server_tls_certificate_path,
            )
            .field("server_trust_store", &self.server_trust_store)
            .field(
                "server_trust_store_password",
                &set(&self.server_trust_store_password),
            )
            .field("server_trust_certificates", &self.server_trust_certificates)
            .field("server_trust_mode", &self.server_trust_mode)
            .field("client_key_store", &self.client_key_store)
            .field(
                "client_key_store_password",
                &set(&self.client_key_store_password),
            )
            .field("client_tls_key_path", &self.client_tls_key_path)
            .field(
                "client_tls_certificate_path",
                &self.client_tls_certificate_path,
            )
            .field("client_trust_store", &self.client_trust_store)
            .field(
                "client_trust_store_password",
                &set(&self.client_trust_store_password),
            )
            .field("client_trust_certificates", &self.client_trust_certificates)
            .field("client_trust_mode", &self.client_trust_mode)
            .field("known_clients_file", &self.known_clients_file)
            .field("known_servers_file", &self.known_servers_file)
            .field(
                "environment_variable_prefix",
                &self.environment_variable_prefix,
            )
            .field("exclude_cipher_suites", &self.exclude_cipher_suites)
            .field("client_auth", &self.client_auth)
            .finish()
    }
}

/// Which end of a connection a group of `sslConfig` members configures: the `server…` members
/// are the HTTP server's, the `client…` members the outgoing P2P client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SslSide {
    /// `serverKeyStore`, `serverTrustMode`, `knownClientsFile`, …
    Server,
    /// `clientKeyStore`, `clientTrustMode`, `knownServersFile`, …
    Client,
}

/// Which of a side's two stores a password belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// The keystore (own key and chain).
    KeyStore,
    /// The trust store (trusted certificates).
    TrustStore,
}

impl SslSide {
    /// The JSON name of this side's `member`, as errors name it (`serverKeyStore`).
    pub const fn member(self, member: SideMember) -> &'static str {
        use SideMember as M;
        match (self, member) {
            (Self::Server, M::KeyStore) => "serverKeyStore",
            (Self::Server, M::KeyStorePassword) => "serverKeyStorePassword",
            (Self::Server, M::TlsKeyPath) => "serverTlsKeyPath",
            (Self::Server, M::TlsCertificatePath) => "serverTlsCertificatePath",
            (Self::Server, M::TrustStore) => "serverTrustStore",
            (Self::Server, M::TrustStorePassword) => "serverTrustStorePassword",
            (Self::Server, M::TrustCertificates) => "serverTrustCertificates",
            (Self::Server, M::TrustMode) => "serverTrustMode",
            (Self::Server, M::KnownHostsFile) => "knownClientsFile",
            (Self::Client, M::KeyStore) => "clientKeyStore",
            (Self::Client, M::KeyStorePassword) => "clientKeyStorePassword",
            (Self::Client, M::TlsKeyPath) => "clientTlsKeyPath",
            (Self::Client, M::TlsCertificatePath) => "clientTlsCertificatePath",
            (Self::Client, M::TrustStore) => "clientTrustStore",
            (Self::Client, M::TrustStorePassword) => "clientTrustStorePassword",
            (Self::Client, M::TrustCertificates) => "clientTrustCertificates",
            (Self::Client, M::TrustMode) => "clientTrustMode",
            (Self::Client, M::KnownHostsFile) => "knownServersFile",
        }
    }

    /// Tessera's environment variable for a store password (`TESSERA_SERVER_KEYSTORE_PWD`).
    pub const fn password_variable(self, store: StoreKind) -> &'static str {
        match (self, store) {
            (Self::Server, StoreKind::KeyStore) => "TESSERA_SERVER_KEYSTORE_PWD",
            (Self::Server, StoreKind::TrustStore) => "TESSERA_SERVER_TRUSTSTORE_PWD",
            (Self::Client, StoreKind::KeyStore) => "TESSERA_CLIENT_KEYSTORE_PWD",
            (Self::Client, StoreKind::TrustStore) => "TESSERA_CLIENT_TRUSTSTORE_PWD",
        }
    }

    /// The known-hosts file used when none is configured: `knownClients` / `knownServers`,
    /// relative to the working directory.
    pub const fn default_known_hosts_file(self) -> &'static str {
        match self {
            Self::Server => "knownClients",
            Self::Client => "knownServers",
        }
    }
}

/// The members each side has, for [`SslSide::member`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SideMember {
    /// `…KeyStore`.
    KeyStore,
    /// `…KeyStorePassword`.
    KeyStorePassword,
    /// `…TlsKeyPath`.
    TlsKeyPath,
    /// `…TlsCertificatePath`.
    TlsCertificatePath,
    /// `…TrustStore`.
    TrustStore,
    /// `…TrustStorePassword`.
    TrustStorePassword,
    /// `…TrustCertificates`.
    TrustCertificates,
    /// `…TrustMode`.
    TrustMode,
    /// `knownClientsFile` / `knownServersFile`.
    KnownHostsFile,
}

/// What the sslConfig rules read from outside the config. The real one reads the process
/// environment and the file system (`cloister-tls` has it); tests pass a map.
pub trait SslEnvironment {
    /// The value of environment variable `name`, if it is set (an empty value is set).
    fn var(&self, name: &str) -> Option<Zeroizing<String>>;
    /// Whether `path` exists. A relative path is relative to the process working directory.
    fn exists(&self, path: &Path) -> bool;
}

/// One side of an [`SslConfig`], so that code building a server or a client reads the same
/// members the same way.
#[derive(Clone, Copy)]
pub struct SslSideConfig<'a> {
    /// Which side.
    pub side: SslSide,
    config: &'a SslConfig,
}

impl fmt::Debug for SslSideConfig<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SslSideConfig")
            .field("side", &self.side)
            .finish_non_exhaustive()
    }
}

impl SslConfig {
    /// Whether TLS is on (`tls: STRICT`).
    pub fn is_strict(&self) -> bool {
        self.tls == TlsMode::Strict
    }

    /// The members of one side.
    pub fn side(&self, side: SslSide) -> SslSideConfig<'_> {
        SslSideConfig { side, config: self }
    }

    /// Tessera's `SslConfigValidator`: passes when `tls` is not `STRICT`; otherwise the first
    /// rule that fails, in Tessera's order, with Tessera's sentence.
    pub fn check(&self, env: &dyn SslEnvironment) -> Result<(), SslConfigInvalid> {
        if !self.is_strict() {
            return Ok(());
        }
        let server = self.side(SslSide::Server);
        let client = self.side(SslSide::Client);
        let checks_server = self.ssl_config_type != Some(SslConfigType::ClientOnly);
        let checks_client = self.ssl_config_type != Some(SslConfigType::ServerOnly);
        if !self.generate_key_store_if_not_existed {
            if checks_server && !server.has_usable_key_material(env) {
                return Err(SslConfigInvalid::ServerKeyStore);
            }
            if checks_client && !client.has_usable_key_material(env) {
                return Err(SslConfigInvalid::ClientKeyStore);
            }
        }
        if (checks_server && self.server_trust_mode.is_none())
            || (checks_client && self.client_trust_mode.is_none())
        {
            return Err(SslConfigInvalid::TrustMode);
        }
        // The WHITELIST and CA rules apply whatever sslConfigType says, as in Tessera.
        if server.trust_mode() == Some(TrustMode::Whitelist) && !server.known_hosts_exists(env) {
            return Err(SslConfigInvalid::KnownClientsFile);
        }
        if server.trust_mode() == Some(TrustMode::Ca) && !server.has_ca_material(env) {
            return Err(SslConfigInvalid::ServerTrustStore);
        }
        if client.trust_mode() == Some(TrustMode::Whitelist) && !client.known_hosts_exists(env) {
            return Err(SslConfigInvalid::KnownServersFile);
        }
        if client.trust_mode() == Some(TrustMode::Ca) && !client.has_ca_material(env) {
            return Err(SslConfigInvalid::ClientTrustStore);
        }
        Ok(())
    }
}

impl<'a> SslSideConfig<'a> {
    /// The JSON name of one of this side's members.
    pub fn member(&self, member: SideMember) -> &'static str {
        self.side.member(member)
    }

    /// `…KeyStore`, as written.
    pub fn key_store(&self) -> Option<&'a Path> {
        self.pick(&self.config.server_key_store, &self.config.client_key_store)
    }

    /// `…TlsKeyPath`, as written.
    pub fn tls_key_path(&self) -> Option<&'a Path> {
        self.pick(
            &self.config.server_tls_key_path,
            &self.config.client_tls_key_path,
        )
    }

    /// `…TlsCertificatePath`, as written.
    pub fn tls_certificate_path(&self) -> Option<&'a Path> {
        self.pick(
            &self.config.server_tls_certificate_path,
            &self.config.client_tls_certificate_path,
        )
    }

    /// `…TrustStore`, as written.
    pub fn trust_store(&self) -> Option<&'a Path> {
        self.pick(
            &self.config.server_trust_store,
            &self.config.client_trust_store,
        )
    }

    /// `…TrustCertificates`: `None` when absent (which Tessera's CA rule tells from empty).
    pub fn trust_certificates(&self) -> Option<Vec<&'a Path>> {
        let list = match self.side {
            SslSide::Server => &self.config.server_trust_certificates,
            SslSide::Client => &self.config.client_trust_certificates,
        };
        list.as_ref()
            .map(|paths| paths.iter().map(Path::new).collect())
    }

    /// `…TrustMode`.
    pub fn trust_mode(&self) -> Option<TrustMode> {
        match self.side {
            SslSide::Server => self.config.server_trust_mode,
            SslSide::Client => self.config.client_trust_mode,
        }
    }

    /// `knownClientsFile` / `knownServersFile`, or Tessera's default (`knownClients` /
    /// `knownServers` in the working directory).
    pub fn known_hosts_file(&self) -> PathBuf {
        let configured = match self.side {
            SslSide::Server => &self.config.known_clients_file,
            SslSide::Client => &self.config.known_servers_file,
        };
        PathBuf::from(
            configured
                .as_deref()
                .unwrap_or(self.side.default_known_hosts_file()),
        )
    }

    /// The keystore password Tessera would use, highest priority first: env
    /// `<prefix>_TESSERA_<SIDE>_KEYSTORE_PWD` (only with `environmentVariablePrefix`), the
    /// config value, env `TESSERA_<SIDE>_KEYSTORE_PWD`; else none.
    pub fn key_store_password(&self, env: &dyn SslEnvironment) -> Option<Zeroizing<String>> {
        self.password(StoreKind::KeyStore, env)
    }

    /// The trust store password, with the same precedence as
    /// [`SslSideConfig::key_store_password`].
    pub fn trust_store_password(&self, env: &dyn SslEnvironment) -> Option<Zeroizing<String>> {
        self.password(StoreKind::TrustStore, env)
    }

    /// A store password, by Tessera's `getPreferredPassword`.
    pub fn password(
        &self,
        store: StoreKind,
        env: &dyn SslEnvironment,
    ) -> Option<Zeroizing<String>> {
        let variable = self.side.password_variable(store);
        if let Some(prefix) = &self.config.environment_variable_prefix {
            if let Some(value) = env.var(&format!("{prefix}_{variable}")) {
                return Some(value);
            }
        }
        if let Some(value) = self.configured_password(store) {
            return Some(value.clone());
        }
        env.var(variable)
    }

    fn configured_password(&self, store: StoreKind) -> Option<&'a Secret> {
        let c = self.config;
        match (self.side, store) {
            (SslSide::Server, StoreKind::KeyStore) => c.server_key_store_password.as_ref(),
            (SslSide::Server, StoreKind::TrustStore) => c.server_trust_store_password.as_ref(),
            (SslSide::Client, StoreKind::KeyStore) => c.client_key_store_password.as_ref(),
            (SslSide::Client, StoreKind::TrustStore) => c.client_trust_store_password.as_ref(),
        }
    }

    /// Tessera's `isPasswordProvided`: the config value, or either environment variable, is
    /// set. (Without a prefix Tessera looks up `null_TESSERA_…`, a variable nobody sets; that
    /// quirk is not copied.)
    fn password_provided(&self, store: StoreKind, env: &dyn SslEnvironment) -> bool {
        self.password(store, env).is_some()
    }

    /// The keystore rule: a keystore with a password that exists, else both PEM files exist.
    fn has_usable_key_material(&self, env: &dyn SslEnvironment) -> bool {
        let key_store = self
            .key_store()
            .is_some_and(|ks| self.password_provided(StoreKind::KeyStore, env) && env.exists(ks));
        let pem = match (self.tls_key_path(), self.tls_certificate_path()) {
            (Some(key), Some(cert)) => env.exists(key) && env.exists(cert),
            _ => false,
        };
        key_store || pem
    }

    /// The CA rule: a trust store with a password that exists, else any trust-certificate
    /// list (even an empty one, as in Tessera).
    fn has_ca_material(&self, env: &dyn SslEnvironment) -> bool {
        let store = self
            .trust_store()
            .is_some_and(|ts| self.password_provided(StoreKind::TrustStore, env) && env.exists(ts));
        store || self.trust_certificates().is_some()
    }

    /// The WHITELIST rule: the file is configured (no default here) and exists.
    fn known_hosts_exists(&self, env: &dyn SslEnvironment) -> bool {
        let configured = match self.side {
            SslSide::Server => &self.config.known_clients_file,
            SslSide::Client => &self.config.known_servers_file,
        };
        configured
            .as_deref()
            .is_some_and(|file| env.exists(Path::new(file)))
    }

    fn pick(&self, server: &'a Option<String>, client: &'a Option<String>) -> Option<&'a Path> {
        match self.side {
            SslSide::Server => server.as_deref().map(Path::new),
            SslSide::Client => client.as_deref().map(Path::new),
        }
    }
}

/// Why Tessera would refuse an `sslConfig` with `tls: STRICT`. The messages are Tessera's,
/// word for word, so that operators find them in Tessera's documentation and issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum SslConfigInvalid {
    /// No usable server keystore or PEM pair, and generation is off.
    #[error("Server keystore configuration not valid. Please ensure keystore file exists or keystore password not null, otherwise please set keystore generation flag to true to have keystore created")]
    ServerKeyStore,
    /// No usable client keystore or PEM pair, and generation is off.
    #[error("Client keystore configuration not valid. Please ensure keystore file exists or keystore password not null, otherwise please set keystore generation flag to true to have keystore created")]
    ClientKeyStore,
    /// A trust mode the checked sides need is missing.
    #[error("Trust mode does not have valid value. Please check server/client trust mode config")]
    TrustMode,
    /// Server WHITELIST without an existing `knownClientsFile`.
    #[error("Known clients file not found. If server trust mode is WHITELIST, known clients file must be provided")]
    KnownClientsFile,
    /// Server CA without a usable trust store or trust certificates.
    #[error("Trust store config not valid. If server trust mode is CA, trust store must exist and not be null")]
    ServerTrustStore,
    /// Client WHITELIST without an existing `knownServersFile`.
    #[error("Known servers file not found. If client trust mode is WHITELIST, known servers file must be provided")]
    KnownServersFile,
    /// Client CA without a usable trust store or trust certificates.
    #[error("Trust store config not valid. If client trust mode is CA, trust store must exist and not be null")]
    ClientTrustStore,
}

/// Reads a boolean written as a JSON boolean or as the string `"true"`/`"false"` (any case,
/// surrounding blanks ignored), as Tessera's JAXB binding does. `null` means `DEFAULT`. Other
/// strings fail without quoting the input.
pub(crate) fn lenient_bool<'de, const DEFAULT: bool, D>(deserializer: D) -> Result<bool, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Visitor<const DEFAULT: bool>;
    impl<const DEFAULT: bool> serde::de::Visitor<'_> for Visitor<DEFAULT> {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a boolean (true or false, or the string \"true\" or \"false\")")
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<bool, E> {
            match v.trim() {
                t if t.eq_ignore_ascii_case("true") => Ok(true),
                t if t.eq_ignore_ascii_case("false") => Ok(false),
                // The string kind without its text: the parser's messages never quote input.
                _ => Err(E::invalid_value(
                    serde::de::Unexpected::Other("string"),
                    &self,
                )),
            }
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<bool, E> {
            Ok(DEFAULT)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<bool, E> {
            Ok(DEFAULT)
        }
    }
    deserializer.deserialize_any(Visitor::<DEFAULT>)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    /// A fake environment: a map of variables and a set of existing paths.
    #[derive(Default)]
    struct FakeEnv {
        vars: BTreeMap<String, String>,
        files: BTreeSet<PathBuf>,
    }

    impl FakeEnv {
        fn var(mut self, name: &str, value: &str) -> Self {
            self.vars.insert(name.into(), value.into());
            self
        }
        fn file(mut self, path: &str) -> Self {
            self.files.insert(path.into());
            self
        }
    }

    impl SslEnvironment for FakeEnv {
        fn var(&self, name: &str) -> Option<Zeroizing<String>> {
            self.vars.get(name).cloned().map(Zeroizing::new)
        }
        fn exists(&self, path: &Path) -> bool {
            self.files.contains(path)
        }
    }

    fn parse(json: serde_json::Value) -> SslConfig {
        serde_json::from_value(json).unwrap()
    }

    fn secret(text: &str) -> Option<Secret> {
        Some(Zeroizing::new(text.to_owned()))
    }

    /// A STRICT config that passes every rule, to break one at a time.
    fn strict() -> SslConfig {
        SslConfig {
            tls: TlsMode::Strict,
            server_key_store: Some("server.jks".into()),
            server_key_store_password: secret("pw"),
            client_key_store: Some("client.jks".into()),
            client_key_store_password: secret("pw"),
            server_trust_mode: Some(TrustMode::Tofu),
            client_trust_mode: Some(TrustMode::Tofu),
            ..SslConfig::default()
        }
    }

    fn files() -> FakeEnv {
        FakeEnv::default().file("server.jks").file("client.jks")
    }

    #[test]
    fn booleans_may_be_json_strings_as_in_tesseras_samples() {
        let ssl = parse(serde_json::json!({
            "tls": "OFF",
            "generateKeyStoreIfNotExisted": "true",
            "clientAuth": "FALSE"
        }));
        assert!(ssl.generate_key_store_if_not_existed);
        assert!(!ssl.client_auth);
        let ssl =
            parse(serde_json::json!({ "generateKeyStoreIfNotExisted": false, "clientAuth": null }));
        assert!(!ssl.generate_key_store_if_not_existed);
        assert!(ssl.client_auth, "null keeps clientAuth's default");
        assert!(parse(serde_json::json!({})).client_auth);
        let error =
            serde_json::from_value::<SslConfig>(serde_json::json!({ "clientAuth": "maybe" }))
                .unwrap_err()
                .to_string();
        assert!(!error.contains("maybe"), "{error}");
    }

    #[test]
    fn absent_and_empty_trust_certificate_lists_differ() {
        assert_eq!(parse(serde_json::json!({})).server_trust_certificates, None);
        assert_eq!(
            parse(serde_json::json!({ "serverTrustCertificates": [] })).server_trust_certificates,
            Some(vec![])
        );
    }

    #[test]
    fn off_is_never_checked() {
        let off = SslConfig {
            tls: TlsMode::Off,
            server_key_store: None,
            server_trust_mode: None,
            ..strict()
        };
        assert_eq!(off.check(&FakeEnv::default()), Ok(()));
        assert_eq!(strict().check(&files()), Ok(()));
    }

    #[test]
    fn keystore_rule_accepts_a_keystore_or_both_pem_files() {
        // Missing file.
        assert_eq!(
            strict().check(&FakeEnv::default().file("client.jks")),
            Err(SslConfigInvalid::ServerKeyStore)
        );
        // No password anywhere.
        let no_password = SslConfig {
            client_key_store_password: None,
            ..strict()
        };
        assert_eq!(
            no_password.check(&files()),
            Err(SslConfigInvalid::ClientKeyStore)
        );
        // Either env variable counts as a password.
        assert_eq!(
            no_password.check(&files().var("TESSERA_CLIENT_KEYSTORE_PWD", "")),
            Ok(())
        );
        let prefixed = SslConfig {
            environment_variable_prefix: Some("NODE1".into()),
            ..no_password.clone()
        };
        assert_eq!(
            prefixed.check(&files().var("NODE1_TESSERA_CLIENT_KEYSTORE_PWD", "x")),
            Ok(())
        );
        // PEM pair instead of a keystore: both files must exist.
        let pem = SslConfig {
            server_key_store: None,
            server_tls_key_path: Some("key.pem".into()),
            server_tls_certificate_path: Some("cert.pem".into()),
            ..strict()
        };
        assert_eq!(
            pem.check(&files().file("key.pem")),
            Err(SslConfigInvalid::ServerKeyStore)
        );
        assert_eq!(pem.check(&files().file("key.pem").file("cert.pem")), Ok(()));
        // Generation relaxes the rule.
        let generate = SslConfig {
            generate_key_store_if_not_existed: true,
            ..strict()
        };
        assert_eq!(generate.check(&FakeEnv::default()), Ok(()));
    }

    #[test]
    fn ssl_config_type_skips_a_side() {
        let server_only = SslConfig {
            ssl_config_type: Some(SslConfigType::ServerOnly),
            client_key_store: None,
            client_trust_mode: None,
            ..strict()
        };
        assert_eq!(server_only.check(&files()), Ok(()));
        let client_only = SslConfig {
            ssl_config_type: Some(SslConfigType::ClientOnly),
            server_key_store: None,
            server_trust_mode: None,
            ..strict()
        };
        assert_eq!(client_only.check(&files()), Ok(()));
        let both = SslConfig {
            ssl_config_type: Some(SslConfigType::ServerAndClient),
            server_trust_mode: None,
            ..strict()
        };
        assert_eq!(both.check(&files()), Err(SslConfigInvalid::TrustMode));
    }

    #[test]
    fn whitelist_and_ca_rules_in_tesseras_order() {
        let whitelist = SslConfig {
            server_trust_mode: Some(TrustMode::Whitelist),
            client_trust_mode: Some(TrustMode::Ca),
            ..strict()
        };
        assert_eq!(
            whitelist.check(&files()),
            Err(SslConfigInvalid::KnownClientsFile),
            "the default knownClients file does not satisfy WHITELIST"
        );
        let whitelist = SslConfig {
            known_clients_file: Some("known".into()),
            ..whitelist
        };
        assert_eq!(
            whitelist.check(&files().file("known")),
            Err(SslConfigInvalid::ClientTrustStore)
        );
        let ca = SslConfig {
            client_trust_certificates: Some(vec![]),
            ..whitelist.clone()
        };
        assert_eq!(ca.check(&files().file("known")), Ok(()));
        let ca = SslConfig {
            client_trust_store: Some("trust.jks".into()),
            client_trust_store_password: secret("pw"),
            ..whitelist
        };
        assert_eq!(
            ca.check(&files().file("known")),
            Err(SslConfigInvalid::ClientTrustStore)
        );
        assert_eq!(ca.check(&files().file("known").file("trust.jks")), Ok(()));

        let server_ca = SslConfig {
            server_trust_mode: Some(TrustMode::Ca),
            client_trust_mode: Some(TrustMode::Whitelist),
            ..strict()
        };
        assert_eq!(
            server_ca.check(&files()),
            Err(SslConfigInvalid::ServerTrustStore)
        );
        let server_ca = SslConfig {
            server_trust_certificates: Some(vec!["ca.pem".into()]),
            ..server_ca
        };
        assert_eq!(
            server_ca.check(&files()),
            Err(SslConfigInvalid::KnownServersFile)
        );
    }

    #[test]
    fn messages_are_tesseras() {
        assert_eq!(
            SslConfigInvalid::ServerKeyStore.to_string(),
            "Server keystore configuration not valid. Please ensure keystore file exists or keystore password not null, otherwise please set keystore generation flag to true to have keystore created"
        );
        assert_eq!(
            SslConfigInvalid::TrustMode.to_string(),
            "Trust mode does not have valid value. Please check server/client trust mode config"
        );
        assert_eq!(
            SslConfigInvalid::KnownServersFile.to_string(),
            "Known servers file not found. If client trust mode is WHITELIST, known servers file must be provided"
        );
        assert_eq!(
            SslConfigInvalid::ClientTrustStore.to_string(),
            "Trust store config not valid. If client trust mode is CA, trust store must exist and not be null"
        );
    }

    #[test]
    fn password_precedence_is_prefix_env_then_config_then_env() {
        let ssl = SslConfig {
            environment_variable_prefix: Some("P".into()),
            ..strict()
        };
        let server = ssl.side(SslSide::Server);
        let both = FakeEnv::default()
            .var("P_TESSERA_SERVER_KEYSTORE_PWD", "prefixed")
            .var("TESSERA_SERVER_KEYSTORE_PWD", "global");
        assert_eq!(
            server.key_store_password(&both).unwrap().as_str(),
            "prefixed"
        );
        let global = FakeEnv::default().var("TESSERA_SERVER_KEYSTORE_PWD", "global");
        assert_eq!(server.key_store_password(&global).unwrap().as_str(), "pw");
        let no_config = SslConfig {
            server_key_store_password: None,
            ..strict()
        };
        let server = no_config.side(SslSide::Server);
        assert_eq!(
            server.key_store_password(&global).unwrap().as_str(),
            "global"
        );
        // Without a prefix, a prefixed variable is not consulted.
        let prefixed_only = FakeEnv::default().var("P_TESSERA_SERVER_KEYSTORE_PWD", "x");
        assert_eq!(server.key_store_password(&prefixed_only), None);
        // Each store has its own variable.
        let trust = FakeEnv::default().var("TESSERA_CLIENT_TRUSTSTORE_PWD", "t");
        assert_eq!(
            no_config
                .side(SslSide::Client)
                .trust_store_password(&trust)
                .unwrap()
                .as_str(),
            "t"
        );
        assert_eq!(server.trust_store_password(&trust), None);
    }

    #[test]
    fn sides_name_their_members_and_default_known_hosts_files() {
        let ssl = SslConfig::default();
        let server = ssl.side(SslSide::Server);
        let client = ssl.side(SslSide::Client);
        assert_eq!(server.member(SideMember::KeyStore), "serverKeyStore");
        assert_eq!(
            client.member(SideMember::KnownHostsFile),
            "knownServersFile"
        );
        assert_eq!(server.known_hosts_file(), Path::new("knownClients"));
        assert_eq!(client.known_hosts_file(), Path::new("knownServers"));
        let ssl = SslConfig {
            known_servers_file: Some("ssl/knownServers1".into()),
            ..SslConfig::default()
        };
        assert_eq!(
            ssl.side(SslSide::Client).known_hosts_file(),
            Path::new("ssl/knownServers1")
        );
    }

    #[test]
    fn debug_hides_passwords() {
        let debug = format!("{:?}", strict());
        assert!(!debug.contains("\"pw\""), "{debug}");
        assert!(debug.contains("<set>"), "{debug}");
    }
}
