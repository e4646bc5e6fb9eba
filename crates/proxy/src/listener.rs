//! Listening within bounds a hostile or broken client cannot stretch: at most so many
//! connections per listener and per caller (`connections`), and on TCP a deadline for each
//! request head that also closes idle keep-alive connections. A unix socket gets no such
//! deadline: GoQuorum keeps its `tm.ipc` connections idle forever, and a server closing idle
//! ones makes `/send` fail at random (goquorum-client.md §1.2); the socket is created 0600, so
//! only its owner can connect, and it replaces a stale socket file but never a live one.
//!
//! Sockets are opened by `cloister-net`, as `cloister node`'s are; each connection is served
//! by one task reading requests with [`crate::http1`] and answering them in order, after a TLS
//! handshake on a listener with a certificate (bounded by the header timeout, holding the
//! connection's place), or relayed unread on a passthrough listener ([`crate::passthrough`]).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cloister_net::{Admission, ListenerLimits, ServerStream, TlsListener};
use tokio::net::{TcpListener, UnixListener};

use crate::admin::Admin;
use crate::error::ProxyError;
use crate::forward::{self, Caller, Listener};
use crate::http1::{Answer, Connection, Persistence, ReadError};
use crate::passthrough::Relay;
use crate::upstream::Links;

pub(crate) use cloister_net::Bound;

/// A bound listener as the OS knows it, to be shared by several event loops (each worker
/// accepts from the same socket, as nginx's worker processes do).
pub(crate) enum SharedListener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener, PathBuf),
}

impl SharedListener {
    /// The OS socket of `bound`, leaving the runtime it was bound on.
    pub(crate) fn of(bound: Bound) -> std::io::Result<Self> {
        Ok(match bound {
            Bound::Tcp(listener) => Self::Tcp(listener.into_std()?),
            Bound::Unix(listener, path) => Self::Unix(listener.into_std()?, path),
        })
    }

    /// Another handle on the same socket.
    pub(crate) fn try_clone(&self) -> std::io::Result<Self> {
        Ok(match self {
            Self::Tcp(listener) => Self::Tcp(listener.try_clone()?),
            Self::Unix(listener, path) => Self::Unix(listener.try_clone()?, path.clone()),
        })
    }

    /// This handle, registered with the current runtime.
    pub(crate) fn into_bound(self) -> std::io::Result<Bound> {
        Ok(match self {
            Self::Tcp(listener) => Bound::Tcp(TcpListener::from_std(listener)?),
            Self::Unix(listener, path) => Bound::Unix(UnixListener::from_std(listener)?, path),
        })
    }
}

/// What a listener does with the requests it reads.
#[derive(Clone)]
pub(crate) enum Service {
    /// Forwards them to the listener's upstreams.
    Forward(Arc<Listener>),
    /// Answers `/metrics` and `/status`.
    Admin(Arc<Admin>),
}

/// What a listener does with its connections.
#[derive(Clone)]
pub(crate) enum Handling {
    /// Reads requests from them and has `Service` answer each.
    Requests(Service),
    /// Relays them unread (`mode: passthrough`).
    Relay(Arc<Relay>),
}

impl Service {
    fn max_body_bytes(&self) -> usize {
        match self {
            Self::Forward(listener) => listener.max_body_bytes,
            Self::Admin(_) => crate::admin::MAX_BODY_BYTES,
        }
    }

    fn trusted_proxies(&self) -> &[IpAddr] {
        match self {
            Self::Forward(listener) => &listener.trusted_proxies,
            Self::Admin(_) => &[],
        }
    }
}

/// What one listener's connections may cost, whichever worker accepted them.
#[derive(Clone)]
pub(crate) struct Bounds {
    /// One per listener, shared by every worker accepting from it, so the caps hold for the
    /// listener as a whole.
    admission: Admission,
    /// See [`ListenerLimits::header_timeout`]; `None` on a unix socket.
    header_timeout: Option<Duration>,
    /// The listener's TLS side, when it has a certificate.
    tls: Option<TlsListener>,
}

impl Bounds {
    /// The bounds of `bound` under `limits`.
    pub(crate) fn of(bound: &Bound, limits: ListenerLimits) -> Self {
        let limits = limits.for_bound(bound);
        Self {
            admission: Admission::new(limits.connections),
            header_timeout: limits.header_timeout,
            tls: None,
        }
    }

