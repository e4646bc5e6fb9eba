//! What a hostile or broken client can cost the gateway, over real sockets: a request head that
//! never ends, more connections than its address may hold, and WebSocket clients that flood
//! calls or stop reading. Each is held to its bound while other clients are served.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloister_addr::Endpoint;
use cloister_gateway::Mode;
use cloister_harness::http::{eventually, Request};
use common::{metric, scripted, Running};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// The header timeout the tests set: short, so a test waits little for it.
const HEADER_TIMEOUT: Duration = Duration::from_millis(300);

/// Long enough for a loaded machine; only reached when something never happens.
const PATIENCE: Duration = Duration::from_secs(20);

/// `maxWebSocketInFlight` in the WebSocket tests.
const IN_FLIGHT: usize = 8;

/// How long a raw connection takes to end, failing the test if it stays open past `PATIENCE`.
fn time_to_close(stream: &mut TcpStream) -> Duration {
    let started = Instant::now();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(error) if error.kind() == ErrorKind::ConnectionReset => {}
        Err(error) => panic!("the connection stayed open ({error})"),
    }
    // hyper may say why before it closes; it never answers the request.
    assert!(
        !String::from_utf8_lossy(&rest).contains(" 200 "),
        "{rest:?}"
    );
    started.elapsed()
}

/// One JSON-RPC call on a kept-alive connection; the answer's `result`.
fn call_on(stream: &mut TcpStream, method: &str) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}).to_string();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut raw = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        let read = stream.read(&mut buffer).unwrap();
        assert!(read > 0, "closed mid-answer: {raw:?}");
        raw.extend_from_slice(&buffer[..read]);
        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        if raw.len() >= end + 4 + length {
            let answer: Value = serde_json::from_slice(&raw[end + 4..end + 4 + length]).unwrap();
            return answer["result"].clone();
        }
    }
}

#[test]
fn a_half_sent_request_head_is_closed_within_the_header_timeout_while_calls_succeed() {
    let (gateway, _nodes) = scripted(Mode::PrimaryBackup, &[1], |s| {
        s.listener.header_timeout = Some(HEADER_TIMEOUT);
    });
    let mut half = TcpStream::connect(gateway.address()).unwrap();
    half.write_all(b"POST / HTTP/1.1\r\nHost: gateway\r\nContent-Ty")
        .unwrap();
    let mut silent = TcpStream::connect(gateway.address()).unwrap();
    let mut kept_alive = TcpStream::connect(gateway.address()).unwrap();
    let started = Instant::now();
    // Meanwhile whole calls are answered, and keep their connection open between them.
    assert_eq!(call_on(&mut kept_alive, "eth_chainId"), "a:eth_chainId");
    assert_eq!(gateway.result("eth_chainId", json!([])), "a:eth_chainId");
    assert_eq!(call_on(&mut kept_alive, "eth_chainId"), "a:eth_chainId");

    for stream in [&mut half, &mut silent, &mut kept_alive] {
        time_to_close(stream);
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < HEADER_TIMEOUT + Duration::from_secs(5),
        "{elapsed:?}"
    );
    // An idle keep-alive connection is closed by the same timer, counted from its last answer.
    let mut idle = TcpStream::connect(gateway.address()).unwrap();
    call_on(&mut idle, "eth_chainId");
    let waited = time_to_close(&mut idle);
    assert!(waited >= HEADER_TIMEOUT / 2, "{waited:?}");
    assert_eq!(gateway.result("eth_chainId", json!([])), "a:eth_chainId");
}

#[test]
fn a_connection_over_the_per_address_bound_is_closed_at_once_and_the_others_still_work() {
    let (gateway, _nodes) = scripted(Mode::PrimaryBackup, &[1], |s| {
        s.listener.connections.max_per_ip = 2;
    });
    let mut first = TcpStream::connect(gateway.address()).unwrap();
    let mut second = TcpStream::connect(gateway.address()).unwrap();
    assert_eq!(call_on(&mut first, "eth_chainId"), "a:eth_chainId");
    assert_eq!(call_on(&mut second, "eth_chainId"), "a:eth_chainId");

    let mut third = TcpStream::connect(gateway.address()).unwrap();
    // Writing may already fail: the gateway closed it on accepting it.
    let _ = third.write_all(b"POST / HTTP/1.1\r\nHost: gateway\r\nContent-Length: 2\r\n\r\n{}");
    let waited = time_to_close(&mut third);
    // Well before the header timeout (30 s by default) could have closed it.
    assert!(waited < Duration::from_secs(5), "{waited:?}");

    assert_eq!(call_on(&mut first, "eth_blockNumber"), "0x1");
    assert_eq!(call_on(&mut second, "eth_blockNumber"), "0x1");
    // Another address is not held to this one's bound.
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"});
    let other = Request::new("POST", "/")
        .json(&call)
        .send_from(&Endpoint::from(gateway.address()), "127.0.0.2")
        .unwrap();
    assert_eq!(other.json()["result"], "a:eth_chainId");

    // A connection that ends gives its place back.
    drop(second);
    let admitted = eventually(PATIENCE, || {
        let mut again = TcpStream::connect(gateway.address()).unwrap();
        again.set_read_timeout(Some(PATIENCE)).unwrap();
        std::panic::catch_unwind(move || call_on(&mut again, "eth_chainId")).is_ok()
    });
    assert!(admitted, "the closed connection's place was not given back");
}

