//! TLS for tokio-postgres over rustls: the connector handed to each connection attempt, the
//! stream it produces (with SCRAM channel binding), and a record of how far the attempt got,
//! so the host walker can tell "the server does not offer TLS" from "the handshake failed"
//! from "TCP failed" without reading error text.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use rustls::pki_types::{InvalidDnsNameError, ServerName};
use rustls::ClientConfig;
use sha2::{Digest as _, Sha224, Sha256, Sha384, Sha512};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_postgres::Socket;

use cloister_tls::trust::{ChainError, HostnameError, TrustError};
use x509_parser::prelude::{FromDer as _, X509Certificate};

/// How far one connection attempt got with TLS.
#[derive(Debug, Clone, Default)]
pub(in crate::postgres) enum Progress {
    /// No TCP connection yet.
    #[default]
    NotConnected,
    /// TCP connected; no handshake started (the server has not accepted TLS, or was never
    /// asked).
    Connected,
    /// The server accepted TLS and the handshake is running.
    Started,
    /// The handshake completed: the connection is encrypted.
    Encrypted,
    /// The handshake failed.
    Failed(HandshakeFailure),
}

/// Why a TLS handshake with a PostgreSQL server failed, in words an operator can act on.
#[derive(Debug, Clone, thiserror::Error)]
pub(in crate::postgres) enum HandshakeFailure {
    /// `verify-full`: the certificate does not name the host.
    #[error("the server's certificate does not name {host} (no subjectAltName matches it, nor the Common Name of a certificate without DNS names), and sslmode=verify-full checks the host name")]
    WrongHost {
        /// The host as the URL names it.
        host: String,
    },
    /// The chain does not lead to a CA in `sslrootcert`.
    #[error("the server's certificate is not signed by a CA in sslrootcert")]
    UnknownIssuer,
    /// Outside its validity period.
    #[error("the server's certificate has expired")]
    Expired,
    /// Before its validity period.
    #[error("the server's certificate is not valid yet")]
    NotYetValid,
    /// The server ended the handshake with an alert (typically: our client certificate).
    #[error("the server ended the TLS handshake ({alert}); if it asks for a client certificate, check sslcert and sslkey")]
    Alert {
        /// The alert.
        alert: String,
    },
    /// Anything else.
    #[error("TLS handshake failed: {0}")]
    Other(String),
}

impl HandshakeFailure {
    /// Reads the reason out of the error tokio-rustls returned: a certificate refusal comes
    /// from cloister-tls's verifier as a [`TrustError`], anything else as a rustls error.
    fn from_io(error: &io::Error, host: &str) -> Self {
        if let Some(refusal) = TrustError::find_in(error) {
            return match refusal {
                TrustError::Hostname(
                    HostnameError::NoMatchingIp(_) | HostnameError::NoMatchingName(_),
                ) => Self::WrongHost {
                    host: host.to_owned(),
                },
                TrustError::Chain(ChainError::UnknownIssuer | ChainError::BadSignature) => {
                    Self::UnknownIssuer
                }
                TrustError::Chain(ChainError::Expired) => Self::Expired,
                TrustError::Chain(ChainError::NotYetValid) => Self::NotYetValid,
                other => Self::Other(other.to_string()),
            };
        }
        let Some(tls) = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        else {
            return Self::Other(error.to_string());
        };
        match tls {
            rustls::Error::AlertReceived(alert) => Self::Alert {
                alert: format!("{alert:?}"),
            },
            other => Self::Other(other.to_string()),
        }
    }
}

/// Shared between a connector and the walker that handed it out.
#[derive(Debug, Clone, Default)]
pub(in crate::postgres) struct ProgressCell(Arc<Mutex<Progress>>);

impl ProgressCell {
    pub(in crate::postgres) fn get(&self) -> Progress {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, progress: Progress) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = progress;
    }
}

/// The TLS connector for one connection attempt (tokio-postgres' `MakeTlsConnect`).
#[derive(Clone)]
pub(in crate::postgres) struct AttemptTls {
    /// `None` when TLS is never used (`sslmode=disable`): tokio-postgres then never asks.
    config: Option<Arc<ClientConfig>>,
    progress: ProgressCell,
}

impl AttemptTls {
    pub(super) fn new(config: Option<Arc<ClientConfig>>) -> Self {
        Self {
            config,
            progress: ProgressCell::default(),
        }
    }

    /// How far this attempt got.
    pub(in crate::postgres) fn progress(&self) -> Progress {
        self.progress.get()
    }
}

