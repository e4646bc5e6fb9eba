//! The keep-alive connections of one HTTP upstream: hyper's HTTP/1.1 connections kept idle in
//! a bounded last-in-first-out stack, dialled with [`cloister_net::connect_tls`] (so
//! `TCP_NODELAY`, the connect timeout covering the TLS handshake too, and TLS for an
//! `https://` node).
//!
//! hyper-util's general-purpose client did the same with more per call: a pool keyed by
//! scheme and authority (hashed and locked on every call), the URL rewritten to origin form,
//! a task per connection that the call hands its request to and gets the answer back from,
//! and a task spawned per answer to return its connection to the pool. One upstream has one
//! key, so its pool is a plain stack; and the call drives its connection's I/O itself, so a
//! call is one task, not three taking turns (on two cores, often on both). The most recently
//! used connection goes out first, so a lull lets the ones at the bottom expire instead of
//! keeping them all barely alive.
//!
//! An idle connection is polled by no one: a node's close is seen when the connection next
//! goes out, and the request it had queued comes back unwritten and goes out on the next
//! connection.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cloister_addr::{Endpoint, Scheme, TcpEndpoint};
use cloister_net::ClientStream;
use futures_util::FutureExt;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, HOST};
use hyper::http::request::Builder;
use hyper::http::uri;
use hyper::{Request, Response, Uri};
use hyper_util::rt::TokioIo;
use tokio_rustls::TlsConnector;

/// Idle connections kept per upstream: enough for every connection a busy gateway keeps in
/// flight to one node; above it, an answered connection is closed instead of kept.
const MAX_IDLE: usize = 256;

/// How long an idle connection is kept (hyper-util's client kept them as long).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why an exchange gave no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExchangeError {
    /// No connection could be made: the request never left.
    #[error("{0}")]
    Unsent(String),
    /// The request may have reached the node, but no complete answer came back.
    #[error("{0}")]
    Failed(String),
}

/// The connections of one upstream.
pub(crate) struct Pool {
    endpoint: Endpoint,
    tls: Option<TlsConnector>,
    connect_timeout: Duration,
    /// The request target (origin form: the URL's path and query, if it has one).
    target: Uri,
    /// The `Host` every request carries: what hyper-util's client derived from the URL.
    host: HeaderValue,
    idle: Mutex<Vec<Idle>>,
}

/// A connection waiting for its next request.
struct Idle {
    pooled: PooledConnection,
    since: Instant,
}

/// hyper's side of one connection, which reads and writes it when polled.
type Io = http1::Connection<TokioIo<ClientStream>, Full<Bytes>>;

/// One connection: where requests go in, and its I/O, driven by the call using it.
struct PooledConnection {
    sender: SendRequest<Full<Bytes>>,
    /// The connection's I/O; `None` once it ended, which fails whatever it still held.
    io: Option<Io>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("endpoint", &self.endpoint)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool for the node at `url` (`http://` or `https://`, over TLS with `tls`).
    pub(crate) fn new(
        url: &Uri,
        tls: Option<Arc<rustls::ClientConfig>>,
        connect_timeout: Duration,
    ) -> Self {
        Self {
            endpoint: endpoint_of(url),
            tls: tls.map(TlsConnector::from),
            connect_timeout,
            target: url
                .path_and_query()
                .and_then(|target| Uri::try_from(target.as_str()).ok())
                .unwrap_or_else(|| Uri::from_static("/")),
            host: host_of(url),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// A request to the node's URL, with `query` as its query string instead of the URL's
    /// own (dropped if it is not a valid one), carrying the node's `Host`.
    pub(crate) fn request(&self, query: Option<&str>) -> Builder {
        let target = match query {
            Some(query) => format!("{}?{query}", self.target.path())
                .parse()
                .unwrap_or_else(|_| self.target.clone()),
            None => self.target.clone(),
        };
        Request::post(target).header(HOST, self.host.clone())
    }

    /// Sends `request` and reads its whole answer: over an idle connection if one is still
    /// open, else a new one. A request an idle connection turns back unwritten (the node
    /// closed it meanwhile) goes out again, on the next connection.
    pub(crate) async fn exchange(
        &self,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Response<Bytes>, ExchangeError> {
        loop {
            let (mut pooled, reused) = match self.check_out() {
                Some(pooled) => (pooled, true),
                None => (self.connect().await?, false),
            };
            let sent = pooled.sender.try_send_request(request);
            match drive(&mut pooled.io, sent).await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let body = drive(&mut pooled.io, body.collect())
                        .await
                        .map_err(failed)?
                        .to_bytes();
                    self.check_in(pooled);
                    return Ok(Response::from_parts(parts, body));
                }
                Err(mut error) => match error.take_message() {
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(failed(error.into_error())),
                },
            }
        }
    }

    /// The most recently used idle connection, unless expired.
    fn check_out(&self) -> Option<PooledConnection> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let Idle { pooled, since } = idle.pop()?;
        (since.elapsed() < IDLE_TIMEOUT).then_some(pooled)
    }

