//! The gateway's client connections: admitted within `maxConnections` and
//! `maxConnectionsPerIp` by `cloister-net`'s accept loop, over TLS when the gateway has a
//! certificate (the handshake bounded by `headerTimeoutMs`, see [`TlsListener`]), served as
//! HTTP/1.1 with WebSocket
//! upgrades, closed when a request head takes longer than `headerTimeoutMs` (hyper arms that
//! timer whenever a connection waits for a head, so it also closes idle keep-alive
//! connections), and finished gracefully when the gateway stops.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use cloister_net::{Admission, Bound, ListenerLimits, Permit, ServerStream, TlsListener};
use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::watch;

/// A connection's place among the listener's bounded connections, set on each of its
/// requests. hyper's part of a connection ends when it upgrades, so a WebSocket keeps a clone
/// of the place until it closes: an upgraded connection still counts against the bounds.
#[derive(Debug, Clone)]
pub struct Place {
    _permit: Arc<Permit>,
}

/// Serves `router` on `bound` within `limits`, over TLS with `tls` when given (its handshakes
/// bounded by `headerTimeoutMs`), until
/// `shutdown` completes, then lets every connection finish the request it is serving (idle
/// ones close at once) and returns when all have ended. Upgraded connections are not waited
/// for: they end on their own signal.
pub async fn serve(
    bound: Bound,
    router: Router,
    limits: ListenerLimits,
    tls: Option<TlsListener>,
    shutdown: impl Future<Output = ()>,
) {
    let admission = Admission::new(limits.connections);
    // Each connection holds a receiver: `closed` below resolves when the last one has ended.
    let (stopping, _) = watch::channel(false);
    cloister_net::serve(bound, &admission, shutdown, |stream, _, permit| {
        let (router, tls, stopping) = (router.clone(), tls.clone(), stopping.subscribe());
        tokio::spawn(async move {
            // The handshake runs here, holding the connection's place, never in the accept loop.
            let stream = match tls {
                None => ServerStream::Plain(stream),
                Some(tls) => match tls.accept(stream).await {
                    Ok(stream) => stream,
                    Err(error) => {
                        tracing::debug!(%error, "client TLS handshake failed");
                        return;
                    }
                },
            };
            let place = Place {
                _permit: Arc::new(permit),
            };
            serve_connection(stream, router, place, limits.header_timeout, stopping).await;
        });
    })
    .await;
    stopping.send_replace(true);
    stopping.closed().await;
}

async fn serve_connection(
    stream: ServerStream,
    router: Router,
    place: Place,
    header_timeout: Option<Duration>,
    mut stopping: watch::Receiver<bool>,
) {
    let router = TowerToHyperService::new(router);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(place.clone());
        router.call(request)
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    // Only whether it happened: the guard `wait_for` returns must not live across an await.
    let stop = async {
        let _ = stopping.wait_for(|stopping| *stopping).await;
    };
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        () = stop => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = ended {
        // A header timeout, a client gone mid-request: the client's business, not an alarm.
        tracing::debug!(%error, "client connection ended with an error");
    }
}
