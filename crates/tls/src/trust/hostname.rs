//! The JDK's server identity check (`HostnameChecker`, TLS rules), which Tessera's client
//! applies on top of every trust mode, NONE and TOFU included, because `HttpsURLConnection`
//! sets the `HTTPS` endpoint-identification algorithm.
//!
//! - An IP literal must equal an iPAddress subjectAltName; the CN is never used.
//! - A DNS name is matched against the dNSName subjectAltNames when there is at least one;
//!   otherwise against the most specific (last) subject CN.
//! - A `*` may appear in the leftmost label only (and not as the whole name or `*.`); it
//!   matches within that label. The other labels must be equal, ignoring ASCII case.
//!
//! x509-parser reads the certificate, so X.509 v1 certificates (no extensions) are checked by
//! their CN, as the JDK checks them.

use std::net::IpAddr;

use rustls::pki_types::{CertificateDer, ServerName};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::fingerprint::attribute_text;

/// Why a server certificate does not name the host that was dialled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostnameError {
    /// No iPAddress subjectAltName equals the IP that was dialled.
    #[error("no subject alternative name matches IP address {0}")]
    NoMatchingIp(IpAddr),
    /// No dNSName subjectAltName (or, without any, no CN) matches the name dialled.
    #[error("no subject alternative name or CN matches {0}")]
    NoMatchingName(String),
    /// The certificate cannot be read.
    #[error("the certificate is not valid X.509")]
    Unreadable,
}

/// Checks that `certificate` is valid for `server_name` by the JDK's rules.
pub fn check(
    certificate: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
) -> Result<(), HostnameError> {
    let (_, cert) =
        X509Certificate::from_der(certificate).map_err(|_| HostnameError::Unreadable)?;
    let san = cert.subject_alternative_name().ok().flatten();
    let general_names = san
        .map(|ext| ext.value.general_names.as_slice())
        .unwrap_or(&[]);
    match server_name {
        ServerName::IpAddress(ip) => {
            let wanted = IpAddr::from(*ip);
            let found = general_names.iter().any(|name| match name {
                GeneralName::IPAddress(bytes) => ip_from_bytes(bytes) == Some(wanted),
                _ => false,
            });
            if found {
                Ok(())
            } else {
                Err(HostnameError::NoMatchingIp(wanted))
            }
        }
        ServerName::DnsName(dns) => {
            let wanted = dns.as_ref().to_ascii_lowercase();
            let dns_names: Vec<&str> = general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(text) => Some(*text),
                    _ => None,
                })
                .collect();
            let matched = if dns_names.is_empty() {
                // The most specific CN is the last one in DER order.
                cert.subject()
                    .iter_common_name()
                    .last()
                    .and_then(|cn| attribute_text(cn).ok())
                    .is_some_and(|cn| matches_template(&wanted, &cn))
            } else {
                dns_names
                    .iter()
                    .any(|template| matches_template(&wanted, template))
            };
            if matched {
                Ok(())
            } else {
                Err(HostnameError::NoMatchingName(wanted))
            }
        }
        _ => Err(HostnameError::NoMatchingName(String::new())),
    }
}

