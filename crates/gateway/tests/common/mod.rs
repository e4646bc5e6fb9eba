//! What the gateway tests share: a gateway on its own runtime, a JSON-RPC client, and scripted
//! upstreams that answer as each test says.

#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloister_addr::Endpoint;
use cloister_gateway::{Gateway, GatewaySettings, Mode, UpstreamSettings};
use cloister_harness::http::{eventually, Request, Response};
use cloister_harness::tls::Pem;
use cloister_net::health::Thresholds;
use serde_json::{json, Value};

/// Settings for tests: fast probes, quick ejection.
pub fn settings(mode: Mode, urls: &[String]) -> GatewaySettings {
    let mut settings = GatewaySettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        mode,
        upstreams: urls
            .iter()
            .map(|url| UpstreamSettings::from_arg(url))
            .collect(),
        request_timeout: Duration::from_secs(10),
        ..GatewaySettings::default()
    };
    settings.health.interval = Duration::from_millis(100);
    settings.health.timeout = Duration::from_millis(500);
    settings.health.thresholds = Thresholds {
        fall: 2,
        rise: 2,
        passive_failures: 2,
    };
    settings
}

/// A JSON-RPC call with odd spacing and a string id, which must reach the node byte for byte.
pub const RAW_CALL: &[u8] = br#"{"jsonrpc":"2.0",  "method":"raw","params":[ 1,2 ],"id":"x7"}"#;

/// Checks the answer scripted node `a` gives to [`RAW_CALL`], relayed byte for byte.
pub fn assert_raw_answer(response: &Response) {
    assert_eq!(response.status, 200);
    assert_eq!(
        response.text(),
        r#"{ "result" :"a:raw",  "id":"x7" ,"jsonrpc":"2.0"}"#
    );
}

/// Keeps failing nodes in rotation: no number of failed probes or calls ejects them.
pub fn never_eject(settings: &mut GatewaySettings) {
    settings.health.thresholds.fall = u32::MAX;
    settings.health.thresholds.passive_failures = u32::MAX;
}

/// A gateway running on its own runtime; stopped when dropped.
pub struct Running {
    gateway: Option<Gateway>,
    runtime: tokio::runtime::Runtime,
}

impl Running {
    /// Starts a gateway.
    pub fn start(settings: GatewaySettings) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let gateway = runtime.block_on(Gateway::start(settings)).unwrap();
        Self {
            gateway: Some(gateway),
            runtime,
        }
    }

    /// The runtime, for scripted upstreams.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    /// Stops the gateway as `cloister gateway` does on a signal, returning when it has.
    pub fn shutdown(mut self) {
        let gateway = self.gateway.take().unwrap();
        self.runtime.block_on(gateway.shutdown());
    }

    /// The gateway itself.
    pub fn gateway(&self) -> &Gateway {
        self.gateway.as_ref().unwrap()
    }

    /// Where clients connect.
    pub fn address(&self) -> SocketAddr {
        self.gateway.as_ref().unwrap().local_address()
    }

    /// Where clients reach it.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::from(self.address())
    }

    /// POSTs a JSON body.
    pub fn post(&self, body: &Value) -> Response {
        Request::new("POST", "/")
            .json(body)
            .send(&Endpoint::from(self.address()))
    }

    /// One call; the whole response object.
    pub fn call(&self, method: &str, params: Value) -> Value {
        let response = self.post(&json!({"jsonrpc":"2.0","id":1,"method":method,"params":params}));
        assert_eq!(response.status, 200, "{}", response.text());
        response.json()
    }

    /// One call's result, panicking on an error.
    pub fn result(&self, method: &str, params: Value) -> Value {
        let response = self.call(method, params);
        assert!(response.get("error").is_none(), "{method}: {response}");
        response["result"].clone()
    }

    /// Fails unless four reads in a row reach both scripted nodes, a and b (balanced mode
    /// alternates, so four are plenty).
    pub fn assert_reads_reach_both(&self) {
        let served: Vec<Value> = (0..4)
            .map(|_| self.result("eth_chainId", json!([])))
            .collect();
        assert!(served.contains(&json!("a:eth_chainId")), "{served:?}");
        assert!(served.contains(&json!("b:eth_chainId")), "{served:?}");
    }

    /// `/status`.
    pub fn status(&self) -> Value {
        Request::new("GET", "/status")
            .send(&Endpoint::from(self.address()))
            .json()
    }

    /// `/metrics`.
    pub fn metrics(&self) -> String {
        Request::new("GET", "/metrics")
            .send(&Endpoint::from(self.address()))
            .text()
    }

    /// Asserts that `/status` gives upstream `index` a reason containing `text`, and returns the
    /// status.
    pub fn assert_reason(&self, index: usize, text: &str) -> Value {
        let status = self.status();
        let reason = status["upstreams"][index]["reason"]
            .as_str()
            .unwrap_or_default();
        assert!(reason.contains(text), "{status}");
        status
    }

    /// Waits until upstream `index` is (or is not) healthy.
    pub fn await_health(&self, index: usize, healthy: bool) {
        let reached = eventually(Duration::from_secs(20), || {
            self.status()["upstreams"][index]["healthy"] == healthy
        });
        assert!(
            reached,
            "upstream {index} never became healthy={healthy}: {}",
            self.status()
        );
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.gateway.take());
    }
}

