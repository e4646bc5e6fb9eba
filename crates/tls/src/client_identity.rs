//! The P2P client's own certificate, re-read when its files change. GoQuorum's client reads its
//! certificate for every handshake, so an operator rotates it by replacing the files; a node's
//! P2P client does the same without a restart or a signal: before each full handshake it looks
//! at the files' modification times and, when one changed, loads them again. New files that do
//! not load (half written, a key that is not the certificate's) are logged and the certificate
//! in use is kept, so a rotation in progress never costs a handshake.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::client::ResolvesClientCert;
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;
use zeroize::Zeroizing;

use crate::material::{self, Identity, MaterialError, Origin};

/// Where a client identity is read from.
pub(crate) enum Source {
    /// A JKS or PKCS#12 keystore.
    KeyStore {
        /// The keystore file and its member.
        origin: Origin,
        /// Its password, if any.
        password: Option<Zeroizing<String>>,
        /// The password's member, for messages.
        password_member: &'static str,
    },
    /// A PEM key and certificate.
    Pem {
        /// The key file.
        key: Origin,
        /// The certificate file.
        certificate: Origin,
    },
}

impl Source {
    /// Reads the identity.
    pub(crate) fn load(&self) -> Result<Identity, MaterialError> {
        match self {
            Self::KeyStore {
                origin,
                password,
                password_member,
            } => material::load_keystore_identity(
                origin,
                password.as_deref().map(String::as_str),
                password_member,
            ),
            Self::Pem { key, certificate } => material::load_pem_identity(key, certificate),
        }
    }

    fn files(&self) -> Vec<PathBuf> {
        match self {
            Self::KeyStore { origin, .. } => vec![origin.path.clone()],
            Self::Pem { key, certificate } => vec![key.path.clone(), certificate.path.clone()],
        }
    }
}

/// The files' modification times (`None` for one that cannot be read now).
fn stamp(files: &[PathBuf]) -> Vec<Option<SystemTime>> {
    files
        .iter()
        .map(|file| std::fs::metadata(file).and_then(|m| m.modified()).ok())
        .collect()
}

/// A client certificate resolver that reloads its identity when the files change.
pub(crate) struct Reloading {
    source: Source,
    files: Vec<PathBuf>,
    current: Mutex<(Vec<Option<SystemTime>>, Arc<CertifiedKey>)>,
}

impl std::fmt::Debug for Reloading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloading")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl Reloading {
    /// Starts from `identity`, read from `source` just now.
    pub(crate) fn new(source: Source, identity: &Identity) -> Self {
        let files = source.files();
        let current = Mutex::new((stamp(&files), identity.certified_key()));
        Self {
            source,
            files,
            current,
        }
    }

    /// The identity to present: reloaded first if a file changed since it was read.
    fn refreshed(&self) -> Arc<CertifiedKey> {
        let now = stamp(&self.files);
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.0 != now {
            match self.source.load() {
                Ok(identity) => {
                    tracing::info!(files = ?self.files, "P2P client certificate changed on disk; presenting the new one");
                    *current = (now, identity.certified_key());
                }
                // Keep the old stamp, so the next handshake tries again.
                Err(error) => {
                    tracing::warn!(%error, "P2P client certificate changed on disk but does not load; presenting the one in use");
                }
            }
        }
        current.1.clone()
    }
}

impl ResolvesClientCert for Reloading {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        // Sent whatever the server's CA hints say, as before.
        Some(self.refreshed())
    }

    fn has_certs(&self) -> bool {
        true
    }
}
