//! Key and trust material, from the files an `sslConfig` names.
//!
//! - An [`Identity`] (certificate chain + private key) comes from a keystore
//!   (`serverKeyStore`/`clientKeyStore`: JKS or PKCS#12, told apart by their first bytes, as
//!   the JDK's keystore-type compatibility mode does for Tessera's `"JKS"` loader) or from PEM
//!   files (`…TlsKeyPath` + `…TlsCertificatePath`).
//! - Trust roots come from a trust store (JKS or PKCS#12) or from PEM files
//!   (`…TrustCertificates`).
//!
//! Tessera's PEM rules are kept: the key is the first `… PRIVATE KEY` block of the key file,
//! and every `CERTIFICATE` block of the certificate file, in file order, is the chain.
//! Tessera reads only unencrypted PKCS#8 RSA keys; Cloister also reads PKCS#8 EC and Ed25519
//! keys and PKCS#1 (`RSA PRIVATE KEY`) and SEC1 (`EC PRIVATE KEY`) blocks, a documented
//! leniency. Encrypted keys are refused by both, clearly here.
//!
//! A keystore must hold exactly one private key, protected by the store password (Tessera's
//! `SunX509` key manager requires the key password to equal the store password). Trust roots
//! from a store are, as for the JDK's trust managers, its trusted-certificate entries and the
//! leaf certificate of each key entry.
//!
//! Key bytes read here are wiped when dropped. What cannot be wiped from here: the copies the
//! keystore parsers (`jks`, `p12-keystore`) and ring make internally. Errors name the config
//! member and the file, never key material or passwords.

use std::fs;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use rustls::sign::{CertifiedKey, SigningKey};
use x509_parser::prelude::{FromDer, SubjectPublicKeyInfo, X509Certificate};
use zeroize::Zeroizing;

/// Keystores and PEM files larger than this are refused before parsing: real ones are a few
/// kilobytes, and the keystore parsers allocate by lengths read from the file.
pub const MAX_MATERIAL_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// A config member and the file it names, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The `sslConfig` member, e.g. `serverKeyStore`.
    pub member: String,
    /// The file, as written in the config.
    pub path: PathBuf,
}

impl Origin {
    /// `member` naming `path`.
    pub fn new(member: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self {
            member: member.into(),
            path: path.into(),
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.member, self.path.display())
    }
}

