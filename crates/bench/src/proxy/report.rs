//! What the proxy benchmark found: one row per steady-state cell and per fault run, and the
//! text they print as, column headers beside the rows so the widths stay in step.

use std::io::Write;
use std::time::Duration;

use super::call::CallKind;
use super::fault::CLIENT_TIMEOUT;
use super::front::Front;
use super::settings::ProxyBench;
use crate::fault_run::{Fault, Seen};
use crate::report::{print_error_samples, short_latency};

/// The goal: `cloister proxy` adds less than this to direct p50 latency.
pub const ADDED_P50_GOAL: Duration = Duration::from_micros(100);

/// One steady-state cell.
#[derive(Debug, Clone)]
pub struct SteadyRow {
    /// The call.
    pub call: CallKind,
    /// Workers.
    pub concurrency: usize,
    /// The front.
    pub front: Front,
    /// Successful requests per second.
    pub throughput: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Requests attempted.
    pub requests: usize,
    /// Failed requests.
    pub errors: usize,
    /// CPU the front spent per request (all its processes and threads); none for direct.
    pub cpu_per_request: Option<Duration>,
    /// Hedges `cloister proxy` sent (won or lost); none for the other fronts.
    pub hedges: Option<u64>,
}

/// One fault run.
#[derive(Debug, Clone)]
pub struct FaultRow {
    /// The fault.
    pub fault: Fault,
    /// The front.
    pub front: Front,
    /// What its clients saw.
    pub seen: Seen,
    /// Hedges `cloister proxy` sent during the run (warm-up excluded); none for the others.
    pub hedges: Option<u64>,
}

/// Everything measured.
#[derive(Debug, Default)]
pub struct ProxyReport {
    /// Part 1.
    pub steady: Vec<SteadyRow>,
    /// Part 2.
    pub faults: Vec<FaultRow>,
}

impl ProxyReport {
    /// Whether `cloister proxy` lost no request to a SIGKILL.
    pub fn cloister_survives_kill(&self) -> bool {
        self.faults
            .iter()
            .filter(|r| r.front == Front::Cloister && r.fault == Fault::Kill)
            .all(|r| r.seen.errors == 0)
    }
}

/// Part 1's title and column headers.
pub(super) fn print_steady_header(
    out: &mut dyn Write,
    settings: &ProxyBench,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "\npart 1: steady state ({:?} per cell and front, in {} rotating rounds)",
        settings.budget(),
        settings.rounds.max(1)
    )?;
    writeln!(
        out,
        "{:<9} {:>4} {:<9} {:>10} {:>10} {:>10} {:>7} {:>9} {:>7}",
        "call", "conc", "front", "req/s", "p50", "p99", "errors", "cpu/req", "hedged"
    )?;
    Ok(())
}

/// One steady-state cell's line, then the first few of its failures.
pub(super) fn print_steady_row(
    out: &mut dyn Write,
    row: &SteadyRow,
    error_samples: &[String],
) -> anyhow::Result<()> {
    writeln!(
        out,
        "{:<9} {:>4} {:<9} {:>10.0} {:>10} {:>10} {:>7} {:>9} {:>7}",
        row.call.name(),
        row.concurrency,
        row.front.name(),
        row.throughput,
        short_latency(row.p50),
        short_latency(row.p99),
        row.errors,
        row.cpu_per_request
            .map_or_else(|| "-".to_owned(), short_latency),
        row.hedges.map_or_else(
            || "-".to_owned(),
            |h| format!("{:.2}%", 100.0 * h as f64 / row.requests.max(1) as f64)
        ),
    )?;
    Ok(print_error_samples(out, error_samples)?)
}

/// How `cloister proxy` compares with the better of nginx and HAProxy, each of them, and
/// direct at one (call, level), once all five fronts' rows are in; what each hop adds over direct is the figure the goal is
/// about, and the byte relay's shows how much of it any hop costs on this machine.
pub(super) fn print_ratios(
    out: &mut dyn Write,
    rows: &[SteadyRow],
    call: CallKind,
    concurrency: usize,
) -> anyhow::Result<()> {
    let find = |front| {
        rows.iter()
            .find(|r| r.call == call && r.concurrency == concurrency && r.front == front)
    };
    let (Some(direct), Some(relay), Some(nginx), Some(haproxy), Some(cloister)) = (
        find(Front::Direct),
        find(Front::Relay),
        find(Front::Nginx),
        find(Front::Haproxy),
        find(Front::Cloister),
    ) else {
        return Ok(());
    };
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    let added = |r: &SteadyRow| r.p50.as_micros() as i64 - direct.p50.as_micros() as i64;
    let best = nginx.throughput.max(haproxy.throughput);
    writeln!(
        out,
        "    cloister/best(nginx, haproxy) throughput {:.2} (goal >= 1) | cloister/nginx {:.2}, cloister/haproxy {:.2} | cloister/direct {:.2} | added p50 over direct: cloister {:+} µs (goal < {} µs), nginx {:+} µs, haproxy {:+} µs, byte relay {:+} µs",
        ratio(cloister.throughput, best),
        ratio(cloister.throughput, nginx.throughput),
        ratio(cloister.throughput, haproxy.throughput),
        ratio(cloister.throughput, direct.throughput),
        added(cloister),
        ADDED_P50_GOAL.as_micros(),
        added(nginx),
        added(haproxy),
        added(relay),
    )?;
    Ok(())
}

/// Part 2's title, which says what a fault run does, and its column headers.
pub(super) fn print_fault_header(out: &mut dyn Write, settings: &ProxyBench) -> anyhow::Result<()> {
    writeln!(
        out,
        "\npart 2: replica 1 fails a third into {:.0} s of /send at concurrency {}; the client gives up after {:?} as GoQuorum does",
        settings.fault_seconds, settings.fault_concurrency, CLIENT_TIMEOUT
    )?;
    writeln!(
        out,
        "{:<8} {:<9} {:>9} {:>7} {:>10} {:>7}",
        "fault", "front", "requests", "errors", "worst", "hedges"
    )?;
    Ok(())
}

/// One fault run's line, then the first few of its failures.
pub(super) fn print_fault_row(out: &mut dyn Write, row: &FaultRow) -> anyhow::Result<()> {
    writeln!(
        out,
        "{:<8} {:<9} {:>9} {:>7} {:>10} {:>7}",
        row.fault.name(),
        row.front.name(),
        row.seen.requests,
        row.seen.errors,
        short_latency(row.seen.worst),
        row.hedges.map_or_else(|| "-".to_owned(), |h| h.to_string()),
    )?;
    Ok(print_error_samples(out, &row.seen.samples)?)
}
