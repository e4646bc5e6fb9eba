//! Shared by the integration tests: certificates made in the test (rcgen, or the openssl and
//! keytool command lines), and one real TLS handshake over loopback TCP.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use cloister_tls::material::{Identity, Origin};
use cloister_tls::trust::TrustError;
use cloister_tls::CertificateIdentity;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A certificate and its key.
pub struct Issued {
    pub cert: CertificateDer<'static>,
    pub key_der: Vec<u8>,
    pub cert_pem: String,
    pub key_pem: String,
}

impl Issued {
    pub fn identity(&self) -> Identity {
        self.identity_with_chain(vec![self.cert.clone()])
    }

    pub fn identity_with_chain(&self, chain: Vec<CertificateDer<'static>>) -> Identity {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        Identity::new(
            chain,
            key,
            &Origin::new("key", "test"),
            &Origin::new("cert", "test"),
        )
        .expect("test identity")
    }

    pub fn write_pem(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (cert, key)
    }
}

/// What a leaf looks like.
#[derive(Clone)]
pub struct Leaf<'a> {
    pub cn: &'a str,
    pub sans: Vec<&'a str>,
    pub expired: bool,
    pub eku: Vec<rcgen::ExtendedKeyUsagePurpose>,
}

impl<'a> Leaf<'a> {
    pub fn new(cn: &'a str) -> Self {
        Self {
            cn,
            sans: vec!["localhost", "127.0.0.1"],
            expired: false,
            eku: Vec::new(),
        }
    }

    pub fn expired(mut self) -> Self {
        self.expired = true;
        self
    }

    pub fn eku(mut self, eku: rcgen::ExtendedKeyUsagePurpose) -> Self {
        self.eku.push(eku);
        self
    }

    pub fn sans(mut self, sans: &[&'a str]) -> Self {
        self.sans = sans.to_vec();
        self
    }

    fn params(&self) -> rcgen::CertificateParams {
        let mut params = rcgen::CertificateParams::new(
            self.sans.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        let mut name = rcgen::DistinguishedName::new();
        name.push(rcgen::DnType::CommonName, self.cn);
        params.distinguished_name = name;
        params.extended_key_usages = self.eku.clone();
        if self.expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        params
    }

    pub fn self_signed(&self) -> Issued {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = self.params().self_signed(&key).unwrap();
        issued(&cert, &key)
    }
}

fn issued(cert: &rcgen::Certificate, key: &rcgen::KeyPair) -> Issued {
    Issued {
        cert: cert.der().clone(),
        key_der: key.serialize_der(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// A CA made with rcgen.
pub struct Ca {
    pub cert: rcgen::Certificate,
    pub key: rcgen::KeyPair,
}

impl Ca {
    pub fn new(cn: &str) -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut name = rcgen::DistinguishedName::new();
        name.push(rcgen::DnType::CommonName, cn);
        params.distinguished_name = name;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        Self { cert, key }
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    pub fn issue(&self, leaf: &Leaf<'_>) -> Issued {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = leaf
            .params()
            .signed_by(&key, &self.cert, &self.key)
            .unwrap();
        issued(&cert, &key)
    }

    pub fn write_pem(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, self.cert.pem()).unwrap();
        std::fs::write(&key, self.key.serialize_pem()).unwrap();
        (cert, key)
    }
}

/// How one side of a handshake ended.
#[derive(Debug)]
pub struct Side {
    /// The handshake (and one exchange after it) succeeded, with the peer's identity.
    pub result: Result<Option<CertificateIdentity>, std::io::Error>,
}

impl Side {
    pub fn ok(&self) -> bool {
        self.result.is_ok()
    }

    /// The trust error behind a failure on this side, if the failure was a verifier's.
    pub fn trust_error(&self) -> Option<&TrustError> {
        self.result
            .as_ref()
            .err()
            .and_then(|e| TrustError::find_in(e))
    }

    pub fn peer(&self) -> Option<&CertificateIdentity> {
        self.result.as_ref().ok().and_then(Option::as_ref)
    }
}

/// Both sides of one handshake.
#[derive(Debug)]
pub struct Outcome {
    pub server: Side,
    pub client: Side,
}

impl Outcome {
    pub fn both_ok(&self) -> bool {
        self.server.ok() && self.client.ok()
    }
}

/// Runs a real TLS handshake over loopback TCP: the client dials `server_name`, then reads
/// two bytes the server writes after its handshake. In TLS 1.3 a client finishes its
/// handshake before the server has judged the client's certificate, so the read is what
/// shows the client a server-side refusal.
pub fn handshake(
    server: impl Into<Arc<rustls::ServerConfig>>,
    client: impl Into<Arc<rustls::ClientConfig>>,
    server_name: &str,
) -> Outcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(server.into());
        let connector = tokio_rustls::TlsConnector::from(client.into());
        let server = async move {
            let (tcp, _) = listener.accept().await?;
            let mut tls = acceptor.accept(tcp).await?;
            let peer =
                cloister_tls::peer_identity(tls.get_ref().1).map_err(std::io::Error::other)?;
            tls.write_all(b"ok").await?;
            tls.flush().await?;
            tls.shutdown().await.ok();
            Ok::<_, std::io::Error>(peer)
        };
        let client = async move {
            let tcp = tokio::net::TcpStream::connect(address).await?;
            let mut tls = connector.connect(name, tcp).await?;
            let mut buffer = [0u8; 2];
            tls.read_exact(&mut buffer).await?;
            let peer =
                cloister_tls::peer_identity(tls.get_ref().1).map_err(std::io::Error::other)?;
            Ok::<_, std::io::Error>(peer)
        };
        let limit = Duration::from_secs(20);
        let (server, client) = tokio::join!(
            tokio::time::timeout(limit, server),
            tokio::time::timeout(limit, client)
        );
        let flatten = |r: Result<Result<_, std::io::Error>, _>| {
            r.unwrap_or_else(|_| Err(std::io::Error::other("the handshake timed out")))
        };
        Outcome {
            server: Side {
                result: flatten(server),
            },
            client: Side {
                result: flatten(client),
            },
        }
    })
}

/// Runs a command line tool, failing the test with its output when it fails.
pub fn run(program: &Path, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    assert!(
        output.status.success(),
        "{} {:?} failed: {}{}",
        program.display(),
        args,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Java's keytool: `$JAVA_HOME/bin/keytool`, else on the PATH. A missing keytool fails the
/// test with one sentence: these tests prove interoperability with Java's own files.
pub fn keytool() -> PathBuf {
    tool(
        "keytool",
        std::env::var_os("JAVA_HOME").map(|home| PathBuf::from(home).join("bin").join("keytool")),
        "Java's keytool is missing: install a JDK (Debian: apt-get install openjdk-17-jdk-headless) or set JAVA_HOME, and rerun",
    )
}

/// The openssl command line. A missing openssl fails the test with one sentence.
pub fn openssl() -> PathBuf {
    tool(
        "openssl",
        None,
        "the openssl command line is missing: install it (Debian: apt-get install openssl) and rerun",
    )
}

fn tool(name: &str, preferred: Option<PathBuf>, missing: &str) -> PathBuf {
    if let Some(path) = preferred.filter(|p| p.is_file()) {
        return path;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{missing}"))
}
