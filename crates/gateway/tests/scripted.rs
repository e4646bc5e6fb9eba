//! The gateway against scripted upstreams, where a fault must be injected precisely: a node
//! that lags and catches up, a write or read that times out, nothing reachable, headers and
//! bytes passed through, oversized requests.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use cloister_gateway::Mode;
use cloister_harness::http::Request;
use common::{assert_raw_answer, never_eject, scripted, settings, Running, Scripted, RAW_CALL};
use serde_json::{json, Value};

const INTERNAL_ERROR: i64 = -32603;

#[test]
fn a_lagging_node_is_taken_out_and_brought_back() {
    let (gateway, nodes) = scripted(Mode::Balanced, &[100, 100], |s| s.health.max_lag_blocks = 5);
    // No node advances: an idle chain, and both nodes serve.
    gateway.await_health(0, true);
    gateway.await_health(1, true);

    nodes[0].block.store(120, Ordering::SeqCst);
    gateway.await_health(1, false);
    let status = gateway.assert_reason(1, "lagging 20 blocks");
    assert_eq!(status["bestBlock"], 120);
    for _ in 0..6 {
        assert_eq!(gateway.result("eth_chainId", json!([])), "a:eth_chainId");
    }

    nodes[1].block.store(119, Ordering::SeqCst);
    gateway.await_health(1, true);
    gateway.assert_reads_reach_both();
    let metrics = gateway.metrics();
    assert!(
        metrics.contains("cloister_gateway_upstream_healthy{upstream="),
        "{metrics}"
    );
}

#[test]
fn a_write_that_times_out_is_not_sent_to_another_node_but_a_read_is() {
    let (gateway, nodes) = scripted(Mode::PrimaryBackup, &[1, 1], |s| {
        s.method_timeouts
            .insert("eth_sendTransaction".into(), Duration::from_millis(300));
        s.method_timeouts
            .insert("eth_call".into(), Duration::from_millis(300));
        never_eject(s);
    });
    nodes[0]
        .hang
        .lock()
        .unwrap()
        .extend(["eth_sendTransaction".to_owned(), "eth_call".to_owned()]);

    let response = gateway.call(
        "eth_sendTransaction",
        json!([{"from": "0xabc", "to": "0xdef"}]),
    );
    let message = response["error"]["message"].as_str().unwrap();
    assert_eq!(response["error"]["code"], INTERNAL_ERROR, "{response}");
    assert!(message.contains("no answer within 300 ms"), "{message}");
    assert!(message.contains("may have been executed"), "{message}");
    assert_eq!(nodes[0].count("eth_sendTransaction"), 1);
    assert_eq!(nodes[1].count("eth_sendTransaction"), 0);

    assert_eq!(
        gateway.result("eth_call", json!([{}, "latest"])),
        "b:eth_call"
    );
    assert_eq!(nodes[0].count("eth_call"), 1);
}

#[test]
fn a_write_that_cannot_connect_goes_to_the_next_node() {
    let dead = format!("http://127.0.0.1:{}", cloister_harness::nodes::free_port());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let live = Scripted::start(&runtime, "b", 1);
    let mut settings = settings(Mode::PrimaryBackup, &[dead, live.url()]);
    // Keep the dead node in rotation: the send must skip it.
    never_eject(&mut settings);
    let gateway = Running::start(settings);
    let response = gateway.call("eth_sendTransaction", json!([{"from": "0xabc"}]));
    assert_eq!(response["result"], "b:eth_sendTransaction", "{response}");
    assert_eq!(live.count("eth_sendTransaction"), 1);
}