/// Why key or trust material could not be loaded. Each variant names the member and file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MaterialError {
    /// The file does not exist.
    #[error("{origin}: the file does not exist")]
    Missing {
        /// Member and file.
        origin: Origin,
    },
    /// The file exists but cannot be read.
    #[error("{origin}: cannot read the file: {source}")]
    Unreadable {
        /// Member and file.
        origin: Origin,
        /// The I/O error.
        source: io::Error,
    },
    /// The file is larger than [`MAX_MATERIAL_FILE_BYTES`].
    #[error("{origin}: the file is too large to be key material ({size} bytes)")]
    TooLarge {
        /// Member and file.
        origin: Origin,
        /// Its size.
        size: u64,
    },
    /// Neither a JKS nor a PKCS#12 keystore.
    #[error("{origin}: not a JKS or PKCS#12 keystore")]
    NotAKeyStore {
        /// Member and file.
        origin: Origin,
    },
    /// A JCEKS keystore, which Cloister does not read.
    #[error("{origin}: a JCEKS keystore, which Cloister cannot read; convert it with `keytool -importkeystore -deststoretype PKCS12`")]
    Jceks {
        /// Member and file.
        origin: Origin,
    },
    /// No password for a store that needs one.
    #[error("{origin}: no password: set {password_member} or its environment variable")]
    NoPassword {
        /// Member and file.
        origin: Origin,
        /// The password's member, e.g. `serverKeyStorePassword`.
        password_member: String,
    },
    /// The store's integrity check failed with the password given.
    #[error("{origin}: wrong password (from {password_member} or its environment variable)")]
    WrongPassword {
        /// Member and file.
        origin: Origin,
        /// The password's member.
        password_member: String,
    },
    /// JKS passwords are hashed as UTF-16; the JKS reader only handles ASCII ones.
    #[error("{origin}: the password has non-ASCII characters, which Cloister's JKS reader does not support; convert the keystore to PKCS#12")]
    NonAsciiJksPassword {
        /// Member and file.
        origin: Origin,
    },
    /// The key entry is protected by another password than the store.
    #[error("{origin}: the key of alias \"{alias}\" has another password than the keystore; Tessera and Cloister need one password for both")]
    KeyPasswordDiffers {
        /// Member and file.
        origin: Origin,
        /// The entry's alias.
        alias: String,
    },
    /// The file is damaged or of an unsupported variant.
    #[error("{origin}: cannot read the keystore: {reason}")]
    MalformedKeyStore {
        /// Member and file.
        origin: Origin,
        /// The parser's description (never key bytes).
        reason: String,
    },
    /// No private key where one is needed.
    #[error("{origin}: no private key found")]
    NoPrivateKey {
        /// Member and file.
        origin: Origin,
    },
    /// A keystore with more than one private key: which one Tessera would use is not defined.
    #[error("{origin}: {count} private keys (aliases {aliases}); Cloister needs exactly one")]
    SeveralPrivateKeys {
        /// Member and file.
        origin: Origin,
        /// How many.
        count: usize,
        /// Their aliases, comma-separated.
        aliases: String,
    },
    /// An encrypted PEM key.
    #[error(
        "{origin}: the private key is encrypted; only unencrypted keys can be read (as in Tessera)"
    )]
    EncryptedKey {
        /// Member and file.
        origin: Origin,
    },
    /// No certificate where one is needed.
    #[error("{origin}: no certificate found")]
    NoCertificate {
        /// Member and file.
        origin: Origin,
    },
    /// The PEM text is malformed.
    #[error("{origin}: not valid PEM: {problem}")]
    BadPem {
        /// Member and file.
        origin: Origin,
        /// What is wrong (a fixed description).
        problem: &'static str,
    },
    /// A certificate does not parse as X.509.
    #[error("{origin}: certificate {index} is not valid X.509")]
    BadCertificate {
        /// Member and file.
        origin: Origin,
        /// 1-based position in the file or chain.
        index: usize,
    },
    /// The private key is not one rustls with ring can sign with.
    #[error("{origin}: the private key cannot be used (supported: RSA 2048 bits or more, ECDSA P-256/P-384, Ed25519)")]
    UnsupportedKey {
        /// Member and file.
        origin: Origin,
    },
    /// The private key does not belong to the leaf certificate.
    #[error("{key} does not match the certificate in {certificate}: the key belongs to another certificate")]
    KeyMismatch {
        /// The key's member and file.
        key: Origin,
        /// The certificate's member and file.
        certificate: Origin,
    },
    /// A trust store or trust-certificate file without a certificate.
    #[error("{origin}: holds no certificate to trust")]
    NoTrustedCertificate {
        /// Member and file.
        origin: Origin,
    },
}

