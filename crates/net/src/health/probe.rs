//! The probe of a privacy manager or proxy: `GET /health` on a fresh connection, and where that
//! answers 404 (Tessera, an older Cloister) `GET /upcheck` from then on. Any 2xx passes. The
//! request carries the `Host` GoQuorum would send ([`Endpoint::host_header`]), so a replica sees
//! a check as it sees GoQuorum. A fresh connection per check: checks are seconds apart, and a
//! fresh connection is what proves the target still accepts them. An `https://` target is
//! checked over TLS.
//!
//! A front that relays TLS connections without terminating them cannot ask anything over
//! HTTP (the replica wants a client certificate the front does not have): its probe is
//! [`Probe::handshake`], which passes when the target answers a TLS handshake. A stopped
//! process still has its TCP connections accepted by the kernel; only an answer proves it runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cloister_addr::Endpoint;
use cloister_protocol::path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use tokio_rustls::TlsConnector;

use crate::connect::connect_tls;

/// The longest answer head a probe reads.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Why a check failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// No connection could be made.
    #[error("connecting: {0}")]
    Connect(std::io::Error),
    /// The connection broke before a whole status line came back.
    #[error("GET {path}: {source}")]
    Io {
        /// The path asked for.
        path: &'static str,
        /// What broke.
        source: std::io::Error,
    },
    /// What came back is not an HTTP/1.x answer.
    #[error("GET {path}: the answer is not HTTP")]
    NotHttp {
        /// The path asked for.
        path: &'static str,
    },
    /// The answer's status is not 2xx.
    #[error("GET {path} answered {status}")]
    Status {
        /// The path asked for.
        path: &'static str,
        /// The status.
        status: u16,
    },
    /// No answer within the timeout.
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(Duration),
}

/// The probe of one target; remembers whether it serves `/health`.
pub struct Probe {
    endpoint: Endpoint,
    check: Check,
}

/// What a probe asks.
enum Check {
    /// `GET /health`, or `/upcheck` once `/health` answered 404; over TLS with `tls` for an
    /// `https://` target.
    Http {
        tls: Option<TlsConnector>,
        upcheck_only: AtomicBool,
    },
    /// A TLS handshake only ([`Probe::handshake`]).
    Handshake(TlsConnector),
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("endpoint", &self.endpoint)
            .field("path", &self.path())
            .finish_non_exhaustive()
    }
}

impl Probe {
    /// A probe of the HTTP server at `endpoint` (its path, if any, prefixes the checked paths).
    pub fn new(endpoint: Endpoint) -> Self {
        Self::with_tls(endpoint, None)
    }

    /// A probe of the HTTP server at `endpoint`, over TLS with `tls` when it is `https://`.
    pub fn with_tls(endpoint: Endpoint, tls: Option<TlsConnector>) -> Self {
        let upcheck_only = AtomicBool::new(false);
        Self {
            endpoint,
            check: Check::Http { tls, upcheck_only },
        }
    }

    /// A probe that passes when the TLS server at `endpoint` answers a handshake with
    /// `tls` (whose verifier should accept any certificate: this checks life, not trust). A
    /// handshake the server ends with an alert passes too: it was answered.
    pub fn handshake(endpoint: Endpoint, tls: TlsConnector) -> Self {
        Self {
            endpoint,
            check: Check::Handshake(tls),
        }
    }

