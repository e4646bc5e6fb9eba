//! Certificates for TLS tests and benchmarks, made with rcgen: a test CA, leaves it signs
//! (in date or expired) or self-signed ones, as PEM files; and rustls client configs that
//! present them, for reaching a node whose P2P server speaks TLS.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin};
use std::sync::Arc;

use cloister_tls::material::Origin;
use cloister_tls::{Fingerprint, PeerTrust};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SignatureAlgorithm,
};
use serde_json::{json, Value};

use crate::watchdog::run_when_this_process_ends;

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

    /// The certificate's notAfter, as cloister-tls reads it, in whole seconds since the Unix
    /// epoch.
    pub fn not_after(&self) -> i64 {
        let identity = cloister_tls::material::load_pem_identity(
            &Origin::new("test key", &self.key),
            &Origin::new("test certificate", &self.certificate),
        )
        .unwrap();
        let since = identity
            .not_after()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        i64::try_from(since.as_secs()).unwrap()
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

/// The value `/metrics` text gives the certificate expiry of front `app` (`proxy`, `gateway`)
/// on the listener at `port`, if it has one.
pub fn front_certificate_expiry(metrics: &str, app: &str, port: u16) -> Option<i64> {
    let series = format!(
        r#"cloister_tls_certificate_expiry_timestamp_seconds{{app="{app}",side="server",listener=""#
    );
    let listener = format!(r#":{port}"}} "#);
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(&series)?;
        let (_, value) = rest.split_once(&listener)?;
        value.trim().parse().ok()
    })
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
    /// The test CA, valid from now for this many days.
    CaExpiringIn(u32),
    /// The leaf itself.
    SelfSigned,
}

/// A certificate authority of the test's own, its certificate a PEM file in its directory,
/// with the leaves it signs written next to it. Nothing outside the test trusts it.
pub struct TestCa {
    dir: PathBuf,
    key: KeyPair,
    certificate: Certificate,
    /// The CA's certificate file (trust material: a client's `sslrootcert`, a node's CA mode).
    pub file: PathBuf,
    /// A directory of its own, removed when this process ends (a CA kept in a static is never
    /// dropped).
    _own_dir: Option<(tempfile::TempDir, (Child, ChildStdin))>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// What a server needs to speak TLS as PostgreSQL reads it: its certificate and key (PEM),
/// and the CA that verifies client certificates.
#[derive(Clone)]
pub struct ServerTls {
    /// `server.crt`.
    pub certificate: String,
    /// `server.key`.
    pub key: String,
    /// `ca.crt` (`ssl_ca_file`): client certificates signed by it are accepted.
    pub client_ca: String,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

impl TestCa {
    /// A CA named `name` with an ECDSA P-256 key, in a temporary directory of its own.
    pub fn new(name: &str) -> Self {
        Self::with_algorithm(name, &rcgen::PKCS_ECDSA_P256_SHA256)
    }

    /// The same with a key for `algorithm` (e.g. ECDSA P-384 to sign `ecdsa-with-SHA384`
    /// certificates).
    pub fn with_algorithm(name: &str, algorithm: &'static SignatureAlgorithm) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("cloister-ca-")
            .tempdir()
            .unwrap();
        let cleanup = run_when_this_process_ends(&format!(
            "cat >/dev/null\nrm -rf '{}'",
            dir.path().display()
        ));
        let mut ca = Self::create(dir.path(), name, algorithm);
        ca._own_dir = Some((dir, cleanup));
        ca
    }

    /// A CA whose files go into `dir`, which the caller owns.
    pub fn in_dir(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        Self::create(dir, "Cloister test CA", &rcgen::PKCS_ECDSA_P256_SHA256)
    }

