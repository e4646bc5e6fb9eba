//! The TLS half of a PostgreSQL URL: `sslmode`, `ssl`, `sslrootcert`, `sslcert`, `sslkey` and
//! `sslfactory`, read with the meaning the URL's own driver documents: pgjdbc's for
//! `jdbc:postgresql:` URLs, libpq's for `postgresql://` URLs. The two differ in three places,
//! each kept here so that a URL copied from a Tessera (pgjdbc) or a psql (libpq) setup keeps
//! the protection it had there:
//!
//! - `sslmode=require` checks nothing in pgjdbc (`LibPQFactory` installs a non-validating
//!   trust manager unless the mode is `verify-*`); in libpq it checks the chain like
//!   `verify-ca` when a root certificate file exists (libpq's "for backwards compatibility").
//! - An empty `sslcert=` means "send no client certificate" in pgjdbc; libpq treats an empty
//!   value as not given.
//! - The default client key file is `~/.postgresql/postgresql.pk8` for pgjdbc and
//!   `~/.postgresql/postgresql.key` for libpq.
//!
//! Nothing here touches the disk: files are named, and the store reads them when it starts.
//! Parameters that ask for a check Cloister cannot make (revocation lists, Java classes,
//! encrypted keys) are refused, never ignored: ignoring one would weaken the connection
//! without saying so.

use std::fmt;
use std::path::PathBuf;

use super::{JdbcUrlError, Syntax};

/// The directory under the home directory where both drivers look for their default files.
pub const DEFAULT_DIR: &str = ".postgresql";
/// The default trusted-CA file in [`DEFAULT_DIR`] (`sslrootcert` not given).
pub const DEFAULT_ROOT_CERT: &str = "root.crt";
/// The default client certificate in [`DEFAULT_DIR`] (`sslcert` not given).
pub const DEFAULT_CLIENT_CERT: &str = "postgresql.crt";
/// libpq's default client key in [`DEFAULT_DIR`] (`sslkey` not given).
pub const LIBPQ_DEFAULT_CLIENT_KEY: &str = "postgresql.key";
/// pgjdbc's default client key in [`DEFAULT_DIR`] (`sslkey` not given): PKCS#8.
pub const PGJDBC_DEFAULT_CLIENT_KEY: &str = "postgresql.pk8";

/// pgjdbc's default socket factory, under its current and its pre-42.2 class names.
const LIBPQ_FACTORIES: [&str; 2] = [
    "org.postgresql.ssl.LibPQFactory",
    "org.postgresql.ssl.jdbc4.LibPQFactory",
];
/// pgjdbc's factory that trusts every server certificate.
const NON_VALIDATING_FACTORY: &str = "org.postgresql.ssl.NonValidatingFactory";

/// `sslmode`: whether a connection uses TLS. What it checks of the server's certificate is
/// [`ServerCheck`], which also depends on the driver and `sslfactory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SslMode {
    /// Plain text only.
    Disable,
    /// Plain text first; TLS if the server refuses a plain connection.
    Allow,
    /// TLS first; plain text if the server does not offer TLS or the handshake fails. Both
    /// drivers' default.
    #[default]
    Prefer,
    /// TLS only.
    Require,
    /// TLS only, with the server's certificate chained to a trusted CA.
    VerifyCa,
    /// TLS only, with the chain checked and the host name matched against the certificate.
    VerifyFull,
}

impl SslMode {
    /// Every mode, in order of strength.
    pub const ALL: [Self; 6] = [
        Self::Disable,
        Self::Allow,
        Self::Prefer,
        Self::Require,
        Self::VerifyCa,
        Self::VerifyFull,
    ];

    /// The spelling both drivers use.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Allow => "allow",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    /// Whether a connection that is not TLS is refused.
    pub const fn requires_tls(self) -> bool {
        matches!(self, Self::Require | Self::VerifyCa | Self::VerifyFull)
    }

