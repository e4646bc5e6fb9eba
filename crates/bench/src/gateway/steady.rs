//! The steady part: every method at every level through every front, the fronts taking turns
//! within each cell (as `cloister-bench proxy` does) so drifting machine load hits them alike.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use super::front::Running;
use super::report::{print_steady_header, print_steady_row, print_verdict, verdict, SteadyRow};
use crate::latency::Latencies;
use crate::load::{run_level, Budget, Check, Outcome};
use crate::scenario::Requests;
use crate::settings::GatewayBench;

/// One front's slices of a cell, added up.
#[derive(Default)]
struct Tally {
    requests: usize,
    errors: usize,
    error_samples: Vec<String>,
    latencies: Latencies,
    elapsed: Duration,
    /// CPU of the front's processes during the slices, when it has any.
    cpu: Option<Duration>,
}

impl Tally {
    fn add(&mut self, outcome: Outcome, cpu: Option<Duration>) {
        self.requests += outcome.requests;
        self.errors += outcome.errors;
        if self.error_samples.is_empty() {
            self.error_samples = outcome.error_samples;
        }
        self.latencies.merge(outcome.latencies);
        self.elapsed += outcome.elapsed;
        if let Some(cpu) = cpu {
            self.cpu = Some(self.cpu.unwrap_or_default() + cpu);
        }
    }

    fn row(&mut self, method: &'static str, concurrency: usize, running: &Running) -> SteadyRow {
        let seconds = self.elapsed.as_secs_f64();
        let calls = u32::try_from(self.requests.max(1)).unwrap_or(u32::MAX);
        SteadyRow {
            method,
            concurrency,
            front: running.front,
            throughput: if seconds > 0.0 {
                self.latencies.len() as f64 / seconds
            } else {
                0.0
            },
            p50: self.latencies.quantile(0.50),
            p99: self.latencies.quantile(0.99),
            requests: self.requests,
            errors: self.errors,
            cpu_per_call: self.cpu.map(|cpu| cpu / calls),
        }
    }
}

/// Round `round`'s slice of a cell's budget (see [`GatewayBench::rounds`]); call counts add up
/// to the cell's exactly.
pub(super) fn slice(settings: &GatewayBench, round: usize) -> Budget {
    let rounds = settings.rounds.max(1);
    match settings.budget() {
        Budget::Requests(n) => Budget::Requests(n / rounds + usize::from(round < n % rounds)),
        Budget::For(duration) => Budget::For(duration / u32::try_from(rounds).unwrap_or(1)),
    }
}

/// Runs the steady part over `fronts` (direct first), printing each cell as it comes.
pub(super) fn run(
    settings: &GatewayBench,
    runtime: &tokio::runtime::Runtime,
    fronts: &[Running],
    methods: &[(&'static str, Arc<Requests>)],
    out: &mut dyn Write,
) -> anyhow::Result<Vec<SteadyRow>> {
    let budget = match settings.budget() {
        Budget::For(d) => format!("{:.1} s", d.as_secs_f64()),
        Budget::Requests(n) => format!("{n} calls"),
    };
    print_steady_header(
        out,
        &format!(
            "{budget} per cell and front in {} rotating rounds; added p50 = front p50 - direct p50; cpu/call = the front's processes' CPU from /proc, 10 ms resolution",
            settings.rounds.max(1)
        ),
    )?;
    let mut rows = Vec::new();
    for (method, requests) in methods {
        for &concurrency in &settings.concurrency {
            let tallies = cell(settings, runtime, fronts, requests, concurrency)?;
            let mut cell_rows = Vec::new();
            for (running, mut tally) in fronts.iter().zip(tallies) {
                let row = tally.row(method, concurrency, running);
                let direct = cell_rows.first().map(|d: &SteadyRow| d.p50);
                print_steady_row(out, &row, direct, &tally.error_samples)?;
                if tally.errors > 0 {
                    let log = running.log_tail();
                    if !log.is_empty() {
                        writeln!(out, "    {} log:\n{log}", running.front.name())?;
                    }
                }
                cell_rows.push(row);
            }
            if let Some(verdict) = verdict(&cell_rows, method, concurrency) {
                print_verdict(out, &verdict)?;
            }
            out.flush()?;
            rows.extend(cell_rows);
        }
    }
    Ok(rows)
}

/// One cell: a warm-up through every front, then the budget in rounds, each round starting one
/// front later than the last. The tallies are in the order of `fronts`.
fn cell(
    settings: &GatewayBench,
    runtime: &tokio::runtime::Runtime,
    fronts: &[Running],
    requests: &Arc<Requests>,
    concurrency: usize,
) -> anyhow::Result<Vec<Tally>> {
    let endpoints: Vec<_> = fronts.iter().map(Running::endpoint).collect();
    if settings.warmup > 0 {
        for endpoint in &endpoints {
            let warmup = runtime.block_on(run_level(
                endpoint,
                requests.clone(),
                concurrency,
                Budget::Requests(settings.warmup),
                Check::RpcResult,
            ))?;
            anyhow::ensure!(
                warmup.errors == 0,
                "warming up on {endpoint}: {}",
                warmup.error_samples.join("; ")
            );
        }
    }
    let mut tallies: Vec<Tally> = fronts.iter().map(|_| Tally::default()).collect();
    for round in 0..settings.rounds.max(1) {
        for k in 0..fronts.len() {
            let i = (round + k) % fronts.len();
            let before = fronts[i].cpu();
            let outcome = runtime.block_on(run_level(
                &endpoints[i],
                requests.clone(),
                concurrency,
                slice(settings, round),
                Check::RpcResult,
            ))?;
            let spent = before
                .zip(fronts[i].cpu())
                .map(|(b, a)| a.saturating_sub(b));
            tallies[i].add(outcome, spent);
        }
    }
    Ok(tallies)
}