/// Why a connector could not be made for a host.
#[derive(Debug, thiserror::Error)]
pub(in crate::postgres) enum ConnectorError {
    /// The host is neither a DNS name nor an IP address.
    #[error("{0}")]
    Name(#[from] InvalidDnsNameError),
    /// A handshake was started with `sslmode=disable` (tokio-postgres never does).
    #[error("TLS is disabled for this store")]
    Disabled,
}

impl MakeTlsConnect<Socket> for AttemptTls {
    type Stream = PgTlsStream;
    type TlsConnect = HostTls;
    type Error = ConnectorError;

    /// Called once TCP is connected, with the host as the URL names it: the name checked
    /// against the certificate (an IP host against its IP addresses) and sent as SNI.
    fn make_tls_connect(&mut self, host: &str) -> Result<HostTls, ConnectorError> {
        self.progress.set(Progress::Connected);
        // tokio-postgres asks for a connector whatever the mode; with `sslmode=disable` it
        // never uses it, and the connector refuses if it ever did.
        let target = match &self.config {
            Some(config) => Some((config.clone(), ServerName::try_from(host.to_owned())?)),
            None => None,
        };
        Ok(HostTls {
            target,
            host: host.to_owned(),
            progress: self.progress.clone(),
        })
    }
}

/// The handshake with one host (tokio-postgres' `TlsConnect`).
pub(in crate::postgres) struct HostTls {
    /// The configuration and the name the certificate must carry; `None` with
    /// `sslmode=disable`.
    target: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    /// The host as the URL names it, for messages.
    host: String,
    progress: ProgressCell,
}

type Handshake = Pin<Box<dyn Future<Output = io::Result<PgTlsStream>> + Send>>;

impl TlsConnect<Socket> for HostTls {
    type Stream = PgTlsStream;
    type Error = io::Error;
    type Future = Handshake;

    fn connect(self, socket: Socket) -> Handshake {
        self.progress.set(Progress::Started);
        let Some((config, server_name)) = self.target else {
            let refusal = io::Error::other(ConnectorError::Disabled);
            return Box::pin(async move { Err(refusal) });
        };
        let connector = tokio_rustls::TlsConnector::from(config);
        Box::pin(async move {
            match connector.connect(server_name, socket).await {
                Ok(stream) => {
                    self.progress.set(Progress::Encrypted);
                    Ok(PgTlsStream(stream))
                }
                Err(error) => {
                    self.progress
                        .set(Progress::Failed(HandshakeFailure::from_io(
                            &error, &self.host,
                        )));
                    Err(error)
                }
            }
        })
    }
}

/// An encrypted connection to a PostgreSQL server.
pub(in crate::postgres) struct PgTlsStream(tokio_rustls::client::TlsStream<Socket>);

impl TlsStream for PgTlsStream {
    /// `tls-server-end-point` (RFC 5929), so SCRAM-SHA-256-PLUS binds the login to this TLS
    /// session: a man in the middle that terminates TLS cannot relay the authentication,
    /// which matters most where the certificate itself is not checked (`require`).
    fn channel_binding(&self) -> ChannelBinding {
        let (_, session) = self.0.get_ref();
        session
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|certificate| tls_server_end_point(certificate))
            .map_or_else(ChannelBinding::none, ChannelBinding::tls_server_end_point)
    }
}

/// The certificate's hash with its signature's hash function (SHA-256 for MD5 and SHA-1),
/// as RFC 5929 §4.1 and PostgreSQL's server compute it; `None` for algorithms with no single
/// hash (Ed25519, RSASSA-PSS) or a certificate that cannot be read, where the login proceeds
/// without channel binding.
fn tls_server_end_point(certificate: &[u8]) -> Option<Vec<u8>> {
    use x509_parser::oid_registry as oid;
    let (_, parsed) = X509Certificate::from_der(certificate).ok()?;
    let algorithm = &parsed.signature_algorithm.algorithm;
    let sha256 = [
        oid::OID_PKCS1_MD5WITHRSAENC,
        oid::OID_PKCS1_SHA1WITHRSA,
        oid::OID_PKCS1_SHA256WITHRSA,
        oid::OID_SIG_ECDSA_WITH_SHA256,
    ];
    let hash = if sha256.contains(algorithm) {
        Sha256::digest(certificate).to_vec()
    } else if [oid::OID_PKCS1_SHA224WITHRSA, oid::OID_SIG_ECDSA_WITH_SHA224].contains(algorithm) {
        Sha224::digest(certificate).to_vec()
    } else if [oid::OID_PKCS1_SHA384WITHRSA, oid::OID_SIG_ECDSA_WITH_SHA384].contains(algorithm) {
        Sha384::digest(certificate).to_vec()
    } else if [oid::OID_PKCS1_SHA512WITHRSA, oid::OID_SIG_ECDSA_WITH_SHA512].contains(algorithm) {
        Sha512::digest(certificate).to_vec()
    } else {
        return None;
    };
    Some(hash)
}

impl AsyncRead for PgTlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for PgTlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}
