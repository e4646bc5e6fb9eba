//! Part 1, steady state: every call at every level through every front, the fronts taking
//! turns within each cell so that drifting machine load hits them alike.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use cloister_addr::Endpoint;
use cloister_harness::party::TwinParty;

use super::call::{upcheck, CallKind};
use super::front::{start_front, Front, Running};
use super::report::{print_ratios, print_steady_header, print_steady_row, SteadyRow};
use super::settings::ProxyBench;
use crate::latency::Latencies;
use crate::load::{run_level, Budget, Check, Outcome};
use crate::scenario::Requests;

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
    /// Hedges `cloister proxy` sent during the slices.
    hedges: Option<u64>,
}

impl Tally {
    fn add(&mut self, outcome: Outcome) {
        self.requests += outcome.requests;
        self.errors += outcome.errors;
        if self.error_samples.is_empty() {
            self.error_samples = outcome.error_samples;
        }
        self.latencies.merge(outcome.latencies);
        self.elapsed += outcome.elapsed;
    }

    fn add_cpu(&mut self, spent: Option<Duration>) {
        if let Some(spent) = spent {
            self.cpu = Some(self.cpu.unwrap_or_default() + spent);
        }
    }

    fn cpu_per_request(&self) -> Option<Duration> {
        let requests = u32::try_from(self.requests.max(1)).unwrap_or(u32::MAX);
        self.cpu.map(|cpu| cpu / requests)
    }

    fn throughput(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.latencies.len() as f64 / seconds
        } else {
            0.0
        }
    }
}

/// Runs part 1, printing each row as it comes. `send` is the run's plain `/send`, which
/// part 2 sends too.
pub(super) fn run(
    settings: &ProxyBench,
    party: &TwinParty,
    runtime: &tokio::runtime::Runtime,
    send: &Arc<Requests>,
    out: &mut dyn Write,
) -> anyhow::Result<Vec<SteadyRow>> {
    let fronts: Vec<Running> = Front::ALL
        .iter()
        .map(|front| start_front(*front, party, settings))
        .collect::<anyhow::Result<_>>()?;
    let keyed_send =
        Requests::keyed_send(settings.payload_bytes, vec![party.peer.public_key.clone()]);
    print_steady_header(out, settings)?;
    let mut rows = Vec::new();
    for &call in &settings.calls {
        let requests = match call {
            CallKind::Upcheck => upcheck(),
            CallKind::Send => send.clone(),
            CallKind::SendKeyed => keyed_send.clone(),
        };
        for &concurrency in &settings.concurrency {
            let tallies = cell(
                settings,
                runtime,
                &fronts,
                &requests,
                concurrency,
                call.check(),
            )?;
            for (front, mut tally) in Front::ALL.iter().zip(tallies) {
                let row = SteadyRow {
                    call,
                    concurrency,
                    front: *front,
                    throughput: tally.throughput(),
                    p50: tally.latencies.quantile(0.50),
                    p99: tally.latencies.quantile(0.99),
                    requests: tally.requests,
                    errors: tally.errors,
                    cpu_per_request: tally.cpu_per_request(),
                    hedges: tally.hedges,
                };
                print_steady_row(out, &row, &tally.error_samples)?;
                rows.push(row);
            }
            print_ratios(out, &rows, call, concurrency)?;
        }
    }
    for running in fronts {
        running.stop();
    }
    Ok(rows)
}

/// One cell: a warm-up through every front, then the budget in rounds (see
/// [`ProxyBench::rounds`]), each round starting one front later than the last. The tallies
/// are in the order of `fronts`.
fn cell(
    settings: &ProxyBench,
    runtime: &tokio::runtime::Runtime,
    fronts: &[Running],
    requests: &Arc<Requests>,
    concurrency: usize,
    check: Check,
) -> anyhow::Result<Vec<Tally>> {
    let endpoints: Vec<Endpoint> = fronts.iter().map(Running::endpoint).collect();
    for endpoint in &endpoints {
        runtime.block_on(run_level(
            endpoint,
            requests.clone(),
            concurrency,
            Budget::Requests(settings.warmup),
            check,
        ))?;
    }
    let mut tallies: Vec<Tally> = fronts.iter().map(|_| Tally::default()).collect();
    for round in 0..settings.rounds.max(1) {
        for k in 0..fronts.len() {
            let i = (round + k) % fronts.len();
            let before = fronts[i].cpu();
            let hedges_before = fronts[i].hedges();
            let outcome = runtime.block_on(run_level(
                &endpoints[i],
                requests.clone(),
                concurrency,
                settings.slice(round),
                check,
            ))?;
            let spent = before
                .zip(fronts[i].cpu())
                .map(|(b, a)| a.saturating_sub(b));
            tallies[i].add(outcome);
            tallies[i].add_cpu(spent);
            if let (Some(b), Some(a)) = (hedges_before, fronts[i].hedges()) {
                tallies[i].hedges = Some(tallies[i].hedges.unwrap_or(0) + a.saturating_sub(b));
            }
        }
    }
    Ok(tallies)
}
