//! Listening the way GoQuorum needs: HTTP/1.1 keep-alive with no idle or header-read timeout
//! (GoQuorum keeps `tm.ipc` connections forever, and a server closing idle ones makes `/send`
//! fail at random, goquorum-client.md §1.2), on TCP or on a unix socket created 0600 that
//! replaces a stale socket file but never a live one.
//!
//! Sockets are opened by `cloister-net`, as `cloister node`'s are; each connection is served
//! by one task reading requests with [`crate::http1`] and answering them in order.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use cloister_net::{Admission, Stream};
use tokio::net::{TcpListener, UnixListener};

use crate::admin::Admin;
use crate::error::ProxyError;
use crate::forward::{self, Listener};
use crate::http1::{Answer, Connection, Persistence, ReadError};
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

impl Service {
    fn max_body_bytes(&self) -> usize {
        match self {
            Self::Forward(listener) => listener.max_body_bytes,
            Self::Admin(_) => crate::admin::MAX_BODY_BYTES,
        }
    }
}

/// Serves `service` on `bound` within `admission`'s bounds until `shutdown` completes;
/// removes the socket file then.
pub(crate) async fn serve(
    bound: Bound,
    service: Service,
    admission: Admission,
    shutdown: impl Future<Output = ()>,
) {
    cloister_net::serve(bound, &admission, shutdown, |stream, address, permit| {
        let connection = serve_connection(stream, service.clone(), address);
        tokio::spawn(async move {
            connection.await;
            drop(permit);
        });
    })
    .await;
}

/// Answers one client connection's requests in order until it closes, asks to, or breaks.
async fn serve_connection(io: Stream, service: Service, peer: Option<SocketAddr>) {
    let mut client = Connection::new(io);
    // This client connection's own links to the upstreams, dropped (closed) with it.
    let mut links = Links::new();
    loop {
        let head = match client.read_request_head().await {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(ReadError::Head(error)) => {
                let refusal = forward::refuse(&ProxyError::BadHead(error));
                let _ = client.write_answer(&refusal, Persistence::Close).await;
                return;
            }
            Err(error) => {
                tracing::debug!(%error, "client connection ended in a request head");
                return;
            }
        };
        let body = client
            .read_request_body(&head, service.max_body_bytes())
            .await;
        // A body not read to its end leaves the connection out of step: answer, then close.
        let persistence = Persistence::of(&head, body.is_err());
        let answer: Answer = match &service {
            Service::Forward(listener) => listener.handle(&head, body, peer, &mut links).await,
            Service::Admin(admin) => admin.answer(&head),
        };
        let written = client.write_answer(&answer, persistence).await;
        if written.is_err() || persistence == Persistence::Close {
            return;
        }
    }
}
