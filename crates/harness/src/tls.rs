//! Certificates for TLS tests and benchmarks, made with rcgen: a test CA, leaves it signs
//! (in date or expired) or self-signed ones, as PEM files; and rustls client configs that
//! present them, for reaching a node whose P2P server speaks TLS.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cloister_tls::material::Origin;
use cloister_tls::{Fingerprint, PeerTrust};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use serde_json::{json, Value};

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct Pem {
    /// The certificate.
    pub certificate: PathBuf,
    /// Its (unencrypted PKCS#8) key.
    pub key: PathBuf,
}

impl Pem {
    /// The SHA-1 fingerprint of the certificate, as Tessera's known-hosts files write it.
    pub fn fingerprint(&self) -> String {
        let text = std::fs::read_to_string(&self.certificate).unwrap();
        let der: Vec<u8> = first_certificate_der(&text);
        Fingerprint::of(&der).to_hex()
    }

    /// A client presenting this certificate and trusting any server (what is judged is the
    /// node's side).
    pub fn client(&self) -> Arc<rustls::ClientConfig> {
        let identity = cloister_tls::material::load_pem_identity(
            &Origin::new("test key", &self.key),
            &Origin::new("test certificate", &self.certificate),
        )
        .unwrap();
        Arc::new(
            cloister_tls::config::client_config_from(Some(&identity), PeerTrust::none(), false)
                .unwrap(),
        )
    }
}

/// The DER of the first certificate in PEM `text`.
fn first_certificate_der(text: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(text.as_bytes())
        .unwrap()
        .to_vec()
}

/// A client without a certificate.
pub fn anonymous_client() -> Arc<rustls::ClientConfig> {
    Arc::new(cloister_tls::config::client_config_from(None, PeerTrust::none(), false).unwrap())
}

/// Who signs a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// The test CA.
    Ca,
    /// The test CA, valid only in 2020.
    CaExpired,
    /// The leaf itself.
    SelfSigned,
}

/// A test CA writing its certificates as PEM files into one directory.
pub struct TestCa {
    dir: PathBuf,
    key: KeyPair,
    certificate: rcgen::Certificate,
    /// The CA's certificate file (trust material for CA mode).
    pub file: PathBuf,
}

impl TestCa {
    /// A new CA whose files go into `dir`.
    pub fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Cloister test CA");
        let certificate = params.self_signed(&key).unwrap();
        let file = dir.join("ca.pem");
        std::fs::write(&file, certificate.pem()).unwrap();
        Self {
            dir: dir.to_owned(),
            key,
            certificate,
            file,
        }
    }

    /// A leaf with subject `CN=cn` naming 127.0.0.1 and localhost (where the harness runs
    /// every node), written to `<file>.crt` and `<file>.key`.
    pub fn leaf(&self, file: &str, cn: &str, signer: Signer) -> Pem {
        self.leaf_naming(file, cn, &["127.0.0.1", "localhost"], signer)
    }

    /// A leaf with subject `CN=cn` and these subjectAltNames (IP literals become iPAddress
    /// names, anything else dNSName).
    pub fn leaf_naming(&self, file: &str, cn: &str, names: &[&str], signer: Signer) -> Pem {
        let key = KeyPair::generate().unwrap();
        let names = names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        if signer == Signer::CaExpired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 12, 31);
        }
        let certificate = match signer {
            Signer::SelfSigned => params.self_signed(&key).unwrap(),
            Signer::Ca | Signer::CaExpired => params
                .signed_by(&key, &self.certificate, &self.key)
                .unwrap(),
        };
        let pem = Pem {
            certificate: self.dir.join(format!("{file}.crt")),
            key: self.dir.join(format!("{file}.key")),
        };
        std::fs::write(&pem.certificate, certificate.pem()).unwrap();
        std::fs::write(&pem.key, key.serialize_pem()).unwrap();
        pem
    }
}

/// A P2P `sslConfig` (Tessera's members): `pem` on both sides, these trust modes, `ca` as the
/// trust material of both, and the known-hosts files `knownClients`/`knownServers` in `dir`.
pub fn ssl_config(dir: &Path, pem: &Pem, ca: &Path, server_mode: &str, client_mode: &str) -> Value {
    json!({
        "tls": "STRICT",
        "serverTlsKeyPath": pem.key, "serverTlsCertificatePath": pem.certificate,
        "clientTlsKeyPath": pem.key, "clientTlsCertificatePath": pem.certificate,
        "serverTrustMode": server_mode, "clientTrustMode": client_mode,
        "serverTrustCertificates": [ca], "clientTrustCertificates": [ca],
        "knownClientsFile": dir.join("knownClients"), "knownServersFile": dir.join("knownServers"),
    })
}

/// `config` (a harness node config) with `ssl` as its P2P server's `sslConfig` and `extra`
/// merged into that server's `properties`.
pub fn with_p2p_ssl(mut config: Value, ssl: Value, extra: Value) -> Value {
    let servers = config["serverConfigs"].as_array_mut().unwrap();
    let p2p = servers.iter_mut().find(|s| s["app"] == "P2P").unwrap();
    p2p["sslConfig"] = ssl;
    if let (Some(properties), Value::Object(extra)) = (p2p["properties"].as_object_mut(), extra) {
        properties.extend(extra);
    }
    config
}
