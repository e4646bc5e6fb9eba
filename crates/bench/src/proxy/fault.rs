//! Part 2, faults: `/send` load through each front while replica 1 is SIGKILLed, then
//! SIGSTOPped, mid-run, with a client that gives up as GoQuorum does.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use cloister_addr::Endpoint;
use cloister_harness::party::TwinParty;

use super::front::{start_front, Front};
use super::report::{print_fault_header, print_fault_row, FaultRow};
use super::settings::ProxyBench;
use crate::fault_run::{self, Fault, Load};
use crate::load::{run_level, Budget, Check};
use crate::scenario::Requests;

/// GoQuorum's default `--ptm.timeout` (with `PRIVATE_CONFIG`): the client gives up after it.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Applies `fault` to replica 1.
fn apply(party: &mut TwinParty, fault: Fault) {
    match fault {
        Fault::Kill => party.kill(0),
        Fault::Stop => party.node(0).hang(),
    }
}

/// Undoes `fault`: replica 1 runs again.
fn heal(party: &mut TwinParty, fault: Fault) {
    match fault {
        Fault::Kill => party.restart(0),
        Fault::Stop => party.node(0).resume(),
    }
}

/// Runs part 2, printing each row as it comes. Each run gets a fresh front, so no health
/// state learnt in one run helps the next, and healthy replicas.
pub(super) fn run(
    settings: &ProxyBench,
    party: &mut TwinParty,
    runtime: &tokio::runtime::Runtime,
    send: &Arc<Requests>,
    out: &mut dyn Write,
) -> anyhow::Result<Vec<FaultRow>> {
    print_fault_header(out, settings)?;
    let mut rows = Vec::new();
    for fault in Fault::ALL {
        // A byte relay has no failover: it would only repeat direct's figures.
        for front in Front::ALL.into_iter().filter(|f| *f != Front::Relay) {
            let running = start_front(front, party, settings)?;
            let endpoint = running.endpoint();
            runtime.block_on(run_level(
                &endpoint,
                send.clone(),
                settings.fault_concurrency,
                Budget::Requests(settings.warmup),
                Check::Key,
            ))?;
            let hedges_before = running.hedges();
            let mut row = fault_run(runtime, party, &endpoint, send, fault, front, settings)?;
            row.hedges = hedges_before
                .zip(running.hedges())
                .map(|(b, a)| a.saturating_sub(b));
            running.stop();
            heal(party, fault);
            print_fault_row(out, &row)?;
            rows.push(row);
        }
    }
    Ok(rows)
}

/// `/send` load through `endpoint` with `fault` applied to replica 1 a third of the way in.
fn fault_run(
    runtime: &tokio::runtime::Runtime,
    party: &mut TwinParty,
    endpoint: &Endpoint,
    send: &Arc<Requests>,
    fault: Fault,
    front: Front,
    settings: &ProxyBench,
) -> anyhow::Result<FaultRow> {
    let load = Load {
        endpoint: endpoint.clone(),
        requests: send.clone(),
        concurrency: settings.fault_concurrency,
        length: Duration::from_secs_f64(settings.fault_seconds),
        client_timeout: CLIENT_TIMEOUT,
        check: Check::Key,
    };
    let seen = fault_run::run(runtime, &load, || apply(party, fault))?;
    Ok(FaultRow {
        fault,
        front,
        seen,
        hedges: None,
    })
}
