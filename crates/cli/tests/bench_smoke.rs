//! The driver's core loop, very briefly, so CI notices when it stops working: every scenario
//! at concurrency 1 for 20 requests, against real nodes, with zero errors; and the gateway
//! benchmark (two ganache nodes and a gateway) for 20 calls per level. No timing is
//! asserted; this machine's speed is not the test's business.

#![allow(clippy::unwrap_used)]

use clap::Parser;
use cloister_bench::scenario::Scenario;
use cloister_bench::Settings;

#[test]
fn every_scenario_completes_its_requests_without_errors() {
    // Lives in the CLI package so cargo builds the `cloister` binary for it.
    cloister_harness::nodes::use_binary(env!("CARGO_BIN_EXE_cloister"));
    let settings = Settings::parse_from([
        "cloister-bench",
        "--concurrency",
        "1",
        "--requests",
        "20",
        "--warmup",
        "5",
    ]);
    let mut out = Vec::new();
    let report = cloister_bench::run(&settings, &mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
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
fn the_gateway_benchmark_compares_both_methods_without_errors() {
    cloister_harness::nodes::use_binary(env!("CARGO_BIN_EXE_cloister"));
    let settings = Settings::parse_from([
        "cloister-bench",
        "gateway",
        "--concurrency",
        "1,2",
        "--requests",
        "20",
        "--warmup",
        "5",
    ]);
    let Some(cloister_bench::settings::Command::Gateway(gateway)) = settings.command else {
        panic!("no gateway subcommand");
    };
    let mut out = Vec::new();
    let report = cloister_bench::gateway::run(&gateway, &mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
    let rows: Vec<(&str, usize)> = report
        .rows
        .iter()
        .map(|r| (r.method, r.concurrency))
        .collect();
    assert_eq!(
        rows,
        [
            ("eth_blockNumber", 1),
            ("eth_blockNumber", 2),
            ("eth_call", 1),
            ("eth_call", 2)
        ],
        "{text}"
    );
    for row in &report.rows {
        assert_eq!(
            (row.direct.requests, row.gateway.requests),
            (20, 20),
            "{text}"
        );
        assert_eq!((row.direct.errors, row.gateway.errors), (0, 0), "{text}");
    }
    assert!(text.contains("added p50"), "{text}");
}

#[test]
fn the_ha_store_benchmark_fails_over_without_losing_writes() {
    cloister_harness::nodes::use_binary(env!("CARGO_BIN_EXE_cloister"));
    let settings = Settings::parse_from([
        "cloister-bench",
        "ha-store",
        "--concurrency",
        "2",
        "--seconds",
        "0.5",
        "--warmup",
        "5",
        "--runs",
        "1",
        "--writers",
        "2",
    ]);
    let Some(cloister_bench::settings::Command::HaStore(ha)) = settings.command else {
        panic!("no ha-store subcommand");
    };
    let mut out = Vec::new();
    let report = cloister_bench::ha_store::run(&ha, &mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
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
