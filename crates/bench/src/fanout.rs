//! `cloister-bench fanout`: what a `/send` to five recipients costs the sender against a send
//! to one, measured in one run.
//!
//! A and five recipient nodes B…F (five processes, so five pushes over five pooled peer
//! connections) run throughout; `send-1` goes to B, `send-5` to B…F. The two cells of each
//! concurrency level alternate in rotating rounds, so both see the same machine, and the
//! ratio is of A's CPU per send (from `/proc/<pid>/stat`) summed over the rounds. The goal
//! (tracker issue 17): a send to five costs A at most twice a send to one.

use std::io::Write;
use std::time::Duration;

use clap::Args;
use cloister_addr::Endpoint;
use cloister_harness::procfs;

use crate::cluster::Cluster;
use crate::load::{check_levels, client_runtime, run_level, Budget, Check};
use crate::report::LoadBefore;
use crate::scenario::Requests;

/// The goal: A's CPU per send to five at most this many times a send to one.
pub const FANOUT_GOAL_RATIO: f64 = 2.0;

/// The fan-out benchmark's command line.
#[derive(Debug, Clone, Args)]
pub struct FanoutBench {
    /// Concurrency levels: keep-alive connections sending back to back.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    pub concurrency: Vec<usize>,

    /// Seconds per cell per round.
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,

    /// Rounds; each runs every (concurrency, recipients) cell once, in turn.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,

    /// Payload size in bytes.
    #[arg(long, default_value_t = 1024)]
    pub payload_bytes: usize,

    /// Unmeasured sends to all five before the first round (opens A's peer connections).
    #[arg(long, default_value_t = 300)]
    pub warmup: usize,

    /// Worker threads for the driver's own runtime.
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,
}

/// One cell's totals over every round.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cell {
    /// Successful sends.
    pub ok: usize,
    /// Failed sends.
    pub errors: usize,
    /// Time the cell ran.
    pub elapsed: Duration,
    /// A's CPU meanwhile.
    pub sender_cpu: Duration,
    /// The recipients' CPU meanwhile, all together.
    pub recipients_cpu: Duration,
}

impl Cell {
    fn per_send(&self, cpu: Duration) -> f64 {
        cpu.as_micros() as f64 / self.ok.max(1) as f64
    }

    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// One concurrency level: the send to one and the send to five.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Connections sending at once.
    pub concurrency: usize,
    /// To B.
    pub one: Cell,
    /// To B…F.
    pub five: Cell,
}

impl Row {
    /// A's CPU per send to five over A's CPU per send to one.
    pub fn ratio(&self) -> f64 {
        self.five.per_send(self.five.sender_cpu) / self.one.per_send(self.one.sender_cpu).max(1.0)
    }

    /// Whether the ratio meets the goal and nothing failed.
    pub fn meets_goal(&self) -> bool {
        self.one.errors + self.five.errors == 0 && self.ratio() <= FANOUT_GOAL_RATIO
    }
}