    /// The endpoint probed.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The path checked now: `/health`, or `/upcheck` once `/health` answered 404 (empty for
    /// a handshake probe).
    pub fn path(&self) -> &'static str {
        match &self.check {
            Check::Handshake(_) => "",
            Check::Http { upcheck_only, .. } if upcheck_only.load(Ordering::Relaxed) => {
                path::UPCHECK
            }
            Check::Http { .. } => path::HEALTH,
        }
    }

    /// One check, all of it (connects included) within `timeout`.
    pub async fn check(&self, timeout: Duration) -> Result<(), ProbeError> {
        tokio::time::timeout(timeout, self.check_unbounded(timeout))
            .await
            .map_err(|_| ProbeError::Timeout(timeout))?
    }

    async fn check_unbounded(&self, timeout: Duration) -> Result<(), ProbeError> {
        let (tls, upcheck_only) = match &self.check {
            Check::Handshake(tls) => return self.shake(tls, timeout).await,
            Check::Http { tls, upcheck_only } => (tls.as_ref(), upcheck_only),
        };
        loop {
            let path = self.path();
            match self.get(path, tls, timeout).await? {
                status if (200..300).contains(&status) => return Ok(()),
                404 if path == path::HEALTH => {
                    tracing::info!(target = %self.endpoint, "no /health here; checking /upcheck instead");
                    upcheck_only.store(true, Ordering::Relaxed);
                }
                status => return Err(ProbeError::Status { path, status }),
            }
        }
    }

    /// One TLS handshake on a fresh connection.
    async fn shake(&self, tls: &TlsConnector, timeout: Duration) -> Result<(), ProbeError> {
        match connect_tls(&self.endpoint, timeout, Some(tls)).await {
            Ok(_) => Ok(()),
            Err(error) if alert_received(&error) => Ok(()),
            Err(error) => Err(ProbeError::Connect(error)),
        }
    }

    /// One `GET` on a fresh connection (TLS with `tls` to an `https://` target); the answer's
    /// status.
    async fn get(
        &self,
        path: &'static str,
        tls: Option<&TlsConnector>,
        timeout: Duration,
    ) -> Result<u16, ProbeError> {
        let mut stream = connect_tls(&self.endpoint, timeout, tls)
            .await
            .map_err(ProbeError::Connect)?;
        let base = self.endpoint.path().trim_end_matches('/');
        let request = format!(
            "GET {base}{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.endpoint.host_header()
        );
        let io = |source| ProbeError::Io { path, source };
        stream.write_all(request.as_bytes()).await.map_err(io)?;
        // Read until the head is whole: a check needs the status, and a target that keeps the
        // connection open, or keeps talking, must not hold the check or cost it memory.
        let mut answer = Vec::with_capacity(1024);
        let mut chunk = [0u8; 4096];
        loop {
            let read = stream.read(&mut chunk).await.map_err(io)?;
            answer.extend_from_slice(&chunk[..read]);
            match head_status(&answer) {
                Head::Complete(status) => return Ok(status),
                Head::Partial if read > 0 && answer.len() < MAX_ANSWER_BYTES => {}
                Head::Partial | Head::Invalid => return Err(ProbeError::NotHttp { path }),
            }
        }
    }
}

/// Whether a failed handshake failed on the server's own alert: the server is there and
/// speaking TLS.
fn alert_received(error: &std::io::Error) -> bool {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|error| matches!(error, rustls::Error::AlertReceived(_)))
}

/// What the bytes of an answer so far say.
enum Head {
    /// A whole head with this status.
    Complete(u16),
    /// Not a whole head yet.
    Partial,
    /// Not HTTP/1.x.
    Invalid,
}

/// The status of an HTTP/1.x answer once its head is whole.
fn head_status(answer: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(answer) {
        Ok(httparse::Status::Complete(_)) => response.code.map_or(Head::Invalid, Head::Complete),
        Ok(httparse::Status::Partial) => Head::Partial,
        Err(_) => Head::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(answer: &[u8]) -> Option<u16> {
        match head_status(answer) {
            Head::Complete(status) => Some(status),
            Head::Partial | Head::Invalid => None,
        }
    }

    #[test]
    fn a_status_is_read_once_the_head_is_whole() {
        assert_eq!(status(b"HTTP/1.1 200 OK\r\n\r\nI'm up!"), Some(200));
        assert_eq!(
            status(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"),
            Some(503)
        );
        assert!(matches!(
            head_status(b"HTTP/1.1 503 Service Un"),
            Head::Partial
        ));
        assert!(matches!(head_status(b"SSH-2.0-OpenSSH\r\n"), Head::Invalid));
    }
}
