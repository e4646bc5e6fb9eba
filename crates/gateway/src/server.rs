//! The gateway's HTTP front: JSON-RPC on POST and WebSocket upgrades on GET (any path, as geth
//! serves them), `/status` and `/metrics` on GET, a request size limit, and the start/stop
//! lifecycle.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use cloister_net::{Bound, ListenError, TlsListener};
use cloister_protocol::{exposition, media, path};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::accounts::AccountLocks;
use crate::health::{Health, Status};
use crate::listener::{self, Place};
use crate::metrics::Metrics;
use crate::proxy::{Forward, Proxy, Reply};
use crate::routing::Routing;
use crate::rpc::{self, codes, FORWARDED_HEADERS};
use crate::settings::{GatewaySettings, ListenerTls, SettingsError};
use crate::upstream::Upstream;
use crate::websocket;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The settings are unusable.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The listen address cannot be bound.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// The listen address is not a TCP address (validation refuses others).
    #[error("cannot listen on {0}: the gateway listens on TCP only")]
    NotTcp(String),
    /// The gateway's own certificate or key (`tls`) cannot be loaded.
    #[error("{0}")]
    ListenerTls(Box<cloister_tls::TlsConfigError>),
    /// An upstream's TLS trust cannot be loaded.
    #[error("upstream {upstream:?}: {source}")]
    UpstreamTls {
        /// Its URL.
        upstream: String,
        /// Why (boxed: a TLS error is large, and this one is met only at start).
        source: Box<cloister_tls::upstream::UpstreamTlsError>,
    },
}

/// The listener's certificate files, its TLS side, and the listener's label in metrics.
struct Certificate {
    files: ListenerTls,
    tls: TlsListener,
    listener: String,
}

/// A running gateway; stops when dropped.
pub struct Gateway {
    address: SocketAddr,
    proxy: Arc<Proxy>,
    /// The listener's certificate, for [`Gateway::reload_tls`].
    tls: Option<Certificate>,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    prober: JoinHandle<()>,
}

impl Gateway {
    /// Validates `settings`, probes every upstream once (so the first calls already avoid dead
    /// nodes), then serves.
    pub async fn start(settings: GatewaySettings) -> Result<Self, GatewayError> {
        settings.validate()?;
        let connect_timeout = settings.connect_timeout;
        let upstreams: Arc<Vec<Upstream>> = Arc::new(
            settings
                .upstreams
                .iter()
                .map(|u| {
                    Upstream::new(u, connect_timeout).map_err(|source| GatewayError::UpstreamTls {
                        upstream: u.url.clone(),
                        source: Box::new(source),
                    })
                })
                .collect::<Result<_, _>>()?,
        );
        let metrics = Arc::new(Metrics::default());
        let health = Arc::new(Health::new(
            &upstreams,
            settings.health.clone(),
            metrics.clone(),
        ));
        health.probe_all(&upstreams).await;
        let bound = Bound::endpoint(&settings.listen).await?;
        let address = bound
            .tcp_address()
            .ok_or_else(|| GatewayError::NotTcp(settings.listen.to_string()))?;
        let limits = settings.listener;
        let tls = match &settings.tls {
            Some(files) => {
                let listener = bound.local_endpoint().over_tls(true).to_string();
                let config = listener_tls(files, &listener, &metrics)?;
                Some(Certificate {
                    files: files.clone(),
                    tls: TlsListener::new(config, limits.header_timeout),
                    listener,
                })
            }
            None => None,
        };
        let routing = Routing::new(
            settings.mode,
            upstreams.iter().map(|u| u.name.clone()).collect(),
        );
        let upstream_metrics = upstreams
            .iter()
            .map(|u| metrics.for_upstream(&u.name))
            .collect();
        let proxy = Arc::new(Proxy {
            upstreams: upstreams.clone(),
            upstream_metrics,
            health: health.clone(),
            routing,
            settings,
            metrics,
            accounts: AccountLocks::default(),
            stopping: tokio::sync::watch::Sender::new(false),
        });
        let prober = tokio::spawn(health.run(upstreams));
        let router = Router::new()
            .route(path::STATUS, get(status))
            .route(path::METRICS, get(metrics_text))
            .fallback(rpc)
            .with_state(proxy.clone());
        let (shutdown, stop) = oneshot::channel::<()>();
        // The accept loop sets TCP_NODELAY: each answer is written whole, but Nagle would still
        // hold a small one back while an earlier segment is unacknowledged (pipelined or
        // WebSocket traffic).
        let handshakes = tls.as_ref().map(|certificate| certificate.tls.clone());
        let server = tokio::spawn(listener::serve(bound, router, limits, handshakes, async {
            let _ = stop.await;
        }));
        tracing::info!(%address, "gateway listening");
        Ok(Self {
            address,
            proxy,
            tls,
            shutdown: Some(shutdown),
            server,
            prober,
        })
    }