/// A certificate chain and the key of its leaf: what a TLS endpoint presents.
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: Arc<dyn SigningKey>,
    not_after: SystemTime,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// An identity from a chain (leaf first) and its key, checking that the key is usable
    /// and belongs to the leaf. `key` names the key's origin and `certificate` the chain's,
    /// for messages. The key bytes are wiped before returning.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        mut key: PrivateKeyDer<'static>,
        key_origin: &Origin,
        certificate_origin: &Origin,
    ) -> Result<Self, MaterialError> {
        let result = Self::build(chain, &key, key_origin, certificate_origin);
        zeroize::Zeroize::zeroize(&mut key);
        result
    }

    fn build(
        chain: Vec<CertificateDer<'static>>,
        key: &PrivateKeyDer<'static>,
        key_origin: &Origin,
        certificate_origin: &Origin,
    ) -> Result<Self, MaterialError> {
        let Some(leaf) = chain.first() else {
            return Err(MaterialError::NoCertificate {
                origin: certificate_origin.clone(),
            });
        };
        let mut not_after: Option<SystemTime> = None;
        for (index, der) in chain.iter().enumerate() {
            let Ok((_, certificate)) = X509Certificate::from_der(der) else {
                return Err(MaterialError::BadCertificate {
                    origin: certificate_origin.clone(),
                    index: index + 1,
                });
            };
            let end = validity_end(&certificate);
            not_after = Some(not_after.map_or(end, |earliest| earliest.min(end)));
        }
        let signing_key = crate::crypto_provider()
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|_| MaterialError::UnsupportedKey {
                origin: key_origin.clone(),
            })?;
        if !key_matches_certificate(signing_key.as_ref(), leaf) {
            return Err(MaterialError::KeyMismatch {
                key: key_origin.clone(),
                certificate: certificate_origin.clone(),
            });
        }
        Ok(Self {
            chain,
            key: signing_key,
            // The chain is not empty (checked above), so `not_after` is set.
            not_after: not_after.unwrap_or(SystemTime::UNIX_EPOCH),
        })
    }

    /// The chain, leaf first, as it is sent to peers.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The leaf certificate.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        // `new` refuses an empty chain.
        &self.chain[0]
    }

    /// When the chain stops being valid: the earliest `notAfter` of its certificates, since a
    /// peer refuses the whole chain once any of them has expired.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// The chain and key as rustls presents them. Built without rustls's own key check,
    /// which parses the leaf with webpki and so refuses X.509 v1 certificates; [`Identity::new`]
    /// has checked the pair already.
    pub fn certified_key(&self) -> Arc<CertifiedKey> {
        Arc::new(CertifiedKey::new(self.chain.clone(), self.key.clone()))
    }
}

/// A certificate's `notAfter` as a system time (a date before 1970 is the epoch).
fn validity_end(certificate: &X509Certificate<'_>) -> SystemTime {
    let seconds = u64::try_from(certificate.validity().not_after.timestamp()).unwrap_or(0);
    SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
}

/// Whether the signing key's public key is the certificate's: same algorithm, same key bits.
/// Compared parsed rather than byte for byte, since encoders differ in optional parameters
/// (an RSA AlgorithmIdentifier with or without NULL).
fn key_matches_certificate(key: &dyn SigningKey, certificate: &CertificateDer<'_>) -> bool {
    let Some(key_spki) = key.public_key() else {
        // The key cannot say; rustls's own check also accepts this case.
        return true;
    };
    let Ok((_, cert)) = X509Certificate::from_der(certificate) else {
        return false;
    };
    let Ok((_, key_spki)) = SubjectPublicKeyInfo::from_der(&key_spki) else {
        return false;
    };
    let cert_spki = cert.public_key();
    key_spki.algorithm.algorithm == cert_spki.algorithm.algorithm
        && key_spki.subject_public_key.data == cert_spki.subject_public_key.data
}

/// Reads a file of key material, refusing missing and oversized files with their member.
/// The bytes are wiped on drop, since the file may hold a private key.
fn read_material(origin: &Origin) -> Result<Zeroizing<Vec<u8>>, MaterialError> {
    let metadata = fs::metadata(&origin.path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => MaterialError::Missing {
            origin: origin.clone(),
        },
        _ => MaterialError::Unreadable {
            origin: origin.clone(),
            source,
        },
    })?;
    if metadata.len() > MAX_MATERIAL_FILE_BYTES {
        return Err(MaterialError::TooLarge {
            origin: origin.clone(),
            size: metadata.len(),
        });
    }
    fs::read(&origin.path)
        .map(Zeroizing::new)
        .map_err(|source| MaterialError::Unreadable {
            origin: origin.clone(),
            source,
        })
}

