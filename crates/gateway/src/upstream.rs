//! One upstream node over HTTP or its IPC socket: a keep-alive connection pool and a call that
//! tells apart "never sent" (safe to send elsewhere, even for a write) from "sent, outcome
//! unknown". Client WebSocket connections reach the node's WebSocket endpoint
//! ([`crate::websocket`]).

mod pool;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cloister_net::health::Probe;
use cloister_protocol::media;
use cloister_tls::material::Origin;
use cloister_tls::upstream::{Roots, UpstreamTlsError};
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use hyper::{StatusCode, Uri};

use crate::ipc::{IpcError, IpcPool};
use crate::settings::{Endpoints, Transport, UpstreamSettings, CA_FILE_MEMBER, IPC_PREFIX};
use pool::{ExchangeError, Pool};

/// What an upstream answered over HTTP.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// Its content type, passed back to the client.
    pub content_type: Option<HeaderValue>,
    /// The body, verbatim.
    pub body: Bytes,
}

/// Why an upstream gave no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// No connection could be made: the request never left, so any node may take it.
    #[error("{name}: not reachable ({reason})")]
    Unsent {
        /// The upstream.
        name: String,
        /// The connect error.
        reason: String,
    },
    /// The request may have reached the node, but no complete answer came back.
    #[error("{name}: failed after sending ({reason})")]
    Failed {
        /// The upstream.
        name: String,
        /// The transport error.
        reason: String,
    },
    /// The call cannot be sent over this upstream's transport (IPC carries no headers or query
    /// string): never sent, and no sign of ill health.
    #[error("{name}: {reason}")]
    Unsuitable {
        /// The upstream.
        name: String,
        /// What the transport cannot carry.
        reason: String,
    },
    /// No answer within the attempt timeout; the node may still execute the call.
    #[error("{name}: no answer within {} ms", timeout.as_millis())]
    TimedOut {
        /// The upstream.
        name: String,
        /// The timeout.
        timeout: Duration,
    },
}

impl UpstreamError {
    /// Whether the request certainly never reached the node.
    pub fn unsent(&self) -> bool {
        matches!(self, Self::Unsent { .. } | Self::Unsuitable { .. })
    }

    /// Whether this says something about the node's health (everything but
    /// [`UpstreamError::Unsuitable`]).
    pub fn counts_against_health(&self) -> bool {
        !matches!(self, Self::Unsuitable { .. })
    }
}

/// How one upstream is reached.
#[derive(Debug)]
enum Link {
    /// HTTP/1.1 with a keep-alive pool, over TLS for `https://`.
    Http(Pool),
    /// geth's IPC framing on a unix socket.
    Ipc {
        pool: IpcPool,
        connect_timeout: Duration,
    },
}

/// One upstream node.
#[derive(Debug)]
pub struct Upstream {
    /// Its name in logs, metrics and `/status`.
    pub name: String,
    /// Its JSON-RPC URL (`http://...`, or `ipc:/path` for an IPC socket).
    pub url: String,
    /// Its JSON-RPC over WebSocket URL, for client WebSocket connections pinned to it; `None`
    /// for an IPC upstream.
    pub ws_url: Option<String>,
    /// The TLS config of its `https://` and `wss://` endpoints, when either is over TLS.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The probe of its privacy path, when one is configured.
    pub privacy: Option<Probe>,
    link: Link,
}