/// The value of a metric line with these labels, or of the metric without labels when
/// `labels` is empty (0 when absent).
pub fn metric(text: &str, name: &str, labels: &str) -> f64 {
    let start = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}}")
    };
    text.lines()
        .find(|l| l.starts_with(&start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// A gateway over scripted upstreams named a, b, ... at `blocks`, with test settings changed
/// by `tune`.
pub fn scripted(
    mode: Mode,
    blocks: &[u64],
    tune: impl FnOnce(&mut GatewaySettings),
) -> (Running, Vec<Scripted>) {
    let runtime = upstream_runtime();
    let upstreams: Vec<Scripted> = blocks
        .iter()
        .enumerate()
        .map(|(i, &block)| Scripted::start(runtime, &((b'a' + i as u8) as char).to_string(), block))
        .collect();
    let urls: Vec<String> = upstreams.iter().map(Scripted::url).collect();
    let mut settings = settings(mode, &urls);
    tune(&mut settings);
    (Running::start(settings), upstreams)
}

/// A runtime for scripted upstreams (and their TLS fronts): it must outlive the test's
/// gateway; one per test, leaked, is simplest (the test process ends soon after).
pub fn upstream_runtime() -> &'static tokio::runtime::Runtime {
    Box::leak(Box::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap(),
    ))
}

/// A scripted upstream: answers `eth_blockNumber` with its `block`, `eth_syncing` with false,
/// `net_peerCount` with 1, new filters with `0x<name>1`, `pad` with a string of as many bytes as
/// its first parameter says, `sleep` over HTTP after as many milliseconds as its first parameter
/// says, methods in `hang` never, and every other method with
/// `"<name>:<method>"` so tests see who served; with `down` set it answers HTTP 503 to all.
/// It answers the same over WebSocket (on any path), one answer per message. Records every
/// call it receives.
#[derive(Clone)]
pub struct Scripted {
    /// Its name (in results).
    pub name: String,
    /// Where it listens.
    pub address: SocketAddr,
    /// Its head block.
    pub block: Arc<AtomicU64>,
    /// Methods it never answers.
    pub hang: Arc<Mutex<HashSet<String>>>,
    /// Answering 503 to everything.
    pub down: Arc<AtomicBool>,
    /// Every request received: (method, raw body, headers, query).
    pub received: Arc<Mutex<Vec<Received>>>,
}

/// One request a scripted upstream received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The method.
    pub method: String,
    /// The body as received.
    pub body: Vec<u8>,
    /// Lower-cased header names and values.
    pub headers: Vec<(String, String)>,
    /// The query string.
    pub query: Option<String>,
}

