//! Serving a router on TCP or on a unix socket the way GoQuorum needs: HTTP/1.1 keep-alive with
//! no idle timeout (GoQuorum keeps connections forever and a server closing idle ones makes
//! `/send` fail at random), the caller's address passed to handlers, and a unix socket that is
//! created 0600 and replaces a stale file.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use cloister_net::Stream;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tower::ServiceExt;

/// The TCP address of the caller, set on every request (`None` over a unix socket).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddress(pub Option<SocketAddr>);

pub use cloister_net::{Bound, ListenError};

/// Serves `router` until `shutdown` completes.
pub async fn serve(bound: Bound, router: Router, shutdown: impl Future<Output = ()> + Send) {
    cloister_net::serve(bound, shutdown, |stream, address| {
        tokio::spawn(serve_connection(stream, router.clone(), address));
    })
    .await;
}

async fn serve_connection(io: Stream, router: Router, address: Option<SocketAddr>) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(PeerAddress(address));
        router.clone().oneshot(request.map(axum::body::Body::new))
    });
    // No header-read timeout: an idle keep-alive connection waits for its next request for as
    // long as the client keeps it (GoQuorum never closes them).
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(io), service);
    if let Err(error) = connection.await {
        tracing::debug!(%error, "connection ended with an error");
    }
}