impl Upstream {
    /// A pool for `settings` (validated settings only); fails when its TLS trust cannot be
    /// loaded.
    pub fn new(
        settings: &UpstreamSettings,
        connect_timeout: Duration,
    ) -> Result<Self, UpstreamTlsError> {
        let privacy = settings.privacy_target().ok().flatten().map(Probe::new);
        let transport = settings.transport().unwrap_or_else(|_| {
            Transport::Network(Endpoints {
                http: settings.url.clone(),
                ws: settings.url.clone(),
            })
        });
        Ok(match transport {
            Transport::Ipc(path) => Self {
                name: settings
                    .name
                    .clone()
                    .unwrap_or_else(|| path.display().to_string()),
                url: format!("{IPC_PREFIX}{}", path.display()),
                ws_url: None,
                tls: None,
                privacy,
                link: Link::Ipc {
                    pool: IpcPool::new(&path),
                    connect_timeout,
                },
            },
            Transport::Network(endpoints) => {
                let uri: Uri = endpoints.http.parse().unwrap_or_default();
                let name = settings.name.clone().unwrap_or_else(|| {
                    uri.authority()
                        .map_or_else(|| settings.url.clone(), ToString::to_string)
                });
                let tls = if endpoints.uses_tls() {
                    let roots = settings.ca_file.as_ref().map_or(Roots::Platform, |path| {
                        Roots::CaFile(Origin::new(CA_FILE_MEMBER, path))
                    });
                    Some(cloister_tls::upstream::client_config(&roots, None)?)
                } else {
                    None
                };
                let pool = Pool::new(&uri, tls.clone(), connect_timeout);
                Self {
                    name,
                    url: endpoints.http,
                    ws_url: Some(endpoints.ws),
                    tls,
                    privacy,
                    link: Link::Http(pool),
                }
            }
        })
    }

    /// Posts `body` with the forwarded `headers` (and the client's query string, which is how
    /// GoQuorum also accepts a PSI) and reads the whole answer within `timeout`.
    pub async fn call(
        &self,
        body: Bytes,
        headers: &HeaderMap,
        query: Option<&str>,
        timeout: Duration,
    ) -> Result<Answer, UpstreamError> {
        match &self.link {
            Link::Http(pool) => self.call_http(pool, body, headers, query, timeout).await,
            Link::Ipc {
                pool,
                connect_timeout,
            } => {
                // IPC has nowhere to carry credentials or a PSI, and GoQuorum grants IPC callers
                // everything: a tenant's call sent there would run with powers it was not given.
                if !headers.is_empty() || query.is_some() {
                    return Err(UpstreamError::Unsuitable {
                        name: self.name.clone(),
                        reason: "an IPC upstream cannot carry the call's Authorization, \
                                 Quorum-PSI or query string"
                            .to_owned(),
                    });
                }
                let exchange = pool.call(&body, *connect_timeout);
                let answer = tokio::time::timeout(timeout, exchange).await.map_err(|_| {
                    UpstreamError::TimedOut {
                        name: self.name.clone(),
                        timeout,
                    }
                })?;
                match answer {
                    Ok(body) => Ok(Answer {
                        status: StatusCode::OK,
                        content_type: Some(HeaderValue::from_static(media::JSON)),
                        body,
                    }),
                    Err(IpcError::Unsent(reason)) => Err(UpstreamError::Unsent {
                        name: self.name.clone(),
                        reason,
                    }),
                    Err(IpcError::Failed(reason)) => Err(self.failed(reason)),
                }
            }
        }
    }

    async fn call_http(
        &self,
        pool: &Pool,
        body: Bytes,
        headers: &HeaderMap,
        query: Option<&str>,
        timeout: Duration,
    ) -> Result<Answer, UpstreamError> {
        let mut request = pool
            .request(query)
            .header(CONTENT_TYPE, media::JSON)
            .body(Full::new(body))
            .map_err(|error| self.failed(error))?;
        for (name, value) in headers {
            request.headers_mut().insert(name, value.clone());
        }
        let response = tokio::time::timeout(timeout, pool.exchange(request))
            .await
            .map_err(|_| UpstreamError::TimedOut {
                name: self.name.clone(),
                timeout,
            })?
            .map_err(|error| match error {
                ExchangeError::Unsent(reason) => UpstreamError::Unsent {
                    name: self.name.clone(),
                    reason,
                },
                ExchangeError::Failed(reason) => self.failed(reason),
            })?;
        let (parts, body) = response.into_parts();
        Ok(Answer {
            status: parts.status,
            content_type: parts.headers.get(CONTENT_TYPE).cloned(),
            body,
        })
    }

    fn failed(&self, reason: impl ToString) -> UpstreamError {
        UpstreamError::Failed {
            name: self.name.clone(),
            reason: reason.to_string(),
        }
    }
}

/// The innermost cause, which names what really happened ("Connection refused").
fn source_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}
