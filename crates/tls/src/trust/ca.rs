//! CA mode: the peer's chain must lead to the trust material, as the JDK's PKIX validator
//! that Tessera uses decides it.
//!
//! Path building and checking are rustls-webpki's (signatures, validity dates, basic
//! constraints, name constraints, EKU). The JDK's rules that differ are added here:
//!
//! - A leaf that is itself in the trust material is accepted at once, without chain, date or
//!   EKU checks (`PKIXValidator`'s shortcut for trusted end entities).
//! - An EKU extension, when present, must include serverAuth for a server's certificate and
//!   clientAuth for a client's (webpki's `required_if_present`, the JDK's rule too).
//! - rustls-webpki refuses X.509 v1 end-entity certificates (`UnsupportedCertVersion`), but
//!   `openssl x509 -req`, the recipe in Tessera's documentation, makes exactly those, signed
//!   directly by the CA. So a v1 leaf is accepted when it is signed by a trusted certificate
//!   (its issuer name equals that certificate's subject and the signature verifies with its
//!   key) and is within its validity dates. v1 leaves below an intermediate are refused: no
//!   chain is built for them. v1 CA certificates are fine as trust anchors (webpki reads them).
//!
//! Revocation is not checked, as in Tessera. Intermediates are not fetched: the peer must send
//! its whole chain.

use rustls::pki_types::{CertificateDer, TrustAnchor, UnixTime};
use rustls::DistinguishedName;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::time::ASN1Time;

/// Which end presented the certificate, and so which EKU it needs when it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerRole {
    /// A client certificate, checked by a server: EKU clientAuth.
    Client,
    /// A server certificate, checked by a client: EKU serverAuth.
    Server,
}

/// The trust material of CA mode: trusted certificates (roots, or any certificate to trust as
/// it is), ready for path validation.
#[derive(Debug, Clone)]
pub struct CaRoots {
    certificates: Vec<CertificateDer<'static>>,
    anchors: Vec<TrustAnchor<'static>>,
    hints: Vec<DistinguishedName>,
}

/// A trusted certificate that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("trusted certificate {index} cannot be used as a trust anchor: {reason}")]
pub struct CaRootsError {
    /// 1-based position in the list given.
    pub index: usize,
    /// Why (webpki's description).
    pub reason: String,
}

/// Why a chain does not validate in CA mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The certificate's validity ended.
    #[error("the certificate has expired")]
    Expired,
    /// The certificate's validity has not begun.
    #[error("the certificate is not valid yet")]
    NotYetValid,
    /// No path to a trusted certificate (JDK: `PKIX path building failed`).
    #[error("the certificate is not signed by a trusted CA (PKIX path building failed)")]
    UnknownIssuer,
    /// A signature in the chain is wrong.
    #[error("a signature in the certificate chain is invalid")]
    BadSignature,
    /// The EKU extension does not allow this use.
    #[error("the certificate's extended key usage does not allow {0}")]
    WrongUsage(&'static str),
    /// Anything else webpki refuses (malformed, constraints, unsupported algorithm…).
    #[error("the certificate chain is not acceptable: {0}")]
    Other(String),
}

impl CaRoots {
    /// Trust material from certificates (from a trust store or trust-certificate files).
    pub fn new(certificates: Vec<CertificateDer<'static>>) -> Result<Self, CaRootsError> {
        let mut anchors = Vec::with_capacity(certificates.len());
        for (i, der) in certificates.iter().enumerate() {
            let anchor = webpki::anchor_from_trusted_cert(der).map_err(|e| CaRootsError {
                index: i + 1,
                reason: format!("{e:?}"),
            })?;
            anchors.push(anchor.to_owned());
        }
        let hints = anchors
            .iter()
            .map(|anchor| DistinguishedName::from(anchor.subject.to_vec()))
            .collect();
        Ok(Self {
            certificates,
            anchors,
            hints,
        })
    }

    /// The trusted certificates' subjects: the CA hints a server sends in CA mode.
    pub fn hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    /// How many trusted certificates there are.
    pub fn len(&self) -> usize {
        self.certificates.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }

    /// Validates `end_entity` with the peer's `intermediates` at `now`.
    pub fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        role: PeerRole,
    ) -> Result<(), ChainError> {
        if self
            .certificates
            .iter()
            .any(|trusted| trusted.as_ref() == end_entity.as_ref())
        {
            return Ok(());
        }
        let usage = match role {
            PeerRole::Client => webpki::KeyUsage::client_auth(),
            PeerRole::Server => webpki::KeyUsage::server_auth(),
        };
        match webpki::EndEntityCert::try_from(end_entity) {
            Ok(leaf) => leaf
                .verify_for_usage(
                    crate::crypto_provider()
                        .signature_verification_algorithms
                        .all,
                    &self.anchors,
                    intermediates,
                    now,
                    usage,
                    None,
                    None,
                )
                .map(drop)
                .map_err(|e| chain_error(&e, role)),
            Err(webpki::Error::UnsupportedCertVersion) => self.verify_v1(end_entity, now),
            Err(e) => Err(chain_error(&e, role)),
        }
    }

    /// A v1 leaf, which webpki cannot parse: accepted when a trusted certificate issued it
    /// directly and it is within its dates.
    fn verify_v1(&self, end_entity: &CertificateDer<'_>, now: UnixTime) -> Result<(), ChainError> {
        let (_, leaf) = X509Certificate::from_der(end_entity)
            .map_err(|_| ChainError::Other("the certificate is not valid X.509".into()))?;
        let mut issuer_found = false;
        let mut signed = false;
        for trusted in &self.certificates {
            let Ok((_, ca)) = X509Certificate::from_der(trusted) else {
                continue;
            };
            if ca.subject().as_raw() != leaf.issuer().as_raw() {
                continue;
            }
            issuer_found = true;
            if leaf.verify_signature(Some(ca.public_key())).is_ok() {
                signed = true;
                break;
            }
        }
        match (issuer_found, signed) {
            (false, _) => return Err(ChainError::UnknownIssuer),
            (true, false) => return Err(ChainError::BadSignature),
            (true, true) => {}
        }
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        let now =
            ASN1Time::from_timestamp(now).map_err(|_| ChainError::Other("bad clock".into()))?;
        let validity = leaf.validity();
        if now < validity.not_before {
            return Err(ChainError::NotYetValid);
        }
        if now > validity.not_after {
            return Err(ChainError::Expired);
        }
        Ok(())
    }
}

fn chain_error(error: &webpki::Error, role: PeerRole) -> ChainError {
    use webpki::Error as E;
    #[allow(deprecated)]
    match error {
        E::CertExpired { .. } => ChainError::Expired,
        E::CertNotValidYet { .. } => ChainError::NotYetValid,
        E::UnknownIssuer => ChainError::UnknownIssuer,
        E::InvalidSignatureForPublicKey => ChainError::BadSignature,
        E::RequiredEkuNotFound | E::RequiredEkuNotFoundContext(_) => {
            ChainError::WrongUsage(match role {
                PeerRole::Client => "client authentication",
                PeerRole::Server => "server authentication",
            })
        }
        other => ChainError::Other(format!("{other:?}")),
    }
}