#[test]
fn shutdown_finishes_the_call_in_flight_and_does_not_wait_for_idle_connections() {
    let (gateway, nodes) = scripted(Mode::PrimaryBackup, &[1], |_| {});
    let mut idle = TcpStream::connect(gateway.address()).unwrap();
    call_on(&mut idle, "eth_chainId");
    let endpoint = Endpoint::from(gateway.address());
    let slow = std::thread::spawn(move || {
        let call = json!({"jsonrpc": "2.0", "id": 1, "method": "sleep", "params": [1000]});
        Request::new("POST", "/").json(&call).send(&endpoint)
    });
    assert!(eventually(PATIENCE, || nodes[0].count("sleep") == 1));
    let address = gateway.address();
    let started = Instant::now();
    gateway.shutdown();
    // Well before the idle connection's header timeout (30 s by default) would have ended it.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let answer = slow.join().unwrap();
    assert_eq!(answer.json()["result"], "a:sleep");
    time_to_close(&mut idle);
    assert!(TcpStream::connect(address).is_err(), "still listening");
}

/// A client WebSocket to the gateway, split: the sending half, and the receiving half the test
/// leaves unread.
fn websocket(gateway: &Running) -> (WsSink, WsStream) {
    let url = format!("ws://{}/", gateway.address());
    let (socket, _) = gateway
        .runtime()
        .block_on(tokio_tungstenite::connect_async(url))
        .unwrap();
    socket.split()
}

type WsSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
type WsSink = futures_util::stream::SplitSink<WsSocket, Message>;
type WsStream = futures_util::stream::SplitStream<WsSocket>;

/// Sends `count` messages made by `message` in a task, counting those the socket took.
fn flood(
    gateway: &Running,
    mut sink: WsSink,
    count: usize,
    message: impl Fn(usize) -> String + Send + 'static,
) -> Arc<AtomicUsize> {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    gateway.runtime().spawn(async move {
        for id in 0..count {
            if sink.send(Message::text(message(id))).await.is_err() {
                return;
            }
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    sent
}

#[test]
fn a_websocket_client_flooding_calls_without_reading_is_held_to_its_in_flight_bound() {
    let (gateway, nodes) = scripted(Mode::PrimaryBackup, &[1], |s| {
        s.max_websocket_in_flight = IN_FLIGHT;
        // No call times out (freeing its slot) while the test watches.
        s.request_timeout = Duration::from_secs(120);
    });
    // Account-scoped calls are answered by the gateway over HTTP; the node never answers
    // these, so every one read stays in flight.
    nodes[0]
        .hang
        .lock()
        .unwrap()
        .insert("eth_sendTransaction".into());
    let (sink, _unread) = websocket(&gateway);
    const CALLS: usize = 10_000;
    // Big enough that the kernel's socket buffers cannot take them all.
    let padding = "0".repeat(4096);
    let sent = flood(&gateway, sink, CALLS, move |id| {
        let tx = json!({"from": "0x90f8bf6a479f320ead074411a4b0e7944ea8c9c1", "data": padding});
        json!({"jsonrpc": "2.0", "id": id, "method": "eth_sendTransaction", "params": [tx]})
            .to_string()
    });
    let in_flight = || {
        metric(
            &gateway.metrics(),
            "cloister_gateway_websocket_in_flight",
            "",
        )
    };
    let full = eventually(PATIENCE, || in_flight() >= IN_FLIGHT as f64);
    assert!(full, "the bound was never reached: {}", in_flight());

    let watching = Instant::now();
    while watching.elapsed() < Duration::from_secs(2) {
        let now = in_flight();
        assert!(now <= IN_FLIGHT as f64, "{now} calls in flight");
        // Other clients are served meanwhile.
        assert_eq!(gateway.result("eth_chainId", json!([])), "a:eth_chainId");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The gateway stopped reading, so the client's socket stopped taking its messages.
    let taken = sent.load(Ordering::SeqCst);
    assert!(taken < CALLS, "all {taken} messages were read");
    assert_eq!(in_flight(), IN_FLIGHT as f64);
}

#[test]
fn a_websocket_client_that_stops_reading_is_disconnected_and_its_relay_ends() {
    let send_timeout = Duration::from_millis(500);
    let (gateway, nodes) = scripted(Mode::PrimaryBackup, &[1], |s| {
        s.max_websocket_in_flight = IN_FLIGHT;
        s.websocket_send_timeout = send_timeout;
    });
    let (sink, mut unread) = websocket(&gateway);
    let labels = format!("upstream=\"{}\"", nodes[0].address);
    let open = || {
        metric(
            &gateway.metrics(),
            "cloister_gateway_websocket_connections",
            &labels,
        )
    };
    assert_eq!(open(), 1.0);
    // Calls that stay on the connection, each answered by the node with 64 KiB the client never
    // reads: far more than the kernel's buffers hold.
    flood(&gateway, sink, 2_000, |id| {
        json!({"jsonrpc": "2.0", "id": id, "method": "pad", "params": [65_536]}).to_string()
    });
    let started = Instant::now();
    assert!(
        eventually(PATIENCE, || open() == 0.0),
        "the relay to a client that reads nothing never ended"
    );
    assert!(started.elapsed() >= send_timeout, "{:?}", started.elapsed());
    let stalled = metric(
        &gateway.metrics(),
        "cloister_gateway_local_errors_total",
        "reason=\"websocket_stalled\"",
    );
    assert_eq!(stalled, 1.0);
    assert_eq!(gateway.result("eth_chainId", json!([])), "a:eth_chainId");

    // What the client reads now is what its buffers held, then the end.
    let ended = gateway.runtime().block_on(async {
        tokio::time::timeout(PATIENCE, async {
            while let Some(Ok(message)) = unread.next().await {
                if let Message::Close(_) = message {
                    break;
                }
            }
        })
        .await
    });
    assert!(ended.is_ok(), "the client's connection stayed open");
}
