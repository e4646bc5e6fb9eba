//! The gateway in front of two real Ethereum JSON-RPC nodes (ganache processes sharing one
//! deterministic wallet, as GoQuorum HA nodes share one keystore). The two ganache chains are
//! independent, which makes it visible which node served a call; block-lag ejection is turned
//! off here for that reason (it is tested against scripted upstreams).

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Mutex;

use cloister_gateway::Mode;
use cloister_harness::ganache::{Ganache, ACCOUNT_0, ACCOUNT_1};
use common::{metric, settings, Running};
use serde_json::{json, Value};

/// Two ganache processes at a time are plenty for two cores.
static ONE_PAIR_AT_A_TIME: Mutex<()> = Mutex::new(());

fn pair(mode: Mode) -> (Running, Vec<Ganache>, std::sync::MutexGuard<'static, ()>) {
    let guard = ONE_PAIR_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let nodes = Ganache::start_many(2);
    let urls: Vec<String> = nodes.iter().map(Ganache::url).collect();
    let mut settings = settings(mode, &urls);
    settings.health.max_lag_blocks = 1_000_000;
    (Running::start(settings), nodes, guard)
}

fn hex(value: &Value) -> u64 {
    u64::from_str_radix(value.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

#[test]
fn failover_when_the_primary_is_killed_and_its_filters_are_gone() {
    let (gateway, mut nodes, _guard) = pair(Mode::PrimaryBackup);
    for _ in 0..3 {
        nodes[0].call("evm_mine", json!([]));
    }
    assert_eq!(gateway.result("eth_blockNumber", json!([])), "0x3");
    let filter = gateway.result("eth_newBlockFilter", json!([]));

    nodes[0].kill();
    // Every call after the kill is answered, by the backup, before and after ejection.
    for _ in 0..5 {
        assert_eq!(gateway.result("eth_blockNumber", json!([])), "0x0");
    }
    let tx = json!([{"from": ACCOUNT_0, "to": ACCOUNT_1, "value": "0x1"}]);
    gateway.result("eth_sendTransaction", tx);
    assert_eq!(nodes[1].call("eth_blockNumber", json!([])), "0x1");
    gateway.await_health(0, false);
    assert_eq!(gateway.result("eth_blockNumber", json!([])), "0x1");
    let response = gateway.call("eth_getFilterChanges", json!([filter]));
    assert_eq!(
        response["error"]["message"], "filter not found",
        "{response}"
    );

    // And with no node left: an error naming the cause, not a hang.
    nodes[1].kill();
    let response = gateway.call("eth_blockNumber", json!([]));
    assert_eq!(response["error"]["code"], -32603, "{response}");
    let metrics = gateway.metrics();
    assert!(metric(&metrics, "cloister_gateway_retries_total", "") >= 0.0);
    assert!(
        metrics.contains("cloister_gateway_upstream_ejections_total"),
        "{metrics}"
    );
}

#[test]
fn a_filter_stays_on_its_node_while_other_traffic_is_balanced() {
    let (gateway, nodes, _guard) = pair(Mode::Balanced);
    let filter = gateway.result("eth_newBlockFilter", json!([]));
    let filter = filter.as_str().unwrap();
    let (home, _) = cloister_gateway::filters::unwrap(filter).unwrap();
    for round in 0..20 {
        for node in &nodes {
            node.call("evm_mine", json!([]));
        }
        for _ in 0..3 {
            gateway.result("eth_blockNumber", json!([]));
        }
        let changes = gateway.result("eth_getFilterChanges", json!([filter]));
        let latest = nodes[home].call("eth_getBlockByNumber", json!(["latest", false]));
        assert_eq!(changes, json!([latest["hash"]]), "round {round}");
    }
    let metrics = gateway.metrics();
    for node in &nodes {
        let labels = format!("upstream=\"{}\",outcome=\"ok\"", node.address);
        let served = metric(&metrics, "cloister_gateway_upstream_calls_total", &labels);
        assert!(
            served >= 20.0,
            "{} served {served}: {metrics}",
            node.address
        );
    }
    assert_eq!(gateway.result("eth_uninstallFilter", json!([filter])), true);
    let response = gateway.call("eth_getFilterChanges", json!([filter]));
    assert!(response.get("error").is_some(), "{response}");
}

#[test]
fn concurrent_sends_from_one_account_land_on_one_node_with_consecutive_nonces() {
    let (gateway, nodes, _guard) = pair(Mode::Balanced);
    const PER_STREAM: usize = 10;
    let hashes: Vec<Value> = std::thread::scope(|scope| {
        let streams: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    (0..PER_STREAM)
                        .map(|_| {
                            let tx = json!([{"from": ACCOUNT_0, "to": ACCOUNT_1, "value": "0x1"}]);
                            gateway.result("eth_sendTransaction", tx)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        streams
            .into_iter()
            .flat_map(|s| s.join().unwrap())
            .collect()
    });
    let counts: Vec<u64> = nodes
        .iter()
        .map(|n| hex(&n.call("eth_getTransactionCount", json!([ACCOUNT_0, "latest"]))))
        .collect();
    let total = 2 * PER_STREAM as u64;
    assert!(counts.contains(&total) && counts.contains(&0), "{counts:?}");
    let home = &nodes[counts.iter().position(|&c| c == total).unwrap()];
    let mut nonces: Vec<u64> = hashes
        .iter()
        .map(|h| hex(&home.call("eth_getTransactionByHash", json!([h]))["nonce"]))
        .collect();
    nonces.sort_unstable();
    assert_eq!(nonces, (0..total).collect::<Vec<_>>());
    // The pending count for that account comes from the same node, every time.
    for _ in 0..4 {
        let pending = gateway.result("eth_getTransactionCount", json!([ACCOUNT_0, "pending"]));
        assert_eq!(hex(&pending), total);
    }
}

#[test]
fn a_batch_of_mixed_methods_comes_back_in_order_with_its_ids() {
    let (gateway, _nodes, _guard) = pair(Mode::Balanced);
    let call = |id: Value, method: &str, params: Value| json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let batch = json!([
        call(json!(1), "eth_chainId", json!([])),
        call(json!("two"), "eth_blockNumber", json!([])),
        call(json!(3), "net_version", json!([])),
        call(json!(4), "eth_getBalance", json!([ACCOUNT_0, "latest"])),
        call(json!(5), "no_such_method", json!([])),
        call(json!(6), "eth_newBlockFilter", json!([])),
        call(
            json!(7),
            "eth_sendTransaction",
            json!([{"from": ACCOUNT_1, "to": ACCOUNT_0, "value": "0x1"}])
        ),
        call(
            json!(8),
            "eth_getTransactionCount",
            json!([ACCOUNT_1, "pending"])
        ),
        json!({"jsonrpc": "2.0", "id": 9}),
    ]);
    let response = gateway.post(&batch);
    assert_eq!(response.status, 200);
    let answers = response.json();
    let answers = answers.as_array().unwrap();
    let ids: Vec<Value> = answers.iter().map(|a| a["id"].clone()).collect();
    assert_eq!(
        ids,
        [
            json!(1),
            json!("two"),
            json!(3),
            json!(4),
            json!(5),
            json!(6),
            json!(7),
            json!(8),
            Value::Null
        ]
    );
    assert_eq!(answers[0]["result"], "0x539");
    assert_eq!(answers[1]["result"], "0x0");
    assert_eq!(answers[2]["result"], "1337");
    assert_eq!(answers[3]["result"], "0x3635c9adc5dea00000");
    assert!(answers[4].get("error").is_some(), "{}", answers[4]);
    assert!(
        answers[5]["result"].as_str().unwrap().starts_with("0xf"),
        "{}",
        answers[5]
    );
    assert_eq!(
        answers[6]["result"].as_str().unwrap().len(),
        66,
        "{}",
        answers[6]
    );
    assert_eq!(answers[8]["error"]["code"], -32600);
}