#[test]
fn nothing_reachable_gives_a_json_rpc_error_naming_the_cause() {
    let urls: Vec<String> = (0..2)
        .map(|_| format!("http://127.0.0.1:{}", cloister_harness::nodes::free_port()))
        .collect();
    let gateway = Running::start(settings(Mode::Balanced, &urls));
    let response = gateway.call("eth_blockNumber", json!([]));
    assert_eq!(response["error"]["code"], INTERNAL_ERROR, "{response}");
    assert_eq!(response["id"], 1);
    let message = response["error"]["message"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(
        message.contains("refused") || message.contains("healthy"),
        "{message}"
    );

    gateway.await_health(0, false);
    gateway.await_health(1, false);
    let response = gateway.call("eth_blockNumber", json!([]));
    let message = response["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("no healthy upstream for eth_blockNumber"),
        "{message}"
    );
    assert!(message.contains("ejected after"), "{message}");
}

#[test]
fn a_hanging_node_gives_a_timeout_error_not_a_hang() {
    let (gateway, nodes) = scripted(Mode::Balanced, &[1], |s| {
        s.request_timeout = Duration::from_millis(300);
        never_eject(s);
    });
    nodes[0]
        .hang
        .lock()
        .unwrap()
        .insert("eth_getBalance".into());
    let response = gateway.call("eth_getBalance", json!(["0xabc", "latest"]));
    assert_eq!(response["error"]["code"], INTERNAL_ERROR, "{response}");
    assert!(
        response["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no answer within 300 ms"),
        "{response}"
    );
}

#[test]
fn bytes_pass_through_untouched_with_credentials_psi_and_query() {
    let (gateway, nodes) = scripted(Mode::PrimaryBackup, &[1], |_| {});
    let body = RAW_CALL.to_vec();
    let response = Request::new("POST", "/?PSI=tenant1")
        .header("Authorization", "Bearer token-1")
        .header("Quorum-PSI", "tenant1")
        .header("X-Other", "dropped")
        .body_with_type("application/json", body.clone())
        .send(&gateway.endpoint());
    assert_raw_answer(&response);
    let received = nodes[0]
        .received
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.method == "raw")
        .cloned()
        .unwrap();
    assert_eq!(received.body, body);
    assert_eq!(received.query.as_deref(), Some("PSI=tenant1"));
    let header = |name: &str| {
        received
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("authorization").as_deref(), Some("Bearer token-1"));
    assert_eq!(header("quorum-psi").as_deref(), Some("tenant1"));
    assert_eq!(header("x-other"), None);
}

#[test]
fn oversized_requests_get_413_and_bad_json_a_parse_error() {
    let (gateway, nodes) = scripted(Mode::PrimaryBackup, &[1], |s| s.max_request_bytes = 1000);
    let big = json!({"jsonrpc":"2.0","id":1,"method":"eth_call","params":["x".repeat(2000)]});
    let response = gateway.post(&big);
    assert_eq!(response.status, 413);
    assert_eq!(response.json()["error"]["code"], -32600);
    assert_eq!(nodes[0].count("eth_call"), 0);

    let response = Request::new("POST", "/")
        .body_with_type("application/json", b"{\"method\":".to_vec())
        .send(&gateway.endpoint());
    assert_eq!(response.json()["error"]["code"], -32700);
}

#[test]
fn a_filter_on_an_unhealthy_node_answers_filter_not_found() {
    let (gateway, nodes) = scripted(Mode::PrimaryBackup, &[1, 1], |_| {});
    let id = gateway.result("eth_newBlockFilter", json!([]));
    let id = id.as_str().unwrap();
    // Node a's own id went out rewritten; it comes back as a's id.
    assert_ne!(id, "0xa1");
    gateway.result("eth_getFilterChanges", json!([id]));
    let polled = nodes[0]
        .received
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|r| r.method == "eth_getFilterChanges")
        .cloned()
        .unwrap();
    let params: Value = serde_json::from_slice::<Value>(&polled.body).unwrap()["params"].clone();
    assert_eq!(params, json!(["0xa1"]));

    nodes[0].down.store(true, Ordering::SeqCst);
    gateway.await_health(0, false);
    let response = gateway.call("eth_getFilterChanges", json!([id]));
    assert_eq!(
        response["error"],
        json!({"code": -32000, "message": "filter not found"})
    );
    assert_eq!(gateway.result("eth_uninstallFilter", json!([id])), false);
    let response = gateway.call("eth_getFilterLogs", json!(["0x1234"]));
    assert_eq!(response["error"]["message"], "filter not found");
    assert_eq!(nodes[1].count("eth_getFilterChanges"), 0);
}
