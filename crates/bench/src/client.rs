//! One persistent HTTP/1.1 connection to a Q2T unix socket, as GoQuorum holds them.
//!
//! GoQuorum keeps its `tm.ipc` connections alive, so the load measures request handling only;
//! the harness's one-request-per-connection client would add a connect and an accept to every
//! request and measure those instead.

use std::path::Path;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

/// The media type GoQuorum sends and accepts on Q2T calls.
pub const TESSERA_2_1: &str = "application/vnd.tessera-2.1+json";

/// A request to make: method, request target and optional JSON body.
#[derive(Debug, Clone)]
pub struct Call {
    /// `GET` or `POST`.
    pub method: Method,
    /// Path and query, already escaped.
    pub target: String,
    /// The body; `None` for a GET.
    pub body: Option<Bytes>,
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
}

impl Connection {
    /// Connects to `socket` and completes the HTTP/1.1 handshake. The connection's I/O runs
    /// on its own task for as long as the connection lives.
    pub async fn open(socket: &Path) -> anyhow::Result<Self> {
        let stream = UnixStream::connect(socket).await?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| anyhow::anyhow!("HTTP handshake on {}: {e}", socket.display()))?;
        tokio::spawn(async move {
            // An error here means the node closed the connection; the next request on this
            // connection fails and its worker reconnects.
            let _ = connection.await;
        });
        Ok(Self { sender })
    }

    /// Sends `call` with GoQuorum's headers and reads the whole answer.
    pub async fn call(&mut self, call: &Call) -> anyhow::Result<Answer> {
        let request = Request::builder()
            .method(call.method.clone())
            .uri(&call.target)
            // GoQuorum's unix-socket transport addresses every request to host "c".
            .header(HOST, "c")
            .header(ACCEPT, TESSERA_2_1);
        let request = match &call.body {
            Some(body) => request
                .header(CONTENT_TYPE, TESSERA_2_1)
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
