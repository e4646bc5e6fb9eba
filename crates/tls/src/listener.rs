//! A Cloister front's own certificate (the gateway's and the proxy's TLS listeners): PEM files,
//! no client certificates asked for (clients are authorised by the servers behind the front, as
//! over plain HTTP). Spelt the same in both config files, as `tls`.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::sign::SingleCertAndKey;
use rustls::ServerConfig;
use serde::Deserialize;

use crate::config::{Presenting, TlsConfigError};
use crate::material::{load_pem_identity, Identity, Origin};

/// `tls` in a front's config: its certificate, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListenerTls {
    /// `certificateFile`: the certificate chain, leaf first.
    pub certificate_file: PathBuf,
    /// `keyFile`: its unencrypted private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// The names of [`ListenerTls`]'s members in messages.
pub mod member {
    /// `tls.certificateFile`.
    pub const CERTIFICATE_FILE: &str = "tls.certificateFile";
    /// `tls.keyFile`.
    pub const KEY_FILE: &str = "tls.keyFile";
}

impl ListenerTls {
    /// The rustls config of a listener with this certificate (no ALPN: a client offering h2
    /// and HTTP/1.1 gets HTTP/1.1 either way), with when that certificate expires (what the
    /// fronts export as `cloister_tls_certificate_expiry_timestamp_seconds`): both from one
    /// reading of the files, so the expiry is that of the certificate handshakes present. Read
    /// afresh on each call, so calling it again picks up renewed files.
    pub fn server_config(&self) -> Result<Presenting<ServerConfig>, TlsConfigError> {
        let identity = self.identity()?;
        let config = ServerConfig::builder_with_provider(crate::crypto_provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(identity.certified_key())));
        Ok(Presenting {
            config: Arc::new(config),
            not_after: Some(identity.not_after()),
        })
    }

    /// The certificate and key, read now.
    pub fn identity(&self) -> Result<Identity, TlsConfigError> {
        Ok(load_pem_identity(
            &Origin::new(member::KEY_FILE, &self.key_file),
            &Origin::new(member::CERTIFICATE_FILE, &self.certificate_file),
        )?)
    }
}
