//! Serving a router on TCP or on a unix socket the way GoQuorum needs: HTTP/1.1 keep-alive with
//! no idle timeout (GoQuorum keeps connections forever and a server closing idle ones makes
//! `/send` fail at random), the caller's address passed to handlers, and a unix socket that is
//! created 0600 and replaces a stale file.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use cloister_core::config::ListenAddress;
use cloister_listen::Stream;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tower::ServiceExt;

/// The TCP address of the caller, set on every request (`None` over a unix socket).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddress(pub Option<SocketAddr>);

pub use cloister_listen::ListenError;

pub use cloister_listen::Bound;

/// Where `bound` listens (a bound TCP port is resolved, so port 0 shows the real one).
pub fn local_address(bound: &Bound) -> ListenAddress {
    match bound {
        Bound::Tcp(_) => {
            let address = bound
                .tcp_address()
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
            ListenAddress::Tcp {
                host: address.ip().to_string(),
                port: address.port(),
            }
        }
        Bound::Unix(_, path) => ListenAddress::Unix(path.clone()),
    }
}

/// Opens a listener.
pub async fn bind(address: &ListenAddress) -> Result<Bound, ListenError> {
    match address {
        ListenAddress::Tcp { host, port } => {
            Bound::tcp((host.as_str(), *port), &address.to_string()).await
        }
        ListenAddress::Unix(path) => Bound::unix(path).await,
    }
}

/// Serves `router` until `shutdown` completes.
pub async fn serve(bound: Bound, router: Router, shutdown: impl Future<Output = ()> + Send) {
    cloister_listen::serve(bound, shutdown, |stream, address| {
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
