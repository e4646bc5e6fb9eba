//! Certificates for PostgreSQL over TLS in tests, made by the test itself: a CA, server
//! certificates it signs for the names a test chooses (an IP address becomes an IP SAN, a
//! name a DNS SAN), and client certificates. Nothing outside the test trusts them.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SignatureAlgorithm,
};

use super::run_when_this_process_ends;

/// A certificate authority of the test's own, with its certificate in a PEM file.
pub struct TestCa {
    dir: tempfile::TempDir,
    certificate: Certificate,
    key: KeyPair,
    /// Removes `dir` when this process ends, for a CA kept in a static (never dropped).
    _cleanup: (Child, ChildStdin),
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

/// What a PostgreSQL server needs to speak TLS: its certificate and key (PEM), and the CA
/// that verifies client certificates.
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
    /// A CA named `name` with an ECDSA P-256 key (certificates it signs are
    /// `ecdsa-with-SHA256`).
    pub fn new(name: &str) -> Self {
        Self::with_algorithm(name, &rcgen::PKCS_ECDSA_P256_SHA256)
    }

    /// A CA whose key, and so whose signatures, use `algorithm` (e.g. ECDSA P-384 to sign
    /// `ecdsa-with-SHA384` certificates).
    pub fn with_algorithm(name: &str, algorithm: &'static SignatureAlgorithm) -> Self {
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
        let dir = tempfile::Builder::new()
            .prefix("cloister-ca-")
            .tempdir()
            .unwrap();
        fs::write(dir.path().join("ca.crt"), certificate.pem()).unwrap();
        let cleanup = run_when_this_process_ends(&format!(
            "cat >/dev/null\nrm -rf '{}'",
            dir.path().display()
        ));
        Self {
            dir,
            certificate,
            key,
            _cleanup: cleanup,
        }
    }

    /// The CA's certificate, PEM: what a client names as `sslrootcert`.
    pub fn root_cert(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// A server certificate for `names` (the first is also its Common Name), signed by this
    /// CA, with the CA as the server's client-certificate authority.
    pub fn server(&self, names: &[&str]) -> ServerTls {
        let (certificate, key) = self.leaf(names, ExtendedKeyUsagePurpose::ServerAuth);
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
        let (certificate, key) = self.leaf(&[user], ExtendedKeyUsagePurpose::ClientAuth);
        let cert_path = self.dir.path().join(format!("{user}.crt"));
        let key_path = self.dir.path().join(format!("{user}.key"));
        fs::write(&cert_path, certificate).unwrap();
        write_private(&key_path, &key);
        (cert_path, key_path)
    }

    /// The directory the CA's files live in (for tests that write more files next to them).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn leaf(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
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
}

/// Writes `contents` to `path`, readable by its owner only.
pub fn write_private(path: &Path, contents: &str) {
    fs::write(path, contents).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}
