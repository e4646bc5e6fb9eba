//! `sslConfig` → rustls configs, the way Tessera's `ServerSSLContextFactoryImpl` and
//! `ClientSSLContextFactoryImpl` assemble an `SSLContext`.
//!
//! - [`server_config`]: the server side (`server…` members, `serverTrustMode`,
//!   `knownClientsFile`, `clientAuth`, `excludeCipherSuites`), for every TCP server with
//!   `tls: STRICT`. ALPN offers `http/1.1` only; TLS 1.3 and 1.2; the server's cipher order.
//! - [`client_config`]: the outgoing P2P client (`client…` members, `clientTrustMode`,
//!   `knownServersFile`). The client certificate, when configured, is always sent, whatever
//!   CA hints the server gives.
//!
//! Both are plain functions of the config, the environment and the files: calling them again
//! rereads the key, the trust material and the known-hosts file, which is how certificate
//! rotation will rebuild them. The building blocks ([`load_identity`], [`load_trust`],
//! [`cipher_suites`], [`server_config_from`], [`client_config_from`]) are public for callers
//! that assemble differently (a proxy's TLS listener, a client without hostname checks).
//!
//! Key material, in Tessera's order: a keystore path, if set, wins; a keystore file that does
//! not exist is generated first ([`crate::generate`]), whatever `generateKeyStoreIfNotExisted`
//! says; otherwise the PEM pair. Relative paths are used as written, so they resolve against
//! the process working directory, as in Tessera.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use cloister_core::config::ssl::{SideMember, SslSide, SslSideConfig};
use cloister_core::config::{SslConfig, SslEnvironment, TrustMode};
use rustls::client::ResolvesClientCert;
use rustls::server::NoClientAuth;
use rustls::sign::SingleCertAndKey;
use rustls::{ClientConfig, ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};
use zeroize::Zeroizing;

use crate::client_identity;
use crate::generate::{self, GenerateError};
use crate::known_hosts::{KnownHosts, KnownHostsError};
use crate::material::{self, Identity, MaterialError, Origin};
use crate::trust::{CaRoots, ClientCertificateVerifier, PeerTrust, ServerCertificateVerifier};

/// The only application protocol a Tessera server offers.
pub const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// The process environment and file system, for [`SslEnvironment`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnvironment;

impl SslEnvironment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<Zeroizing<String>> {
        std::env::var(name).ok().map(Zeroizing::new)
    }

    fn exists(&self, path: &Path) -> bool {
        // Java's `!Files.notExists`: a path that cannot be checked counts as existing, so the
        // read that follows reports the real error.
        path.try_exists().unwrap_or(true)
    }
}

