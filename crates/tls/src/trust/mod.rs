//! Tessera's trust modes, for both directions: a server checking client certificates
//! (`serverTrustMode`, `knownClientsFile`) and a client checking server certificates
//! (`clientTrustMode`, `knownServersFile`).
//!
//! | Mode | Accepts | Records |
//! |---|---|---|
//! | NONE | any certificate | – |
//! | WHITELIST | a leaf whose first CN is in the known-hosts file with this fingerprint | – |
//! | TOFU | an unknown CN, or a known CN with this fingerprint | the CN and fingerprint, the first time |
//! | CA | a chain that validates against the trust material ([`ca`]) | – |
//! | CA_OR_TOFU | CA, else TOFU | only what TOFU accepts after CA refused |
//!
//! NONE, WHITELIST and TOFU look at the leaf only: no chain, no dates, no key usage, so
//! expired and self-signed certificates keep working, as in Tessera. Every mode still checks
//! the handshake signature with the leaf's public key ([`signature`]), and a client also
//! checks that the server certificate names the host it dialled ([`hostname`]), as Tessera's
//! JDK client does in every mode.
//!
//! [`PeerTrust`] holds one mode and its state; clones share the state, so the known-hosts
//! entries recorded by one connection are seen by the next (behind a mutex, written to the
//! file before they count). [`ClientCertificateVerifier`] and [`ServerCertificateVerifier`]
//! are the rustls verifiers built on it. A refusal reaches rustls as
//! `CertificateError::Other` carrying a [`TrustError`]; [`TrustError::find_in`] gets it back
//! from the error a failed handshake returns.

pub mod ca;
pub mod hostname;
pub(crate) mod signature;
mod verifier;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use cloister_core::config::TrustMode;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::DistinguishedName;

pub use ca::{CaRoots, ChainError, PeerRole};
pub use hostname::HostnameError;
pub(crate) use verifier::AnyServerCertificate;
pub use verifier::{ClientCertificateVerifier, ServerCertificateVerifier};

use crate::fingerprint::{CertificateIdentity, Fingerprint, FingerprintError};
use crate::known_hosts::{KnownHosts, KnownHostsError};

/// One trust mode with its material and state. Cheap to clone; clones share the state.
#[derive(Clone)]
pub struct PeerTrust {
    inner: Arc<Inner>,
}

/// Each mode with exactly the material it uses.
enum Inner {
    None,
    Whitelist(Mutex<KnownHosts>),
    Tofu(Mutex<KnownHosts>),
    Ca(CaRoots),
    CaOrTofu(CaRoots, Mutex<KnownHosts>),
}

impl Inner {
    fn known_hosts(&self) -> Option<&Mutex<KnownHosts>> {
        match self {
            Self::Whitelist(known) | Self::Tofu(known) | Self::CaOrTofu(_, known) => Some(known),
            Self::None | Self::Ca(_) => None,
        }
    }
}

impl std::fmt::Debug for PeerTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerTrust")
            .field("mode", &self.mode())
            .field(
                "known_hosts",
                &self.inner.known_hosts().map(|k| lock(k).path().to_owned()),
            )
            .finish_non_exhaustive()
    }
}

/// Why a mode accepted a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Acceptance {
    /// NONE: every certificate is accepted.
    AnyCertificate,
    /// WHITELIST or TOFU: the CN is on file with this fingerprint.
    KnownFingerprint,
    /// TOFU (or CA_OR_TOFU after CA refused): first use, now recorded in the file.
    Recorded(CertificateIdentity),
    /// CA (or CA_OR_TOFU): the chain validates.
    TrustedChain,
}

