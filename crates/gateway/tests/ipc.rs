//! IPC upstreams: a scripted JSON-RPC server on a real unix socket speaking geth's IPC framing
//! (JSON values back to back, answers cut into pieces written apart), behind the gateway as the
//! primary with a scripted HTTP node as backup: calls, batches and notifications over IPC, bytes
//! untouched, health probes, failover when the IPC node dies and return when it restarts.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloister_gateway::Mode;
use cloister_harness::http::Request;
use common::{assert_raw_answer, settings, Running, Scripted, RAW_CALL};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

const INTERNAL_ERROR: i64 = -32603;

/// A scripted node on an IPC socket: answers like [`Scripted`] (`"<name>:<method>"`, its block
/// for `eth_blockNumber`), `raw` with odd spacing, methods in `hang` never, notifications not at
/// all; records every request body.
#[derive(Clone)]
struct IpcNode {
    name: String,
    path: PathBuf,
    block: Arc<AtomicU64>,
    hang: Arc<Mutex<HashSet<String>>>,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
    /// The accept loop and every connection, aborted by `kill`.
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl IpcNode {
    fn start(runtime: &tokio::runtime::Runtime, name: &str, path: &Path, block: u64) -> Self {
        let node = Self {
            name: name.to_owned(),
            path: path.to_owned(),
            block: Arc::new(AtomicU64::new(block)),
            hang: Arc::default(),
            received: Arc::default(),
            tasks: Arc::default(),
        };
        node.listen(runtime);
        node
    }

    fn listen(&self, runtime: &tokio::runtime::Runtime) {
        let _ = std::fs::remove_file(&self.path);
        let listener = {
            let _guard = runtime.enter();
            UnixListener::bind(&self.path).unwrap()
        };
        let node = self.clone();
        let accept = runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let connection = tokio::spawn(node.clone().serve(stream));
                node.tasks.lock().unwrap().push(connection);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Stops listening and drops every connection, as a dying node does.
    fn kill(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
        let _ = std::fs::remove_file(&self.path);
    }

    async fn serve(self, mut stream: UnixStream) {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            // Take as many whole values as the buffer holds (each with its raw bytes); keep the
            // rest for the next read.
            let mut values = serde_json::Deserializer::from_slice(&buffer).into_iter::<Value>();
            let mut calls = Vec::new();
            let mut consumed = 0;
            while let Some(Ok(value)) = values.next() {
                let end = values.byte_offset();
                calls.push((value, buffer[consumed..end].trim_ascii().to_vec()));
                consumed = end;
            }
            buffer.drain(..consumed);
            for (call, raw) in calls {
                self.received.lock().unwrap().push(raw);
                if let Some(answer) = self.answer(&call) {
                    // Cut in two, written apart: the gateway must reassemble the value.
                    let (first, second) = answer.split_at(answer.len() / 2);
                    stream.write_all(first).await.unwrap();
                    stream.flush().await.unwrap();
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    stream.write_all(second).await.unwrap();
                } else if self.hangs(&call) {
                    std::future::pending::<()>().await;
                }
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn hangs(&self, call: &Value) -> bool {
        let method = call["method"].as_str().unwrap_or_default();
        self.hang.lock().unwrap().contains(method)
    }

    /// The answer's bytes: no delimiter after it, as geth's framing allows.
    fn answer(&self, call: &Value) -> Option<Vec<u8>> {
        let id = call.get("id")?;
        if self.hangs(call) {
            return None;
        }
        let method = call["method"].as_str().unwrap_or_default();
        if method == "raw" {
            let text = format!(
                r#"{{ "result" :"{}:raw",  "id":{id} ,"jsonrpc":"2.0"}}"#,
                self.name
            );
            return Some(text.into_bytes());
        }
        let result = match method {
            "eth_blockNumber" => json!(format!("0x{:x}", self.block.load(Ordering::SeqCst))),
            "eth_syncing" => json!(false),
            "net_peerCount" => json!("0x1"),
            other => json!(format!("{}:{other}", self.name)),
        };
        Some(
            json!({"jsonrpc": "2.0", "id": id, "result": result})
                .to_string()
                .into_bytes(),
        )
    }

    fn count(&self, method: &str) -> usize {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|body| {
                serde_json::from_slice::<Value>(body).unwrap()["method"].as_str() == Some(method)
            })
            .count()
    }
}

/// A fresh directory for a test's sockets, removed when dropped.
fn socket_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("gw-{name}-"))
        .tempdir()
        .unwrap()
}

/// The gateway in primary-backup over the IPC node `a` and the HTTP node `b`.
fn ipc_then_http(
    dir: &Path,
    tune: impl FnOnce(&mut cloister_gateway::GatewaySettings),
) -> (Running, IpcNode, Scripted, &'static tokio::runtime::Runtime) {
    let runtime = Box::leak(Box::new(tokio::runtime::Runtime::new().unwrap()));
    let ipc = IpcNode::start(runtime, "a", &dir.join("geth.ipc"), 7);
    let http = Scripted::start(runtime, "b", 7);
    let mut settings = settings(
        Mode::PrimaryBackup,
        &[format!("ipc:{}", ipc.path.display()), http.url()],
    );
    tune(&mut settings);
    (Running::start(settings), ipc, http, runtime)
}

#[test]
fn an_ipc_upstream_serves_calls_batches_and_notifications_byte_for_byte() {
    let dir = socket_dir("ipc-serve");
    let dir = dir.path();
    let (gateway, ipc, http, _) = ipc_then_http(dir, |_| {});
    let status = gateway.status();
    let upstream = &status["upstreams"][0];
    assert_eq!(upstream["healthy"], true, "{status}");
    assert_eq!(upstream["block"], 7, "{status}");
    assert_eq!(
        upstream["url"],
        format!("ipc:{}", dir.join("geth.ipc").display())
    );
    assert!(ipc.count("eth_blockNumber") >= 1);

    assert_eq!(gateway.result("eth_chainId", json!([])), "a:eth_chainId");
    let body = RAW_CALL.to_vec();
    let response = Request::new("POST", "/")
        .body_with_type("application/json", body.clone())
        .send(&gateway.endpoint());
    assert_raw_answer(&response);
    assert!(ipc.received.lock().unwrap().contains(&body));

    let batch = json!([
        {"jsonrpc": "2.0", "id": "one", "method": "eth_getBalance", "params": ["0x1", "latest"]},
        {"jsonrpc": "2.0", "method": "eth_notify", "params": []},
        {"jsonrpc": "2.0", "id": null, "method": "net_version", "params": []},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_gasPrice", "params": []},
    ]);
    let answers = gateway.post(&batch).json();
    assert_eq!(
        answers,
        json!([
            {"jsonrpc": "2.0", "id": "one", "result": "a:eth_getBalance"},
            {"jsonrpc": "2.0", "id": null, "result": "a:net_version"},
            {"jsonrpc": "2.0", "id": 3, "result": "a:eth_gasPrice"},
        ])
    );
    // A notification is answered by nothing; the node gets it all the same.
    assert!(cloister_harness::http::eventually(
        Duration::from_secs(5),
        || ipc.count("eth_notify") == 1
    ));

    // Many at once: each gets its own connection's answer, none another call's.
    std::thread::scope(|scope| {
        for worker in 0..8 {
            let gateway = &gateway;
            scope.spawn(move || {
                for n in 0..20 {
                    let id = worker * 100 + n;
                    let answer = gateway.post(&json!({"jsonrpc": "2.0", "id": id, "method": format!("m{id}"), "params": []})).json();
                    assert_eq!(answer["id"], id);
                    assert_eq!(answer["result"], format!("a:m{id}"));
                }
            });
        }
    });
    assert_eq!(http.count("eth_chainId"), 0);
}

#[test]
fn calls_carrying_credentials_or_a_psi_skip_an_ipc_upstream() {
    let dir = socket_dir("ipc-psi");
    let dir = dir.path();
    let (gateway, ipc, http, _) = ipc_then_http(dir, |_| {});
    let call =
        json!({"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": ["0x1", "latest"]});
    let response = Request::new("POST", "/")
        .header("Quorum-PSI", "tenant1")
        .json(&call)
        .send(&gateway.endpoint());
    assert_eq!(response.json()["result"], "b:eth_getBalance");
    let response = Request::new("POST", "/?PSI=tenant1")
        .json(&call)
        .send(&gateway.endpoint());
    assert_eq!(response.json()["result"], "b:eth_getBalance");
    assert_eq!(ipc.count("eth_getBalance"), 0);
    assert_eq!(http.count("eth_getBalance"), 2);
    // Not a sign of ill health.
    assert_eq!(
        gateway.status()["upstreams"][0]["consecutiveRequestFailures"],
        0
    );
    assert_eq!(gateway.result("eth_chainId", json!([])), "a:eth_chainId");
}

#[test]
fn an_ipc_node_that_dies_fails_over_and_comes_back_after_restarting() {
    let dir = socket_dir("ipc-failover");
    let dir = dir.path();
    let (gateway, ipc, http, runtime) = ipc_then_http(dir, |s| {
        s.method_timeouts
            .insert("eth_sendTransaction".into(), Duration::from_millis(300));
    });
    assert_eq!(gateway.result("eth_chainId", json!([])), "a:eth_chainId");

    // A write that was sent and never answered is not sent again.
    ipc.hang
        .lock()
        .unwrap()
        .insert("eth_sendTransaction".into());
    let response = gateway.call("eth_sendTransaction", json!([{"from": "0xabc"}]));
    assert_eq!(response["error"]["code"], INTERNAL_ERROR, "{response}");
    let message = response["error"]["message"].as_str().unwrap();
    assert!(message.contains("may have been executed"), "{message}");
    assert_eq!(ipc.count("eth_sendTransaction"), 1);
    assert_eq!(http.count("eth_sendTransaction"), 0);

    ipc.kill();
    // The very next read is served by the backup: the pooled connections are seen closed and
    // the socket refuses, so the call never left.
    assert_eq!(gateway.result("eth_chainId", json!([])), "b:eth_chainId");
    // And a write too, since it provably was not sent to the dead node.
    ipc.hang.lock().unwrap().clear();
    assert_eq!(
        gateway.result("eth_sendTransaction", json!([{"from": "0xabc"}])),
        "b:eth_sendTransaction"
    );
    gateway.await_health(0, false);
    gateway.assert_reason(0, "ejected");

    ipc.listen(runtime);
    gateway.await_health(0, true);
    assert_eq!(gateway.result("eth_chainId", json!([])), "a:eth_chainId");
}
