//! TLS to PostgreSQL: the typed [`PostgresTls`] of a URL turned, once at start, into a
//! rustls client configuration that every connection attempt of the host walker uses.
//!
//! The pieces are cloister-tls's, so a certificate means the same here as in a node's
//! `sslConfig`: its PEM loaders, its ring provider, and its server-certificate verifier,
//! whose two independent checks map onto the modes: the chain against `sslrootcert`
//! (Tessera's CA trust mode, with the JDK's acceptance of a trusted leaf as it is, which is
//! also PostgreSQL's documented self-signed setup) and the host name (the JDK's rules, which
//! like libpq's and pgjdbc's fall back to the Common Name only without DNS names).
//!
//! - [`files`]: reading `sslrootcert`, `sslcert`, `sslkey` (or the drivers' defaults).
//! - [`stream`]: the tokio-postgres connector and stream, with channel binding, and the
//!   record of how far an attempt got.

mod files;
mod stream;

use std::path::Path;
use std::sync::Arc;

use cloister_core::config::jdbc::tls::DEFAULT_ROOT_CERT;
use cloister_core::config::jdbc::{PostgresTls, RootCerts, ServerCheck, SslMode};
use cloister_tls::trust::{CaRoots, PeerTrust};
use rustls::ClientConfig;

pub use self::files::TlsSetupError;
pub(super) use self::stream::{AttemptTls, PgTlsStream, Progress};

use self::files::{client_identity, default_dir, root_certs, system_roots};

/// The protocol tag PostgreSQL 17 servers expect in ALPN (and libpq 17 always sends);
/// older servers ignore it.
const ALPN_POSTGRESQL: &[u8] = b"postgresql";

/// The TLS side of every connection one store makes.
#[derive(Clone)]
pub(super) struct ClientTls {
    mode: SslMode,
    /// `None` with `sslmode=disable`: nothing is ever encrypted, and no file is read.
    config: Option<Arc<ClientConfig>>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Reads the files `tls` names (or the defaults in `$HOME/.postgresql`) and builds the
    /// configuration; fails, naming the parameter and the file, when one cannot be used.
    pub(super) fn load(tls: &PostgresTls) -> Result<Self, TlsSetupError> {
        Self::load_from(tls, default_dir().as_deref())
    }

    /// [`ClientTls::load`] with the defaults' directory given.
    pub(super) fn load_from(
        tls: &PostgresTls,
        default_dir: Option<&Path>,
    ) -> Result<Self, TlsSetupError> {
        if tls.mode == SslMode::Disable {
            return Ok(Self {
                mode: tls.mode,
                config: None,
            });
        }
        let (roots, host_name) = trusted_roots(tls, default_dir)?;
        let trust = roots.map_or_else(PeerTrust::none, PeerTrust::ca);
        let identity = client_identity(&tls.client_cert, &tls.client_key, default_dir)?;
        let mut config =
            cloister_tls::config::client_config_from(identity.as_ref(), trust, host_name)?;
        config.alpn_protocols = vec![ALPN_POSTGRESQL.to_vec()];
        Ok(Self {
            mode: tls.mode,
            config: Some(Arc::new(config)),
        })
    }

    /// The `sslmode` this configuration serves.
    pub(super) fn mode(&self) -> SslMode {
        self.mode
    }

    /// A connector for one connection attempt, with its own progress record.
    pub(super) fn attempt(&self) -> AttemptTls {
        AttemptTls::new(self.config.clone())
    }
}

/// The CAs the chain must lead to (`None`: the chain is not checked) and whether the host
/// name is checked, for `tls`'s [`ServerCheck`].
fn trusted_roots(
    tls: &PostgresTls,
    default_dir: Option<&Path>,
) -> Result<(Option<CaRoots>, bool), TlsSetupError> {
    let host_name = match tls.server_check {
        ServerCheck::Nothing => return Ok((None, false)),
        ServerCheck::HostNameOnly => return Ok((None, true)),
        ServerCheck::ChainIfRootFileExists | ServerCheck::Chain => false,
        ServerCheck::ChainAndHostName => true,
    };
    let roots = match &tls.root_certs {
        RootCerts::File(path) => Some(root_certs(path)?),
        RootCerts::System => Some(system_roots()?),
        RootCerts::DefaultFile => match default_dir.map(|dir| dir.join(DEFAULT_ROOT_CERT)) {
            Some(path) if path.exists() => {
                if tls.server_check == ServerCheck::ChainIfRootFileExists {
                    tracing::info!(
                        root_certs = %path.display(),
                        "sslmode=require checks the PostgreSQL server's certificate chain against the default root file, as libpq does"
                    );
                }
                Some(root_certs(&path)?)
            }
            _ if tls.server_check == ServerCheck::ChainIfRootFileExists => None,
            path => {
                return Err(TlsSetupError::NoRootCerts {
                    mode: tls.mode,
                    default: match path {
                        Some(path) => format!("the default {} does not exist", path.display()),
                        None => "HOME is not set, so there is no default ~/.postgresql/root.crt"
                            .to_owned(),
                    },
                })
            }
        },
    };
    Ok((roots, host_name))
}