/// Why a rustls config could not be built. Each variant names the member or file at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// The side's trust mode is not set (Tessera fails with a NullPointerException).
    #[error("{member} is required when tls is STRICT")]
    NoTrustMode {
        /// `serverTrustMode` or `clientTrustMode`.
        member: &'static str,
    },
    /// The server has no key material at all.
    #[error("no key material: set {key_store}, or both {key_path} and {certificate_path}")]
    NoKeyMaterial {
        /// `…KeyStore`.
        key_store: &'static str,
        /// `…TlsKeyPath`.
        key_path: &'static str,
        /// `…TlsCertificatePath`.
        certificate_path: &'static str,
    },
    /// CA or CA_OR_TOFU without trust material.
    #[error("{mode} needs trust material: set {trust_store}, or {trust_certificates} with at least one file")]
    NoTrustMaterial {
        /// The mode.
        mode: TrustMode,
        /// `…TrustStore`.
        trust_store: &'static str,
        /// `…TrustCertificates`.
        trust_certificates: &'static str,
    },
    /// A keystore, PEM file or trust store is unusable.
    #[error(transparent)]
    Material(#[from] MaterialError),
    /// A missing keystore could not be generated.
    #[error("{member}: {source}")]
    Generate {
        /// `…KeyStore`.
        member: &'static str,
        /// Why.
        source: GenerateError,
    },
    /// The known-hosts file is unusable.
    #[error("{member}: {source}")]
    KnownHosts {
        /// `knownClientsFile` or `knownServersFile`.
        member: &'static str,
        /// Why.
        source: KnownHostsError,
    },
    /// A trusted certificate cannot be a trust anchor.
    #[error("{member}: {source}")]
    TrustAnchor {
        /// `…TrustStore` or `…TrustCertificates`.
        member: &'static str,
        /// Why.
        source: crate::trust::ca::CaRootsError,
    },
    /// An `excludeCipherSuites` entry is not a regular expression Cloister can read (Jetty
    /// reads Java regexes; lookaround and backreferences have no equivalent here).
    #[error("excludeCipherSuites[{index}]: not a regular expression Cloister can read: {reason}")]
    BadCipherPattern {
        /// 0-based index in the list.
        index: usize,
        /// The regex parser's description.
        reason: String,
    },
    /// `excludeCipherSuites` leaves nothing to offer.
    #[error("excludeCipherSuites excludes every cipher suite Cloister offers ({offered})")]
    NoCipherSuites {
        /// The suites there were, comma-separated.
        offered: String,
    },
    /// rustls refused the assembled config.
    #[error("cannot build the TLS config: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A rustls config built from an `sslConfig`, with when the certificate it presents expires
/// (what `cloister doctor` checks).
#[derive(Debug, Clone)]
pub struct Presenting<C> {
    /// The config.
    pub config: Arc<C>,
    /// The end of the presented chain's validity ([`Identity::not_after`]); `None` for a
    /// client that presents no certificate.
    pub not_after: Option<SystemTime>,
}

/// The server-side rustls config of an `sslConfig`. `address` is what a generated
/// certificate's CN is made from: the server's `bindingAddress`, else its `serverAddress`.
pub fn server_config(
    ssl: &SslConfig,
    address: &str,
    env: &dyn SslEnvironment,
) -> Result<Presenting<ServerConfig>, TlsConfigError> {
    let side = ssl.side(SslSide::Server);
    let identity = load_identity(&side, address, env)?.ok_or(TlsConfigError::NoKeyMaterial {
        key_store: side.member(SideMember::KeyStore),
        key_path: side.member(SideMember::TlsKeyPath),
        certificate_path: side.member(SideMember::TlsCertificatePath),
    })?;
    let trust = load_trust(&side, env)?;
    let suites = cipher_suites(&ssl.exclude_cipher_suites)?;
    Ok(Presenting {
        config: Arc::new(server_config_from(
            &identity,
            trust,
            ssl.client_auth,
            suites,
        )?),
        not_after: Some(identity.not_after()),
    })
}

/// The client-side rustls config of the P2P server's `sslConfig`. `address` is the P2P
/// `serverAddress` (the CN of a generated client keystore). Without any client key material
/// the client sends no certificate (Tessera's validation would have refused the config unless
/// `generateKeyStoreIfNotExisted` is set; this is a leniency for peers with `clientAuth: false`).
/// The client's certificate is re-read when its files change (see [`crate::client_identity`]).
pub fn client_config(
    ssl: &SslConfig,
    address: &str,
    env: &dyn SslEnvironment,
) -> Result<Presenting<ClientConfig>, TlsConfigError> {
    let side = ssl.side(SslSide::Client);
    let (resolver, not_after) = match identity_source(&side, address, env)? {
        Some(source) => {
            let identity = source.load()?;
            let reloading: Arc<dyn ResolvesClientCert> =
                Arc::new(client_identity::Reloading::new(source, &identity));
            (Some(reloading), Some(identity.not_after()))
        }
        None => (None, None),
    };
    let trust = load_trust(&side, env)?;
    Ok(Presenting {
        config: Arc::new(client_config_with(resolver, trust, true)?),
        not_after,
    })
}

/// A server config from its parts. `client_auth` is `clientAuth`: when false no client
/// certificate is asked for (Jetty's `needClientAuth = false`, `wantClientAuth` unset), so
/// `trust` is not used.
pub fn server_config_from(
    identity: &Identity,
    trust: PeerTrust,
    client_auth: bool,
    suites: Vec<SupportedCipherSuite>,
) -> Result<ServerConfig, TlsConfigError> {
    let versions = protocol_versions(&suites);
    let provider = rustls::crypto::CryptoProvider {
        cipher_suites: suites,
        ..(*crate::crypto_provider()).clone()
    };
    let verifier: Arc<dyn rustls::server::danger::ClientCertVerifier> = if client_auth {
        Arc::new(ClientCertificateVerifier::new(trust, true))
    } else {
        Arc::new(NoClientAuth)
    };
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&versions)?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(identity.certified_key())));
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    // Jetty uses the server's cipher order.
    config.ignore_client_order = true;
    Ok(config)
}

/// A client config from its parts. `check_hostname` applies the JDK's server identity check
/// (Tessera's client does, in every mode).
pub fn client_config_from(
    identity: Option<&Identity>,
    trust: PeerTrust,
    check_hostname: bool,
) -> Result<ClientConfig, TlsConfigError> {
    let resolver = identity.map(|identity| {
        let single: Arc<dyn ResolvesClientCert> =
            Arc::new(SingleCertAndKey::from(identity.certified_key()));
        single
    });
    client_config_with(resolver, trust, check_hostname)
}

