//! X.509 v1 certificates, the kind `openssl x509 -req` makes and Tessera's documentation uses.
//!
//! The finding: rustls-webpki refuses v1 end-entity certificates (`UnsupportedCertVersion`),
//! so rustls's own signature helpers and key check cannot take them. Cloister verifies the
//! handshake signature from the SubjectPublicKeyInfo read with x509-parser, so v1 certificates
//! work in NONE, TOFU and WHITELIST; in CA mode a v1 leaf is accepted when a trusted
//! certificate signed it directly.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};

use cloister_tls::config::{cipher_suites, client_config_from, server_config_from};
use cloister_tls::material::{load_pem_identity, load_trust_certificates, Identity, Origin};
use cloister_tls::trust::{CaRoots, ChainError, PeerTrust, TrustError};
use cloister_tls::{Fingerprint, KnownHosts};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use support::{handshake, openssl, run};
use x509_parser::prelude::{FromDer, X509Certificate, X509Version};

/// A CA (v3, `req -x509`) and v1 certificates made with `openssl x509 -req`.
struct V1 {
    dir: PathBuf,
}

impl V1 {
    fn new(dir: &Path) -> Self {
        let v1 = Self {
            dir: dir.to_owned(),
        };
        v1.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=Test CA",
            "-days",
            "30",
        ]);
        v1
    }

    fn openssl(&self, args: &[&str]) {
        let mut full = Vec::new();
        for arg in args {
            // Paths are relative to the test directory.
            if arg.ends_with(".key")
                || arg.ends_with(".crt")
                || arg.ends_with(".csr")
                || arg.ends_with(".srl")
            {
                full.push(self.dir.join(arg).display().to_string());
            } else {
                full.push((*arg).to_owned());
            }
        }
        let args: Vec<&str> = full.iter().map(String::as_str).collect();
        run(&openssl(), &args);
    }

    fn request(&self, name: &str, cn: &str) {
        self.openssl(&[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}"),
        ]);
    }

    /// A v1 certificate signed by the CA.
    fn signed(&self, name: &str, cn: &str) -> PathBuf {
        self.request(name, cn);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-CAserial",
            "ca.srl",
            "-out",
            &format!("{name}.crt"),
            "-days",
            "30",
        ]);
        self.dir.join(format!("{name}.crt"))
    }

    /// A self-signed v1 certificate.
    fn self_signed(&self, name: &str, cn: &str) -> PathBuf {
        self.request(name, cn);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-signkey",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-days",
            "30",
        ]);
        self.dir.join(format!("{name}.crt"))
    }

    fn identity(&self, name: &str) -> Identity {
        load_pem_identity(
            &Origin::new("serverTlsKeyPath", self.dir.join(format!("{name}.key"))),
            &Origin::new(
                "serverTlsCertificatePath",
                self.dir.join(format!("{name}.crt")),
            ),
        )
        .unwrap()
    }

    fn der(&self, name: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(self.dir.join(format!("{name}.crt"))).unwrap()
    }

    fn ca_roots(&self) -> CaRoots {
        CaRoots::new(
            load_trust_certificates(&[Origin::new(
                "serverTrustCertificates",
                self.dir.join("ca.crt"),
            )])
            .unwrap(),
        )
        .unwrap()
    }
}

fn assert_v1(der: &CertificateDer<'_>) {
    let (_, cert) = X509Certificate::from_der(der).unwrap();
    assert_eq!(
        cert.version(),
        X509Version::V1,
        "openssl made a v1 certificate"
    );
}

#[test]
fn webpki_refuses_v1_certificates_so_rustls_helpers_cannot_take_them() {
    let dir = tempfile::tempdir().unwrap();
    let pki = V1::new(dir.path());
    pki.self_signed("node", "localhost");
    let der = pki.der("node");
    assert_v1(&der);
    // The finding.
    assert!(matches!(
        webpki::EndEntityCert::try_from(&der),
        Err(webpki::Error::UnsupportedCertVersion)
    ));
    // So rustls's own key/certificate check refuses the pair...
    let identity = pki.identity("node");
    assert!(identity.certified_key().keys_match().is_err());
    // ...while Cloister reads it: the identity loaded, and its CN and fingerprint.
    let cn = cloister_tls::fingerprint::first_common_name(&der).unwrap();
    assert_eq!(cn.as_deref(), Some("localhost"));
}