/// Loads the identity of a keystore (`serverKeyStore`/`clientKeyStore`), JKS or PKCS#12.
/// `password` is the resolved store password (see `SslSideConfig::key_store_password`);
/// `password_member` names where it comes from.
pub fn load_keystore_identity(
    origin: &Origin,
    password: Option<&str>,
    password_member: &str,
) -> Result<Identity, MaterialError> {
    let Some(password) = password else {
        return Err(MaterialError::NoPassword {
            origin: origin.clone(),
            password_member: password_member.to_owned(),
        });
    };
    let bytes = read_material(origin)?;
    let mut contents = read_store(origin, &bytes, Some(password), password_member, true)?;
    match contents.keys.len() {
        0 => Err(MaterialError::NoPrivateKey {
            origin: origin.clone(),
        }),
        1 => {
            let entry = contents.keys.remove(0);
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(entry.pkcs8.to_vec()));
            Identity::new(entry.chain, key, origin, origin)
        }
        count => Err(MaterialError::SeveralPrivateKeys {
            origin: origin.clone(),
            count,
            aliases: contents
                .keys
                .iter()
                .map(|k| k.alias.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Loads an identity from PEM files (`…TlsKeyPath`, `…TlsCertificatePath`).
pub fn load_pem_identity(key: &Origin, certificate: &Origin) -> Result<Identity, MaterialError> {
    identity_with_key(read_pem_private_key(key)?, key, certificate)
}

/// Loads an identity from a PEM certificate file and a key file that is PEM or, as pgjdbc's
/// default client key `postgresql.pk8` is, unencrypted PKCS#8 DER. A file without a PEM
/// `BEGIN` line is taken as DER; an encrypted DER key is then refused as unusable.
pub fn load_pem_identity_with_der_key(
    key: &Origin,
    certificate: &Origin,
) -> Result<Identity, MaterialError> {
    let bytes = read_material(key)?;
    let private_key = if contains_ignore_ascii_case(&bytes, b"-----BEGIN ") {
        pem_private_key(key, &bytes)?
    } else {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(bytes.to_vec()))
    };
    identity_with_key(private_key, key, certificate)
}

/// `private_key` (read from `key`) with the chain of the PEM file `certificate`.
fn identity_with_key(
    mut private_key: PrivateKeyDer<'static>,
    key: &Origin,
    certificate: &Origin,
) -> Result<Identity, MaterialError> {
    // `Identity::new` wipes the key on every path; this is the one path that skips it.
    let chain = read_pem_certificates(certificate).inspect_err(|_| {
        zeroize::Zeroize::zeroize(&mut private_key);
    })?;
    // An empty chain is refused by `Identity::new`, naming the certificate file.
    Identity::new(chain, private_key, key, certificate)
}

/// Loads the trusted certificates of a trust store (`…TrustStore`). Without a password, a
/// JKS store is read without its integrity check, as the JDK does; a PKCS#12 store needs one.
pub fn load_trust_store(
    origin: &Origin,
    password: Option<&str>,
    password_member: &str,
) -> Result<Vec<CertificateDer<'static>>, MaterialError> {
    let bytes = read_material(origin)?;
    let contents = read_store(origin, &bytes, password, password_member, false)?;
    let mut certificates = contents.trusted;
    certificates.extend(
        contents
            .keys
            .into_iter()
            .filter_map(|entry| entry.chain.into_iter().next()),
    );
    if certificates.is_empty() {
        return Err(MaterialError::NoTrustedCertificate {
            origin: origin.clone(),
        });
    }
    Ok(certificates)
}

/// Loads every certificate of every PEM file (`…TrustCertificates`), in order. Unlike
/// Tessera, which files them under their subject DN so that one certificate overwrites another
/// with the same subject (losing, say, half of a CA rollover), all are kept.
pub fn load_trust_certificates(
    files: &[Origin],
) -> Result<Vec<CertificateDer<'static>>, MaterialError> {
    let mut certificates = Vec::new();
    for origin in files {
        let found = read_pem_certificates(origin)?;
        if found.is_empty() {
            return Err(MaterialError::NoTrustedCertificate {
                origin: origin.clone(),
            });
        }
        certificates.extend(found);
    }
    Ok(certificates)
}

/// The platform's trusted CA certificates (`/etc/ssl/certs` and the like, or `SSL_CERT_FILE`),
/// as the operating system lists them (some may not suit a given verifier), or why there are
/// none.
pub fn platform_trust_certificates() -> Result<Vec<CertificateDer<'static>>, String> {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        return Err(found
            .errors
            .first()
            .map_or_else(|| "the store is empty".to_owned(), ToString::to_string));
    }
    Ok(found.certs)
}