/// Why a certificate is refused. The sentences that Tessera also has are Tessera's, with the
/// peer's CN and fingerprints added (they are public).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The leaf cannot be read.
    #[error("the peer's certificate cannot be read: {0}")]
    Unreadable(#[from] FingerprintError),
    /// WHITELIST: the CN is on file with another fingerprint.
    #[error("Connections not allowed (CN {cn} is on file in {} with another certificate)", file.display())]
    NotAllowed {
        /// The peer's CN (`null` when none).
        cn: String,
        /// The known-hosts file.
        file: PathBuf,
    },
    /// WHITELIST: the CN is not on file (Tessera fails with a NullPointerException).
    #[error("CN {cn} is not in the known-hosts file {}, and WHITELIST admits only those", file.display())]
    UnknownPeer {
        /// The peer's CN (`null` when none).
        cn: String,
        /// The known-hosts file.
        file: PathBuf,
    },
    /// TOFU: the CN is on file with another fingerprint.
    #[error("This address has been associated with a different certificate (CN {cn}: presented {presented}, on file {recorded})")]
    ChangedCertificate {
        /// The peer's CN (`null` when none).
        cn: String,
        /// The fingerprint presented now.
        presented: Fingerprint,
        /// The fingerprint on file, as written there.
        recorded: String,
    },
    /// TOFU: the first-use entry could not be written.
    #[error("Failed to save address and certificate fingerprint to whitelist. Cause by {0}")]
    SaveFailed(KnownHostsError),
    /// CA: the chain does not validate.
    #[error("{0}")]
    Chain(#[from] ChainError),
    /// CA_OR_TOFU: both refused.
    #[error("Certificate is not trusted by any of the trust managers (CA: {ca}; TOFU: {tofu})")]
    NotTrustedByAny {
        /// Why CA refused.
        ca: ChainError,
        /// Why TOFU refused.
        tofu: Box<TrustError>,
    },
    /// Client side: the server certificate does not name the host that was dialled.
    #[error("the server's certificate does not match the address dialled: {0}")]
    Hostname(#[from] HostnameError),
}

impl TrustError {
    /// Whether the refusal is about dates: the certificate expired or is not valid yet.
    pub fn is_expiry(&self) -> bool {
        match self {
            Self::Chain(e) | Self::NotTrustedByAny { ca: e, .. } => {
                matches!(e, ChainError::Expired | ChainError::NotYetValid)
            }
            _ => false,
        }
    }

    /// Finds the trust error that made a handshake fail, in `error` or its sources: the
    /// `io::Error` tokio-rustls returns, the `rustls::Error` inside it, or this error itself.
    pub fn find_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a TrustError> {
        let mut current = Some(error);
        while let Some(error) = current {
            if let Some(found) = error.downcast_ref::<TrustError>() {
                return Some(found);
            }
            if let Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))) =
                error.downcast_ref::<rustls::Error>()
            {
                return other.0.downcast_ref::<TrustError>();
            }
            // io::Error's `source` skips the error it wraps; look inside it first.
            current = match error
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                None => error.source(),
            };
        }
        None
    }
}

impl From<TrustError> for rustls::Error {
    fn from(error: TrustError) -> Self {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
            Arc::new(error),
        )))
    }
}

