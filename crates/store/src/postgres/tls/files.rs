//! The certificate and key files a PostgreSQL URL names (or the drivers' defaults in
//! `~/.postgresql/`), read once when the store starts through cloister-tls's loaders, so a
//! PEM file means the same to the store as to the node's `sslConfig`. What is PostgreSQL's
//! own stays here: the default files, libpq's rule on key permissions, the refusal of
//! PKCS#12 keys. A file that cannot be used stops the start with a message naming the
//! parameter and the file, never a value from the URL (the URL may hold a password).

use std::fs;
use std::path::{Path, PathBuf};

use cloister_core::config::jdbc::tls::DEFAULT_DIR;
use cloister_core::config::jdbc::{ClientFile, SslMode};
use cloister_tls::material::{self, Identity, MaterialError, Origin};
use cloister_tls::trust::ca::CaRootsError;
use cloister_tls::trust::CaRoots;
use cloister_tls::TlsConfigError;
use rustls::pki_types::CertificateDer;

/// Why the TLS settings of a PostgreSQL URL cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsSetupError {
    /// A certificate or key file cannot be loaded; the message names the parameter
    /// (`sslrootcert`, `sslcert`, `sslkey`) and the file.
    #[error(transparent)]
    Material(#[from] MaterialError),
    /// The key is a PKCS#12 store (pgjdbc reads `.p12`/`.pfx` with `sslpassword`).
    #[error("sslkey ({}): a PKCS#12 file, which Cloister does not read here; export the key and certificate as PEM (`openssl pkcs12 -in FILE -nodes`)", path.display())]
    Pkcs12 {
        /// The file.
        path: PathBuf,
    },
    /// The key file is open to group or others (libpq refuses it too).
    #[error("sslkey ({}): group or others can read it; allow its owner only (chmod 0600), or, owned by root, group read at most (0640), as libpq requires", path.display())]
    KeyPermissions {
        /// The file.
        path: PathBuf,
    },
    /// A check needs trusted CAs and there are none.
    #[error("sslrootcert: sslmode={mode} needs trusted CA certificates, but sslrootcert is not given and {default}")]
    NoRootCerts {
        /// The mode that needs them.
        mode: SslMode,
        /// What happened to the default file.
        default: String,
    },
    /// `sslrootcert=system` and the machine's CA store is empty or unreadable.
    #[error("sslrootcert=system: no trusted CA certificate could be loaded from this machine ({reason})")]
    SystemRoots {
        /// What failed.
        reason: String,
    },
    /// A certificate in `sslrootcert` cannot serve as a trust anchor.
    #[error("sslrootcert ({}): {source}", path.display())]
    BadRoot {
        /// The file.
        path: PathBuf,
        /// Which certificate, and why.
        source: CaRootsError,
    },
    /// rustls refused the configuration (cannot happen with the ring provider's defaults).
    #[error("TLS setup: {0}")]
    Config(#[from] TlsConfigError),
}

/// Where the drivers' default files live: `$HOME/.postgresql`, or nowhere without a home.
pub(super) fn default_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(|home| PathBuf::from(home).join(DEFAULT_DIR))
}

/// The CAs in the PEM file `path` (`sslrootcert`), ready for chain validation.
pub(super) fn root_certs(path: &Path) -> Result<CaRoots, TlsSetupError> {
    let certificates = material::load_trust_certificates(&[Origin::new("sslrootcert", path)])?;
    CaRoots::new(certificates).map_err(|source| TlsSetupError::BadRoot {
        path: path.to_owned(),
        source,
    })
}

/// The machine's trusted CAs (`sslrootcert=system`). Certificates webpki cannot use are
/// skipped (a system bundle holds some), and an empty result is refused.
pub(super) fn system_roots() -> Result<CaRoots, TlsSetupError> {
    let found = material::platform_trust_certificates()
        .map_err(|reason| TlsSetupError::SystemRoots { reason })?;
    let usable: Vec<CertificateDer<'static>> = found
        .into_iter()
        .filter(|certificate| CaRoots::new(vec![certificate.clone()]).is_ok())
        .collect();
    if usable.is_empty() {
        return Err(TlsSetupError::SystemRoots {
            reason: "none of them is a usable trust anchor".to_owned(),
        });
    }
    CaRoots::new(usable).map_err(|e| TlsSetupError::SystemRoots {
        reason: e.to_string(),
    })
}

/// The client identity to offer, if any: named files, or the driver's defaults when the
/// default certificate exists (then its key must too, as libpq requires). The key may be PEM
/// or, as pgjdbc's `postgresql.pk8`, PKCS#8 DER; it must be unencrypted and closed to group
/// and others.
pub(super) fn client_identity(
    cert: &ClientFile,
    key: &ClientFile,
    default_dir: Option<&Path>,
) -> Result<Option<Identity>, TlsSetupError> {
    let cert_path = match cert {
        ClientFile::Off => return Ok(None),
        ClientFile::File(path) => path.clone(),
        ClientFile::Default(name) => match default_dir.map(|dir| dir.join(name)) {
            Some(path) if path.exists() => path,
            _ => return Ok(None),
        },
    };
    let key_path = match key {
        ClientFile::File(path) => path.clone(),
        ClientFile::Default(name) => default_dir
            .map(|dir| dir.join(name))
            .unwrap_or_else(|| PathBuf::from(name)),
        // The URL parser turns the key off only with the certificate; an empty path then
        // fails as a missing sslkey, which is what it is.
        ClientFile::Off => PathBuf::new(),
    };
    let pkcs12 = key_path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("p12") || e.eq_ignore_ascii_case("pfx"));
    if pkcs12 {
        return Err(TlsSetupError::Pkcs12 { path: key_path });
    }
    check_key_permissions(&key_path)?;
    let identity = material::load_pem_identity_with_der_key(
        &Origin::new("sslkey", &key_path),
        &Origin::new("sslcert", &cert_path),
    )?;
    Ok(Some(identity))
}

/// libpq's rule: a key owned by this user must be closed to group and others (0600 at
/// most); one owned by root may be group-readable (0640), for keys the system manages. A
/// file that cannot be examined is left to the loader, which says why.
fn check_key_permissions(path: &Path) -> Result<(), TlsSetupError> {
    use std::os::unix::fs::MetadataExt as _;
    let (Ok(key), Ok(me)) = (fs::metadata(path), fs::metadata("/proc/self")) else {
        return Ok(());
    };
    let mode = key.mode();
    let open = if key.uid() == me.uid() {
        mode & 0o077 != 0
    } else if key.uid() == 0 {
        mode & 0o037 != 0
    } else {
        false
    };
    if open {
        return Err(TlsSetupError::KeyPermissions {
            path: path.to_owned(),
        });
    }
    Ok(())
}