/// Every `CERTIFICATE` block of a PEM file, in order, each checked to be X.509.
fn read_pem_certificates(origin: &Origin) -> Result<Vec<CertificateDer<'static>>, MaterialError> {
    let bytes = read_material(origin)?;
    let mut certificates = Vec::new();
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(&bytes) {
        let (kind, der) = section.map_err(|e| pem_problem(origin, &e))?;
        if kind == SectionKind::Certificate {
            if X509Certificate::from_der(&der).is_err() {
                return Err(MaterialError::BadCertificate {
                    origin: origin.clone(),
                    index: certificates.len() + 1,
                });
            }
            certificates.push(CertificateDer::from(der));
        } else {
            // Keep no copy of a key section met on the way (a combined key+cert file).
            drop(Zeroizing::new(der));
        }
    }
    Ok(certificates)
}

/// The first private-key block of a PEM file.
fn read_pem_private_key(origin: &Origin) -> Result<PrivateKeyDer<'static>, MaterialError> {
    pem_private_key(origin, &read_material(origin)?)
}

/// The first private-key block of `bytes`, the PEM contents of `origin`.
fn pem_private_key(origin: &Origin, bytes: &[u8]) -> Result<PrivateKeyDer<'static>, MaterialError> {
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes) {
        let (kind, der) = section.map_err(|e| pem_problem(origin, &e))?;
        match kind {
            SectionKind::PrivateKey => return Ok(PrivatePkcs8KeyDer::from(der).into()),
            SectionKind::RsaPrivateKey => return Ok(PrivatePkcs1KeyDer::from(der).into()),
            SectionKind::EcPrivateKey => return Ok(PrivateSec1KeyDer::from(der).into()),
            _ => {}
        }
    }
    // The PEM reader skips labels it does not know, so an encrypted key looks like no key;
    // Tessera's case-insensitive `BEGIN .*PRIVATE KEY` rule would have found it and failed.
    if contains_ignore_ascii_case(bytes, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(MaterialError::EncryptedKey {
            origin: origin.clone(),
        });
    }
    Err(MaterialError::NoPrivateKey {
        origin: origin.clone(),
    })
}

fn contains_ignore_ascii_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle))
}

/// A fixed description of a PEM error: the reader's own errors can quote lines of the file.
fn pem_problem(origin: &Origin, error: &rustls::pki_types::pem::Error) -> MaterialError {
    use rustls::pki_types::pem::Error as E;
    let problem = match error {
        E::MissingSectionEnd { .. } => "a block has no END line",
        E::IllegalSectionStart { .. } => "a BEGIN line is malformed",
        E::Base64Decode(_) => "a block is not valid base64",
        _ => "unreadable PEM",
    };
    MaterialError::BadPem {
        origin: origin.clone(),
        problem,
    }
}

/// A private-key entry read from a keystore.
struct KeyEntry {
    alias: String,
    pkcs8: Zeroizing<Vec<u8>>,
    chain: Vec<CertificateDer<'static>>,
}

/// What a keystore holds.
struct StoreContents {
    keys: Vec<KeyEntry>,
    trusted: Vec<CertificateDer<'static>>,
}

/// The keystore formats, by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreFormat {
    Jks,
    Jceks,
    Pkcs12,
}

fn detect(bytes: &[u8]) -> Option<StoreFormat> {
    match bytes {
        [0xfe, 0xed, 0xfe, 0xed, ..] => Some(StoreFormat::Jks),
        [0xce, 0xce, 0xce, 0xce, ..] => Some(StoreFormat::Jceks),
        // A DER SEQUENCE: PKCS#12's PFX.
        [0x30, ..] => Some(StoreFormat::Pkcs12),
        _ => None,
    }
}

/// Reads a keystore. With `decrypt_keys`, private keys are decrypted (with the store
/// password, Tessera's rule); without, only their certificate chains are read.
fn read_store(
    origin: &Origin,
    bytes: &[u8],
    password: Option<&str>,
    password_member: &str,
    decrypt_keys: bool,
) -> Result<StoreContents, MaterialError> {
    match detect(bytes) {
        Some(StoreFormat::Jks) => read_jks(origin, bytes, password, password_member, decrypt_keys),
        Some(StoreFormat::Pkcs12) => {
            let password = password.ok_or_else(|| MaterialError::NoPassword {
                origin: origin.clone(),
                password_member: password_member.to_owned(),
            })?;
            read_pkcs12(origin, bytes, password, password_member)
        }
        Some(StoreFormat::Jceks) => Err(MaterialError::Jceks {
            origin: origin.clone(),
        }),
        None => Err(MaterialError::NotAKeyStore {
            origin: origin.clone(),
        }),
    }
}