/// Locks a known-hosts list. A panic while it was held cannot leave it half-updated (an entry
/// is inserted only after its line is written), so a poisoned lock is used as it is.
fn lock(known: &Mutex<KnownHosts>) -> MutexGuard<'_, KnownHosts> {
    known
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl PeerTrust {
    /// NONE: any certificate.
    pub fn none() -> Self {
        Self::from(Inner::None)
    }

    /// WHITELIST over a known-hosts list (read once, as Tessera reads it at start).
    pub fn whitelist(known_hosts: KnownHosts) -> Self {
        Self::from(Inner::Whitelist(Mutex::new(known_hosts)))
    }

    /// TOFU, recording first uses in `known_hosts`' file.
    pub fn tofu(known_hosts: KnownHosts) -> Self {
        Self::from(Inner::Tofu(Mutex::new(known_hosts)))
    }

    /// CA over trust material.
    pub fn ca(roots: CaRoots) -> Self {
        Self::from(Inner::Ca(roots))
    }

    /// CA_OR_TOFU.
    pub fn ca_or_tofu(roots: CaRoots, known_hosts: KnownHosts) -> Self {
        Self::from(Inner::CaOrTofu(roots, Mutex::new(known_hosts)))
    }

    fn from(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The mode.
    pub fn mode(&self) -> TrustMode {
        match &*self.inner {
            Inner::None => TrustMode::None,
            Inner::Whitelist(_) => TrustMode::Whitelist,
            Inner::Tofu(_) => TrustMode::Tofu,
            Inner::Ca(_) => TrustMode::Ca,
            Inner::CaOrTofu(..) => TrustMode::CaOrTofu,
        }
    }

    /// The CA hints a server sends in its CertificateRequest: the trusted subjects in CA
    /// mode, and none otherwise (Tessera's `getAcceptedIssuers()` is empty in every other
    /// mode, and a Tessera client sends no certificate when the hints name none of its CAs).
    pub fn hint_subjects(&self) -> &[DistinguishedName] {
        match &*self.inner {
            Inner::Ca(roots) => roots.hint_subjects(),
            _ => &[],
        }
    }

    /// A copy of the known-hosts entries as they are now (WHITELIST, TOFU, CA_OR_TOFU).
    pub fn known_hosts(&self) -> Option<KnownHosts> {
        self.inner.known_hosts().map(|k| lock(k).clone())
    }

    /// Judges a peer's leaf certificate (and, for CA, the intermediates it sent) by the mode.
    /// TOFU writes a first use to the file before accepting it.
    pub fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        role: PeerRole,
    ) -> Result<Acceptance, TrustError> {
        let identity = CertificateIdentity::of(end_entity)?;
        match &*self.inner {
            Inner::None => Ok(Acceptance::AnyCertificate),
            Inner::Whitelist(known) => whitelist_check(&lock(known), &identity),
            Inner::Tofu(known) => tofu_check(&mut lock(known), identity),
            Inner::Ca(roots) => {
                roots.verify(end_entity, intermediates, now, role)?;
                Ok(Acceptance::TrustedChain)
            }
            Inner::CaOrTofu(roots, known) => {
                match roots.verify(end_entity, intermediates, now, role) {
                    Ok(()) => Ok(Acceptance::TrustedChain),
                    Err(ca) => tofu_check(&mut lock(known), identity).map_err(|tofu| {
                        TrustError::NotTrustedByAny {
                            ca,
                            tofu: Box::new(tofu),
                        }
                    }),
                }
            }
        }
    }
}

fn whitelist_check(
    known: &KnownHosts,
    identity: &CertificateIdentity,
) -> Result<Acceptance, TrustError> {
    let key = identity.known_hosts_key();
    match known.get(key) {
        None => Err(TrustError::UnknownPeer {
            cn: key.to_owned(),
            file: known.path().to_owned(),
        }),
        Some(_) if known.matches(key, &identity.fingerprint) => Ok(Acceptance::KnownFingerprint),
        Some(_) => Err(TrustError::NotAllowed {
            cn: key.to_owned(),
            file: known.path().to_owned(),
        }),
    }
}

