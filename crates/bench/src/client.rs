//! One persistent HTTP/1.1 connection: to a Q2T unix socket, as GoQuorum holds them, or to a
//! JSON-RPC server over TCP, as Ethereum clients hold them.
//!
//! GoQuorum keeps its `tm.ipc` connections alive, so the load measures request handling only;
//! the harness's one-request-per-connection client would add a connect and an accept to every
//! request and measure those instead.

use std::net::SocketAddr;
use std::path::PathBuf;

use bytes::Bytes;
use cloister_protocol::{header, media, GOQUORUM_HOST};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpStream, UnixStream};

/// Where load goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A Q2T unix socket, spoken to as GoQuorum does.
    Q2t(PathBuf),
    /// A JSON-RPC server (a node or the gateway) on TCP.
    JsonRpc(SocketAddr),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Q2t(path) => write!(f, "{}", path.display()),
            Endpoint::JsonRpc(address) => write!(f, "http://{address}"),
        }
    }
}

/// A request to make: method, request target and optional JSON body.
#[derive(Debug, Clone)]
pub struct Call {
    /// `GET` or `POST`.
    pub method: Method,
    /// Path and query, already escaped.
    pub target: String,
    /// The body; `None` for a GET.
    pub body: Option<Bytes>,
    /// The `Idempotency-Key` to send, if any.
    pub idempotency_key: Option<String>,
}

/// What came back.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: StatusCode,
    /// The whole body.
    pub body: Bytes,
}

/// A keep-alive connection; one per load worker, since HTTP/1.1 carries one request at a time.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    media: &'static str,
}

impl Connection {
    /// Connects to `endpoint` and completes the HTTP/1.1 handshake. The connection's I/O runs
    /// on its own task for as long as the connection lives.
    pub async fn open(endpoint: &Endpoint) -> anyhow::Result<Self> {
        let handshake = |e: hyper::Error| anyhow::anyhow!("HTTP handshake on {endpoint}: {e}");
        let (sender, host, media) = match endpoint {
            Endpoint::Q2t(socket) => {
                let stream = UnixStream::connect(socket).await?;
                let (sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .map_err(handshake)?;
                tokio::spawn(connection);
                // GoQuorum's unix-socket transport addresses every request to host "c", and
                // sends and accepts Tessera's 2.1 media type on Q2T calls.
                (sender, GOQUORUM_HOST.to_owned(), media::TESSERA_2_1)
            }
            Endpoint::JsonRpc(address) => {
                let stream = TcpStream::connect(address).await?;
                // As every HTTP client library does for small request/response exchanges.
                stream.set_nodelay(true)?;
                let (sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .map_err(handshake)?;
                // An error in a connection task means the server closed the connection; the
                // next request on it fails and its worker reconnects.
                tokio::spawn(connection);
                (sender, address.to_string(), media::JSON)
            }
        };
        Ok(Self {
            sender,
            host,
            media,
        })
    }

    /// Sends `call` with the endpoint's headers (GoQuorum's on Q2T) and reads the whole answer.
    pub async fn call(&mut self, call: &Call) -> anyhow::Result<Answer> {
        let request = Request::builder()
            .method(call.method.clone())
            .uri(&call.target)
            .header(HOST, &self.host)
            .header(ACCEPT, self.media);
        let request = match &call.idempotency_key {
            Some(key) => request.header(header::IDEMPOTENCY_KEY, key),
            None => request,
        };
        let request = match &call.body {
            Some(body) => request
                .header(CONTENT_TYPE, self.media)
                .body(Full::new(body.clone()))?,
            None => request.body(Full::new(Bytes::new()))?,
        };
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer { status, body })
    }
}