    fn create(dir: &Path, name: &str, algorithm: &'static SignatureAlgorithm) -> Self {
        let key = KeyPair::generate_for(algorithm).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let certificate = params.self_signed(&key).unwrap();
        // `.pem`: leaves are written as `<name>.crt`, so one named "ca" cannot replace it.
        let file = dir.join("ca.pem");
        std::fs::write(&file, certificate.pem()).unwrap();
        Self {
            dir: dir.to_owned(),
            key,
            certificate,
            file,
            _own_dir: None,
        }
    }

    /// The directory the CA's files live in (for tests that write more files next to them).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A server certificate for `names` (the first is also its Common Name), signed by this
    /// CA, with the CA as the server's client-certificate authority.
    pub fn server(&self, names: &[&str]) -> ServerTls {
        let (certificate, key) = self.signed(names, ExtendedKeyUsagePurpose::ServerAuth);
        ServerTls {
            certificate,
            key,
            client_ca: self.certificate.pem(),
        }
    }

    /// A client certificate with Common Name `user` (PostgreSQL's `cert` authentication
    /// matches it against the user name), written as `<user>.crt` and `<user>.key` (mode
    /// 0600, as libpq requires of a key); returns both paths.
    pub fn client(&self, user: &str) -> (PathBuf, PathBuf) {
        let (certificate, key) = self.signed(&[user], ExtendedKeyUsagePurpose::ClientAuth);
        let cert_path = self.dir.join(format!("{user}.crt"));
        let key_path = self.dir.join(format!("{user}.key"));
        std::fs::write(&cert_path, certificate).unwrap();
        write_private(&key_path, &key);
        (cert_path, key_path)
    }

    fn signed(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let sans: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("cloister"),
        );
        params.extended_key_usages = vec![usage];
        let certificate = params
            .signed_by(&key, &self.certificate, &self.key)
            .unwrap();
        (certificate.pem(), key.serialize_pem())
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
        match signer {
            Signer::CaExpired => {
                params.not_before = rcgen::date_time_ymd(2020, 1, 1);
                params.not_after = rcgen::date_time_ymd(2020, 12, 31);
            }
            Signer::CaExpiringIn(days) => {
                params.not_before = time::OffsetDateTime::now_utc();
                params.not_after = params.not_before + time::Duration::days(days.into());
            }
            Signer::Ca | Signer::SelfSigned => {}
        }
        let certificate = match signer {
            Signer::SelfSigned => params.self_signed(&key).unwrap(),
            Signer::Ca | Signer::CaExpired | Signer::CaExpiringIn(_) => params
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

/// Writes `contents` to `path`, readable by its owner only.
pub fn write_private(path: &Path, contents: &str) {
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
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

/// A TLS connection kept open: a rustls client session over TCP.
pub type KeptConnection = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;

/// A TLS connection to `address`, handshake done, presenting `client`'s certificate; kept open
/// for [`upcheck_on`].
pub fn kept_connection(
    address: std::net::SocketAddr,
    client: &Arc<rustls::ClientConfig>,
) -> KeptConnection {
    let name = rustls::pki_types::ServerName::IpAddress(address.ip().into());
    let connection = rustls::ClientConnection::new(client.clone(), name).unwrap();
    let tcp = std::net::TcpStream::connect(address).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).unwrap();
    }
    stream
}

/// The SHA-1 fingerprint of the certificate the server presented on `stream`.
pub fn presented(stream: &KeptConnection) -> String {
    let leaf = &stream.conn.peer_certificates().unwrap()[0];
    Fingerprint::of(leaf).to_hex()
}

/// Whether `/upcheck` on the open `stream` (keep-alive) answers 200 `I'm up!`, read to its
/// end so the connection is ready for the next request.
pub fn upcheck_on(stream: &mut KeptConnection) -> bool {
    use std::io::{Read, Write};
    const BODY: &[u8] = b"I'm up!";
    if stream
        .write_all(b"GET /upcheck HTTP/1.1\r\nHost: node\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = Vec::new();
    let mut chunk = [0u8; 256];
    while !answer.ends_with(BODY) {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
    }
    answer.starts_with(b"HTTP/1.1 200")
}
