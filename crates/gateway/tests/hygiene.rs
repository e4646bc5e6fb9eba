//! What a hostile or broken client can cost the gateway, over real sockets: a request head that
//! never ends, and more connections than its address may hold. Each is held to its bound while
//! other clients are served.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use cloister_addr::Endpoint;
use cloister_gateway::Mode;
use cloister_harness::http::{eventually, Request};
use common::scripted;
use serde_json::{json, Value};

/// The header timeout the tests set: short, so a test waits little for it.
const HEADER_TIMEOUT: Duration = Duration::from_millis(300);

/// Long enough for a loaded machine; only reached when something never happens.
const PATIENCE: Duration = Duration::from_secs(20);

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
        s.header_timeout = Some(HEADER_TIMEOUT);
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
        s.connections.max_per_ip = 2;
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
