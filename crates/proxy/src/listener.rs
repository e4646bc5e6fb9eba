//! Listening the way GoQuorum needs: HTTP/1.1 keep-alive with no idle or header-read timeout
//! (GoQuorum keeps `tm.ipc` connections forever, and a server closing idle ones makes `/send`
//! fail at random, goquorum-client.md §1.2), on TCP or on a unix socket created 0600 that
//! replaces a stale socket file but never a live one.
//!
//! Sockets are opened by `cloister-listen`, as `cloister node`'s are; served here over plain hyper
//! services rather than an axum router.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use cloister_listen::{ListenError, Stream};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Mutex;

use crate::settings::Address;
use crate::upstream::Links;

pub(crate) use cloister_listen::Bound;

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

/// Where `bound` listens (a TCP port 0 resolved to the real one).
pub(crate) fn local_address(bound: &Bound) -> Address {
    match bound {
        Bound::Tcp(listener) => Address::Tcp(
            listener
                .local_addr()
                .map_or_else(|_| "0.0.0.0:0".to_owned(), |a| a.to_string()),
        ),
        Bound::Unix(_, path) => Address::Unix(path.clone()),
    }
}

/// Opens a listener.
pub(crate) async fn bind(address: &Address) -> Result<Bound, ListenError> {
    let bind_error = |source| ListenError::Bind {
        address: address.to_string(),
        source,
    };
    match address {
        Address::Tcp(authority) => Ok(Bound::Tcp(
            TcpListener::bind(authority.as_str())
                .await
                .map_err(bind_error)?,
        )),
        Address::Unix(path) => Ok(Bound::Unix(
            cloister_listen::bind_unix(path).await?,
            path.clone(),
        )),
    }
}

/// A request handler: the request and the caller's TCP address.
pub(crate) type Handler = Arc<
    dyn Fn(
            Request<Incoming>,
            Option<SocketAddr>,
            Arc<Mutex<Links>>,
        ) -> std::pin::Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send>>
        + Send
        + Sync,
>;

/// Serves `handler` on `bound` until `shutdown` completes; removes the socket file then.
pub(crate) async fn serve(bound: Bound, handler: Handler, shutdown: impl Future<Output = ()>) {
    cloister_listen::serve(bound, shutdown, |stream, address| {
        tokio::spawn(serve_connection(stream, handler.clone(), address));
    })
    .await;
}

async fn serve_connection(io: Stream, handler: Handler, address: Option<SocketAddr>) {
    // This client connection's own links to the upstreams, dropped (closed) with it.
    let links = Arc::new(Mutex::new(Links::new()));
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let response = handler(request, address, links.clone());
        async move { Ok::<_, Infallible>(response.await) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(io), service);
    if let Err(error) = connection.await {
        tracing::debug!(%error, "client connection ended with an error");
    }
}
