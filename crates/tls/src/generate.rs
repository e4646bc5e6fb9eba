//! The keystore Tessera generates when a keystore path is set but the file does not exist
//! (`TlsUtils.generateKeyStoreWithSelfSignedCertificate`): whatever
//! `generateKeyStoreIfNotExisted` says, that flag only relaxes validation.
//!
//! What is made, as Tessera makes it:
//!
//! - an RSA-2048 key (generated with the `rsa` crate, since ring cannot generate RSA keys);
//! - a self-signed X.509 v3 certificate signed SHA512withRSA (rcgen, signing with ring), subject
//!   and issuer `CN=<address>` with a leading `http(s)://www.`, `http(s)://` or `www.` removed
//!   (`https://localhost:9001` gives `CN=localhost:9001`; a trailing `/` is kept), a random
//!   non-negative 64-bit serial, valid from now for one calendar year;
//! - one non-critical subjectAltName: DNS `localhost`, DNS the machine's host name, IP
//!   `127.0.0.1`, IP `0.0.0.0`, IP the machine's address; no other extension;
//! - written as a JKS keystore with the single entry `tessera`, the key protected by the store
//!   password.
//!
//! Unlike Tessera's, the file is created owner-only (0600) and never over an existing file.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rand_core::{OsRng, RngCore};
use rsa::pkcs8::EncodePrivateKey;
use rustls::pki_types::PrivatePkcs8KeyDer;
use time::OffsetDateTime;

/// The alias of the generated key entry.
pub const GENERATED_ALIAS: &str = "tessera";

/// The generated key's size in bits.
pub const GENERATED_RSA_BITS: usize = 2048;

/// Why a keystore could not be generated. Each variant names the keystore file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// No password to protect the new keystore with.
    #[error("cannot generate {}: no keystore password is set", path.display())]
    NoPassword {
        /// The keystore path.
        path: PathBuf,
    },
    /// The JKS writer hashes passwords as ASCII only.
    #[error("cannot generate {}: the keystore password has non-ASCII characters, which Cloister's JKS writer does not support", path.display())]
    NonAsciiPassword {
        /// The keystore path.
        path: PathBuf,
    },
    /// Key generation, certificate signing or JKS encoding failed.
    #[error("cannot generate {}: {reason}", path.display())]
    Build {
        /// The keystore path.
        path: PathBuf,
        /// What failed (no key material).
        reason: String,
    },
    /// The file could not be created or written (it may already exist).
    #[error("cannot write the generated keystore {}: {source}", path.display())]
    Write {
        /// The keystore path.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// The machine's own names that go into the generated certificate's subjectAltName.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostNames {
    /// Java's `InetAddress.getLocalHost().getHostName()`.
    pub host_name: Option<String>,
    /// Java's `InetAddress.getLocalHost().getHostAddress()`.
    pub host_address: Option<IpAddr>,
}

impl HostNames {
    /// This machine's host name (from the kernel) and the first address it resolves to,
    /// IPv4 preferred as the JDK prefers it. Where Tessera fails generation when the host
    /// name does not resolve, Cloister leaves that entry out.
    pub fn of_this_machine() -> Self {
        let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty());
        let host_address = host_name.as_deref().and_then(|name| {
            let addresses: Vec<IpAddr> = (name, 0)
                .to_socket_addrs()
                .ok()?
                .map(|socket| socket.ip())
                .collect();
            addresses
                .iter()
                .find(|ip| ip.is_ipv4())
                .or(addresses.first())
                .copied()
        });
        Self {
            host_name,
            host_address,
        }
    }
}

/// Tessera's CN for an address: the address with one leading `http://www.`,
/// `https://www.`, `http://`, `https://` or `www.` removed, the rest kept as it is.
pub fn common_name_for(address: &str) -> &str {
    ["https://www.", "http://www.", "https://", "http://", "www."]
        .iter()
        .find_map(|prefix| address.strip_prefix(prefix))
        .unwrap_or(address)
}

/// Generates Tessera's self-signed keystore at `path` for `address` (the server's
/// `bindingAddress` else `serverAddress`; for the client, the P2P `serverAddress`), with
/// this machine's names in the subjectAltName. Fails if the file exists.
pub fn generate_keystore(path: &Path, password: &str, address: &str) -> Result<(), GenerateError> {
    generate_keystore_with(path, password, address, &HostNames::of_this_machine())
}

