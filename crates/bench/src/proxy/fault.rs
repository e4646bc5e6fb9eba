//! Part 2, faults: `/send` load through each front while replica 1 is SIGKILLed, then
//! SIGSTOPped, mid-run, with a client that gives up as GoQuorum does.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use cloister_addr::Endpoint;
use cloister_harness::party::TwinParty;

use super::front::{start_front, Front};
use super::report::{print_fault_header, print_fault_row, FaultRow};
use super::settings::ProxyBench;
use crate::client::Connection;
use crate::load::{run_level, Budget, Check};
use crate::scenario::Requests;

/// GoQuorum's default `--ptm.timeout` (with `PRIVATE_CONFIG`): the client gives up after it.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// How replica 1 fails in a fault run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL: connections reset, the socket refuses.
    Kill,
    /// SIGSTOP: connections accepted (by the kernel) and never answered.
    Stop,
}

impl Fault {
    /// The name in the report.
    pub(super) fn name(self) -> &'static str {
        match self {
            Fault::Kill => "SIGKILL",
            Fault::Stop => "SIGSTOP",
        }
    }
}

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
    for fault in [Fault::Kill, Fault::Stop] {
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
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..settings.fault_concurrency.max(1))
        .map(|_| runtime.spawn(fault_worker(endpoint.clone(), send.clone(), stop.clone())))
        .collect();
    let length = Duration::from_secs_f64(settings.fault_seconds);
    std::thread::sleep(length / 3);
    apply(party, fault);
    std::thread::sleep(length - length / 3);
    stop.store(true, Ordering::Relaxed);
    let mut row = FaultRow {
        fault,
        front,
        requests: 0,
        errors: 0,
        worst: Duration::ZERO,
        samples: Vec::new(),
        hedges: None,
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

/// One GoQuorum-like client: a keep-alive connection, `/send` back to back, giving up on a
/// request after [`CLIENT_TIMEOUT`] (and reconnecting, as Go's transport does).
async fn fault_worker(
    endpoint: Endpoint,
    send: Arc<Requests>,
    stop: Arc<AtomicBool>,
) -> (usize, Duration, Vec<String>) {
    let (mut requests, mut worst, mut failures) = (0, Duration::ZERO, Vec::new());
    let mut connection: Option<Connection> = None;
    while !stop.load(Ordering::Relaxed) {
        requests += 1;
        let started = Instant::now();
        let call = send.next();
        let result = tokio::time::timeout(CLIENT_TIMEOUT, async {
            if connection.is_none() {
                connection = Some(Connection::open(&endpoint).await?);
            }
            match connection.as_mut() {
                Some(open) => open.call(&call).await,
                None => bail!("no connection"),
            }
        })
        .await;
        worst = worst.max(started.elapsed());
        let failure = match result {
            Ok(Ok(answer)) if answer.status.is_success() => None,
            Ok(Ok(answer)) => Some(format!(
                "{} {}",
                answer.status,
                String::from_utf8_lossy(&answer.body[..answer.body.len().min(120)])
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
