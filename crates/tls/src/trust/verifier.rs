//! The rustls verifiers over a [`PeerTrust`]: one for a server checking client certificates,
//! one for a client checking server certificates.

use std::fmt;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};

use super::{hostname, signature, PeerRole, PeerTrust, TrustError};

/// The signature methods both verifier traits declare, the same for either side: the
/// handshake signature checked with the leaf's key, whatever its X.509 version
/// ([`signature`]), by the verifier's `algorithms`.
macro_rules! handshake_signature_checks {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            signature::verify_tls12(message, cert, dss, &self.algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            signature::verify_tls13(message, cert, dss, &self.algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.algorithms.supported_schemes()
        }
    };
}

/// A server's check of client certificates (`serverTrustMode`).
pub struct ClientCertificateVerifier {
    trust: PeerTrust,
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertificateVerifier {
    /// Checks client certificates by `trust`. With `mandatory` (`clientAuth: true`, the
    /// default) a client that sends no certificate fails the handshake; without, a client
    /// may send none, and one it sends is still checked.
    pub fn new(trust: PeerTrust, mandatory: bool) -> Self {
        Self {
            trust,
            mandatory,
            algorithms: crate::crypto_provider().signature_verification_algorithms,
        }
    }

    /// The trust mode and its state.
    pub fn trust(&self) -> &PeerTrust {
        &self.trust
    }
}

impl fmt::Debug for ClientCertificateVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificateVerifier")
            .field("trust", &self.trust)
            .field("mandatory", &self.mandatory)
            .finish()
    }
}

impl ClientCertVerifier for ClientCertificateVerifier {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.trust.hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        match self
            .trust
            .check(end_entity, intermediates, now, PeerRole::Client)
        {
            Ok(_) => Ok(ClientCertVerified::assertion()),
            Err(refusal) => {
                tracing::warn!(mode = %self.trust.mode(), "client certificate refused: {refusal}");
                Err(refusal.into())
            }
        }
    }

    handshake_signature_checks!();
}

/// A client's check of server certificates (`clientTrustMode`).
pub struct ServerCertificateVerifier {
    trust: PeerTrust,
    check_hostname: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertificateVerifier {
    /// Checks server certificates by `trust`, and, with `check_hostname`, that the
    /// certificate names the host dialled (JDK rules, [`hostname`]), as Tessera's client
    /// does in every mode. The name is checked before the mode, so TOFU never records a
    /// certificate presented for the wrong host (Tessera records first, then fails).
    pub fn new(trust: PeerTrust, check_hostname: bool) -> Self {
        Self {
            trust,
            check_hostname,
            algorithms: crate::crypto_provider().signature_verification_algorithms,
        }
    }

    /// The trust mode and its state.
    pub fn trust(&self) -> &PeerTrust {
        &self.trust
    }
}

impl fmt::Debug for ServerCertificateVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCertificateVerifier")
            .field("trust", &self.trust)
            .field("check_hostname", &self.check_hostname)
            .finish()
    }
}

impl ServerCertVerifier for ServerCertificateVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let verdict = if self.check_hostname {
            hostname::check(end_entity, server_name).map_err(TrustError::from)
        } else {
            Ok(())
        }
        .and_then(|()| {
            self.trust
                .check(end_entity, intermediates, now, PeerRole::Server)
        });
        match verdict {
            Ok(_) => Ok(ServerCertVerified::assertion()),
            Err(refusal) => {
                tracing::warn!(
                    mode = %self.trust.mode(),
                    server = ?server_name,
                    "server certificate refused: {refusal}"
                );
                Err(refusal.into())
            }
        }
    }

    handshake_signature_checks!();
}

/// Accepts any server certificate, checking only the handshake's signature with it: the
/// verifier of [`crate::upstream::liveness_config`], which asks whether a server answers, not
/// who it is.
#[derive(Debug)]
pub(crate) struct AnyServerCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl AnyServerCertificate {
    /// Checking handshake signatures with `algorithms`.
    pub(crate) fn new(algorithms: WebPkiSupportedAlgorithms) -> Self {
        Self { algorithms }
    }
}

impl ServerCertVerifier for AnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    handshake_signature_checks!();
}
