//! TLS on a listener: the handshake of an accepted connection, bounded in time, and the
//! stream a server reads requests from whether or not it speaks TLS.
//!
//! Kept here, beside the accept loop, because every Cloister server with a TCP listener (the
//! node's apps today, the proxy's and the gateway's listeners next) needs the same promises:
//!
//! - the handshake runs in the connection's own task, never in the accept loop, so one slow
//!   client cannot stall the others;
//! - it runs while the connection holds its [`crate::Permit`], so half-open handshakes count
//!   against `maxConnections` and `maxConnectionsPerIp` like any other connection;
//! - it must finish within the listener's `headerTimeoutMs` (or [`DEFAULT_HEADER_TIMEOUT`]
//!   when that is off: a handshake never needs to idle), so a client that sends half a
//!   ClientHello and waits cannot keep its place.
//!
//! The rustls `ServerConfig` comes from the caller (for the node: `cloister-tls` from the
//! server's `sslConfig`); nothing here decides trust.

use std::io;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::admission::DEFAULT_HEADER_TIMEOUT;
use crate::listen::Stream;

/// Why a TLS handshake on an accepted connection failed. The connection is closed; the
/// listener goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The client did not finish its handshake in time.
    #[error("no complete TLS handshake within {0:?}")]
    Timeout(Duration),
    /// The handshake failed: not TLS at all (a plaintext client), a malformed message, a
    /// certificate the trust mode refused, or the client went away.
    #[error("TLS handshake failed: {0}")]
    Failed(#[source] io::Error),
}

/// A listener's TLS side: its rustls config and how long a handshake may take. Clones share
/// the config, so one kept aside can [`TlsListener::replace`] it (certificate rotation).
#[derive(Clone)]
pub struct TlsListener {
    acceptor: Arc<RwLock<TlsAcceptor>>,
    handshake_timeout: Duration,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl TlsListener {
    /// Handshakes with `config`, each bounded by `header_timeout` (the listener's
    /// `headerTimeoutMs`), or by [`DEFAULT_HEADER_TIMEOUT`] when the listener has none.
    pub fn new(config: Arc<rustls::ServerConfig>, header_timeout: Option<Duration>) -> Self {
        Self {
            acceptor: Arc::new(RwLock::new(TlsAcceptor::from(config))),
            handshake_timeout: header_timeout.unwrap_or(DEFAULT_HEADER_TIMEOUT),
        }
    }

    /// Handshakes from now on use `config` (new certificates, keys or trust); connections
    /// already established keep the session they have.
    pub fn replace(&self, config: Arc<rustls::ServerConfig>) {
        *self
            .acceptor
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = TlsAcceptor::from(config);
    }

    /// How long a handshake may take.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// Runs the server side of the handshake on `stream`.
    pub async fn accept(&self, stream: Stream) -> Result<ServerStream, HandshakeError> {
        // The acceptor is an `Arc` inside: cloned out, so no lock is held across the handshake.
        let acceptor = self
            .acceptor
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match tokio::time::timeout(self.handshake_timeout, acceptor.accept(stream)).await {
            Err(_) => Err(HandshakeError::Timeout(self.handshake_timeout)),
            Ok(Err(error)) => Err(HandshakeError::Failed(error)),
            Ok(Ok(tls)) => Ok(ServerStream::Tls(Box::new(tls))),
        }
    }
}

/// An accepted connection as a server reads it: plain, or after a TLS handshake.
pub enum ServerStream {
    /// No TLS (unix sockets, `tls: OFF`).
    Plain(Stream),
    /// TLS, handshake done.
    Tls(Box<TlsStream<Stream>>),
}

impl ServerStream {
    /// The TLS session, if this connection has one (for the peer's certificates, the
    /// negotiated protocol and so on).
    pub fn tls(&self) -> Option<&rustls::ServerConnection> {
        match self {
            Self::Plain(_) => None,
            Self::Tls(tls) => Some(tls.get_ref().1),
        }
    }

    /// The client's certificate chain (leaf first), when it sent one over TLS.
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.tls().and_then(|tls| tls.peer_certificates())
    }
}

crate::either_io::delegate_async_io!(ServerStream: Plain, Tls);
