//! Tessera's identity of a certificate: the first subject CN of the leaf, and the SHA-1 of the
//! leaf's DER as 40 lowercase hex digits.
//!
//! TOFU and WHITELIST key a peer by that CN, never by the host, IP or port that was dialled,
//! and compare the fingerprint exactly. Both are read here with x509-parser, which (unlike
//! rustls-webpki) also parses X.509 v1 certificates, the kind `openssl x509 -req` makes and
//! Tessera's documentation uses.

use std::fmt;

use rustls::pki_types::CertificateDer;
use sha1::{Digest, Sha1};
use x509_parser::asn1_rs::Tag;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::AttributeTypeAndValue;

/// The key Tessera files a certificate without a subject CN under: Java's `null` printed.
pub const NO_COMMON_NAME: &str = "null";

/// SHA-1 of a certificate's DER encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 20]);

impl Fingerprint {
    /// The fingerprint of `der`, a whole certificate.
    pub fn of(der: &[u8]) -> Self {
        Self(Sha1::digest(der).into())
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// As Tessera writes it: 40 lowercase hex digits, no separators.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// A certificate as Tessera identifies it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertificateIdentity {
    /// The first CN attribute of the subject, in DER order; `None` when there is none.
    pub common_name: Option<String>,
    /// SHA-1 of the whole certificate.
    pub fingerprint: Fingerprint,
}

impl CertificateIdentity {
    /// Reads the identity of a DER certificate (any X.509 version).
    pub fn of(certificate: &CertificateDer<'_>) -> Result<Self, FingerprintError> {
        Ok(Self {
            common_name: first_common_name(certificate)?,
            fingerprint: Fingerprint::of(certificate),
        })
    }

    /// The key a known-hosts file holds this certificate under: the CN, or `null` when the
    /// subject has none (Tessera writes Java's `null`).
    pub fn known_hosts_key(&self) -> &str {
        self.common_name.as_deref().unwrap_or(NO_COMMON_NAME)
    }
}

/// Why a certificate's identity could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FingerprintError {
    /// Not a DER X.509 certificate.
    #[error("the certificate is not valid DER X.509")]
    NotACertificate,
    /// The first subject CN is of a string type that cannot be read as text.
    #[error("the certificate's subject CN is not a readable string")]
    UnreadableCommonName,
}

/// The first CN attribute of the subject, in DER order (cryptacular's `CertUtil.subjectCN`,
/// which Tessera calls).
pub fn first_common_name(certificate: &[u8]) -> Result<Option<String>, FingerprintError> {
    let (_, parsed) =
        X509Certificate::from_der(certificate).map_err(|_| FingerprintError::NotACertificate)?;
    let first = parsed.subject().iter_common_name().next();
    first.map(attribute_text).transpose()
}

/// The text of a directory-string attribute. x509-parser reads the UTF-8 compatible types;
/// BMPString (UTF-16) and TeletexString (read as Latin-1, what Java's parsers do in practice)
/// are decoded here so that a CN in any common encoding keys the same peer Tessera keys.
pub(crate) fn attribute_text(
    attribute: &AttributeTypeAndValue<'_>,
) -> Result<String, FingerprintError> {
    if let Ok(text) = attribute.as_str() {
        return Ok(text.to_owned());
    }
    let value = attribute.attr_value();
    let data = value.data;
    match value.tag() {
        Tag::BmpString if data.len() % 2 == 0 => {
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                .collect();
            String::from_utf16(&units).map_err(|_| FingerprintError::UnreadableCommonName)
        }
        Tag::TeletexString => Ok(data.iter().map(|&b| char::from(b)).collect()),
        _ => Err(FingerprintError::UnreadableCommonName),
    }
}

/// The identity of the peer of an established TLS connection: its leaf certificate's CN and
/// fingerprint. `Ok(None)` when the peer sent no certificate (a client of a server with
/// `clientAuth: false`). With tokio-rustls, pass `stream.get_ref().1`.
pub fn peer_identity(
    connection: &rustls::CommonState,
) -> Result<Option<CertificateIdentity>, FingerprintError> {
    connection
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(CertificateIdentity::of)
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(params: rcgen::CertificateParams) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn fingerprint_is_lowercase_sha1_hex_of_the_der() {
        // SHA-1("abc"), the FIPS 180 test vector.
        assert_eq!(
            Fingerprint::of(b"abc").to_hex(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        let der = certificate(rcgen::CertificateParams::new(vec!["a".into()]).unwrap());
        let identity = CertificateIdentity::of(&der).unwrap();
        let hex = identity.fingerprint.to_hex();
        assert_eq!(hex.len(), 40);
        assert!(hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(identity.fingerprint, Fingerprint::of(&der));
    }

    #[test]
    fn the_first_cn_in_der_order_is_the_key() {
        let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
        let mut name = rcgen::DistinguishedName::new();
        name.push(rcgen::DnType::OrganizationName, "Org");
        name.push(rcgen::DnType::CommonName, "localhost:9001");
        params.distinguished_name = name;
        let identity = CertificateIdentity::of(&certificate(params)).unwrap();
        assert_eq!(identity.common_name.as_deref(), Some("localhost:9001"));
        assert_eq!(identity.known_hosts_key(), "localhost:9001");
    }

    #[test]
    fn no_cn_is_filed_under_null_as_tessera_writes_it() {
        let mut params = rcgen::CertificateParams::new(vec!["h".into()]).unwrap();
        let mut name = rcgen::DistinguishedName::new();
        name.push(rcgen::DnType::OrganizationName, "Org only");
        params.distinguished_name = name;
        let identity = CertificateIdentity::of(&certificate(params)).unwrap();
        assert_eq!(identity.common_name, None);
        assert_eq!(identity.known_hosts_key(), "null");
    }

    #[test]
    fn bmp_string_cn_is_decoded() {
        let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
        let mut name = rcgen::DistinguishedName::new();
        name.push(
            rcgen::DnType::CommonName,
            rcgen::DnValue::BmpString(
                rcgen::BmpString::from_utf16be(
                    "nöde".encode_utf16().flat_map(u16::to_be_bytes).collect(),
                )
                .unwrap(),
            ),
        );
        params.distinguished_name = name;
        let identity = CertificateIdentity::of(&certificate(params)).unwrap();
        assert_eq!(identity.common_name.as_deref(), Some("nöde"));
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert_eq!(
            first_common_name(b"not a certificate"),
            Err(FingerprintError::NotACertificate)
        );
    }
}