    /// Reads a spelling, ignoring ASCII case as pgjdbc does (`equalsIgnoreCase`).
    fn parse(value: &str) -> Result<Self, JdbcUrlError> {
        Self::ALL
            .into_iter()
            .find(|mode| value.eq_ignore_ascii_case(mode.as_str()))
            .ok_or(JdbcUrlError::InvalidParam {
                param: "sslmode",
                expected: "disable, allow, prefer, require, verify-ca or verify-full",
            })
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is checked of the server's certificate once TLS is up. The handshake always proves
/// that the server holds the key of the certificate it shows; these say whose certificate
/// is acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerCheck {
    /// Any certificate (`allow`, `prefer`, pgjdbc's `require`, and pgjdbc's `verify-ca` with
    /// `NonValidatingFactory`): protects against eavesdropping, not against a man in the
    /// middle.
    Nothing,
    /// libpq's `require`: the chain, as `verify-ca`, when the root certificate file exists
    /// (the default `~/.postgresql/root.crt`); nothing when it does not.
    ChainIfRootFileExists,
    /// The chain up to a trusted CA (`verify-ca`).
    Chain,
    /// The chain and the host name (`verify-full`): a DNS host against the certificate's DNS
    /// names, an IP host against its IP addresses.
    ChainAndHostName,
    /// The host name but not the chain: pgjdbc's `verify-full` with `NonValidatingFactory`
    /// (the factory trusts any certificate, and `MakeSSL` still checks the name).
    HostNameOnly,
}

/// Where the trusted CA certificates come from (`sslrootcert`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RootCerts {
    /// Not given: both drivers' default file, `~/.postgresql/root.crt`.
    DefaultFile,
    /// A PEM (or, as pgjdbc reads it, DER) file of one or more CA certificates.
    File(PathBuf),
    /// `sslrootcert=system`: the machine's trusted CAs (libpq 16). Only with `verify-full`:
    /// anyone can get a publicly trusted certificate for a name they own, so a weaker check
    /// would prove nothing (libpq refuses it too).
    System,
}

/// A client certificate or key file (`sslcert`, `sslkey`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientFile {
    /// Not given: the driver's default file in `~/.postgresql/`, used only if it exists (a
    /// client certificate is optional unless the server asks for one).
    Default(&'static str),
    /// Given.
    File(PathBuf),
    /// Given empty in a JDBC URL: none (pgjdbc's way to send no client certificate).
    Off,
}

/// How a PostgreSQL connection uses TLS: [`SslMode`], what is checked of the server's
/// certificate, and the files involved.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PostgresTls {
    /// When to use TLS.
    pub mode: SslMode,
    /// What to check of the server's certificate.
    pub server_check: ServerCheck,
    /// The trusted CA certificates, when a check needs them.
    pub root_certs: RootCerts,
    /// The client certificate (chain) to send if the server asks for one.
    pub client_cert: ClientFile,
    /// The client certificate's private key.
    pub client_key: ClientFile,
}

impl Default for PostgresTls {
    /// What a URL without any TLS parameter means to both drivers: `prefer`, checking
    /// nothing, with libpq's default file names.
    fn default() -> Self {
        Self {
            mode: SslMode::Prefer,
            server_check: ServerCheck::Nothing,
            root_certs: RootCerts::DefaultFile,
            client_cert: ClientFile::Default(DEFAULT_CLIENT_CERT),
            client_key: ClientFile::Default(LIBPQ_DEFAULT_CLIENT_KEY),
        }
    }
}

impl PostgresTls {
    /// `verify-full` against the CA certificates in `root_certs`, with no client certificate:
    /// the strictest setting, for callers that build options by hand.
    pub fn verify_full(root_certs: impl Into<PathBuf>) -> Self {
        Self {
            mode: SslMode::VerifyFull,
            server_check: ServerCheck::ChainAndHostName,
            root_certs: RootCerts::File(root_certs.into()),
            client_cert: ClientFile::Off,
            client_key: ClientFile::Off,
        }
    }

    /// Plain text only.
    pub fn disabled() -> Self {
        Self {
            mode: SslMode::Disable,
            client_cert: ClientFile::Off,
            client_key: ClientFile::Off,
            ..Self::default()
        }
    }
}

/// The TLS parameters of one URL as written, collected first and read together at the end:
/// `ssl`, `sslrootcert` and `sslfactory` change what `sslmode` (or its absence) means, in
/// whatever order the URL lists them.
#[derive(Default)]
pub(super) struct TlsParams {
    sslmode: Option<String>,
    ssl: Option<String>,
    sslrootcert: Option<String>,
    sslcert: Option<String>,
    sslkey: Option<String>,
    sslfactory: Option<String>,
}

