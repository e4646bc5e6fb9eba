//! A node's privacy path: the HTTP endpoint of its `cloister proxy` or privacy manager, over TCP
//! or a unix socket. GoQuorum cannot process a private transaction while its privacy manager is
//! unreachable, so the gateway checks the path and keeps private calls away from a node whose
//! path fails ([`crate::health`]).

use std::time::Duration;

use bytes::Bytes;
use cloister_protocol::path::{HEALTH as HEALTH_PATH, UPCHECK as UPCHECK_PATH};
use http_body_util::{BodyExt, Empty};
use hyper::header::HOST;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::settings::PrivacyTarget;

/// The `Host` header sent over a unix socket, where there is no host (as curl and GoQuorum do).
const UNIX_HOST: &str = "localhost";

/// One node's privacy path.
#[derive(Debug, Clone)]
pub struct PrivacyPath {
    /// The configured URL, for `/status` and messages.
    pub url: String,
    target: PrivacyTarget,
}

impl PrivacyPath {
    /// A path checked at `target`.
    pub fn new(url: String, target: PrivacyTarget) -> Self {
        Self { url, target }
    }

    /// `GET /health`, or `GET /upcheck` when `/health` is not served; `Ok` for a 2xx answer,
    /// otherwise why not, all within `timeout`.
    pub async fn check(&self, timeout: Duration) -> Result<(), String> {
        let exchange = async {
            match self.get(HEALTH_PATH).await? {
                status if status.is_success() => Ok(()),
                StatusCode::NOT_FOUND => match self.get(UPCHECK_PATH).await? {
                    status if status.is_success() => Ok(()),
                    status => Err(format!(
                        "GET {HEALTH_PATH} answered 404 and GET {UPCHECK_PATH} {status}"
                    )),
                },
                status => Err(format!("GET {HEALTH_PATH} answered {status}")),
            }
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))?
            .map_err(|error| format!("privacy path {}: {error}", self.url))
    }

    /// One GET on a fresh connection: checks are seconds apart, and a fresh connection is what
    /// shows that the path accepts new ones.
    async fn get(&self, path: &str) -> Result<StatusCode, String> {
        match &self.target {
            PrivacyTarget::Tcp { authority, base } => {
                let stream = tokio::net::TcpStream::connect(authority.as_str())
                    .await
                    .map_err(|error| format!("connecting: {error}"))?;
                let _ = stream.set_nodelay(true);
                exchange(stream, authority, &format!("{base}{path}")).await
            }
            PrivacyTarget::Unix(socket) => {
                let stream = tokio::net::UnixStream::connect(socket)
                    .await
                    .map_err(|error| format!("connecting: {error}"))?;
                exchange(stream, UNIX_HOST, path).await
            }
        }
    }
}

async fn exchange<S>(stream: S, host: &str, path: &str) -> Result<StatusCode, String>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| error.to_string())?;
    let driver = tokio::spawn(connection);
    let request = Request::get(path)
        .header(HOST, host)
        .body(Empty::<Bytes>::new())
        .map_err(|error| error.to_string())?;
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|error| error.to_string())?;
        let status = response.status();
        // Read the body so the server sees a clean exchange, not a reset.
        let _ = response.into_body().collect().await;
        Ok(status)
    }
    .await;
    drop(sender);
    driver.abort();
    result
}
