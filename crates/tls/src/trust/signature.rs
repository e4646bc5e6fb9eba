//! The handshake signature, checked with the leaf certificate's public key in every trust
//! mode, including NONE: trusting any certificate never means trusting a peer that does not
//! hold its key.
//!
//! rustls's own helpers (`verify_tls12_signature`, `verify_tls13_signature`) parse the leaf
//! with rustls-webpki, which refuses X.509 v1 certificates (`UnsupportedCertVersion`; the
//! integration tests show it). Here the SubjectPublicKeyInfo is taken out of the certificate
//! with x509-parser, which reads every version, and the signature is checked against that key
//! with webpki's raw-public-key entity and the provider's algorithms, exactly as rustls
//! checks it for a certificate: for TLS 1.3 the scheme's one algorithm, for TLS 1.2 each
//! algorithm of the scheme until one fits the key's type.

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls13_signature_with_raw_key, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, SubjectPublicKeyInfoDer};
use rustls::{CertificateError, DigitallySignedStruct, Error, PeerMisbehaved};
use x509_parser::prelude::{FromDer, X509Certificate};

/// The certificate's SubjectPublicKeyInfo, whatever its X.509 version.
pub(crate) fn public_key_info(
    certificate: &CertificateDer<'_>,
) -> Result<SubjectPublicKeyInfoDer<'static>, Error> {
    let (_, parsed) = X509Certificate::from_der(certificate)
        .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
    Ok(SubjectPublicKeyInfoDer::from(
        parsed.public_key().raw.to_vec(),
    ))
}

/// A TLS 1.3 CertificateVerify signature by `certificate`'s key.
pub(crate) fn verify_tls13(
    message: &[u8],
    certificate: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    algorithms: &WebPkiSupportedAlgorithms,
) -> Result<HandshakeSignatureValid, Error> {
    verify_tls13_signature_with_raw_key(message, &public_key_info(certificate)?, dss, algorithms)
}

/// A TLS 1.2 signature (ServerKeyExchange or CertificateVerify) by `certificate`'s key.
pub(crate) fn verify_tls12(
    message: &[u8],
    certificate: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    algorithms: &WebPkiSupportedAlgorithms,
) -> Result<HandshakeSignatureValid, Error> {
    let candidates = algorithms
        .mapping
        .iter()
        .find(|(scheme, _)| *scheme == dss.scheme)
        .map(|(_, algs)| *algs)
        .ok_or(Error::PeerMisbehaved(
            PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
        ))?;
    let spki = public_key_info(certificate)?;
    let key = webpki::RawPublicKeyEntity::try_from(&spki)
        .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
    for algorithm in candidates {
        #[allow(deprecated)]
        match key.verify_signature(*algorithm, message, dss.signature()) {
            Ok(()) => return Ok(HandshakeSignatureValid::assertion()),
            // This algorithm is for another key type (an ECDSA scheme names no curve in 1.2).
            Err(
                webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
                | webpki::Error::UnsupportedSignatureAlgorithmForPublicKey,
            ) => continue,
            Err(_) => return Err(Error::InvalidCertificate(CertificateError::BadSignature)),
        }
    }
    Err(Error::InvalidCertificate(CertificateError::BadSignature))
}