fn read_jks(
    origin: &Origin,
    bytes: &[u8],
    password: Option<&str>,
    password_member: &str,
    decrypt_keys: bool,
) -> Result<StoreContents, MaterialError> {
    if password.is_some_and(|p| !p.is_ascii()) {
        return Err(MaterialError::NonAsciiJksPassword {
            origin: origin.clone(),
        });
    }
    let malformed = |reason: String| MaterialError::MalformedKeyStore {
        origin: origin.clone(),
        reason,
    };
    // The jks decoder indexes without bounds checks in places; a damaged file must be an
    // error naming the member, not a panic at start-up.
    let parsed = catch_unwind(AssertUnwindSafe(|| -> Result<_, MaterialError> {
        let Some(password) = password else {
            let entries = load_jks_unverified(bytes).map_err(|e| malformed(e.to_string()))?;
            return Ok(sorted_contents(
                entries
                    .into_iter()
                    .map(|(alias, entry)| match entry {
                        jks::Entry::PrivateKey(key) => KeyOrTrusted::Key(KeyEntry {
                            alias,
                            pkcs8: Zeroizing::new(Vec::new()),
                            chain: jks_chain(key.certificate_chain),
                        }),
                        jks::Entry::TrustedCertificate(trusted) => {
                            KeyOrTrusted::Trusted(alias, trusted.certificate.content.into())
                        }
                    })
                    .collect(),
            ));
        };
        let options = jks::KeyStoreOptions {
            min_password_len: 0,
            ..jks::KeyStoreOptions::default()
        };
        let mut store = jks::KeyStore::with_options(options);
        store
            .load(bytes, password.as_bytes())
            .map_err(|e| match e {
                jks::KeyStoreError::InvalidDigest => MaterialError::WrongPassword {
                    origin: origin.clone(),
                    password_member: password_member.to_owned(),
                },
                other => malformed(other.to_string()),
            })?;
        let mut items = Vec::new();
        for alias in store.aliases() {
            if store.is_private_key_entry(&alias) {
                let chain = store
                    .get_private_key_entry_certificate_chain(&alias)
                    .map_err(|e| malformed(e.to_string()))?;
                let pkcs8 = if decrypt_keys {
                    let mut entry = store
                        .get_private_key_entry(&alias, password.as_bytes())
                        .map_err(|e| match e {
                            jks::KeyStoreError::InvalidDigest => {
                                MaterialError::KeyPasswordDiffers {
                                    origin: origin.clone(),
                                    alias: alias.clone(),
                                }
                            }
                            other => malformed(other.to_string()),
                        })?;
                    Zeroizing::new(std::mem::take(&mut entry.private_key))
                } else {
                    Zeroizing::new(Vec::new())
                };
                items.push(KeyOrTrusted::Key(KeyEntry {
                    alias,
                    pkcs8,
                    chain: jks_chain(chain),
                }));
            } else if let Ok(trusted) = store.get_trusted_certificate_entry(&alias) {
                items.push(KeyOrTrusted::Trusted(
                    alias,
                    trusted.certificate.content.into(),
                ));
            }
        }
        Ok(sorted_contents(items))
    }));
    parsed.unwrap_or_else(|_| Err(malformed("the file is damaged".to_owned())))
}

/// One entry of a keystore, before sorting.
enum KeyOrTrusted {
    Key(KeyEntry),
    Trusted(String, CertificateDer<'static>),
}

fn jks_chain(chain: Vec<jks::Certificate>) -> Vec<CertificateDer<'static>> {
    chain
        .into_iter()
        .map(|c| CertificateDer::from(c.content))
        .collect()
}