/// [`generate_keystore`] with given host names (tests, or a caller that knows better).
pub fn generate_keystore_with(
    path: &Path,
    password: &str,
    address: &str,
    names: &HostNames,
) -> Result<(), GenerateError> {
    if !password.is_ascii() {
        return Err(GenerateError::NonAsciiPassword {
            path: path.to_owned(),
        });
    }
    let build = |reason: String| GenerateError::Build {
        path: path.to_owned(),
        reason,
    };
    let rsa_key = rsa::RsaPrivateKey::new(&mut OsRng, GENERATED_RSA_BITS)
        .map_err(|e| build(format!("RSA key generation failed: {e}")))?;
    // A SecretDocument: wiped on drop.
    let pkcs8 = rsa_key
        .to_pkcs8_der()
        .map_err(|e| build(format!("PKCS#8 encoding failed: {e}")))?;
    drop(rsa_key);
    let certificate =
        self_signed_certificate(pkcs8.as_bytes(), address, names, OffsetDateTime::now_utc())
            .map_err(|e| build(format!("certificate signing failed: {e}")))?;

    let options = jks::KeyStoreOptions {
        min_password_len: 0,
        ..jks::KeyStoreOptions::default()
    };
    let mut store = jks::KeyStore::with_options(options);
    let entry = jks::PrivateKeyEntry {
        creation_time: SystemTime::now(),
        // The jks crate encrypts this copy and keeps only the encrypted bytes.
        private_key: pkcs8.as_bytes().to_vec(),
        certificate_chain: vec![jks::Certificate {
            // Java's certificate type name, which the JDK's JKS loader looks up.
            cert_type: "X.509".to_owned(),
            content: certificate,
        }],
    };
    store
        .set_private_key_entry(GENERATED_ALIAS, entry, password.as_bytes())
        .map_err(|e| build(format!("JKS encoding failed: {e}")))?;
    let mut bytes = Vec::new();
    store
        .store(&mut bytes, password.as_bytes())
        .map_err(|e| build(format!("JKS encoding failed: {e}")))?;
    write_owner_only(path, &bytes).map_err(|source| GenerateError::Write {
        path: path.to_owned(),
        source,
    })
}