impl Scripted {
    /// Starts one on `runtime`.
    pub fn start(runtime: &tokio::runtime::Runtime, name: &str, block: u64) -> Self {
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let scripted = Self {
            name: name.to_owned(),
            address: listener.local_addr().unwrap(),
            block: Arc::new(AtomicU64::new(block)),
            hang: Arc::default(),
            down: Arc::default(),
            received: Arc::default(),
        };
        let state = scripted.clone();
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let state = state.clone();
            async move { state.answer(request).await }
        });
        runtime.spawn(async move { axum::serve(listener, app).await });
        scripted
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// How many calls of `method` it received.
    pub fn count(&self, method: &str) -> usize {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.method == method)
            .count()
    }

    async fn answer(&self, request: axum::extract::Request) -> axum::response::Response {
        use axum::extract::FromRequestParts;
        use axum::response::IntoResponse;
        let (mut parts, body) = request.into_parts();
        if let Ok(upgrade) =
            axum::extract::ws::WebSocketUpgrade::from_request_parts(&mut parts, &()).await
        {
            let state = self.clone();
            return upgrade
                .max_message_size(usize::MAX)
                .on_upgrade(move |socket| state.serve_websocket(socket, parts));
        }
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        let (call, method) = self.record(&body, &parts);
        if self.down.load(Ordering::SeqCst) {
            return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
        }
        if self.hang.lock().unwrap().contains(&method) {
            std::future::pending::<()>().await;
        }
        if method == "sleep" {
            let ms = call["params"][0].as_u64().unwrap_or_default();
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            self.answer_text(&call, &method),
        )
            .into_response()
    }

    /// One answer per text message, none for methods in `hang`.
    async fn serve_websocket(
        self,
        mut socket: axum::extract::ws::WebSocket,
        parts: axum::http::request::Parts,
    ) {
        use axum::extract::ws::Message;
        while let Some(Ok(message)) = socket.recv().await {
            let Message::Text(text) = message else {
                continue;
            };
            let (call, method) = self.record(text.as_bytes(), &parts);
            if self.hang.lock().unwrap().contains(&method) {
                continue;
            }
            let answer = Message::text(self.answer_text(&call, &method));
            if socket.send(answer).await.is_err() {
                return;
            }
        }
    }

    /// Records a call; its JSON and method.
    fn record(&self, body: &[u8], parts: &axum::http::request::Parts) -> (Value, String) {
        let call: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let method = call["method"].as_str().unwrap_or_default().to_owned();
        self.received.lock().unwrap().push(Received {
            method: method.clone(),
            body: body.to_vec(),
            headers: parts
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        v.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
            query: parts.uri.query().map(str::to_owned),
        });
        (call, method)
    }

    /// The JSON-RPC answer to `call`.
    fn answer_text(&self, call: &Value, method: &str) -> String {
        let result = match method {
            "eth_blockNumber" => json!(format!("0x{:x}", self.block.load(Ordering::SeqCst))),
            "eth_syncing" => json!(false),
            "net_peerCount" => json!("0x1"),
            // Filter ids are hex quantities on real nodes: 0xa1 from a, 0xb1 from b.
            "eth_newBlockFilter" | "eth_newFilter" => json!(format!("0x{}1", self.name)),
            "raw" => {
                // Odd spacing and member order, to show the gateway does not re-serialise.
                return format!(
                    r#"{{ "result" :"{}:raw",  "id":{} ,"jsonrpc":"2.0"}}"#,
                    self.name, call["id"]
                );
            }
            "pad" => {
                let size = call["params"][0].as_u64().unwrap_or_default();
                json!("p".repeat(usize::try_from(size).unwrap()))
            }
            other => json!(format!("{}:{other}", self.name)),
        };
        json!({"jsonrpc":"2.0","id":call["id"],"result":result}).to_string()
    }
}

/// A TLS front for tests: terminates TLS with a certificate and relays the bytes to a plain
/// upstream, so a scripted node is also an `https://` and `wss://` one.
pub struct TlsFront {
    /// Where it listens.
    pub address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TlsFront {
    /// Fronts `upstream` on `runtime` with the certificate and key of `pem`.
    pub fn start(runtime: &tokio::runtime::Runtime, upstream: SocketAddr, pem: &Pem) -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain = CertificateDer::pem_file_iter(&pem.certificate)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(&pem.key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(cloister_tls::crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let address = listener.local_addr().unwrap();
        let task = runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut client) = acceptor.accept(client).await else {
                        return;
                    };
                    if let Ok(mut node) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut node).await;
                    }
                });
            }
        });
        Self { address, task }
    }

    /// Stops accepting (connections it already relays go on).
    pub fn stop(&self) {
        self.task.abort();
    }
}
