//! How the peer client reaches a peer: plain TCP for `http://`, TLS for `https://` with the
//! P2P client's rustls config (Tessera's `clientTrustMode`, `knownServersFile` and client
//! certificate, built by `cloister-tls`).
//!
//! One [`PeerConnector`] (so one `ClientConfig`, so one TLS session cache) serves the whole
//! process: reconnecting to a peer resumes its session instead of a full handshake, and the
//! TOFU state is shared by every call. A failed handshake is a [`TlsHandshakeError`] naming
//! the peer and the reason; the peer client reports it as such, and nothing retries it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use cloister_tls::TrustError;
use hyper::http::uri::Scheme;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tower::Service;

/// Why a peer's TLS handshake failed, in the words an operator needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// This node's trust mode does not trust the peer's certificate.
    Untrusted,
    /// TOFU (or WHITELIST): the peer's CN is on file with another certificate.
    FingerprintChanged,
    /// The peer's certificate (or one in its chain) expired or is not valid yet.
    Expired,
    /// The peer's certificate does not name the host that was dialled.
    WrongHost,
    /// The peer refused this node (its client certificate, usually) or the exchange broke.
    Refused,
    /// The peer does not speak TLS there, or answered something that is not TLS.
    NotTls,
}

impl std::fmt::Display for HandshakeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Untrusted => "untrusted",
            Self::FingerprintChanged => "fingerprint changed",
            Self::Expired => "expired",
            Self::WrongHost => "wrong host",
            Self::Refused => "refused by the peer",
            Self::NotTls => "not TLS",
        })
    }
}

/// A TLS handshake with a peer failed.
#[derive(Debug, thiserror::Error)]
#[error("TLS handshake with {authority} failed ({kind}): {detail}")]
pub struct TlsHandshakeError {
    /// `host:port` dialled.
    pub authority: String,
    /// The reason, classified.
    pub kind: HandshakeFailure,
    /// What rustls or the trust mode said (certificate CNs and fingerprints, never keys).
    pub detail: String,
}

/// `https://` was asked for and this node has no TLS client (its P2P server is not `tls:
/// STRICT`).
#[derive(Debug, thiserror::Error)]
#[error("{0} is an https:// peer, but the P2P server's sslConfig is not tls: STRICT, so this node has no TLS client configuration")]
pub struct NoTlsClient(pub String);

/// Connects to peers over plain TCP or TLS, by the URL's scheme.
#[derive(Clone)]
pub struct PeerConnector {
    tcp: HttpConnector,
    tls: Option<TlsConnector>,
}

impl PeerConnector {
    /// Over `tcp` (its timeouts and options), with `tls` for `https://` peers.
    pub fn new(mut tcp: HttpConnector, tls: Option<Arc<rustls::ClientConfig>>) -> Self {
        tcp.enforce_http(false);
        Self {
            tcp,
            tls: tls.map(TlsConnector::from),
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Service<Uri> for PeerConnector {
    type Response = PeerStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<PeerStream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.tcp.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let https = uri.scheme() == Some(&Scheme::HTTPS);
        let tls = self.tls.clone();
        let connecting = self.tcp.call(uri.clone());
        Box::pin(async move {
            let tcp = connecting.await?;
            if !https {
                return Ok(PeerStream::Plain(tcp));
            }
            let authority = uri.authority().map(ToString::to_string).unwrap_or_default();
            let tls = tls.ok_or_else(|| NoTlsClient(authority.clone()))?;
            let host = uri.host().unwrap_or_default();
            // `[::1]` in a URL is `::1` to TLS.
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let server_name = ServerName::try_from(host.to_owned())
                .map_err(|_| io::Error::other(format!("{host} is not a valid TLS server name")))?;
            match tls.connect(server_name, tcp.into_inner()).await {
                Ok(stream) => Ok(PeerStream::Tls(Box::new(TokioIo::new(stream)))),
                Err(error) => Err(classify(authority, &error).into()),
            }
        })
    }
}

/// The handshake error as an operator reads it.
fn classify(authority: String, error: &io::Error) -> TlsHandshakeError {
    let (kind, detail) = match TrustError::find_in(error) {
        Some(trust) => (trust_failure(trust), trust.to_string()),
        None => {
            let rustls = error
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>());
            let kind = match rustls {
                Some(rustls::Error::InvalidMessage(_))
                | Some(rustls::Error::InappropriateMessage { .. }) => HandshakeFailure::NotTls,
                Some(rustls::Error::InvalidCertificate(_)) => HandshakeFailure::Untrusted,
                _ => HandshakeFailure::Refused,
            };
            (kind, error.to_string())
        }
    };
    TlsHandshakeError {
        authority,
        kind,
        detail,
    }
}

/// What a trust mode's refusal means to an operator.
fn trust_failure(error: &TrustError) -> HandshakeFailure {
    match error {
        _ if error.is_expiry() => HandshakeFailure::Expired,
        TrustError::ChangedCertificate { .. } => HandshakeFailure::FingerprintChanged,
        TrustError::NotTrustedByAny { tofu, .. } => match tofu.as_ref() {
            TrustError::ChangedCertificate { .. } => HandshakeFailure::FingerprintChanged,
            _ => HandshakeFailure::Untrusted,
        },
        TrustError::Hostname(_) => HandshakeFailure::WrongHost,
        _ => HandshakeFailure::Untrusted,
    }
}

/// A connection to a peer.
pub enum PeerStream {
    /// `http://`.
    Plain(TokioIo<TcpStream>),
    /// `https://` (boxed: a TLS session is over a kilobyte, a plain stream a few words).
    Tls(Box<TokioIo<TlsStream<TcpStream>>>),
}

impl Connection for PeerStream {
    fn connected(&self) -> Connected {
        match self {
            Self::Plain(tcp) => tcp.connected(),
            Self::Tls(_) => Connected::new(),
        }
    }
}

impl Read for PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl Write for PeerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    // Without these two, hyper cannot tell the stream takes vectored writes and copies every
    // body into its own buffer first: a second copy of each pushed payload, per recipient.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
