//! The proxy benchmark (`cloister-bench proxy`): two `cloister node` replicas of one party on
//! one PostgreSQL store, behind (1) nothing (direct to replica 1's socket), (2) nginx from the
//! distribution configured as the reference HA recipe (unix-socket listener, two upstreams,
//! `proxy_next_upstream error timeout http_404 non_idempotent`, keep-alive to the upstreams),
//! (3) HAProxy from the distribution with the strongest recipe we could write (active checks,
//! `retry-on all-retryable-errors 404` with buffered bodies, `timeout server 2s`; the template
//! is `crates/bench/configs/q2t-haproxy.cfg`), (4) `cloister proxy` (whose hedges are counted
//! from its `/metrics`); and, as the floor of what any hop costs here, a byte relay to replica 1
//! ([`crate::relay`]). All are driven the same way, over a unix socket with keep-alive
//! connections as GoQuorum holds them.
//!
//! Part 1, steady state: throughput and p50/p99 for `GET /upcheck` and GoQuorum's `POST /send`
//! (plain, and with the client's own `Idempotency-Key` so every front costs the replicas the
//! same), the fronts interleaved per level so drifting machine load hits them alike.
//! Part 2, faults: `/send` load through each front while replica 1 is SIGKILLed, then
//! SIGSTOPped, mid-run. The client gives up after GoQuorum's default 5 s `--ptm.timeout`, as
//! GoQuorum would; errors (non-2xx, broken connections, give-ups) and the worst latency of any
//! request are counted. Each fault run gets a fresh front (no health state carried over) and
//! healthy replicas.
//!
//! Split as the node benchmark is:
//! - `settings`: the command line;
//! - `call`: the calls part 1 measures;
//! - `front`: direct, the byte relay, nginx, HAProxy and `cloister proxy`, started and stopped;
//! - `steady`: part 1;
//! - `fault`: part 2;
//! - `report`: the rows and the text they print as.
//!
//! The modules are private and what callers use is re-exported here, so every item keeps the
//! one path it has always had (`cloister_bench::proxy::Front`, …).

mod call;
mod fault;
mod front;
mod report;
mod settings;
mod steady;

use std::io::Write;

use crate::load::client_runtime;
use crate::report::LoadBefore;
use crate::scenario::Requests;

pub use crate::fault_run::Fault;
pub use call::CallKind;
use cloister_harness::party::TwinParty;
pub use fault::CLIENT_TIMEOUT;
pub use front::Front;
pub use report::{FaultRow, ProxyReport, SteadyRow, ADDED_P50_GOAL};
pub use settings::ProxyBench;

/// Runs both parts, printing as it goes.
pub fn run(settings: &ProxyBench, out: &mut dyn Write) -> anyhow::Result<ProxyReport> {
    writeln!(
        out,
        "cloister-bench proxy: {} cores, load average {}; two replicas on one PostgreSQL store, a peer as the recipient",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        LoadBefore::now().text()
    )?;
    let mut party = TwinParty::start();
    let runtime = client_runtime(settings.client_threads)?;
    // Made once: both parts send it.
    let send = Requests::send(settings.payload_bytes, vec![party.peer.public_key.clone()]);
    let steady = steady::run(settings, &party, &runtime, &send, out)?;
    // Part 2 needs a second replica to fail over to.
    let faults = if settings.fault_seconds > 0.0 && !settings.one_replica {
        fault::run(settings, &mut party, &runtime, &send, out)?
    } else {
        Vec::new()
    };
    Ok(ProxyReport { steady, faults })
}
