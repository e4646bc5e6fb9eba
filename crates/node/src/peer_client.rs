//! The outbound side of the P2P protocol: `/push` and `/partyinfo` to other privacy managers,
//! over `http://` or, with the P2P server's `sslConfig`, `https://` ([`crate::peer_connector`]).
//!
//! Every request carries `tesseraSupportedApiVersions` (one header value per version), so the
//! peer knows which codec and features this node understands.

use std::time::Duration;

use bytes::buf::{Buf, Chain};
use bytes::Bytes;
use cloister_core::payload::{PayloadCodec, PayloadCopy};
use cloister_protocol::{header, media, path, version};
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::peer_connector::{NoTlsClient, PeerConnector, TlsHandshakeError};

/// Why a P2P call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    /// No connection, or the connection broke before an answer.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// No answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The peer answered with a status other than 200/201.
    #[error("answered {status}: {body}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The start of the body (plain text in Tessera).
        body: String,
    },
    /// The peer URL is not usable.
    #[error("invalid peer URL {0}")]
    InvalidUrl(String),
    /// The answer is longer than `maxPeerResponseBytes`.
    #[error("answered more than {0} bytes")]
    AnswerTooLarge(usize),
    /// The TLS handshake failed: the peer's certificate is not trusted, changed or expired,
    /// or the peer refused this node's. Not retried: only a change of certificates or
    /// configuration fixes it.
    #[error("{url}: {reason}")]
    Tls {
        /// The peer's URL as called.
        url: String,
        /// Why, starting with the classified reason (`untrusted`, `fingerprint changed`,
        /// `expired`, …).
        reason: String,
    },
}

impl PeerError {
    /// The error of a request that did not get an answer: a TLS failure named as such, any
    /// other as unreachable.
    fn from_request(url: &str, error: &hyper_util::client::legacy::Error) -> Self {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(current) = source {
            if let Some(tls) = current.downcast_ref::<TlsHandshakeError>() {
                return Self::Tls {
                    url: url.to_owned(),
                    reason: tls.to_string(),
                };
            }
            if let Some(none) = current.downcast_ref::<NoTlsClient>() {
                return Self::Tls {
                    url: url.to_owned(),
                    reason: none.to_string(),
                };
            }
            source = current.source();
        }
        // hyper-util's own message is only "client error (Connect)": add the cause.
        let mut text = error.to_string();
        let mut cause = std::error::Error::source(error);
        while let Some(current) = cause {
            text.push_str(": ");
            text.push_str(&current.to_string());
            cause = current.source();
        }
        Self::Unreachable(text)
    }
}

/// A request body in three pieces, written with one vectored write: a push's fields before the
/// cipher text, the cipher text every recipient's copy shares, and the fields after it. Other
/// bodies are one piece.
type Pieces = Chain<Chain<Bytes, Bytes>, Bytes>;

/// HTTP client for peers; clone freely (connections, and TLS sessions, are pooled and shared).
#[derive(Clone)]
pub struct PeerClient {
    http: Client<PeerConnector, Full<Pieces>>,
    timeout: Duration,
    max_answer_bytes: usize,
}

impl PeerClient {
    /// The same client (sharing its connections) with another timeout.
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            timeout,
            ..self.clone()
        }
    }

    /// A client whose every call gives up after `timeout` and reads at most
    /// `max_answer_bytes` of an answer (every P2P answer this node reads is small: a hash, a
    /// UUID, a count). `https://` peers are called with `tls` (the P2P client's rustls config:
    /// keep one per process, so sessions resume); without it they fail with
    /// [`PeerError::Tls`].
    pub fn new(
        timeout: Duration,
        max_answer_bytes: usize,
        tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    ) -> Self {
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(timeout));
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(PeerConnector::new(tcp, tls));
        Self {
            http,
            timeout,
            max_answer_bytes,
        }
    }

    /// Pushes one recipient's copy, encoded as the peer's advertised versions allow.
    pub async fn push(
        &self,
        url: &str,
        peer_versions: &[String],
        copy: &PayloadCopy<'_>,
    ) -> Result<(), PeerError> {
        let body = PayloadCodec::preferred_for(peer_versions).encode_copy(copy);
        self.post(url, path::PUSH, media::OCTET_STREAM, body.into())
            .await
            .map(drop)
    }

    /// [`PeerClient::push`] around `cipher_text`, the bytes of `copy`'s cipher text held once
    /// for every recipient: only the fields around it are encoded for this peer, so pushing a
    /// payload of megabytes to five recipients neither copies it five times nor holds five
    /// copies at once.
    pub async fn push_sharing(
        &self,
        url: &str,
        peer_versions: &[String],
        copy: &PayloadCopy<'_>,
        cipher_text: Bytes,
    ) -> Result<(), PeerError> {
        let (head, tail) =
            PayloadCodec::preferred_for(peer_versions).encode_copy_around_cipher_text(copy);
        let body = Bytes::from(head)
            .chain(cipher_text)
            .chain(Bytes::from(tail));
        self.send(url, path::PUSH, media::OCTET_STREAM, body)
            .await
            .map(drop)
    }

    /// POSTs this node's encoded PartyInfo; the reply body is ignored, as Tessera does.
    pub async fn post_party_info(&self, url: &str, body: Bytes) -> Result<(), PeerError> {
        self.post(url, path::PARTYINFO, media::OCTET_STREAM, body)
            .await
            .map(drop)
    }

    /// POSTs `body` to the API path `path` (one of [`cloister_protocol::path`]) under the
    /// peer's `base_url`; success is 200 or 201.
    pub async fn post(
        &self,
        base_url: &str,
        api_path: &str,
        content_type: &'static str,
        body: Bytes,
    ) -> Result<Bytes, PeerError> {
        let one_piece = body.chain(Bytes::new()).chain(Bytes::new());
        self.send(base_url, api_path, content_type, one_piece).await
    }

    async fn send(
        &self,
        base_url: &str,
        api_path: &str,
        content_type: &'static str,
        body: Pieces,
    ) -> Result<Bytes, PeerError> {
        let uri = join(base_url, path::relative(api_path));
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&uri)
            .header(CONTENT_TYPE, content_type)
            .body(Full::new(body))
            .map_err(|_| PeerError::InvalidUrl(uri.clone()))?;
        for v in version::ADVERTISED_TO_PEERS {
            request
                .headers_mut()
                .append(header::SUPPORTED_API_VERSIONS, HeaderValue::from_static(v));
        }
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| PeerError::from_request(base_url, &e))?;
            let status = response.status();
            let limit = self.max_answer_bytes;
            let body = Limited::new(response.into_body(), limit)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        PeerError::AnswerTooLarge(limit)
                    } else {
                        PeerError::Unreachable(e.to_string())
                    }
                })?
                .to_bytes();
            if status == StatusCode::OK || status == StatusCode::CREATED {
                Ok(body)
            } else {
                let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                Err(PeerError::Status {
                    status: status.as_u16(),
                    body: text,
                })
            }
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| PeerError::Timeout(self.timeout))?
    }
}

/// `base` (normalised, ending in `/`) joined with a relative `path`.
fn join(base: &str, path: &str) -> String {
    if base.ends_with('/') {
        format!("{base}{path}")
    } else {
        format!("{base}/{path}")
    }
}
