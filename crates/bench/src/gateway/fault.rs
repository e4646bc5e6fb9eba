//! The fault part: calls through each front while the primary node is SIGKILLed, then
//! SIGSTOPped (hung: the kernel still accepts its connections, nothing answers), mid-run, with a
//! client that gives up after [`CLIENT_TIMEOUT`].

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use cloister_addr::Endpoint;

use super::front::{self, Front};
use super::report::{print_fault_header, print_fault_row, FaultRow};
use super::Nodes;
use crate::client::Connection;
use crate::load::{has_result, run_level, Budget, Check};
use crate::scenario::Requests;
use crate::settings::GatewayBench;

/// How long the client waits for one call before giving up (and reconnecting), as an
/// application's JSON-RPC client with a timeout would: more than two attempts of the
/// balancers' `--attempt-timeout-ms` (2 s by default), so a call retried once after a hung
/// attempt still makes it.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// How the primary node fails in a fault run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL: connections reset, the port refuses.
    Kill,
    /// SIGSTOP: connections accepted (by the kernel) and never answered.
    Stop,
}

impl Fault {
    /// The name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "SIGKILL",
            Fault::Stop => "SIGSTOP",
        }
    }
}

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
    for fault in [Fault::Kill, Fault::Stop] {
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
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..settings.fault_concurrency.max(1))
        .map(|_| runtime.spawn(worker(endpoint.clone(), call.clone(), stop.clone())))
        .collect();
    let length = Duration::from_secs_f64(settings.fault_seconds);
    std::thread::sleep(length / 3);
    nodes.apply(fault);
    std::thread::sleep(length - length / 3);
    stop.store(true, Ordering::Relaxed);
    let mut row = FaultRow {
        fault,
        front,
        requests: 0,
        errors: 0,
        worst: Duration::ZERO,
        samples: Vec::new(),
    };
    for worker in workers {
        let (requests, worst, failures) = runtime.block_on(worker)?;
        row.requests += requests;
        row.errors += failures.len();
        row.worst = row.worst.max(worst);
        for failure in failures {
            if row.samples.len() < 3 {
                row.samples.push(failure);
            }
        }
    }
    Ok(row)
}

/// One client: a keep-alive connection, calls back to back, giving up on a call after
/// [`CLIENT_TIMEOUT`] (and reconnecting, as an HTTP client pool does).
async fn worker(
    endpoint: Endpoint,
    call: Arc<Requests>,
    stop: Arc<AtomicBool>,
) -> (usize, Duration, Vec<String>) {
    let (mut requests, mut worst, mut failures) = (0, Duration::ZERO, Vec::new());
    let mut connection: Option<Connection> = None;
    while !stop.load(Ordering::Relaxed) {
        requests += 1;
        let started = Instant::now();
        let next = call.next();
        let result = tokio::time::timeout(CLIENT_TIMEOUT, async {
            if connection.is_none() {
                connection = Some(Connection::open(&endpoint).await?);
            }
            match connection.as_mut() {
                Some(open) => open.call(&next).await,
                None => bail!("no connection"),
            }
        })
        .await;
        worst = worst.max(started.elapsed());
        let failure = match result {
            Ok(Ok(answer)) if answer.status.is_success() && has_result(&answer.body) => None,
            Ok(Ok(answer)) => Some(format!(
                "{} {}",
                answer.status,
                // One line per failure: the balancers answer with HTML pages.
                String::from_utf8_lossy(&answer.body[..answer.body.len().min(160)])
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
            Ok(Err(error)) => {
                connection = None;
                Some(format!("{error:#}"))
            }
            Err(_) => {
                connection = None;
                Some(format!("no answer within {CLIENT_TIMEOUT:?}"))
            }
        };
        if let Some(failure) = failure {
            failures.push(failure);
            // A refused connect fails at once; pause so a dead front is not a busy loop.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    (requests, worst, failures)
}
