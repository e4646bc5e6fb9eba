//! The gateway's keep-alive connections to a node, against a node written at the byte level so
//! the test decides when a connection closes: answered calls reuse one connection and carry
//! the node's `Host` and an origin-form target, and a connection the node closed while idle
//! (as Node.js, so ganache, does after its keep-alive timeout) is replaced without the client
//! seeing an error.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloister_gateway::Mode;
use cloister_harness::http::{eventually, Request};
use common::{never_eject, settings, upstream_runtime, Running};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A JSON-RPC node over hand-written HTTP/1.1: `eth_syncing` answers `false`, every other
/// method `"0x1"`. Counts the connections it accepts and records each request's head.
struct RawNode {
    address: SocketAddr,
    connections: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
}

impl RawNode {
    /// Starts one; with `close_after_answer` it closes every connection right after its
    /// first answer, without a `Connection: close` to warn the client.
    fn start(close_after_answer: bool) -> Self {
        let runtime = upstream_runtime();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let node = Self {
            address: listener.local_addr().unwrap(),
            connections: Arc::default(),
            heads: Arc::default(),
        };
        let (connections, heads) = (node.connections.clone(), node.heads.clone());
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, close_after_answer, heads.clone()));
            }
        });
        node
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The heads of the requests that carried `method`.
    fn heads_of(&self, method: &str) -> Vec<String> {
        let marker = format!("x-method: {method}\r\n");
        self.heads
            .lock()
            .unwrap()
            .iter()
            .filter(|head| head.contains(&marker))
            .cloned()
            .collect()
    }
}

/// Answers the requests of one connection, one at a time.
async fn serve(mut stream: TcpStream, close_after_answer: bool, heads: Arc<Mutex<Vec<String>>>) {
    let mut buffer = Vec::new();
    while let Some((mut head, body)) = read_request(&mut stream, &mut buffer).await {
        let call: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let method = call["method"].as_str().unwrap_or_default();
        let result = if method == "eth_syncing" {
            json!(false)
        } else {
            json!("0x1")
        };
        // Recorded with the method, so a test can tell its calls from the health probes.
        head.push_str(&format!("x-method: {method}\r\n"));
        heads.lock().unwrap().push(head);
        let answer = json!({"jsonrpc":"2.0","id":call["id"],"result":result}).to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() || close_after_answer {
            return;
        }
    }
}

/// The next request's head (lower-cased, without the blank line) and body; `None` once the
/// client closes.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        fill(stream, buffer).await?;
    };
    let head = String::from_utf8_lossy(&buffer[..head_end - 2]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        fill(stream, buffer).await?;
    }
    let request: Vec<u8> = buffer.drain(..head_end + length).collect();
    Some((head, request[head_end..].to_vec()))
}

async fn fill(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0; 4096];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(read) => {
            buffer.extend_from_slice(&chunk[..read]);
            Some(())
        }
    }
}

/// The asks of one health probe: `eth_blockNumber`, `eth_syncing`, `net_peerCount`.
const PROBE_ASKS: usize = 3;

/// A gateway over `node` alone that probes it once at start, so the test's calls are the
/// only traffic after that; returns once that probe has reached the node.
fn gateway_over(node: &RawNode) -> Running {
    let mut settings = settings(Mode::PrimaryBackup, &[node.url()]);
    settings.health.interval = Duration::from_secs(3600);
    never_eject(&mut settings);
    let gateway = Running::start(settings);
    let probed = eventually(Duration::from_secs(10), || {
        node.heads.lock().unwrap().len() >= PROBE_ASKS
    });
    assert!(probed, "the start-up probe never reached the node");
    gateway
}

#[test]
fn calls_reuse_one_connection_with_the_nodes_host_and_an_origin_form_target() {
    let node = RawNode::start(false);
    let gateway = gateway_over(&node);
    let before = node.connections.load(Ordering::SeqCst);
    for id in 0..20 {
        let response = Request::new("POST", "/?PSI=tenant1")
            .json(&json!({"jsonrpc":"2.0","id":id,"method":"eth_chainId","params":[]}))
            .send(&gateway.endpoint());
        assert_eq!(response.json()["result"], "0x1", "{}", response.text());
    }
    // The start-up probe's parallel asks may have opened one each; twenty calls one after
    // another need none more.
    let opened = node.connections.load(Ordering::SeqCst);
    assert!(before <= PROBE_ASKS, "{before} connections for one probe");
    assert_eq!(opened, before, "calls opened new connections");

    let heads = node.heads_of("eth_chainId");
    assert_eq!(heads.len(), 20);
    let host = format!("host: {}\r\n", node.address);
    for head in heads {
        assert!(
            head.starts_with("post /?psi=tenant1 http/1.1\r\n"),
            "{head}"
        );
        assert!(head.contains(&host), "{head}");
    }
}

#[test]
fn a_connection_the_node_closed_while_idle_is_replaced_without_an_error() {
    let node = RawNode::start(true);
    let gateway = gateway_over(&node);
    let before = node.connections.load(Ordering::SeqCst);
    for _ in 0..5 {
        // Long enough for the node's close to reach the gateway before the next call.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(gateway.result("eth_chainId", json!([])), "0x1");
    }
    assert_eq!(node.heads_of("eth_chainId").len(), 5);
    assert_eq!(node.connections.load(Ordering::SeqCst), before + 5);
}