    /// Reads the listener's certificate files again for its next handshakes (SIGHUP);
    /// established connections keep theirs. `false` when the gateway has no certificate.
    pub fn reload_tls(&self) -> Result<bool, GatewayError> {
        let Some(certificate) = &self.tls else {
            return Ok(false);
        };
        let config = listener_tls(
            &certificate.files,
            &certificate.listener,
            &self.proxy.metrics,
        )?;
        certificate.tls.replace(config);
        Ok(true)
    }

    /// Where clients connect (the real port when configured with port 0).
    pub fn local_address(&self) -> SocketAddr {
        self.address
    }

    /// The upstreams' health, as `/status` shows it.
    pub fn status(&self) -> Status {
        self.proxy.health.status()
    }

    /// Stops accepting, finishes calls in flight, stops probing.
    pub async fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.proxy.stopping.send_replace(true);
        self.prober.abort();
        let _ = (&mut self.server).await;
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.proxy.stopping.send_replace(true);
        self.prober.abort();
        self.server.abort();
    }
}

async fn status(State(proxy): State<Arc<Proxy>>) -> Json<Status> {
    Json(proxy.health.status())
}

/// `/metrics`: OpenMetrics, or Prometheus's text format to a client asking for `text/plain`
/// ([`cloister_protocol::exposition`]).
async fn metrics_text(State(proxy): State<Arc<Proxy>>, headers: HeaderMap) -> Response {
    let accept = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let (content_type, body) = exposition::answer(accept, proxy.metrics.render());
    ([(CONTENT_TYPE, content_type)], body).into_response()
}

/// JSON-RPC on any path, over HTTP or WebSocket, as geth serves it.
async fn rpc(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let forward = Forward {
        headers: forwarded(&parts.headers),
        query: parts.uri.query().map(str::to_owned),
    };
    if parts.method == Method::GET {
        if let Ok(upgrade) = WebSocketUpgrade::from_request_parts(&mut parts, &proxy).await {
            let place = parts.extensions.remove::<Place>();
            return websocket::accept(proxy, upgrade, forward, place).await;
        }
    }
    if parts.method != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            "JSON-RPC requests are POSTed or sent over a WebSocket; GET /status and /metrics for \
             the gateway's state\n",
        )
            .into_response();
    }
    let limit = proxy.settings.max_request_bytes;
    let body = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            proxy.metrics.local_error("too_large");
            let message = format!("request body larger than {limit} bytes");
            let body = rpc::error_body(None, codes::INVALID_REQUEST, &message);
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                [(CONTENT_TYPE, media::JSON)],
                body,
            )
                .into_response();
        }
        Err(error) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("reading the request: {error}\n"),
            )
                .into_response()
        }
    };
    let is_batch = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let reply = if is_batch {
        proxy.batch(body, &forward).await
    } else {
        proxy.call(body, &forward).await
    };
    into_response(reply)
}

fn forwarded(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in FORWARDED_HEADERS {
        for value in headers.get_all(name) {
            out.append(name, value.clone());
        }
    }
    out
}

fn into_response(reply: Reply) -> Response {
    let content_type = reply
        .content_type
        .unwrap_or_else(|| HeaderValue::from_static(media::JSON));
    (reply.status, [(CONTENT_TYPE, content_type)], reply.body).into_response()
}

/// The rustls config of the gateway's TLS listener: its certificate, no client certificates
/// asked for (clients are authorised by the nodes, as over plain HTTP). When it expires goes
/// to `metrics`, labelled `listener`.
fn listener_tls(
    tls: &ListenerTls,
    listener: &str,
    metrics: &Metrics,
) -> Result<Arc<rustls::ServerConfig>, GatewayError> {
    let presenting = tls
        .server_config()
        .map_err(|error| GatewayError::ListenerTls(Box::new(error)))?;
    if let Some(not_after) = presenting.not_after {
        metrics.observe_certificate(listener, not_after);
    }
    Ok(presenting.config)
}
