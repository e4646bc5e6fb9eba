//! One persistent HTTP/1.1 connection to any endpoint: a Q2T unix socket, as GoQuorum holds
//! them, or a JSON-RPC server over TCP, as Ethereum clients hold them.
//!
//! GoQuorum keeps its `tm.ipc` connections alive, so the load measures request handling only;
//! the harness's one-request-per-connection client would add a connect and an accept to every
//! request and measure those instead.

use bytes::Bytes;
use cloister_addr::Endpoint;
use cloister_protocol::{header, media, path};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;

/// How long opening a load connection may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A request to make: method, request target, media type and optional body.
#[derive(Debug, Clone)]
pub struct Call {
    /// `GET` or `POST`.
    pub method: Method,
    /// Path and query, already escaped.
    pub target: String,
    /// The media type sent as `Accept` and, with a body, `Content-Type`: Tessera's 2.1 type on
    /// Q2T calls, as GoQuorum sends it, or JSON on JSON-RPC calls.
    pub media: &'static str,
    /// The body; `None` for a GET.
    pub body: Option<Bytes>,
    /// The `Idempotency-Key` to send, if any.
    pub idempotency_key: Option<String>,
}

impl Call {
    /// A Q2T call as GoQuorum makes it.
    pub fn q2t(method: Method, target: impl Into<String>, body: Option<Bytes>) -> Self {
        Self {
            method,
            target: target.into(),
            media: media::TESSERA_2_1,
            body,
            idempotency_key: None,
        }
    }

    /// GoQuorum's `POST /send` of a plain private transaction (`sendRequest`,
    /// goquorum-client.md §2.3): `payload` to `to`, encoded as Go's JSON encoder writes it,
    /// trailing newline included.
    pub fn goquorum_send(payload: &[u8], to: &[String]) -> Self {
        let body = serde_json::json!({
            "payload": cloister_core::b64::encode(payload),
            "to": to,
            "affectedContractTransactions": [],
            "privacyFlag": 0,
            "mandatoryRecipients": null,
        });
        let mut bytes = body.to_string().into_bytes();
        bytes.push(b'\n');
        Self::q2t(Method::POST, path::SEND, Some(Bytes::from(bytes)))
    }
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
    /// `c` over a unix socket, as GoQuorum sends; `host:port` over TCP.
    host: String,
}

impl Connection {
    /// Connects to `endpoint` and completes the HTTP/1.1 handshake. The connection's I/O runs
    /// on its own task for as long as the connection lives; an error there means the server
    /// closed the connection, so the next request on it fails and its worker reconnects.
    pub async fn open(endpoint: &Endpoint) -> anyhow::Result<Self> {
        let stream = cloister_net::connect(endpoint, CONNECT_TIMEOUT).await?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| anyhow::anyhow!("HTTP handshake on {endpoint}: {e}"))?;
        tokio::spawn(connection);
        Ok(Self {
            sender,
            host: endpoint.host_header(),
        })
    }

    /// Sends `call` with the endpoint's headers (GoQuorum's on Q2T) and reads the whole answer.
    pub async fn call(&mut self, call: &Call) -> anyhow::Result<Answer> {
        let request = Request::builder()
            .method(call.method.clone())
            .uri(&call.target)
            .header(HOST, &self.host)
            .header(ACCEPT, call.media);
        let request = match &call.idempotency_key {
            Some(key) => request.header(header::IDEMPOTENCY_KEY, key),
            None => request,
        };
        let request = match &call.body {
            Some(body) => request
                .header(CONTENT_TYPE, call.media)
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
