//! TLS to a server that a Cloister front relays to (the gateway's JSON-RPC nodes over `https://`
//! and `wss://`, the proxy's `https://` replicas): ordinary HTTPS, not Tessera's trust modes.
//! The server's certificate is checked by the WebPKI rules, its host name included, against the
//! CA file the operator names, or else the platform's trusted CAs (as curl or a browser would).
//! A front may present a certificate of its own ([`ClientIdentity`]) to servers that ask for
//! one (a replica's `clientAuth`).
//!
//! [`liveness_config`] is the one exception: a handshake that checks that a server answers,
//! and trusts nothing it is told.

use std::sync::Arc;

use rustls::sign::SingleCertAndKey;
use rustls::{ClientConfig, RootCertStore};

use crate::material::{
    load_pem_identity, load_trust_certificates, platform_trust_certificates, MaterialError, Origin,
};
use crate::trust::AnyServerCertificate;

/// The certificate a front presents to servers that ask for one: PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The certificate chain, leaf first.
    pub certificate: Origin,
    /// Its unencrypted private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Origin,
}

/// Whom a relayed-to server's certificate must chain to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// Every certificate of this PEM file (a private CA), and nothing else.
    CaFile(Origin),
    /// The platform's trusted CAs (`/etc/ssl/certs` and the like, or `SSL_CERT_FILE`).
    Platform,
}

/// Why an upstream TLS config could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamTlsError {
    /// The CA file is missing or holds no usable certificate.
    #[error(transparent)]
    Material(#[from] MaterialError),
    /// A certificate of the CA file cannot be a trust anchor.
    #[error("{origin}: certificate {index} cannot be a trust anchor: {reason}")]
    BadAnchor {
        /// The CA file.
        origin: Origin,
        /// 1-based, in file order.
        index: usize,
        /// rustls's reason.
        reason: rustls::Error,
    },
    /// The platform's CA certificates could not be read.
    #[error("no CA file is set and the platform's trusted CA certificates could not be read ({0}); set one")]
    NoPlatformRoots(String),
    /// rustls refused the assembled config.
    #[error("cannot build the TLS config: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A client config for servers trusted by `roots`, presenting `identity` when a server asks
/// for a certificate. It offers no ALPN protocol: the HTTP client that uses it offers its own.
pub fn client_config(
    roots: &Roots,
    identity: Option<&ClientIdentity>,
) -> Result<Arc<ClientConfig>, UpstreamTlsError> {
    let store = match roots {
        Roots::CaFile(origin) => ca_file_roots(origin)?,
        Roots::Platform => platform_roots()?,
    };
    let builder = ClientConfig::builder_with_provider(crate::crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(store);
    let config = match identity {
        Some(identity) => {
            let loaded = load_pem_identity(&identity.key, &identity.certificate)?;
            builder
                .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(loaded.certified_key())))
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// A client config for checking that a TLS server answers a handshake: it accepts any
/// certificate (it checks the handshake's signature, not who signed the certificate) and
/// presents none. Never for a connection that carries data.
pub fn liveness_config() -> Arc<ClientConfig> {
    let provider = crate::crypto_provider();
    let verifier = AnyServerCertificate::new(provider.signature_verification_algorithms);
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|builder| {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth()
        });
    // The ring provider supports the default versions; a failure here is a build defect.
    Arc::new(config.unwrap_or_else(|error| panic!("the liveness TLS config: {error}")))
}

fn ca_file_roots(origin: &Origin) -> Result<RootCertStore, UpstreamTlsError> {
    let mut store = RootCertStore::empty();
    let certificates = load_trust_certificates(std::slice::from_ref(origin))?;
    for (index, certificate) in certificates.into_iter().enumerate() {
        store
            .add(certificate)
            .map_err(|reason| UpstreamTlsError::BadAnchor {
                origin: origin.clone(),
                index: index + 1,
                reason,
            })?;
    }
    Ok(store)
}

fn platform_roots() -> Result<RootCertStore, UpstreamTlsError> {
    let certificates = platform_trust_certificates().map_err(UpstreamTlsError::NoPlatformRoots)?;
    let mut store = RootCertStore::empty();
    // One unusable certificate among hundreds is the platform's business, as for curl.
    store.add_parsable_certificates(certificates);
    if store.is_empty() {
        return Err(UpstreamTlsError::NoPlatformRoots(
            "none of them is a usable trust anchor".to_owned(),
        ));
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_refused_naming_the_member() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let error = client_config(&Roots::CaFile(Origin::new("caFile", &path)), None).unwrap_err();
        assert!(error.to_string().starts_with("caFile ("), "{error}");
        let missing = dir.path().join("missing.pem");
        let error =
            client_config(&Roots::CaFile(Origin::new("caFile", &missing)), None).unwrap_err();
        assert!(error.to_string().contains("caFile"), "{error}");
    }

    #[test]
    fn a_ca_file_of_a_generated_certificate_builds_a_config() {
        let dir = tempfile::tempdir().unwrap();
        let certificate = rcgen::generate_simple_self_signed(vec!["node".to_owned()]).unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, certificate.cert.pem()).unwrap();
        let config = client_config(&Roots::CaFile(Origin::new("caFile", &path)), None);
        assert!(config.is_ok(), "{config:?}");
    }
}
