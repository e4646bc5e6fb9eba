//! The proxy's errors, and the one mapping from a failed client request to the status and
//! plain-text message the client gets.

use std::path::PathBuf;
use std::time::Duration;

use cloister_addr::EndpointError;
use http::StatusCode;

use crate::http1::{BodyError, HeadError, ReadError};

/// A config file or command line the proxy cannot run with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not the expected JSON.
    #[error("invalid config: {0}")]
    Json(String),
    /// An address that is not a usable listener or upstream.
    #[error("invalid address {address:?}: {source}")]
    Address {
        /// The text given.
        address: String,
        /// What is wrong with it.
        source: EndpointError,
    },
    /// Settings that cannot work together.
    #[error("invalid settings: {0}")]
    Invalid(String),
    /// `upstreamTls` names files that do not make a TLS client.
    #[error("upstreamTls: {0}")]
    UpstreamTls(#[source] Box<cloister_tls::upstream::UpstreamTlsError>),
    /// A listener's `tls` names files that do not make a TLS server.
    #[error("listener {listen}: {source}")]
    ListenerTls {
        /// The listener.
        listen: String,
        /// Why.
        #[source]
        source: Box<cloister_tls::TlsConfigError>,
    },
}

pub use cloister_net::ListenError;

/// Why the proxy itself answers a client request instead of relaying an upstream's answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProxyError {
    /// The request body is over the configured maximum.
    #[error("request body larger than {limit} bytes")]
    BodyTooLarge {
        /// The maximum.
        limit: usize,
    },
    /// The client's request head was refused.
    #[error("cannot read the request: {0}")]
    BadHead(#[from] HeadError),
    /// The client's request could not be read.
    #[error("cannot read the request: {0}")]
    BadRequest(String),
    /// The client began a request head and did not finish it within `connections.headerTimeoutMs`.
    #[error("no complete request head within {0:?}")]
    HeadTimeout(Duration),
    /// No replica could be reached: every attempt failed before the request was sent.
    #[error("no privacy manager replica is reachable ({attempts} tried)")]
    NoUpstream {
        /// Attempts made.
        attempts: usize,
    },
    /// The replicas were reached but none gave a complete answer before the retry budget ran
    /// out, or the last failure could not be retried safely.
    #[error("no privacy manager replica answered ({attempts} tried): {last}")]
    NoAnswer {
        /// Attempts made.
        attempts: usize,
        /// The last failure, for the client's message.
        last: String,
    },
    /// A write reached a replica that then failed to answer, and repeating it could duplicate
    /// it (it carries no key the node deduplicates on).
    #[error("the replica failed after receiving this {route} request; not retried because repeating it is not safe")]
    NotRetriable {
        /// The route name.
        route: &'static str,
    },
}

impl ProxyError {
    /// Why a client request whose body was being read under `limit` cannot be forwarded.
    pub fn from_read(error: ReadError, limit: usize) -> Self {
        match error {
            ReadError::Head(error) => Self::BadHead(error),
            ReadError::Body(BodyError::TooLarge(_)) => Self::BodyTooLarge { limit },
            other => Self::BadRequest(other.to_string()),
        }
    }

    /// The status the client gets: never 404, because GoQuorum reads a 404 on a transaction
    /// as "not a party" and would silently drop private state.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadHead(HeadError::TooManyHeaders | HeadError::TooLarge(_)) => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            Self::BadHead(HeadError::UnsupportedTransferEncoding) => StatusCode::NOT_IMPLEMENTED,
            Self::BadHead(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::HeadTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::NoUpstream { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::NoAnswer { .. } | Self::NotRetriable { .. } => StatusCode::BAD_GATEWAY,
        }
    }

    /// The outcome label in logs and metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::BodyTooLarge { .. } => "body-too-large",
            Self::BadHead(_) | Self::BadRequest(_) => "bad-request",
            Self::HeadTimeout(_) => "head-timeout",
            Self::NoUpstream { .. } => "no-upstream",
            Self::NoAnswer { .. } => "no-answer",
            Self::NotRetriable { .. } => "not-retriable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_error_is_ever_a_404() {
        let all = [
            ProxyError::BodyTooLarge { limit: 1 },
            ProxyError::BadRequest("x".into()),
            ProxyError::BadHead(HeadError::BadContentLength),
            ProxyError::BadHead(HeadError::TooLarge(1)),
            ProxyError::NoUpstream { attempts: 2 },
            ProxyError::NoAnswer {
                attempts: 2,
                last: "reset".into(),
            },
            ProxyError::NotRetriable { route: "storeraw" },
            ProxyError::HeadTimeout(Duration::from_secs(1)),
        ];
        for error in all {
            assert_ne!(error.status(), StatusCode::NOT_FOUND, "{error}");
        }
        assert_eq!(
            ProxyError::NoUpstream { attempts: 2 }.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
