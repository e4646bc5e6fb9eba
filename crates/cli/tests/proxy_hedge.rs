//! Hedged `/send` under a replica hang, with real processes: two `cloister node` replicas of one
//! party on one PostgreSQL database, a peer as the recipient, and `cloister proxy` (hedging on,
//! its default) on a unix socket. GoQuorum-shaped `/send` load runs over keep-alive connections
//! while replica 1 is SIGSTOPped: the requests caught on it are hedged to replica 2 with the
//! same idempotency key, and once replica 1 runs again it processes the requests it was holding.
//! Exactly-once must hold all the same: every acknowledged hash is stored exactly once, nothing
//! else is stored, and the peer has every one of them.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cloister_addr::Endpoint;
use cloister_bench::client::{Call, Connection};
use cloister_harness::http::{path_escape, Request};
use cloister_harness::party::{TwinParty, DATABASE};
use cloister_harness::proxy::RunningProxy;
use serde_json::{json, Value};

/// Load workers: each has one request in flight at a time.
const WORKERS: usize = 4;

/// One GoQuorum-like client: `/send` back to back on a keep-alive connection until stopped.
/// The acknowledged hashes, and every failure.
async fn worker(
    endpoint: Endpoint,
    to: String,
    id: usize,
    stop: Arc<AtomicBool>,
) -> (Vec<String>, Vec<String>) {
    let (mut acknowledged, mut failures) = (Vec::new(), Vec::new());
    let mut connection: Option<Connection> = None;
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        if connection.is_none() {
            match Connection::open(&endpoint).await {
                Ok(open) => connection = Some(open),
                Err(error) => {
                    failures.push(format!("connect: {error:#}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            }
        }
        let open = connection.as_mut().unwrap();
        let payload = format!("hedged payload {id}-{n}").into_bytes();
        match open
            .call(&Call::goquorum_send(&payload, std::slice::from_ref(&to)))
            .await
        {
            Ok(answer) if answer.status.is_success() => {
                let body: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
                match body["key"].as_str() {
                    Some(key) => acknowledged.push(key.to_owned()),
                    None => failures.push(format!("no key in {body}")),
                }
            }
            Ok(answer) => failures.push(format!(
                "{} {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            )),
            Err(error) => {
                connection = None;
                failures.push(format!("{error:#}"));
            }
        }
    }
    (acknowledged, failures)
}

/// The value of every `cloister_proxy_hedges_total` series with `outcome`, summed.
fn hedges(proxy: &RunningProxy, outcome: &str) -> f64 {
    let label = format!("outcome=\"{outcome}\"");
    let text = Request::new("GET", "/metrics").send(&proxy.admin).text();
    cloister_harness::metrics::sum(&text, "cloister_proxy_hedges_total", &[&label])
}

#[test]
fn a_hedged_send_under_a_replica_hang_leaves_exactly_one_transaction_per_acknowledged_hash() {
    cloister_harness::nodes::use_binary(env!("CARGO_BIN_EXE_cloister"));
    let party = TwinParty::start();
    let socket = party.root().join("proxy.ipc");
    let mut args = vec!["--listen".to_owned(), format!("unix:{}", socket.display())];
    for replica in &party.replicas {
        args.extend(["--upstream".to_owned(), replica.q2t_url()]);
    }
    let proxy = RunningProxy::start(party.root(), &args, &json!({}));
    let endpoint = Endpoint::Unix(socket);
    let stored_before = party.stored();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|id| {
            runtime.spawn(worker(
                endpoint.clone(),
                party.peer.public_key.clone(),
                id,
                stop.clone(),
            ))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    party.node(0).hang();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let (mut acknowledged, mut failures) = (Vec::new(), Vec::new());
    runtime.block_on(async {
        for worker in workers {
            let (a, f) = worker.await.unwrap();
            acknowledged.extend(a);
            failures.extend(f);
        }
    });
    // Replica 1 now processes what it held when it stopped: the first attempts of the requests
    // hedged away from it, each with a key replica 2 already answered.
    party.node(0).resume();
    std::thread::sleep(Duration::from_secs(3));

    let won = hedges(&proxy, "won");
    eprintln!(
        "{} acknowledged, {} failed, {won} hedges won",
        acknowledged.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        won >= 1.0,
        "no request was hedged, so the hang tested nothing: {}",
        proxy.log_text()
    );
    assert!(
        acknowledged.len() >= 20,
        "only {} sends",
        acknowledged.len()
    );
    let distinct: HashSet<&String> = acknowledged.iter().collect();
    assert_eq!(
        distinct.len(),
        acknowledged.len(),
        "two sends acknowledged with one hash"
    );
    // One stored transaction per acknowledged hash, and nothing else: no orphan from a hedge
    // or from the first attempts replica 1 processed after it resumed.
    let stored: Vec<String> = party
        .pg
        .sql(
            0,
            DATABASE,
            "SELECT translate(encode(HASH, 'base64'), E'\\n', '') FROM ENCRYPTED_TRANSACTION",
        )
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        stored.len(),
        stored_before + acknowledged.len(),
        "stored transactions besides the acknowledged ones"
    );
    let stored: HashSet<&String> = stored.iter().collect();
    let missing: Vec<_> = distinct.difference(&stored).collect();
    assert!(missing.is_empty(), "acknowledged, not stored: {missing:?}");
    // And the recipient has every one (a hedge answered from the first outcome completes its
    // push).
    let peer = party.peer.q2t();
    let unreadable: Vec<_> = acknowledged
        .iter()
        .filter(|hash| {
            Request::new("GET", &format!("/transaction/{}", path_escape(hash)))
                .send(&peer)
                .status
                != 200
        })
        .collect();
    assert!(
        unreadable.is_empty(),
        "{} acknowledged hashes unknown to the peer: {:?}",
        unreadable.len(),
        &unreadable[..unreadable.len().min(3)]
    );
}