    /// These bounds, with handshakes by `tls` first.
    pub(crate) fn with_tls(self, tls: Option<TlsListener>) -> Self {
        Self { tls, ..self }
    }

    /// The header timeout, which also bounds a TLS handshake.
    pub(crate) fn header_timeout(&self) -> Option<Duration> {
        self.header_timeout
    }
}

/// Handles connections on `bound` as `handling` says, within `bounds`, until `shutdown`
/// completes; removes the socket file then.
pub(crate) async fn serve(
    bound: Bound,
    handling: Handling,
    bounds: Bounds,
    shutdown: impl Future<Output = ()>,
) {
    let (header_timeout, tls) = (bounds.header_timeout, bounds.tls);
    cloister_net::serve(
        bound,
        &bounds.admission,
        shutdown,
        |stream, address, permit| {
            let (handling, tls) = (handling.clone(), tls.clone());
            // The handshake runs here, holding the connection's place, never in the accept loop.
            tokio::spawn(async move {
                match (handling, tls) {
                    (Handling::Relay(relay), _) => relay.relay(stream).await,
                    (Handling::Requests(service), None) => {
                        let stream = ServerStream::Plain(stream);
                        serve_connection(stream, service, address, header_timeout).await;
                    }
                    (Handling::Requests(service), Some(tls)) => match tls.accept(stream).await {
                        Ok(stream) => {
                            serve_connection(stream, service, address, header_timeout).await;
                        }
                        Err(error) => tracing::debug!(%error, "client TLS handshake failed"),
                    },
                }
                drop(permit);
            });
        },
    )
    .await;
}

/// Answers one client connection's requests in order until it closes, asks to, breaks, or
/// leaves a request head unfinished for `header_timeout` after going idle.
async fn serve_connection(
    io: ServerStream,
    service: Service,
    peer: Option<SocketAddr>,
    header_timeout: Option<Duration>,
) {
    let mut client = Connection::new(io);
    // This client connection's own links to the upstreams, dropped (closed) with it.
    let mut links = Links::new();
    let caller = Caller::new(peer, service.trusted_proxies());
    loop {
        // The connection is idle from here until a whole head is in: one timer covers both
        // the slow head and the idle keep-alive. It enters the runtime's timer wheel only if
        // the head must be waited for (not for a pipelined one), and costs no allocation and
        // no system call either way.
        let read = client.read_request_head();
        let read = match header_timeout {
            Some(limit) => tokio::time::timeout(limit, read).await.map_err(|_| limit),
            None => Ok(read.await),
        };
        let head = match read {
            Ok(Ok(Some(head))) => head,
            Ok(Ok(None)) => return,
            Ok(Err(ReadError::Head(error))) => {
                let refusal = forward::refuse(&ProxyError::BadHead(error));
                let _ = client.write_answer(&refusal, Persistence::Close).await;
                return;
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, "client connection ended in a request head");
                return;
            }
            Err(limit) => {
                time_out(&mut client, limit).await;
                return;
            }
        };
        let body = client
            .read_request_body(&head, service.max_body_bytes())
            .await;
        // A body not read to its end leaves the connection out of step: answer, then close.
        let persistence = Persistence::of(&head, body.is_err());
        let answer: Answer = match &service {
            Service::Forward(listener) => listener.handle(&head, body, &caller, &mut links).await,
            Service::Admin(admin) => admin.answer(&head),
        };
        let written = client.write_answer(&answer, persistence).await;
        if written.is_err() || persistence == Persistence::Close {
            return;
        }
    }
}

/// Closes a connection that left its request head unfinished for `limit`. A client that had
/// begun one is told why (408 and `Connection: close`, as Apache does) and can tell which
/// request failed; an idle one is closed silently (as nginx's `keepalive_timeout` and
/// `cloister node` do), since a 408 could cross a request it sends at that moment and be taken
/// for its answer. The write is bounded too: a client that reads nothing cannot hold the
/// connection open through it.
async fn time_out(client: &mut Connection<ServerStream>, limit: Duration) {
    if !client.holds_partial_message() {
        tracing::debug!(?limit, "idle client connection closed");
        return;
    }
    tracing::debug!(
        ?limit,
        "client connection closed in an unfinished request head"
    );
    let refusal = forward::refuse(&ProxyError::HeadTimeout(limit));
    let _ = tokio::time::timeout(limit, client.write_answer(&refusal, Persistence::Close)).await;
}