#[test]
fn v1_certificates_work_in_none_tofu_and_whitelist_with_tls13_and_tls12() {
    let dir = tempfile::tempdir().unwrap();
    let pki = V1::new(dir.path());
    pki.self_signed("server", "localhost");
    pki.self_signed("client", "client-v1");
    let server_id = pki.identity("server");
    let client_id = pki.identity("client");
    std::fs::write(
        dir.path().join("knownClients"),
        format!("client-v1 {}\n", Fingerprint::of(&pki.der("client"))),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("knownServers"),
        format!("localhost {}\n", Fingerprint::of(&pki.der("server"))),
    )
    .unwrap();
    let all = cipher_suites(&[]).unwrap();
    let tls12 = cipher_suites(&["TLS_AES_.*|TLS_CHACHA20_.*".into()]).unwrap();
    for (version, suites) in [("TLS 1.3", all), ("TLS 1.2", tls12)] {
        for mode in ["NONE", "TOFU", "WHITELIST"] {
            let known = |name: &str| KnownHosts::load(dir.path().join(name)).unwrap();
            let (server_trust, client_trust) = match mode {
                "NONE" => (PeerTrust::none(), PeerTrust::none()),
                "TOFU" => (
                    PeerTrust::tofu(known(&format!("tofu-{version}-clients"))),
                    PeerTrust::tofu(known(&format!("tofu-{version}-servers"))),
                ),
                _ => (
                    PeerTrust::whitelist(known("knownClients")),
                    PeerTrust::whitelist(known("knownServers")),
                ),
            };
            let outcome = handshake(
                server_config_from(&server_id, server_trust, true, suites.clone()).unwrap(),
                client_config_from(Some(&client_id), client_trust, true).unwrap(),
                "localhost",
            );
            assert!(outcome.both_ok(), "{mode} over {version}: {outcome:?}");
            assert_eq!(
                outcome.server.peer().unwrap().common_name.as_deref(),
                Some("client-v1")
            );
        }
    }
}

/// A CA-mode server with `name`'s v1 certificate, requiring client certificates.
fn ca_server(pki: &V1, name: &str) -> rustls::ServerConfig {
    server_config_from(
        &pki.identity(name),
        PeerTrust::ca(pki.ca_roots()),
        true,
        cipher_suites(&[]).unwrap(),
    )
    .unwrap()
}

#[test]
fn ca_mode_accepts_a_v1_leaf_signed_directly_by_the_ca_and_refuses_others() {
    let dir = tempfile::tempdir().unwrap();
    let pki = V1::new(dir.path());
    pki.signed("node-a", "localhost");
    pki.signed("node-b", "node-b");
    pki.self_signed("rogue", "node-b");
    assert_v1(&pki.der("node-a"));
    let outcome = handshake(
        ca_server(&pki, "node-a"),
        client_config_from(
            Some(&pki.identity("node-b")),
            PeerTrust::ca(pki.ca_roots()),
            true,
        )
        .unwrap(),
        "localhost",
    );
    assert!(outcome.both_ok(), "{outcome:?}");

    let outcome = handshake(
        ca_server(&pki, "node-a"),
        client_config_from(Some(&pki.identity("rogue")), PeerTrust::none(), true).unwrap(),
        "localhost",
    );
    assert!(
        matches!(
            outcome.server.trust_error(),
            Some(TrustError::Chain(ChainError::UnknownIssuer))
        ),
        "{outcome:?}"
    );

    // A v1 leaf from another CA with the same name as ours: the issuer name matches, the
    // signature does not.
    let other_dir = tempfile::tempdir().unwrap();
    let impostor_ca = V1::new(other_dir.path());
    impostor_ca.signed("node-c", "node-c");
    let outcome = handshake(
        ca_server(&pki, "node-a"),
        client_config_from(
            Some(&impostor_ca.identity("node-c")),
            PeerTrust::none(),
            true,
        )
        .unwrap(),
        "localhost",
    );
    assert!(
        matches!(
            outcome.server.trust_error(),
            Some(TrustError::Chain(ChainError::BadSignature))
        ),
        "{outcome:?}"
    );
}