/// Keys and trusted certificates in alias order, so that messages and choices are stable.
fn sorted_contents(mut items: Vec<KeyOrTrusted>) -> StoreContents {
    let alias = |item: &KeyOrTrusted| match item {
        KeyOrTrusted::Key(key) => key.alias.clone(),
        KeyOrTrusted::Trusted(alias, _) => alias.clone(),
    };
    items.sort_by_key(alias);
    let mut contents = StoreContents {
        keys: Vec::new(),
        trusted: Vec::new(),
    };
    for item in items {
        match item {
            KeyOrTrusted::Key(key) => contents.keys.push(key),
            KeyOrTrusted::Trusted(_, certificate) => contents.trusted.push(certificate),
        }
    }
    contents
}

/// Reads a JKS's entries without checking its password digest, as the JDK's
/// `KeyStore.load(in, null)` does for a trust store without a password.
fn load_jks_unverified(bytes: &[u8]) -> jks::Result<Vec<(String, jks::Entry)>> {
    let mut reader = bytes;
    let mut decoder = jks::decoder::Decoder::new(&mut reader);
    if decoder.read_u32()? != jks::common::MAGIC {
        return Err(jks::KeyStoreError::InvalidMagic);
    }
    let version = decoder.read_u32()?;
    let count = decoder.read_u32()?;
    (0..count).map(|_| decoder.read_entry(version)).collect()
}