/// A client config presenting what `resolver` gives (whatever the server's CA hints say), or
/// no certificate.
fn client_config_with(
    resolver: Option<Arc<dyn ResolvesClientCert>>,
    trust: PeerTrust,
    check_hostname: bool,
) -> Result<ClientConfig, TlsConfigError> {
    let builder = ClientConfig::builder_with_provider(crate::crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ServerCertificateVerifier::new(
            trust,
            check_hostname,
        )));
    let mut config = match resolver {
        Some(resolver) => builder.with_client_cert_resolver(resolver),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    Ok(config)
}

/// A side's identity: the keystore (generated first when its file is missing), else the PEM
/// pair, else `None`.
pub fn load_identity(
    side: &SslSideConfig<'_>,
    address: &str,
    env: &dyn SslEnvironment,
) -> Result<Option<Identity>, TlsConfigError> {
    match identity_source(side, address, env)? {
        Some(source) => Ok(Some(source.load()?)),
        None => Ok(None),
    }
}

/// Where a side's identity is read from: its keystore (generated now when its file is
/// missing), else its PEM pair, else nowhere.
fn identity_source(
    side: &SslSideConfig<'_>,
    address: &str,
    env: &dyn SslEnvironment,
) -> Result<Option<client_identity::Source>, TlsConfigError> {
    let password_member = side.member(SideMember::KeyStorePassword);
    if let Some(path) = side.key_store() {
        let member = side.member(SideMember::KeyStore);
        let password = side.key_store_password(env);
        if !env.exists(path) {
            let password = password
                .as_deref()
                .ok_or_else(|| TlsConfigError::Generate {
                    member,
                    source: GenerateError::NoPassword {
                        path: path.to_owned(),
                    },
                })?;
            generate::generate_keystore(path, password, address)
                .map_err(|source| TlsConfigError::Generate { member, source })?;
            tracing::info!(
                member,
                keystore = %path.display(),
                "generated a self-signed keystore for {}",
                generate::common_name_for(address)
            );
        }
        return Ok(Some(client_identity::Source::KeyStore {
            origin: Origin::new(member, path),
            password,
            password_member,
        }));
    }
    match (side.tls_key_path(), side.tls_certificate_path()) {
        (Some(key), Some(certificate)) => Ok(Some(client_identity::Source::Pem {
            key: Origin::new(side.member(SideMember::TlsKeyPath), key),
            certificate: Origin::new(side.member(SideMember::TlsCertificatePath), certificate),
        })),
        _ => Ok(None),
    }
}

/// A side's trust mode with its material: the known-hosts file (read now), the CA roots.
pub fn load_trust(
    side: &SslSideConfig<'_>,
    env: &dyn SslEnvironment,
) -> Result<PeerTrust, TlsConfigError> {
    let mode = side.trust_mode().ok_or(TlsConfigError::NoTrustMode {
        member: side.member(SideMember::TrustMode),
    })?;
    let known_hosts = || {
        KnownHosts::load(side.known_hosts_file()).map_err(|source| TlsConfigError::KnownHosts {
            member: side.member(SideMember::KnownHostsFile),
            source,
        })
    };
    Ok(match mode {
        TrustMode::None => PeerTrust::none(),
        TrustMode::Whitelist => PeerTrust::whitelist(known_hosts()?),
        TrustMode::Tofu => PeerTrust::tofu(known_hosts()?),
        TrustMode::Ca => PeerTrust::ca(load_roots(side, mode, env)?),
        TrustMode::CaOrTofu => PeerTrust::ca_or_tofu(load_roots(side, mode, env)?, known_hosts()?),
    })
}

/// CA trust material: the trust store if set, else the trust-certificate files.
fn load_roots(
    side: &SslSideConfig<'_>,
    mode: TrustMode,
    env: &dyn SslEnvironment,
) -> Result<CaRoots, TlsConfigError> {
    let (member, certificates) = if let Some(path) = side.trust_store() {
        let member = side.member(SideMember::TrustStore);
        let password = side.trust_store_password(env);
        let certificates = material::load_trust_store(
            &Origin::new(member, path),
            password.as_deref().map(String::as_str),
            side.member(SideMember::TrustStorePassword),
        )?;
        (member, certificates)
    } else {
        let member = side.member(SideMember::TrustCertificates);
        let files: Vec<Origin> = side
            .trust_certificates()
            .unwrap_or_default()
            .into_iter()
            .map(|path| Origin::new(member, path))
            .collect();
        if files.is_empty() {
            return Err(TlsConfigError::NoTrustMaterial {
                mode,
                trust_store: side.member(SideMember::TrustStore),
                trust_certificates: member,
            });
        }
        (member, material::load_trust_certificates(&files)?)
    };
    CaRoots::new(certificates).map_err(|source| TlsConfigError::TrustAnchor { member, source })
}