impl TlsParams {
    /// Takes `key=value` if `key` is a TLS parameter (`Ok(true)`); refuses the TLS parameters
    /// Cloister cannot honour.
    pub(super) fn take(&mut self, key: &str, value: &str) -> Result<bool, JdbcUrlError> {
        let slot = match key {
            "sslmode" => &mut self.sslmode,
            "ssl" => &mut self.ssl,
            "sslrootcert" => &mut self.sslrootcert,
            "sslcert" => &mut self.sslcert,
            "sslkey" => &mut self.sslkey,
            "sslfactory" => &mut self.sslfactory,
            "sslpassword" => return Err(unsupported("sslpassword", ENCRYPTED_KEYS)),
            "sslcrl" => return Err(unsupported("sslcrl", REVOCATION)),
            "sslcrldir" => return Err(unsupported("sslcrldir", REVOCATION)),
            "sslhostnameverifier" => return Err(unsupported("sslhostnameverifier", JAVA_CLASS)),
            "sslpasswordcallback" => return Err(unsupported("sslpasswordcallback", JAVA_CLASS)),
            "sslfactoryarg" => return Err(unsupported("sslfactoryarg", JAVA_CLASS)),
            _ => return Ok(false),
        };
        *slot = Some(value.to_owned());
        Ok(true)
    }

    /// What the parameters mean together, for a URL of `syntax`.
    pub(super) fn resolve(self, syntax: Syntax) -> Result<PostgresTls, JdbcUrlError> {
        let pgjdbc = syntax == Syntax::Jdbc;
        // pgjdbc: `ssl` alone (or `ssl=true`) means verify-full; `ssl=false` leaves the
        // default, prefer (`SslMode.of`). Checked even when `sslmode` wins, so a typo is seen.
        let ssl = self.ssl.as_deref().map(ssl_flag).transpose()?;
        let root_certs = match self.sslrootcert.as_deref() {
            None | Some("") => RootCerts::DefaultFile,
            Some("system") => RootCerts::System,
            Some(path) => RootCerts::File(PathBuf::from(path)),
        };
        let mode = match (self.sslmode.as_deref(), ssl) {
            (Some(mode), _) => SslMode::parse(mode)?,
            (None, Some(true)) => SslMode::VerifyFull,
            // libpq 16: the system's CAs make verify-full the default.
            (None, _) if root_certs == RootCerts::System => SslMode::VerifyFull,
            (None, _) => SslMode::Prefer,
        };
        if root_certs == RootCerts::System && mode != SslMode::VerifyFull {
            return Err(JdbcUrlError::SystemRootsNeedVerifyFull);
        }
        let validating = match self.sslfactory.as_deref() {
            None | Some("") => true,
            Some(factory) if LIBPQ_FACTORIES.contains(&factory) => true,
            Some(NON_VALIDATING_FACTORY) => false,
            Some(_) => return Err(unsupported("sslfactory", FACTORIES)),
        };
        let server_check = match mode {
            SslMode::Disable | SslMode::Allow | SslMode::Prefer => ServerCheck::Nothing,
            SslMode::Require if pgjdbc || !validating => ServerCheck::Nothing,
            // libpq: an explicitly named root file always exists (or start fails), so
            // require is verify-ca; the default file decides when the store starts.
            SslMode::Require => match root_certs {
                RootCerts::DefaultFile => ServerCheck::ChainIfRootFileExists,
                RootCerts::File(_) | RootCerts::System => ServerCheck::Chain,
            },
            SslMode::VerifyCa if validating => ServerCheck::Chain,
            SslMode::VerifyCa => ServerCheck::Nothing,
            SslMode::VerifyFull if validating => ServerCheck::ChainAndHostName,
            SslMode::VerifyFull => ServerCheck::HostNameOnly,
        };
        // pgjdbc's NonValidatingFactory has no key manager: it never sends the default
        // client certificate.
        let default_file = |name| {
            if validating {
                ClientFile::Default(name)
            } else {
                ClientFile::Off
            }
        };
        let client_file = |given: Option<String>, default: &'static str| match given {
            None => default_file(default),
            Some(path) if path.is_empty() => {
                if pgjdbc {
                    ClientFile::Off
                } else {
                    default_file(default)
                }
            }
            Some(path) => ClientFile::File(PathBuf::from(path)),
        };
        let default_key = if pgjdbc {
            PGJDBC_DEFAULT_CLIENT_KEY
        } else {
            LIBPQ_DEFAULT_CLIENT_KEY
        };
        let client_cert = client_file(self.sslcert, DEFAULT_CLIENT_CERT);
        // pgjdbc: an empty sslcert disables the client certificate, key and all.
        let client_key = if client_cert == ClientFile::Off {
            ClientFile::Off
        } else {
            client_file(self.sslkey, default_key)
        };
        Ok(PostgresTls {
            mode,
            server_check,
            root_certs,
            client_cert,
            client_key,
        })
    }
}