fn read_pkcs12(
    origin: &Origin,
    bytes: &[u8],
    password: &str,
    password_member: &str,
) -> Result<StoreContents, MaterialError> {
    use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};
    let store = KeyStore::from_pkcs12(bytes, password, Pkcs12ImportPolicy::Strict).map_err(
        |e| match e {
            p12_keystore::error::Error::MacError(_) => MaterialError::WrongPassword {
                origin: origin.clone(),
                password_member: password_member.to_owned(),
            },
            other => MaterialError::MalformedKeyStore {
                origin: origin.clone(),
                reason: other.to_string(),
            },
        },
    )?;
    let mut contents = StoreContents {
        keys: Vec::new(),
        trusted: Vec::new(),
    };
    for (alias, entry) in store.entries() {
        match entry {
            KeyStoreEntry::PrivateKeyChain(chain) => contents.keys.push(KeyEntry {
                alias: alias.clone(),
                pkcs8: Zeroizing::new(chain.key().as_der().to_vec()),
                chain: chain
                    .certs()
                    .iter()
                    .map(|c| CertificateDer::from(c.as_der().to_vec()))
                    .collect(),
            }),
            KeyStoreEntry::Certificate(certificate) => contents
                .trusted
                .push(CertificateDer::from(certificate.as_der().to_vec())),
            _ => {}
        }
    }
    Ok(contents)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn origin(member: &str, path: &Path) -> Origin {
        Origin::new(member, path)
    }

    /// A self-signed certificate and its key, as PEM text.
    fn pem_pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn pem_identity_loads_and_names_members_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pem_pair("a");
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        fs::write(&cert_path, &cert).unwrap();
        fs::write(&key_path, &key).unwrap();
        let key_origin = origin("serverTlsKeyPath", &key_path);
        let cert_origin = origin("serverTlsCertificatePath", &cert_path);
        let identity = load_pem_identity(&key_origin, &cert_origin).unwrap();
        assert_eq!(identity.chain().len(), 1);

        // A key of another certificate.
        let (_, other_key) = pem_pair("b");
        fs::write(&key_path, other_key).unwrap();
        let error = load_pem_identity(&key_origin, &cert_origin).unwrap_err();
        assert!(
            matches!(error, MaterialError::KeyMismatch { .. }),
            "{error}"
        );
        let message = error.to_string();
        assert!(message.starts_with("serverTlsKeyPath ("), "{message}");
        assert!(message.contains("serverTlsCertificatePath"), "{message}");

        // A missing file.
        let error = load_pem_identity(
            &origin("serverTlsKeyPath", &dir.path().join("nope")),
            &cert_origin,
        )
        .unwrap_err();
        assert!(matches!(error, MaterialError::Missing { .. }), "{error}");
        assert!(error.to_string().contains("serverTlsKeyPath"));
    }

    #[test]
    fn a_der_pkcs8_key_loads_next_to_a_pem_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let cert_path = dir.path().join("postgresql.crt");
        let key_path = dir.path().join("postgresql.pk8");
        fs::write(&cert_path, cert.pem()).unwrap();
        fs::write(&key_path, key.serialize_der()).unwrap();
        let key_origin = origin("sslkey", &key_path);
        let cert_origin = origin("sslcert", &cert_path);
        let identity = load_pem_identity_with_der_key(&key_origin, &cert_origin).unwrap();
        assert_eq!(identity.leaf().as_ref(), cert.der().as_ref());
        // PEM keys still load through it.
        fs::write(&key_path, key.serialize_pem()).unwrap();
        load_pem_identity_with_der_key(&key_origin, &cert_origin).unwrap();
        // Bytes that are no key are refused naming the parameter, not quoted.
        fs::write(&key_path, b"\x30\x03\x02\x01\x07secret").unwrap();
        let message = load_pem_identity_with_der_key(&key_origin, &cert_origin)
            .unwrap_err()
            .to_string();
        assert!(message.starts_with("sslkey ("), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }

    #[test]
    fn key_errors_never_quote_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = pem_pair("a");
        let path = dir.path().join("bad.pem");
        let garbage =
            "-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYMATERIAL!!\n-----END PRIVATE KEY-----\n";
        fs::write(&path, garbage).unwrap();
        let cert_path = dir.path().join("cert.pem");
        fs::write(&cert_path, cert).unwrap();
        let error = load_pem_identity(&origin("k", &path), &origin("c", &cert_path)).unwrap_err();
        let message = error.to_string();
        assert!(!message.contains("TOPSECRET"), "{message}");
    }

    #[test]
    fn encrypted_and_absent_keys_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("enc.pem");
        fs::write(
            &path,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
        assert!(matches!(
            read_pem_private_key(&origin("k", &path)),
            Err(MaterialError::EncryptedKey { .. })
        ));
        let (cert, _) = pem_pair("a");
        fs::write(&path, cert).unwrap();
        assert!(matches!(
            read_pem_private_key(&origin("k", &path)),
            Err(MaterialError::NoPrivateKey { .. })
        ));
    }

    #[test]
    fn pkcs1_and_sec1_blocks_are_read_as_a_documented_leniency() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        fs::write(
            &path,
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
        )
        .unwrap();
        assert!(matches!(
            read_pem_private_key(&origin("k", &path)).unwrap(),
            PrivateKeyDer::Sec1(_)
        ));
        fs::write(
            &path,
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        )
        .unwrap();
        assert!(matches!(
            read_pem_private_key(&origin("k", &path)).unwrap(),
            PrivateKeyDer::Pkcs1(_)
        ));
    }

    #[test]
    fn keystore_formats_are_detected_by_their_first_bytes() {
        assert_eq!(
            detect(&[0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2]),
            Some(StoreFormat::Jks)
        );
        assert_eq!(detect(&[0xce, 0xce, 0xce, 0xce]), Some(StoreFormat::Jceks));
        assert_eq!(detect(&[0x30, 0x82]), Some(StoreFormat::Pkcs12));
        assert_eq!(detect(b"-----BEGIN"), None);
    }

    #[test]
    fn a_damaged_jks_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ks.jks");
        // Magic, version 2, one entry, a private-key tag and a truncated alias.
        fs::write(
            &path,
            [
                0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 9, b'a',
            ],
        )
        .unwrap();
        let error = load_keystore_identity(
            &origin("serverKeyStore", &path),
            Some("pw"),
            "serverKeyStorePassword",
        )
        .unwrap_err();
        assert!(
            matches!(error, MaterialError::MalformedKeyStore { .. }),
            "{error}"
        );
        fs::write(&path, b"plain text").unwrap();
        let error = load_keystore_identity(
            &origin("serverKeyStore", &path),
            Some("pw"),
            "serverKeyStorePassword",
        )
        .unwrap_err();
        assert!(
            matches!(error, MaterialError::NotAKeyStore { .. }),
            "{error}"
        );
        let error = load_keystore_identity(
            &origin("serverKeyStore", &path),
            None,
            "serverKeyStorePassword",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "serverKeyStore ({}): no password: set serverKeyStorePassword or its environment variable",
                path.display()
            )
        );
    }
}
