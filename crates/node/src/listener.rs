//! Serving a router on TCP or on a unix socket: HTTP/1.1 keep-alive, the caller's address
//! passed to handlers, a unix socket created 0600 that replaces a stale file, and the
//! listener's bounds ([`ListenerLimits`]): at most so many connections in all and per caller,
//! and on TCP a deadline for each request head that also closes idle connections. A unix
//! socket gets no such deadline: GoQuorum keeps its `tm.ipc` connections idle indefinitely, and
//! a server closing one under it makes a `/send` fail at random.
//!
//! A TCP server whose `sslConfig` says `tls: STRICT` speaks TLS ([`cloister_net::TlsListener`]):
//! the handshake runs in the connection's task, holding its admission permit, within the
//! `headerTimeoutMs` bound; the client certificate it authenticated reaches handlers as a
//! [`ClientCertificate`] request extension.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use cloister_net::{Admission, ListenerLimits, Permit, ServerStream, Stream, TlsListener};
use cloister_tls::CertificateIdentity;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::pki_types::CertificateDer;
use tokio::sync::watch;
use tower::ServiceExt;

/// The TCP address of the caller, set on every request (`None` over a unix socket).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddress(pub Option<SocketAddr>);

/// The certificate a client authenticated with over TLS (mutual TLS), set on every request of
/// such a connection. Absent on plain connections and when the server has `clientAuth: false`.
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    /// Its identity as Tessera keys it (first subject CN, SHA-1 fingerprint).
    pub identity: CertificateIdentity,
    /// The leaf certificate itself (for its subjectAltNames).
    pub leaf: Arc<CertificateDer<'static>>,
}

pub use cloister_net::{Bound, ListenError};

/// Serves `router` within `limits` until `stop` turns true; over TLS with `tls` when given
/// (TCP only: a unix socket is always plain, as in Tessera; see [`tls_listener`]). Then it
/// accepts nothing more, closes each connection once it is idle (at once, or after the answer
/// it is writing), and returns when they are all closed.
pub async fn serve(
    bound: Bound,
    router: Router,
    limits: ListenerLimits,
    tls: Option<TlsListener>,
    stop: watch::Receiver<bool>,
) {
    let limits = limits.for_bound(&bound);
    let admission = Admission::new(limits.connections);
    cloister_net::serve(
        bound,
        &admission,
        stopped(stop.clone()),
        |stream, address, permit| {
            let (router, tls, stop) = (router.clone(), tls.clone(), stop.clone());
            let connection = async move {
                let stream = match tls {
                    None => ServerStream::Plain(stream),
                    Some(tls) => match handshake(&tls, stream, address).await {
                        Some(stream) => stream,
                        None => return,
                    },
                };
                serve_connection(stream, router, address, limits.header_timeout, stop).await;
            };
            tokio::spawn(hold(permit, connection));
        },
    )
    .await;
    // Each connection holds its place until it ends.
    while admission.open_connections() > 0 {
        tokio::time::sleep(CLOSE_POLL).await;
    }
}

/// How often a stopped listener looks whether its last connections have closed.
const CLOSE_POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// The TLS side of a server on `bound` with `config`: `None` on a unix socket. Its handshakes
/// are bounded by the server's `headerTimeoutMs`.
pub fn tls_listener(
    bound: &Bound,
    limits: ListenerLimits,
    config: Option<Arc<rustls::ServerConfig>>,
) -> Option<TlsListener> {
    match (bound, config) {
        (Bound::Tcp(_), Some(config)) => Some(TlsListener::new(config, limits.header_timeout)),
        _ => None,
    }
}

/// The server side of a TLS handshake; `None` (logged) when it fails, and the connection is
/// then closed. A refusal is logged at `info`: an operator needs to see which client was
/// turned away and why, and the admission bounds keep the volume a client can cause in check.
async fn handshake(
    tls: &TlsListener,
    stream: Stream,
    address: Option<SocketAddr>,
) -> Option<ServerStream> {
    match tls.accept(stream).await {
        Ok(stream) => Some(stream),
        Err(error) => {
            let caller = address.map(|a| a.to_string()).unwrap_or_default();
            match cloister_tls::TrustError::find_in(&error) {
                Some(refusal) => {
                    tracing::info!(%caller, reason = %refusal, "client certificate refused")
                }
                None => tracing::debug!(%caller, %error, "TLS handshake failed"),
            }
            None
        }
    }
}

/// Runs `connection`, holding its listener place until it ends.
async fn hold(permit: Permit, connection: impl Future<Output = ()>) {
    connection.await;
    drop(permit);
}

/// The client certificate of a TLS connection, if it sent one (and the trust mode took it).
fn client_certificate(stream: &ServerStream) -> Option<ClientCertificate> {
    let leaf = stream.peer_certificates()?.first()?.clone();
    match CertificateIdentity::of(&leaf) {
        Ok(identity) => Some(ClientCertificate {
            identity,
            leaf: Arc::new(leaf),
        }),
        // The trust mode read it already; a certificate it accepted and this cannot read
        // is treated as no certificate at all, so no identity rule can be satisfied by it.
        Err(error) => {
            tracing::warn!(%error, "an accepted client certificate cannot be read");
            None
        }
    }
}

async fn serve_connection(
    io: ServerStream,
    router: Router,
    address: Option<SocketAddr>,
    header_timeout: Option<std::time::Duration>,
    stop: watch::Receiver<bool>,
) {
    let certificate = client_certificate(&io);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(PeerAddress(address));
        if let Some(certificate) = &certificate {
            request.extensions_mut().insert(certificate.clone());
        }
        router.clone().oneshot(request.map(axum::body::Body::new))
    });
    // hyper arms the header-read timer whenever the connection waits for a request head, so
    // it also closes a connection left idle that long.
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        () = stopped(stop) => {
            // Closes the connection now if idle, else once the answer in progress is written.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = ended {
        tracing::debug!(%error, "connection ended with an error");
    }
}
