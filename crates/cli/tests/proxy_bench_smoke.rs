//! `cloister-bench proxy`, very briefly, so CI notices when it stops working: every call
//! through all five fronts (direct, byte relay, nginx, HAProxy, cloister proxy) for 20 requests,
//! then the SIGKILL and SIGSTOP runs for a few seconds. Needs Debian's nginx and haproxy
//! (scripts/test.sh installs them). No timing is asserted; the only outcome asserted under faults is the issue's: a SIGKILL
//! costs `cloister proxy` no request.

#![allow(clippy::unwrap_used)]

use clap::Parser;
use cloister_bench::proxy::{Front, ProxyBench};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    bench: ProxyBench,
}

#[test]
fn the_proxy_benchmark_runs_every_front_and_fault() {
    cloister_harness::nodes::use_binary(env!("CARGO_BIN_EXE_cloister"));
    let settings = Cli::parse_from([
        "proxy",
        "--concurrency",
        "2",
        "--requests",
        "20",
        "--warmup",
        "5",
        "--fault-seconds",
        "3",
        "--fault-concurrency",
        "2",
    ])
    .bench;
    let mut out = Vec::new();
    let report = cloister_bench::proxy::run(&settings, &mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
    assert_eq!(report.steady.len(), 15, "{text}");
    for row in &report.steady {
        assert_eq!((row.requests, row.errors), (20, 0), "{text}");
    }
    assert_eq!(report.faults.len(), 8, "{text}");
    assert!(report.cloister_survives_kill(), "{text}");
    for front in Front::ALL {
        assert!(text.contains(front.name()), "{text}");
    }
    assert!(text.contains("cloister/best(nginx, haproxy)"), "{text}");
}
