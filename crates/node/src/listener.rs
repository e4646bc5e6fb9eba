//! Serving a router on TCP or on a unix socket: HTTP/1.1 keep-alive, the caller's address
//! passed to handlers, a unix socket created 0600 that replaces a stale file, and the
//! listener's bounds ([`ListenerLimits`]): at most so many connections in all and per caller,
//! and on TCP a deadline for each request head that also closes idle connections. A unix
//! socket gets no such deadline: GoQuorum keeps its `tm.ipc` connections idle indefinitely, and
//! a server closing one under it makes a `/send` fail at random.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use cloister_net::{Admission, ListenerLimits, Permit, Stream};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::ServiceExt;

/// The TCP address of the caller, set on every request (`None` over a unix socket).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddress(pub Option<SocketAddr>);

pub use cloister_net::{Bound, ListenError};

/// Serves `router` within `limits` until `shutdown` completes.
pub async fn serve(
    bound: Bound,
    router: Router,
    limits: ListenerLimits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let limits = limits.for_bound(&bound);
    let admission = Admission::new(limits.connections);
    cloister_net::serve(bound, &admission, shutdown, |stream, address, permit| {
        let connection = serve_connection(stream, router.clone(), address, limits.header_timeout);
        tokio::spawn(hold(permit, connection));
    })
    .await;
}

/// Runs `connection`, holding its listener place until it ends.
async fn hold(permit: Permit, connection: impl Future<Output = ()>) {
    connection.await;
    drop(permit);
}

async fn serve_connection(
    io: Stream,
    router: Router,
    address: Option<SocketAddr>,
    header_timeout: Option<std::time::Duration>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(PeerAddress(address));
        router.clone().oneshot(request.map(axum::body::Body::new))
    });
    // hyper arms the header-read timer whenever the connection waits for a request head, so
    // it also closes a connection left idle that long.
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), service);
    if let Err(error) = connection.await {
        tracing::debug!(%error, "connection ended with an error");
    }
}
