//! Hedging, in-process in front of scripted upstreams on unix sockets: a replica that takes a
//! request and never answers costs a hedgeable request (a read, a keyed write) a hedge on the
//! other replica carrying the same idempotency key; a plain write is never hedged; `/metrics`
//! and `/status` count the hedges.

#![allow(clippy::unwrap_used)]

mod scripted;

use std::sync::Arc;
use std::time::Duration;

use cloister_harness::http::Request;
use cloister_proxy::Role;
use scripted::{answer, post, proxy, send, upstreams, Act, Script};

/// Stalls every proxied request (health checks pass, so it stays admitted).
fn stall_requests() -> Script {
    Arc::new(|s| {
        if s.request_line.starts_with("GET /health") {
            Act::Answer(200, "{}")
        } else {
            Act::Stall
        }
    })
}

/// The value of the `cloister_proxy_hedges_total` series with `outcome`.
fn hedges(metrics: &str, outcome: &str) -> f64 {
    let label = format!("outcome=\"{outcome}\"");
    cloister_harness::metrics::sum(metrics, "cloister_proxy_hedges_total", &[&label])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_write_and_a_read_to_a_stalled_replica_are_hedged_with_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let ups = upstreams(
        dir.path(),
        vec![stall_requests(), answer(201, r#"{"key":"k"}"#)],
    )
    .await;
    // A per-try timeout far above the hedge delay (100 ms before any observation): an answer
    // before it can only come from a hedge.
    let (proxy, target) = proxy(dir.path(), Role::Q2t, &ups, |s| {
        s.timeouts.per_try = Duration::from_secs(5);
        s.timeouts.total = Duration::from_secs(6);
        s.health.thresholds.passive_failures = 100;
    })
    .await;
    for _ in 0..2 {
        let started = std::time::Instant::now();
        let response = send(&target, post("/send", r#"{"payload":"AA=="}"#)).await;
        assert_eq!(response.status, 201, "{}", response.text());
        assert!(started.elapsed() < Duration::from_secs(4), "not hedged");
        let started = std::time::Instant::now();
        let response = send(&target, Request::new("GET", "/transaction/abc")).await;
        assert_eq!(response.status, 201, "{}", response.text());
        assert!(started.elapsed() < Duration::from_secs(4), "not hedged");
    }
    let sends: Vec<_> = ups
        .proxied()
        .into_iter()
        .filter(|s| s.request_line.starts_with("POST"))
        .collect();
    // The stalled replica got one of the sends (round-robin), whose hedge went to the other
    // with the same key and body; the other send went straight to the other.
    let stalled: Vec<_> = sends.iter().filter(|s| s.upstream == 0).collect();
    assert!(!stalled.is_empty(), "{sends:?}");
    for first in stalled {
        let key = first.header("idempotency-key").unwrap();
        let hedge = sends
            .iter()
            .find(|s| s.upstream == 1 && s.header("idempotency-key") == Some(key))
            .unwrap_or_else(|| panic!("no hedge with key {key}: {sends:?}"));
        assert_eq!(hedge.body, first.body);
    }
    let metrics = proxy.metrics();
    assert!(hedges(&metrics, "won") >= 2.0, "{metrics}");
    let status = proxy.status();
    assert!(
        status["listeners"][0]["hedge"]["won"].as_u64().unwrap() >= 2,
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_write_is_never_hedged() {
    let dir = tempfile::tempdir().unwrap();
    let ups = upstreams(dir.path(), vec![stall_requests(), answer(200, "{}")]).await;
    let (proxy, target) = proxy(dir.path(), Role::Q2t, &ups, |s| {
        s.health.thresholds.passive_failures = 100;
    })
    .await;
    for _ in 0..2 {
        let _ = send(&target, post("/storeraw", r#"{"payload":"AA=="}"#)).await;
    }
    let writes = ups.proxied();
    // One reached the stalled replica and was not repeated anywhere (502 after the per-try
    // timeout); the other was answered by the other replica.
    assert_eq!(writes.len(), 2, "{writes:?}");
    let keys: std::collections::HashSet<_> = writes
        .iter()
        .map(|s| s.header("idempotency-key").unwrap())
        .collect();
    assert_eq!(keys.len(), 2, "{writes:?}");
    assert_eq!(hedges(&proxy.metrics(), "won"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_hedging_waits_for_the_per_try_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let ups = upstreams(
        dir.path(),
        vec![stall_requests(), answer(201, r#"{"key":"k"}"#)],
    )
    .await;
    let (proxy, target) = proxy(dir.path(), Role::Q2t, &ups, |s| {
        s.hedge.enabled = false;
        s.health.thresholds.passive_failures = 100;
    })
    .await;
    for _ in 0..2 {
        let response = send(&target, post("/send", r#"{"payload":"AA=="}"#)).await;
        assert_eq!(response.status, 201, "{}", response.text());
    }
    let retries = cloister_harness::metrics::sum(
        &proxy.metrics(),
        "cloister_proxy_retries_total",
        &["same-key"],
    );
    assert_eq!(retries, 1.0, "the stalled send was retried, not hedged");
    assert_eq!(proxy.status()["listeners"][0].get("hedge"), None);
}