fn tofu_check(
    known: &mut KnownHosts,
    identity: CertificateIdentity,
) -> Result<Acceptance, TrustError> {
    let key = identity.known_hosts_key().to_owned();
    match known.get(&key) {
        Some(_) if known.matches(&key, &identity.fingerprint) => Ok(Acceptance::KnownFingerprint),
        Some(recorded) => Err(TrustError::ChangedCertificate {
            cn: key.clone(),
            presented: identity.fingerprint,
            recorded: recorded.to_owned(),
        }),
        None => {
            known
                .append(&key, &identity.fingerprint)
                .map_err(TrustError::SaveFailed)?;
            tracing::info!(
                file = %known.path().display(),
                cn = %key,
                fingerprint = %identity.fingerprint,
                "trust on first use: recorded a new peer certificate"
            );
            Ok(Acceptance::Recorded(identity))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(cn: &str) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        let mut name = rcgen::DistinguishedName::new();
        name.push(rcgen::DnType::CommonName, cn);
        params.distinguished_name = name;
        params.self_signed(&key).unwrap().der().clone()
    }

    fn now() -> UnixTime {
        UnixTime::now()
    }

    #[test]
    fn tofu_records_then_refuses_a_changed_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("knownServers");
        let trust = PeerTrust::tofu(KnownHosts::load(&file).unwrap());
        let first = self_signed("node-b:9001");
        let accepted = trust.check(&first, &[], now(), PeerRole::Server).unwrap();
        assert!(matches!(accepted, Acceptance::Recorded(_)));
        // A clone shares the state, and the file has the line.
        let again = trust
            .clone()
            .check(&first, &[], now(), PeerRole::Server)
            .unwrap();
        assert_eq!(again, Acceptance::KnownFingerprint);
        let fingerprint = Fingerprint::of(&first);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            format!("node-b:9001 {fingerprint}\n")
        );
        let changed = self_signed("node-b:9001");
        let error = trust
            .check(&changed, &[], now(), PeerRole::Server)
            .unwrap_err();
        assert!(matches!(error, TrustError::ChangedCertificate { .. }));
        assert!(error
            .to_string()
            .starts_with("This address has been associated with a different certificate"));
    }

    #[test]
    fn whitelist_admits_only_what_is_on_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("knownClients");
        let known_cert = self_signed("client-a");
        std::fs::write(
            &file,
            format!("client-a {}\n", Fingerprint::of(&known_cert)),
        )
        .unwrap();
        let trust = PeerTrust::whitelist(KnownHosts::load(&file).unwrap());
        assert_eq!(
            trust
                .check(&known_cert, &[], now(), PeerRole::Client)
                .unwrap(),
            Acceptance::KnownFingerprint
        );
        let error = trust
            .check(&self_signed("client-a"), &[], now(), PeerRole::Client)
            .unwrap_err();
        assert!(
            error.to_string().starts_with("Connections not allowed"),
            "{error}"
        );
        let error = trust
            .check(&self_signed("stranger"), &[], now(), PeerRole::Client)
            .unwrap_err();
        assert!(matches!(error, TrustError::UnknownPeer { .. }), "{error}");
        // WHITELIST never writes.
        assert_eq!(KnownHosts::load(&file).unwrap().len(), 1);
    }

    #[test]
    fn none_accepts_anything_readable_and_hints_nothing() {
        let trust = PeerTrust::none();
        assert_eq!(
            trust
                .check(&self_signed("x"), &[], now(), PeerRole::Client)
                .unwrap(),
            Acceptance::AnyCertificate
        );
        assert!(trust.hint_subjects().is_empty());
        assert!(trust
            .check(
                &CertificateDer::from(vec![1, 2, 3]),
                &[],
                now(),
                PeerRole::Client
            )
            .is_err());
    }

    #[test]
    fn a_failed_tofu_write_is_tesseras_sentence_and_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a").join("b").join("known");
        let trust = PeerTrust::tofu(KnownHosts::empty(&file));
        let cert = self_signed("x");
        let error = trust
            .check(&cert, &[], now(), PeerRole::Server)
            .unwrap_err();
        assert!(error.to_string().starts_with(
            "Failed to save address and certificate fingerprint to whitelist. Cause by "
        ));
        assert!(trust.known_hosts().unwrap().is_empty());
    }

    #[test]
    fn find_in_digs_through_io_and_rustls_errors() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::from(TrustError::Chain(ChainError::Expired)),
        );
        let found = TrustError::find_in(&io).unwrap();
        assert!(found.is_expiry());
        let unrelated = std::io::Error::other("nope");
        assert!(TrustError::find_in(&unrelated).is_none());
    }
}
