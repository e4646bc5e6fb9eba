//! The fault part: calls through each front while the primary node is SIGKILLed, then
//! SIGSTOPped (hung: the kernel still accepts its connections, nothing answers), mid-run, with a
//! client that gives up after [`CLIENT_TIMEOUT`].

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use cloister_addr::Endpoint;

use super::front::{self, Front};
use super::report::{print_fault_header, print_fault_row, FaultRow};
use super::Nodes;
use crate::fault_run::{self, Fault, Load};
use crate::load::{run_level, Budget, Check};
use crate::scenario::Requests;
use crate::settings::GatewayBench;

/// How long the client waits for one call before giving up (and reconnecting), as an
/// application's JSON-RPC client with a timeout would: more than two attempts of the
/// balancers' `--attempt-timeout-ms` (2 s by default), so a call retried once after a hung
/// attempt still makes it.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the fault part with `call`, printing each row as it comes. Each run gets a fresh front
/// (no health state carried over) over healthy nodes.
pub(super) fn run(
    settings: &GatewayBench,
    runtime: &tokio::runtime::Runtime,
    nodes: &mut Nodes,
    (method, call): (&'static str, Arc<Requests>),
    out: &mut dyn Write,
) -> anyhow::Result<Vec<FaultRow>> {
    print_fault_header(
        out,
        settings.fault_seconds,
        settings.fault_concurrency,
        method,
    )?;
    let mut rows = Vec::new();
    for fault in Fault::ALL {
        for front in [Front::Direct, Front::Cloister, Front::Nginx, Front::Haproxy] {
            let running = front::start(front, &nodes.addresses(), settings)?;
            let endpoint = running.endpoint();
            runtime.block_on(run_level(
                &endpoint,
                call.clone(),
                settings.fault_concurrency,
                Budget::Requests(settings.warmup),
                Check::RpcResult,
            ))?;
            let row = fault_run(runtime, nodes, &endpoint, &call, fault, front, settings)?;
            running.stop();
            nodes.heal(fault)?;
            print_fault_row(out, &row)?;
            out.flush()?;
            rows.push(row);
        }
    }
    Ok(rows)
}

/// Load through `endpoint` with `fault` applied to the primary a third of the way in.
fn fault_run(
    runtime: &tokio::runtime::Runtime,
    nodes: &mut Nodes,
    endpoint: &Endpoint,
    call: &Arc<Requests>,
    fault: Fault,
    front: Front,
    settings: &GatewayBench,
) -> anyhow::Result<FaultRow> {
    let load = Load {
        endpoint: endpoint.clone(),
        requests: call.clone(),
        concurrency: settings.fault_concurrency,
        length: Duration::from_secs_f64(settings.fault_seconds),
        client_timeout: CLIENT_TIMEOUT,
        check: Check::RpcResult,
    };
    let seen = fault_run::run(runtime, &load, || nodes.apply(fault))?;
    Ok(FaultRow { fault, front, seen })
}
