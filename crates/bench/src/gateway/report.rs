//! What the gateway benchmark found: one row per front in each steady cell and per fault run,
//! the verdicts on them, and the text they print as (headers beside the rows so the
//! widths stay in step).

use std::io::Write;
use std::time::Duration;

use super::fault::CLIENT_TIMEOUT;
use super::front::Front;
use crate::fault_run::{Fault, Seen};
use crate::report::{print_error_samples, short_latency};

/// One front in one steady cell (method, concurrency).
#[derive(Debug, Clone)]
pub struct SteadyRow {
    /// The JSON-RPC method.
    pub method: &'static str,
    /// Connections sending at once.
    pub concurrency: usize,
    /// The front.
    pub front: Front,
    /// Successful calls per second.
    pub throughput: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Calls attempted.
    pub requests: usize,
    /// Calls that failed (transport, non-2xx, or a JSON-RPC error).
    pub errors: usize,
    /// CPU the front spent per call (all its processes and threads); none for direct.
    pub cpu_per_call: Option<Duration>,
}

/// One front through one fault run.
#[derive(Debug, Clone)]
pub struct FaultRow {
    /// The fault.
    pub fault: Fault,
    /// The front.
    pub front: Front,
    /// What its clients saw.
    pub seen: Seen,
}

/// The verdict on one steady cell: `cloister gateway` against the better of nginx and
/// HAProxy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SteadyVerdict {
    /// Cloister's throughput over the best balancer's (goal: at least 1).
    pub throughput_ratio: f64,
    /// Cloister's p50 minus direct's, in µs.
    pub cloister_added: i64,
    /// The smaller of nginx's and HAProxy's added p50, in µs (goal: cloister's is no more).
    pub best_added: i64,
    /// No call failed on any front.
    pub clean: bool,
}

impl SteadyVerdict {
    /// Both goals met, without errors.
    pub fn met(&self) -> bool {
        self.clean && self.throughput_ratio >= 1.0 && self.cloister_added <= self.best_added
    }
}

/// Everything measured.
#[derive(Debug, Default)]
pub struct GatewayReport {
    /// Steady state: every front in every cell.
    pub steady: Vec<SteadyRow>,
    /// Every front through every fault.
    pub faults: Vec<FaultRow>,
}

impl GatewayReport {
    /// Whether no steady-state call failed (fault runs fail calls by design).
    pub fn steady_is_clean(&self) -> bool {
        self.steady.iter().all(|r| r.errors == 0)
    }

    /// The verdict on the cell (method, concurrency), once its rows are in.
    pub fn verdict(&self, method: &str, concurrency: usize) -> Option<SteadyVerdict> {
        verdict(&self.steady, method, concurrency)
    }

    /// The fault goal for `fault`: fewer errors through `cloister gateway` than through either
    /// nginx or HAProxy (none at all counts, as nothing can be fewer).
    pub fn fault_goal_met(&self, fault: Fault) -> Option<bool> {
        let errors = |front| {
            self.faults
                .iter()
                .find(|r| r.fault == fault && r.front == front)
                .map(|r| r.seen.errors)
        };
        let (cloister, nginx, haproxy) = (
            errors(Front::Cloister)?,
            errors(Front::Nginx)?,
            errors(Front::Haproxy)?,
        );
        Some(cloister == 0 || cloister < nginx.min(haproxy))
    }
}

pub(super) fn verdict(
    rows: &[SteadyRow],
    method: &str,
    concurrency: usize,
) -> Option<SteadyVerdict> {
    let cell: Vec<&SteadyRow> = rows
        .iter()
        .filter(|r| r.method == method && r.concurrency == concurrency)
        .collect();
    let find = |front| cell.iter().find(|r| r.front == front);
    let (direct, cloister, nginx, haproxy) = (
        find(Front::Direct)?,
        find(Front::Cloister)?,
        find(Front::Nginx)?,
        find(Front::Haproxy)?,
    );
    let added = |r: &SteadyRow| micros_i64(r.p50) - micros_i64(direct.p50);
    let best = nginx.throughput.max(haproxy.throughput);
    Some(SteadyVerdict {
        throughput_ratio: if best > 0.0 {
            cloister.throughput / best
        } else {
            0.0
        },
        cloister_added: added(cloister),
        best_added: added(nginx).min(added(haproxy)),
        clean: cell.iter().all(|r| r.errors == 0),
    })
}