const ENCRYPTED_KEYS: &str = "Cloister reads only unencrypted client keys; decrypt the key (e.g. `openssl pkey -in key.pem -out plain.pem`, mode 0600) and drop sslpassword";
const REVOCATION: &str = "Cloister does not check certificate revocation lists, and ignoring the list would accept revoked certificates";
const JAVA_CLASS: &str = "it names a Java class, which Cloister cannot load";
const FACTORIES: &str = "Cloister implements org.postgresql.ssl.LibPQFactory (the default) and org.postgresql.ssl.NonValidatingFactory; for the machine's trusted CAs use sslrootcert=system";

fn unsupported(param: &'static str, why: &'static str) -> JdbcUrlError {
    JdbcUrlError::UnsupportedTlsParam { param, why }
}

/// pgjdbc's `ssl`: present without a value, `true` or `false`.
fn ssl_flag(value: &str) -> Result<bool, JdbcUrlError> {
    match value.to_ascii_lowercase().as_str() {
        "" | "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(JdbcUrlError::InvalidParam {
            param: "ssl",
            expected: "true or false",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{PostgresTarget, StoreTarget};
    use super::*;

    fn tls(url: &str) -> PostgresTls {
        match StoreTarget::parse(url, None, None).unwrap() {
            StoreTarget::Postgres(PostgresTarget { tls, .. }) => tls,
            other => panic!("postgres expected, got {other:?}"),
        }
    }

    fn refusal(url: &str) -> String {
        StoreTarget::parse(url, None, None).unwrap_err().to_string()
    }

    #[test]
    fn no_parameter_means_prefer_checking_nothing_in_both_drivers() {
        assert_eq!(tls("postgresql://h/db"), PostgresTls::default());
        let jdbc = tls("jdbc:postgresql://h/db");
        assert_eq!(jdbc.mode, SslMode::Prefer);
        assert_eq!(jdbc.server_check, ServerCheck::Nothing);
        assert_eq!(jdbc.client_key, ClientFile::Default("postgresql.pk8"));
        // pgjdbc's SslMode.of: ssl=false leaves the default.
        assert_eq!(
            tls("jdbc:postgresql://h/db?ssl=false").mode,
            SslMode::Prefer
        );
    }

    #[test]
    fn ssl_true_means_verify_full_as_in_pgjdbc() {
        for url in [
            "jdbc:postgresql://h/db?ssl=true",
            "jdbc:postgresql://h/db?ssl",
            "jdbc:postgresql://h/db?ssl=TRUE&sslrootcert=/etc/pg/ca.crt",
        ] {
            let tls = tls(url);
            assert_eq!(tls.mode, SslMode::VerifyFull, "{url}");
            assert_eq!(tls.server_check, ServerCheck::ChainAndHostName, "{url}");
        }
        // sslmode wins over ssl.
        assert_eq!(
            tls("jdbc:postgresql://h/db?ssl=true&sslmode=require").mode,
            SslMode::Require
        );
        assert_eq!(
            refusal("jdbc:postgresql://h/db?ssl=yes&sslmode=require"),
            "ssl must be true or false"
        );
    }

    #[test]
    fn require_checks_nothing_in_pgjdbc_and_the_chain_with_a_root_file_in_libpq() {
        let jdbc = tls("jdbc:postgresql://h/db?sslmode=require&sslrootcert=/ca.crt");
        assert_eq!(jdbc.server_check, ServerCheck::Nothing);
        let named = tls("postgresql://h/db?sslmode=require&sslrootcert=/ca.crt");
        assert_eq!(named.server_check, ServerCheck::Chain);
        assert_eq!(named.root_certs, RootCerts::File("/ca.crt".into()));
        let default = tls("postgresql://h/db?sslmode=require");
        assert_eq!(default.server_check, ServerCheck::ChainIfRootFileExists);
        assert_eq!(default.root_certs, RootCerts::DefaultFile);
    }

    #[test]
    fn every_mode_in_both_syntaxes() {
        let cases = [
            ("disable", ServerCheck::Nothing, ServerCheck::Nothing),
            ("allow", ServerCheck::Nothing, ServerCheck::Nothing),
            ("prefer", ServerCheck::Nothing, ServerCheck::Nothing),
            ("verify-ca", ServerCheck::Chain, ServerCheck::Chain),
            (
                "Verify-Full",
                ServerCheck::ChainAndHostName,
                ServerCheck::ChainAndHostName,
            ),
        ];
        for (mode, jdbc, native) in cases {
            let url = format!("jdbc:postgresql://h/db?sslmode={mode}");
            assert_eq!(tls(&url).server_check, jdbc, "{url}");
            assert_eq!(tls(&url).mode.as_str(), mode.to_ascii_lowercase());
            let url = format!("postgresql://h/db?sslmode={mode}");
            assert_eq!(tls(&url).server_check, native, "{url}");
        }
        assert_eq!(
            refusal("postgresql://h/db?sslmode=strict"),
            "sslmode must be disable, allow, prefer, require, verify-ca or verify-full"
        );
    }

    #[test]
    fn non_validating_factory_skips_the_chain_but_verify_full_still_checks_the_name() {
        let base = "jdbc:postgresql://h/db?sslfactory=org.postgresql.ssl.NonValidatingFactory";
        assert_eq!(tls(base).server_check, ServerCheck::Nothing);
        assert_eq!(tls(base).client_cert, ClientFile::Off);
        let full = tls(&format!("{base}&ssl=true"));
        assert_eq!(full.server_check, ServerCheck::HostNameOnly);
        let ca = tls(&format!("{base}&sslmode=verify-ca"));
        assert_eq!(ca.server_check, ServerCheck::Nothing);
        let libpq = tls(
            "jdbc:postgresql://h/db?sslmode=verify-ca&sslfactory=org.postgresql.ssl.LibPQFactory",
        );
        assert_eq!(libpq.server_check, ServerCheck::Chain);
        assert!(refusal(
            "jdbc:postgresql://h/db?sslfactory=org.postgresql.ssl.DefaultJavaSSLFactory"
        )
        .starts_with("sslfactory is not supported: Cloister implements"));
    }

    #[test]
    fn system_roots_force_verify_full() {
        let system = tls("postgresql://h/db?sslrootcert=system");
        assert_eq!(system.mode, SslMode::VerifyFull);
        assert_eq!(system.root_certs, RootCerts::System);
        assert_eq!(
            refusal("postgresql://h/db?sslrootcert=system&sslmode=verify-ca"),
            "sslrootcert=system needs sslmode=verify-full: anyone can obtain a certificate from a public CA for a name they own, so a weaker mode would prove nothing (libpq refuses it too)"
        );
    }

    #[test]
    fn client_files_and_their_defaults() {
        let given = tls("postgresql://h/db?sslmode=require&sslcert=/c.pem&sslkey=/k.pem");
        assert_eq!(given.client_cert, ClientFile::File("/c.pem".into()));
        assert_eq!(given.client_key, ClientFile::File("/k.pem".into()));
        let jdbc = tls("jdbc:postgresql://h/db?sslcert=/c.pem");
        assert_eq!(jdbc.client_key, ClientFile::Default("postgresql.pk8"));
        let libpq = tls("postgresql://h/db?sslkey=/k.pem");
        assert_eq!(libpq.client_cert, ClientFile::Default("postgresql.crt"));
        // Empty: pgjdbc sends no client certificate; libpq uses its default.
        let off = tls("jdbc:postgresql://h/db?sslcert=&sslkey=/k.pem");
        assert_eq!(
            (off.client_cert, off.client_key),
            (ClientFile::Off, ClientFile::Off)
        );
        assert_eq!(
            tls("postgresql://h/db?sslcert=").client_cert,
            ClientFile::Default("postgresql.crt")
        );
        // Taken out of the untyped parameters.
        let StoreTarget::Postgres(target) = StoreTarget::parse(
            "jdbc:postgresql://h/db?sslmode=require&sslcert=/c",
            None,
            None,
        )
        .unwrap() else {
            panic!("postgres expected")
        };
        assert!(
            target.params.keys().all(|k| !k.starts_with("ssl")),
            "{:?}",
            target.params
        );
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_without_echoing_the_value() {
        let password = refusal("jdbc:postgresql://h/db?sslmode=require&sslpassword=hunter2");
        assert!(
            password.starts_with(
                "sslpassword is not supported: Cloister reads only unencrypted client keys"
            ),
            "{password}"
        );
        assert!(!password.contains("hunter2"));
        for (param, why) in [
            ("sslcrl", "revocation lists"),
            ("sslcrldir", "revocation lists"),
            ("sslhostnameverifier", "Java class"),
            ("sslpasswordcallback", "Java class"),
            ("sslfactoryarg", "Java class"),
        ] {
            let message = refusal(&format!("postgresql://h/db?{param}=x"));
            assert!(
                message.starts_with(&format!("{param} is not supported: "))
                    && message.contains(why),
                "{message}"
            );
        }
    }
}