/// The provider's cipher suites minus those `excludeCipherSuites` matches. Each entry is a
/// Jetty (Java) regex matched against the whole JDK suite name (`TLS_AES_128_GCM_SHA256`,
/// `TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384`); Jetty's own default excludes match none of the
/// suites rustls offers.
pub fn cipher_suites(excludes: &[String]) -> Result<Vec<SupportedCipherSuite>, TlsConfigError> {
    let patterns = excludes
        .iter()
        .enumerate()
        .map(|(index, pattern)| {
            regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
                TlsConfigError::BadCipherPattern {
                    index,
                    reason: e.to_string(),
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let offered = crate::crypto_provider().cipher_suites.clone();
    let kept: Vec<_> = offered
        .iter()
        .filter(|suite| {
            let name = jdk_suite_name(suite);
            !patterns.iter().any(|pattern| pattern.is_match(&name))
        })
        .copied()
        .collect();
    if kept.is_empty() {
        return Err(TlsConfigError::NoCipherSuites {
            offered: offered
                .iter()
                .map(jdk_suite_name)
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(kept)
}

/// The JDK's (IANA) name of a suite: rustls writes TLS 1.3 suites `TLS13_…`.
pub fn jdk_suite_name(suite: &SupportedCipherSuite) -> String {
    let name = suite
        .suite()
        .as_str()
        .map_or_else(|| format!("{:?}", suite.suite()), str::to_owned);
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name,
    }
}

fn protocol_versions(suites: &[SupportedCipherSuite]) -> Vec<&'static SupportedProtocolVersion> {
    let mut versions = Vec::new();
    if suites
        .iter()
        .any(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
    {
        versions.push(&rustls::version::TLS13);
    }
    if suites
        .iter()
        .any(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
    {
        versions.push(&rustls::version::TLS12);
    }
    versions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jdk_names_and_whole_name_matching() {
        let names: Vec<String> = cipher_suites(&[])
            .unwrap()
            .iter()
            .map(jdk_suite_name)
            .collect();
        assert!(
            names.contains(&"TLS_AES_128_GCM_SHA256".to_owned()),
            "{names:?}"
        );
        assert!(
            names.contains(&"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".to_owned()),
            "{names:?}"
        );
        // Matched against the whole name, as Java's `matches()`.
        let kept = cipher_suites(&["AES_128".into()]).unwrap();
        assert_eq!(kept.len(), names.len());
        let kept: Vec<String> =
            cipher_suites(&[".*_CHACHA20_.*".into(), "^TLS_AES_128_.*$".into()])
                .unwrap()
                .iter()
                .map(jdk_suite_name)
                .collect();
        assert!(
            kept.iter()
                .all(|n| !n.contains("CHACHA20") && !n.starts_with("TLS_AES_128")),
            "{kept:?}"
        );
        assert!(kept.contains(&"TLS_AES_256_GCM_SHA384".to_owned()));
    }

    #[test]
    fn excluding_everything_or_unreadable_patterns_is_refused_clearly() {
        assert!(matches!(
            cipher_suites(&[".*".into()]),
            Err(TlsConfigError::NoCipherSuites { .. })
        ));
        let error = cipher_suites(&["ok".into(), "(?<=TLS)_AES".into()]).unwrap_err();
        assert!(
            error.to_string().starts_with("excludeCipherSuites[1]:"),
            "{error}"
        );
    }

    #[test]
    fn excluding_tls13_suites_leaves_tls12_only() {
        let suites = cipher_suites(&["TLS_AES_.*|TLS_CHACHA20_.*".into()]).unwrap();
        assert_eq!(protocol_versions(&suites), [&rustls::version::TLS12]);
    }

    #[test]
    fn missing_trust_mode_names_the_member() {
        let ssl = SslConfig::default();
        let error = load_trust(&ssl.side(SslSide::Client), &ProcessEnvironment).unwrap_err();
        assert_eq!(
            error.to_string(),
            "clientTrustMode is required when tls is STRICT"
        );
    }
}