/// Runs the benchmark, printing the table to `out`.
pub fn run(bench: &FanoutBench, out: &mut dyn Write) -> anyhow::Result<Vec<Row>> {
    check_levels(&bench.concurrency)?;
    anyhow::ensure!(bench.rounds > 0, "at least one round");
    let runtime = client_runtime(bench.client_threads)?;
    let load_before = LoadBefore::now();
    let mut cluster = Cluster::start(None, serde_json::json!({}))?;
    cluster.grow_to(5)?;
    cluster.wait_for_discovery()?;
    let endpoint = Endpoint::Unix(cluster.q2t_socket());
    let to_one = Requests::send(bench.payload_bytes, cluster.recipient_keys(1));
    let to_five = Requests::send(bench.payload_bytes, cluster.recipient_keys(5));
    let warmup = runtime.block_on(run_level(
        &endpoint,
        to_five.clone(),
        8,
        Budget::Requests(bench.warmup),
        Check::Status,
    ))?;
    anyhow::ensure!(
        warmup.errors == 0,
        "warm-up sends failed: {}",
        warmup.error_samples.join("; ")
    );
    let sender = cluster.sender().process.pid();
    let recipients: Vec<u32> = cluster
        .recipients()
        .iter()
        .map(|m| m.process.pid())
        .collect();
    let cpu = |pid: u32| procfs::cpu_time(pid).unwrap_or_default();
    let recipients_cpu = || recipients.iter().map(|&p| cpu(p)).sum::<Duration>();
    let mut rows: Vec<Row> = bench
        .concurrency
        .iter()
        .map(|&concurrency| Row {
            concurrency,
            one: Cell::default(),
            five: Cell::default(),
        })
        .collect();
    let budget = Budget::For(Duration::from_secs_f64(bench.seconds.max(0.0)));
    for _ in 0..bench.rounds {
        for row in &mut rows {
            for (requests, cell) in [(&to_one, &mut row.one), (&to_five, &mut row.five)] {
                let (a0, r0) = (cpu(sender), recipients_cpu());
                let outcome = runtime.block_on(run_level(
                    &endpoint,
                    requests.clone(),
                    row.concurrency,
                    budget,
                    Check::Status,
                ))?;
                cell.sender_cpu += cpu(sender).saturating_sub(a0);
                cell.recipients_cpu += recipients_cpu().saturating_sub(r0);
                cell.ok += outcome.latencies.len();
                cell.errors += outcome.errors;
                cell.elapsed += outcome.elapsed;
            }
        }
    }
    writeln!(
        out,
        "cloister-bench fanout: {} B payloads, {} rounds of {:.1}s per cell, {} cores; A + B…F \
         (six processes, five recipient nodes); send-1 to B, send-5 to B…F, cells alternating\n\
         A µs = A's CPU per send; peers µs = all recipients' CPU per send",
        bench.payload_bytes,
        bench.rounds,
        bench.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    )?;
    writeln!(
        out,
        "{:>4} | {:>8} {:>6} {:>8} | {:>8} {:>6} {:>8} | {:>6} | goal",
        "conc", "send-1/s", "A µs", "peers µs", "send-5/s", "A µs", "peers µs", "A 5:1"
    )?;
    for row in &rows {
        writeln!(
            out,
            "{:>4} | {:>8.0} {:>6.0} {:>8.0} | {:>8.0} {:>6.0} {:>8.0} | {:>5.2}x | {} (<= {FANOUT_GOAL_RATIO:.1}x{})",
            row.concurrency,
            row.one.rate(),
            row.one.per_send(row.one.sender_cpu),
            row.one.per_send(row.one.recipients_cpu),
            row.five.rate(),
            row.five.per_send(row.five.sender_cpu),
            row.five.per_send(row.five.recipients_cpu),
            row.ratio(),
            crate::report::verdict(row.meets_goal()),
            match row.one.errors + row.five.errors {
                0 => String::new(),
                n => format!(", {n} errors"),
            },
        )?;
    }
    load_before.print_line(out)?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(ok: usize, sender_micros: u64) -> Cell {
        Cell {
            ok,
            errors: 0,
            elapsed: Duration::from_secs(1),
            sender_cpu: Duration::from_micros(sender_micros),
            recipients_cpu: Duration::ZERO,
        }
    }

    #[test]
    fn the_ratio_is_of_cpu_per_send_not_of_totals() {
        // 100 sends to one at 200 µs each; 50 sends to five at 380 µs each.
        let row = Row {
            concurrency: 8,
            one: cell(100, 20_000),
            five: cell(50, 19_000),
        };
        assert!((row.ratio() - 1.9).abs() < 1e-9);
        assert!(row.meets_goal());
        let worse = Row {
            five: cell(50, 21_000),
            ..row
        };
        assert!(!worse.meets_goal());
    }
}