/// Whether a (client) certificate names `host` of a URL, for rules that tie what a peer says
/// about itself to the certificate it authenticated with (the discovery identity rule).
///
/// The subjectAltNames decide when there are any: an IP host must equal an iPAddress SAN,
/// a DNS host match a dNSName SAN (a leftmost-label wildcard allowed). A certificate without
/// any (an X.509 v1 one, or a plain `openssl req` one) is judged by its subject CNs: one must
/// equal the host, or `host:port` as Tessera's generated certificates spell their CN.
pub fn names_url_host(
    certificate: &CertificateDer<'_>,
    host: &str,
    port: Option<u16>,
) -> Result<(), HostnameError> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let (_, cert) =
        X509Certificate::from_der(certificate).map_err(|_| HostnameError::Unreadable)?;
    let has_names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .is_some_and(|san| {
            san.value
                .general_names
                .iter()
                .any(|name| matches!(name, GeneralName::DNSName(_) | GeneralName::IPAddress(_)))
        });
    if has_names {
        let server_name = ServerName::try_from(host.to_owned())
            .map_err(|_| HostnameError::NoMatchingName(host.to_owned()))?;
        return check(certificate, &server_name);
    }
    let wanted = host.to_ascii_lowercase();
    let with_port = port.map(|port| format!("{wanted}:{port}"));
    let found = cert
        .subject()
        .iter_common_name()
        .filter_map(|cn| attribute_text(cn).ok())
        .map(|cn| cn.to_ascii_lowercase())
        .any(|cn| cn == wanted || with_port.as_deref() == Some(cn.as_str()));
    if found {
        Ok(())
    } else {
        Err(match host.parse::<IpAddr>() {
            Ok(ip) => HostnameError::NoMatchingIp(ip),
            Err(_) => HostnameError::NoMatchingName(wanted),
        })
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// `name` (lower case) against a certificate name that may hold a leftmost-label wildcard.
fn matches_template(name: &str, template: &str) -> bool {
    let template = template.to_ascii_lowercase();
    if !template.contains('*') {
        return name == template;
    }
    if template == "*" || template == "*." {
        return false;
    }
    let (template_first, template_rest) = template.split_once('.').unwrap_or((&template, ""));
    if template_rest.contains('*') {
        // A wildcard outside the leftmost label.
        return false;
    }
    let (name_first, name_rest) = name.split_once('.').unwrap_or((name, ""));
    name_rest == template_rest && glob(name_first, template_first)
}

/// Whether `text` matches `pattern`, where each `*` matches any run of characters.
fn glob(text: &str, pattern: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let middle: Vec<&str> = parts.collect();
    let Some((last, inner)) = middle.split_last() else {
        return rest.is_empty();
    };
    for part in inner {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(sans: &[&str], cn: Option<&str>) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        let mut name = rcgen::DistinguishedName::new();
        if let Some(cn) = cn {
            name.push(rcgen::DnType::CommonName, cn);
        }
        params.distinguished_name = name;
        params.self_signed(&key).unwrap().der().clone()
    }

    fn name(text: &str) -> ServerName<'static> {
        ServerName::try_from(text.to_owned()).unwrap()
    }

    #[test]
    fn a_url_host_is_named_by_the_sans_else_by_the_cn() {
        let with_sans = certificate(&["127.0.0.1", "node-a.example"], Some("other"));
        assert_eq!(names_url_host(&with_sans, "127.0.0.1", Some(9001)), Ok(()));
        assert_eq!(names_url_host(&with_sans, "NODE-A.example", None), Ok(()));
        // With SANs, the CN does not count.
        assert!(names_url_host(&with_sans, "other", None).is_err());
        assert!(names_url_host(&with_sans, "10.0.0.9", Some(9001)).is_err());
        // Without SANs: the CN, as a host or as Tessera's generated `host:port`.
        let cn_only = certificate(&[], Some("10.0.0.5:9001"));
        assert_eq!(names_url_host(&cn_only, "10.0.0.5", Some(9001)), Ok(()));
        assert!(names_url_host(&cn_only, "10.0.0.5", Some(9002)).is_err());
        let cn_host = certificate(&[], Some("node-b"));
        assert_eq!(names_url_host(&cn_host, "node-b", Some(1)), Ok(()));
        assert_eq!(
            names_url_host(&cn_host, "node-c", None),
            Err(HostnameError::NoMatchingName("node-c".into()))
        );
    }

    #[test]
    fn wildcards_only_in_the_leftmost_label() {
        assert!(matches_template("a.example.com", "*.example.com"));
        assert!(matches_template("a.example.com", "A.Example.COM"));
        assert!(!matches_template("a.b.example.com", "*.example.com"));
        assert!(!matches_template("example.com", "*.example.com"));
        assert!(matches_template("node1.example.com", "node*.example.com"));
        assert!(!matches_template("x.a.example.com", "x.*.example.com"));
        assert!(!matches_template("a", "*"));
        assert!(matches_template("abc.x", "a*c.x"));
        assert!(!matches_template("ab.x", "a*bc.x"));
    }

    #[test]
    fn dns_sans_win_over_the_cn() {
        let cert = certificate(&["node-a.example"], Some("localhost"));
        assert_eq!(check(&cert, &name("node-a.example")), Ok(()));
        assert!(
            check(&cert, &name("localhost")).is_err(),
            "the CN is not used when DNS SANs exist"
        );
    }

    #[test]
    fn without_dns_sans_the_cn_counts_but_never_for_an_ip() {
        let cert = certificate(&["127.0.0.1"], Some("localhost"));
        assert_eq!(check(&cert, &name("localhost")), Ok(()));
        assert_eq!(check(&cert, &name("127.0.0.1")), Ok(()));
        assert_eq!(
            check(&cert, &name("127.0.0.2")),
            Err(HostnameError::NoMatchingIp("127.0.0.2".parse().unwrap()))
        );
        let cn_is_ip = certificate(&[], Some("10.0.0.5"));
        assert!(
            check(&cn_is_ip, &name("10.0.0.5")).is_err(),
            "an IP never matches a CN"
        );
    }

    #[test]
    fn a_cn_like_tesseras_generated_one_matches_no_host() {
        // Tessera's generated CN is host:port, which is never a host name.
        let cert = certificate(&[], Some("localhost:9001"));
        assert!(check(&cert, &name("localhost")).is_err());
    }
}
