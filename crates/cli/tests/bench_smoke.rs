//! The driver's core loop, very briefly, so CI notices when it stops working: every scenario
//! at concurrency 1 for 20 requests, against real nodes, with zero errors; and the gateway
//! benchmark (two ganache nodes behind the gateway, nginx and HAProxy) for 20 calls per cell
//! and front, and its fault runs (through which the gateway loses no read). No timing is
//! asserted; this machine's speed is not the test's business.

#![allow(clippy::unwrap_used)]

use std::io::Write;

use clap::Parser;
use cloister_bench::gateway::{Fault, Front};
use cloister_bench::scenario::Scenario;
use cloister_bench::settings::Command;
use cloister_bench::Settings;

/// The settings of `cloister-bench <args>`, run against this package's `cloister` binary
/// (the benchmarks live in the CLI package so that cargo builds the binary for them).
fn bench(args: &str) -> Settings {
    cloister_harness::nodes::use_binary(env!("CARGO_BIN_EXE_cloister"));
    Settings::parse_from(std::iter::once("cloister-bench").chain(args.split_whitespace()))
}

/// Runs a benchmark: its report, and what it printed, for the assertions' messages.
fn run_bench<S, R, E: std::fmt::Debug>(
    settings: &S,
    run: impl FnOnce(&S, &mut dyn Write) -> Result<R, E>,
) -> (R, String) {
    let mut out = Vec::new();
    let report = run(settings, &mut out).unwrap();
    (report, String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn every_scenario_completes_its_requests_without_errors() {
    let settings = bench("--concurrency 1 --requests 20 --warmup 5");
    let (report, text) = run_bench(&settings, cloister_bench::run);
    assert_eq!(report.levels.len(), Scenario::ALL.len(), "{text}");
    for level in &report.levels {
        assert_eq!(level.requests, 20, "{text}");
        assert_eq!(level.errors, 0, "{text}");
    }
    assert_eq!(report.nodes.len(), 6, "A and five recipients: {text}");
    assert!(report.nodes.iter().all(|n| n.memory.is_some()), "{text}");
    assert!(text.contains("send-5"), "{text}");
}

#[test]
fn the_gateway_benchmark_compares_every_front_and_survives_a_killed_primary() {
    let settings = bench(
        "gateway --concurrency 1,2 --requests 20 --warmup 5 --rounds 2 --fault-seconds 3 --fault-concurrency 2",
    );
    let Some(Command::Gateway(gateway)) = settings.command else {
        panic!("no gateway subcommand");
    };
    let (report, text) = run_bench(&gateway, cloister_bench::gateway::run);
    let cells: Vec<(&str, usize, &str)> = report
        .steady
        .iter()
        .map(|r| (r.method, r.concurrency, r.front.name()))
        .collect();
    let mut expected = Vec::new();
    for method in ["eth_blockNumber", "eth_call"] {
        for concurrency in [1, 2] {
            for front in ["direct", "cloister", "nginx", "haproxy"] {
                expected.push((method, concurrency, front));
            }
        }
    }
    assert_eq!(cells, expected, "{text}");
    for row in &report.steady {
        assert_eq!((row.requests, row.errors), (20, 0), "{text}");
    }
    assert!(report.verdict("eth_call", 2).is_some(), "{text}");
    let fault = |fault, front| {
        report
            .faults
            .iter()
            .find(|r| r.fault == fault && r.front == front)
            .unwrap_or_else(|| panic!("no {fault:?} row for {front:?}: {text}"))
    };
    // The fault happened: calls straight to the killed node failed...
    assert!(fault(Fault::Kill, Front::Direct).seen.errors > 0, "{text}");
    // ...and the gateway repeated every read on the backup.
    assert_eq!(fault(Fault::Kill, Front::Cloister).seen.errors, 0, "{text}");
    assert_eq!(report.faults.len(), 8, "{text}");
}

#[test]
fn the_ha_store_benchmark_fails_over_without_losing_writes() {
    let settings = bench("ha-store --concurrency 2 --seconds 0.5 --warmup 5 --runs 1 --writers 2");
    let Some(Command::HaStore(ha)) = settings.command else {
        panic!("no ha-store subcommand");
    };
    let (report, text) = run_bench(&ha, cloister_bench::ha_store::run);
    assert_eq!(report.throughput.len(), 2, "sqlite and postgres: {text}");
    assert!(
        report
            .throughput
            .iter()
            .all(|r| r.errors == 0 && r.throughput > 0.0),
        "{text}"
    );
    let [run] = report.failovers.as_slice() else {
        panic!("one failover run: {text}");
    };
    assert!(
        run.acknowledged > 0 && run.promotion_gap.is_some(),
        "{text}"
    );
    assert_eq!((run.lost, run.unexpected), (0, 0), "{text}");
    assert!(text.contains("postgres/sqlite throughput"), "{text}");
}

#[test]
fn the_p2p_tls_benchmark_sends_over_both_transports_and_counts_handshakes() {
    let settings = bench(
        "p2p-tls --concurrency 2 --requests 20 --warmup 5 --handshake-seconds 0.3 --handshake-clients 2",
    );
    let Some(Command::P2pTls(tls)) = settings.command else {
        panic!("no p2p-tls subcommand");
    };
    let (report, text) = run_bench(&tls, cloister_bench::p2p_tls::run);
    assert_eq!(report.errors(), 0, "{text}");
    let rows: Vec<&str> = report.sends.iter().map(|r| r.transport).collect();
    assert_eq!(rows, ["plain", "mTLS (CA)"], "{text}");
    assert!(report.ratio(2).is_some(), "{text}");
    assert_eq!(report.handshakes.len(), 2, "{text}");
    assert!(report.handshakes.iter().all(|h| h.rate > 0.0), "{text}");
}