    /// Keeps `pooled` for the next request if, the end of its answer taken in, it is ready for
    /// one (not closed by that answer), and drops the oldest idle connections that expired.
    /// Never waits: the answer is complete, and its call must not be held up.
    fn check_in(&self, mut pooled: PooledConnection) {
        let PooledConnection { sender, io } = &mut pooled;
        let ready = drive(io, poll_fn(|cx| sender.poll_ready(cx))).now_or_never();
        if !matches!(ready, Some(Ok(()))) {
            return;
        }
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let expired = idle
            .iter()
            .take_while(|i| now.duration_since(i.since) >= IDLE_TIMEOUT)
            .count();
        idle.drain(..expired);
        if idle.len() < MAX_IDLE {
            idle.push(Idle { pooled, since: now });
        }
    }

    /// A new connection.
    async fn connect(&self) -> Result<PooledConnection, ExchangeError> {
        let unsent = |error: std::io::Error| ExchangeError::Unsent(error.to_string());
        let stream =
            cloister_net::connect_tls(&self.endpoint, self.connect_timeout, self.tls.as_ref())
                .await
                .map_err(unsent)?;
        let (sender, io) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| ExchangeError::Unsent(error.to_string()))?;
        Ok(PooledConnection {
            sender,
            io: Some(io),
        })
    }
}

/// Runs `work` while driving the connection's `io` (which `work` waits on); a connection
/// that ends is dropped, which fails or hands back what it held, so `work` always finishes.
async fn drive<W: Future>(io: &mut Option<Io>, work: W) -> W::Output {
    let mut work = pin!(work);
    poll_fn(|cx| loop {
        if let Poll::Ready(output) = work.as_mut().poll(cx) {
            return Poll::Ready(output);
        }
        let Some(open) = io.as_mut() else {
            return Poll::Pending;
        };
        match Pin::new(open).poll(cx) {
            // The connection's turn may have given `work` what it waited for.
            Poll::Pending => return work.as_mut().poll(cx),
            Poll::Ready(ended) => {
                if let Err(error) = ended {
                    tracing::debug!(%error, "upstream connection ended");
                }
                *io = None;
            }
        }
    })
    .await
}

/// The error of a sent request, by its innermost cause ("connection reset by peer").
fn failed(error: hyper::Error) -> ExchangeError {
    ExchangeError::Failed(super::source_text(&error))
}

/// Where `url` is dialled: its host and port (the scheme's own when it names none).
fn endpoint_of(url: &Uri) -> Endpoint {
    let scheme = if url.scheme() == Some(&uri::Scheme::HTTPS) {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let default_port = match scheme {
        Scheme::Https => 443,
        Scheme::Http => 80,
    };
    let host = url.host().unwrap_or_default();
    Endpoint::Tcp(TcpEndpoint {
        scheme,
        // `[::1]` in a URL is `::1` to a socket and to TLS.
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port: url.port_u16().unwrap_or(default_port),
        path: String::new(),
    })
}

/// The `Host` of a request to `url`: its host, and its port unless the scheme's own.
fn host_of(url: &Uri) -> HeaderValue {
    let host = url.host().unwrap_or_default();
    let host = match (url.port_u16(), url.scheme_str()) {
        (Some(80), Some("http")) | (Some(443), Some("https")) | (None, _) => host.to_owned(),
        (Some(port), _) => format!("{host}:{port}"),
    };
    HeaderValue::from_str(&host).unwrap_or_else(|_| HeaderValue::from_static("localhost"))
}
