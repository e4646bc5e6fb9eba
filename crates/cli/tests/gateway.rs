//! `cloister gateway` as a process: it serves JSON-RPC on `--listen` for the `--upstream`s, and
//! refuses unusable settings with a sentence naming them.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use cloister_addr::Endpoint;
use cloister_harness::http::{eventually, Request};
use cloister_harness::nodes::free_port;
use serde_json::json;

#[test]
fn the_gateway_command_serves_and_answers_errors_as_json_rpc() {
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cloister"))
        .args([
            "gateway",
            "--listen",
            &listen.to_string(),
            "--upstream",
            &nowhere,
            "--mode",
            "balanced",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let target = Endpoint::from(listen);
    let up = eventually(Duration::from_secs(20), || {
        Request::new("GET", "/status")
            .try_send(&target, None)
            .is_ok()
    });
    let call = json!({"jsonrpc": "2.0", "id": 5, "method": "eth_blockNumber"});
    let response = up.then(|| Request::new("POST", "/").json(&call).send(&target));
    let _ = child.kill();
    let _ = child.wait();
    let response = response.expect("the gateway did not start");
    assert_eq!(response.status, 200);
    let body = response.json();
    assert_eq!(body["id"], 5);
    assert_eq!(body["error"]["code"], -32603, "{body}");
}

#[test]
fn unsupported_upstreams_are_refused_by_name() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cloister"))
        .args([
            "gateway",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "/var/run/geth.ipc",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/var/run/geth.ipc"), "{stderr}");
    assert!(stderr.contains("IPC"), "{stderr}");
}