/// The self-signed certificate, DER. `now` is the start of validity.
fn self_signed_certificate(
    pkcs8: &[u8],
    address: &str,
    names: &HostNames,
    now: OffsetDateTime,
) -> Result<Vec<u8>, rcgen::Error> {
    let key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &PrivatePkcs8KeyDer::from(pkcs8),
        &rcgen::PKCS_RSA_SHA512,
    )?;
    let mut params = rcgen::CertificateParams::default();
    let mut subject = rcgen::DistinguishedName::new();
    subject.push(rcgen::DnType::CommonName, common_name_for(address));
    params.distinguished_name = subject;
    // BigInteger(64, random): non-negative, up to 64 bits; rcgen adds the sign byte.
    params.serial_number = Some(rcgen::SerialNumber::from(OsRng.next_u64()));
    // X.509 times have whole seconds.
    let not_before = now.replace_nanosecond(0).unwrap_or(now);
    params.not_before = not_before;
    params.not_after = one_calendar_year_after(not_before);
    let mut san = vec![rcgen::SanType::DnsName("localhost".try_into()?)];
    if let Some(host) = &names.host_name {
        san.push(rcgen::SanType::DnsName(host.clone().try_into()?));
    }
    san.push(rcgen::SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    san.push(rcgen::SanType::IpAddress(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
    if let Some(ip) = names.host_address {
        san.push(rcgen::SanType::IpAddress(ip));
    }
    params.subject_alt_names = san;
    Ok(params.self_signed(&key)?.der().to_vec())
}

/// Java's `Calendar.add(YEAR, 1)`: the same date next year, 29 February becoming 28 February.
fn one_calendar_year_after(start: OffsetDateTime) -> OffsetDateTime {
    let year = start.year() + 1;
    start.replace_year(year).unwrap_or_else(|_| {
        // Only 29 February has no counterpart.
        start
            .replace_day(28)
            .and_then(|d| d.replace_year(year))
            .unwrap_or(start)
    })
}

/// Creates `path` owner-only and writes `bytes`; never replaces an existing file.
fn write_owner_only(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if written.is_err() {
        // A half-written keystore would be loaded next start and fail obscurely.
        let _ = std::fs::remove_file(path);
    }
    written
}

#[cfg(test)]
mod tests {
    use x509_parser::prelude::*;

    use super::*;

    #[test]
    fn common_name_drops_one_scheme_and_www_prefix() {
        assert_eq!(common_name_for("https://localhost:9001"), "localhost:9001");
        assert_eq!(
            common_name_for("http://www.node.example:9001/"),
            "node.example:9001/"
        );
        assert_eq!(common_name_for("www.node:1"), "node:1");
        assert_eq!(common_name_for("node:1"), "node:1");
        assert_eq!(common_name_for("https://www.www.x"), "www.x");
    }

    #[test]
    fn a_leap_day_certificate_ends_on_28_february() {
        let leap = ::time::macros::datetime!(2024-02-29 12:00 UTC);
        assert_eq!(
            one_calendar_year_after(leap),
            ::time::macros::datetime!(2025-02-28 12:00 UTC)
        );
        let plain = ::time::macros::datetime!(2025-06-01 00:00:01 UTC);
        assert_eq!(
            one_calendar_year_after(plain),
            ::time::macros::datetime!(2026-06-01 00:00:01 UTC)
        );
    }

    #[test]
    fn certificate_is_what_tessera_generates() {
        let key = rsa::RsaPrivateKey::new(&mut OsRng, GENERATED_RSA_BITS).unwrap();
        let pkcs8 = key.to_pkcs8_der().unwrap();
        let names = HostNames {
            host_name: Some("node-a".into()),
            host_address: Some("10.1.2.3".parse().unwrap()),
        };
        let now = ::time::macros::datetime!(2025-03-04 05:06:07.5 UTC);
        let der = self_signed_certificate(pkcs8.as_bytes(), "https://localhost:9001", &names, now)
            .unwrap();
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        assert_eq!(cert.version(), X509Version::V3);
        assert_eq!(cert.subject().to_string(), "CN=localhost:9001");
        assert_eq!(cert.issuer().to_string(), "CN=localhost:9001");
        assert_eq!(
            cert.signature_algorithm.algorithm,
            x509_parser::oid_registry::OID_PKCS1_SHA512WITHRSA
        );
        assert_eq!(
            cert.validity().not_before.timestamp(),
            ::time::macros::datetime!(2025-03-04 05:06:07 UTC).unix_timestamp()
        );
        assert_eq!(
            cert.validity().not_after.timestamp(),
            ::time::macros::datetime!(2026-03-04 05:06:07 UTC).unix_timestamp()
        );
        // A non-negative serial.
        assert!(cert.raw_serial()[0] & 0x80 == 0);
        let extensions = cert.extensions();
        assert_eq!(extensions.len(), 1, "only the subjectAltName");
        assert!(!extensions[0].critical);
        let san = cert.subject_alternative_name().unwrap().unwrap();
        let names: Vec<String> = san
            .value
            .general_names
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "DNSName(localhost)",
                "DNSName(node-a)",
                "IPAddress(7f:00:00:01)",
                "IPAddress(00:00:00:00)",
                "IPAddress(0a:01:02:03)"
            ]
        );
        cert.verify_signature(None).unwrap();
        let (_, spki) = SubjectPublicKeyInfo::from_der(cert.public_key().raw).unwrap();
        match spki.parsed().unwrap() {
            x509_parser::public_key::PublicKey::RSA(rsa) => assert_eq!(rsa.key_size(), 2048),
            other => panic!("not RSA: {other:?}"),
        }
    }

    #[test]
    fn never_overwrites_and_refuses_non_ascii_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ks");
        std::fs::write(&path, b"existing").unwrap();
        let names = HostNames::default();
        let error = generate_keystore_with(&path, "secret", "https://h:1", &names).unwrap_err();
        assert!(matches!(error, GenerateError::Write { .. }), "{error}");
        assert_eq!(std::fs::read(&path).unwrap(), b"existing");
        let error =
            generate_keystore_with(&dir.path().join("new"), "pässword", "https://h:1", &names)
                .unwrap_err();
        assert!(
            matches!(error, GenerateError::NonAsciiPassword { .. }),
            "{error}"
        );
        assert!(!error.to_string().contains("pässword"));
    }
}
