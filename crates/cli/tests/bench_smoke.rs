//! The driver's core loop, very briefly, so CI notices when it stops working: every scenario
//! at concurrency 1 for 20 requests, against real nodes, with zero errors. No timing is
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