fn micros_i64(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// The steady part's title and column headers.
pub(super) fn print_steady_header(out: &mut dyn Write, budget: &str) -> anyhow::Result<()> {
    writeln!(out, "\nsteady state ({budget})")?;
    writeln!(
        out,
        "{:<15} {:>4} {:<9} {:>8} {:>10} {:>10} {:>10} {:>6} {:>9}",
        "method", "conc", "front", "calls/s", "p50", "p99", "added p50", "errors", "cpu/call"
    )?;
    Ok(())
}

/// One front's line in a cell, then the first few of its failures.
pub(super) fn print_steady_row(
    out: &mut dyn Write,
    row: &SteadyRow,
    direct_p50: Option<Duration>,
    samples: &[String],
) -> anyhow::Result<()> {
    let added = match (row.front, direct_p50) {
        (Front::Direct, _) | (_, None) => "-".to_owned(),
        (_, Some(direct)) => format!("{:+} µs", micros_i64(row.p50) - micros_i64(direct)),
    };
    writeln!(
        out,
        "{:<15} {:>4} {:<9} {:>8.0} {:>10} {:>10} {:>10} {:>6} {:>9}",
        row.method,
        row.concurrency,
        row.front.name(),
        row.throughput,
        short_latency(row.p50),
        short_latency(row.p99),
        added,
        row.errors,
        row.cpu_per_call
            .map_or_else(|| "-".to_owned(), short_latency),
    )?;
    Ok(print_error_samples(out, samples)?)
}

/// The cell's verdict under its rows.
pub(super) fn print_verdict(out: &mut dyn Write, verdict: &SteadyVerdict) -> anyhow::Result<()> {
    writeln!(
        out,
        "    cloister/best balancer throughput {:.2} (goal >= 1), added p50 cloister {:+} µs vs best balancer {:+} µs (goal <=): {}",
        verdict.throughput_ratio,
        verdict.cloister_added,
        verdict.best_added,
        if verdict.met() { "PASS" } else { "MISS" },
    )?;
    Ok(())
}

/// The fault part's title, which says what a fault run does, and its column headers.
pub(super) fn print_fault_header(
    out: &mut dyn Write,
    seconds: f64,
    concurrency: usize,
    method: &str,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "\nfaults: the primary node fails a third into {seconds:.0} s of {method} at concurrency {concurrency}; the client gives up after {CLIENT_TIMEOUT:?}"
    )?;
    writeln!(
        out,
        "{:<8} {:<9} {:>8} {:>7} {:>10}",
        "fault", "front", "calls", "errors", "worst"
    )?;
    Ok(())
}

/// One fault run's line, then the first few of its failures.
pub(super) fn print_fault_row(out: &mut dyn Write, row: &FaultRow) -> anyhow::Result<()> {
    writeln!(
        out,
        "{:<8} {:<9} {:>8} {:>7} {:>10}",
        row.fault.name(),
        row.front.name(),
        row.seen.requests,
        row.seen.errors,
        short_latency(row.seen.worst)
    )?;
    Ok(print_error_samples(out, &row.seen.samples)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(front: Front, throughput: f64, p50_micros: u64) -> SteadyRow {
        SteadyRow {
            method: "eth_blockNumber",
            concurrency: 1,
            front,
            throughput,
            p50: Duration::from_micros(p50_micros),
            p99: Duration::from_micros(p50_micros * 2),
            requests: 100,
            errors: 0,
            cpu_per_call: None,
        }
    }

    #[test]
    fn the_steady_goal_is_against_the_better_balancer_on_each_count() {
        let cell = |cloister: SteadyRow| {
            vec![
                row(Front::Direct, 1000.0, 100),
                cloister,
                row(Front::Nginx, 800.0, 180),
                row(Front::Haproxy, 900.0, 200),
            ]
        };
        let met = verdict(
            &cell(row(Front::Cloister, 900.0, 180)),
            "eth_blockNumber",
            1,
        );
        let met = met.expect("a full cell");
        assert_eq!((met.cloister_added, met.best_added), (80, 80));
        assert!(met.met(), "equal to the best on both counts meets the goal");
        let slower = verdict(
            &cell(row(Front::Cloister, 899.0, 150)),
            "eth_blockNumber",
            1,
        );
        assert!(
            !slower.expect("a full cell").met(),
            "below HAProxy's throughput"
        );
        let later = verdict(
            &cell(row(Front::Cloister, 950.0, 181)),
            "eth_blockNumber",
            1,
        );
        assert!(
            !later.expect("a full cell").met(),
            "more added p50 than nginx"
        );
        let mut failing = cell(row(Front::Cloister, 950.0, 150));
        failing[2].errors = 1;
        let failing = verdict(&failing, "eth_blockNumber", 1).expect("a full cell");
        assert!(!failing.met(), "a failed call on any front voids the cell");
        assert!(verdict(&failing_cell_without_haproxy(), "eth_blockNumber", 1).is_none());
    }

    fn failing_cell_without_haproxy() -> Vec<SteadyRow> {
        vec![
            row(Front::Direct, 1000.0, 100),
            row(Front::Cloister, 900.0, 180),
            row(Front::Nginx, 800.0, 180),
        ]
    }

    #[test]
    fn the_fault_goal_is_fewer_errors_than_both_or_none() {
        let fault_row = |front, errors| FaultRow {
            fault: Fault::Stop,
            front,
            seen: Seen {
                requests: 100,
                errors,
                ..Seen::default()
            },
        };
        let report = |cloister, nginx, haproxy| GatewayReport {
            steady: Vec::new(),
            faults: vec![
                fault_row(Front::Cloister, cloister),
                fault_row(Front::Nginx, nginx),
                fault_row(Front::Haproxy, haproxy),
            ],
        };
        assert_eq!(report(0, 0, 0).fault_goal_met(Fault::Stop), Some(true));
        assert_eq!(report(2, 3, 5).fault_goal_met(Fault::Stop), Some(true));
        assert_eq!(report(3, 3, 5).fault_goal_met(Fault::Stop), Some(false));
        assert_eq!(report(3, 9, 2).fault_goal_met(Fault::Stop), Some(false));
        assert_eq!(report(0, 0, 0).fault_goal_met(Fault::Kill), None);
    }
}
