//! What a run found, laid out as text, with the goals marked PASS or MISS.

use std::fmt::Write as _;
use std::time::Duration;

use cloister_harness::procfs::Memory;

use crate::load::Outcome;
use crate::scenario::Scenario;

/// `/send` to one recipient: at least this many per second...
pub const SEND_ONE_GOAL_PER_SECOND: f64 = 2_000.0;
/// ...with p99 latency under this.
pub const SEND_ONE_GOAL_P99: Duration = Duration::from_millis(50);
/// `GET /transaction`: at least this many per second.
pub const GET_GOAL_PER_SECOND: f64 = 10_000.0;
/// Peak RSS of every node under load: under this many KiB (64 MiB).
pub const RSS_GOAL_KIB: u64 = 64 * 1024;

/// CPU time the processes used during one level.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUse {
    /// Node A.
    pub sender: Duration,
    /// All recipients together.
    pub recipients: Duration,
    /// The driver itself (client side of every request).
    pub driver: Duration,
}

/// One measured (scenario, concurrency) pair.
#[derive(Debug, Clone)]
pub struct Level {
    /// The scenario.
    pub scenario: Scenario,
    /// Connections sending at once.
    pub concurrency: usize,
    /// Requests attempted.
    pub requests: usize,
    /// Requests that failed.
    pub errors: usize,
    /// The first few failures.
    pub error_samples: Vec<String>,
    /// Successful requests per second.
    pub throughput: f64,
    /// Mean latency.
    pub mean: Duration,
    /// Median latency.
    pub p50: Duration,
    /// 99th-percentile latency.
    pub p99: Duration,
    /// Largest latency.
    pub max: Duration,
    /// CPU used meanwhile.
    pub cpu: CpuUse,
    /// Mean time inside A's handler for the scenario's route.
    pub handler: Option<Duration>,
    /// Mean time inside the recipients' `/push` handler (send scenarios).
    pub push: Option<Duration>,
}

impl Level {
    /// Summarises an outcome.
    pub fn new(scenario: Scenario, concurrency: usize, mut outcome: Outcome, cpu: CpuUse) -> Self {
        // Handler times come from the nodes' metrics afterwards; see `with_handler_times`.
        Self {
            scenario,
            concurrency,
            requests: outcome.requests,
            errors: outcome.errors,
            throughput: outcome.throughput(),
            mean: outcome.latencies.mean(),
            p50: outcome.latencies.quantile(0.50),
            p99: outcome.latencies.quantile(0.99),
            max: outcome.latencies.max(),
            error_samples: outcome.error_samples,
            cpu,
            handler: None,
            push: None,
        }
    }

    /// Adds the mean handler times the nodes' metrics reported for this level.
    pub fn with_handler_times(mut self, handler: Option<Duration>, push: Option<Duration>) -> Self {
        self.handler = handler;
        self.push = push;
        self
    }

    /// Whether this level meets its scenario's goal; `None` when the scenario has none.
    pub fn meets_goal(&self) -> Option<bool> {
        match self.scenario {
            Scenario::SendOne => Some(
                self.errors == 0
                    && self.throughput >= SEND_ONE_GOAL_PER_SECOND
                    && self.p99 < SEND_ONE_GOAL_P99,
            ),
            Scenario::Get => Some(self.errors == 0 && self.throughput >= GET_GOAL_PER_SECOND),
            Scenario::SendFive => None,
        }
    }

    /// The table header matching [`Level::line`].
    pub fn header() -> String {
        format!(
            "{:<8} {:>4} {:>8} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} | {:>8} {:>8} | {:>7} {:>7} {:>7} {:>5} | goal",
            "scenario",
            "conc",
            "requests",
            "errors",
            "req/s",
            "mean",
            "p50",
            "p99",
            "max",
            "A srv",
            "push",
            "A",
            "peers",
            "driver",
            "cores",
        )
    }

    /// One line of the table. `A srv` and `push` are the mean times inside A's handler and the
    /// recipients' `/push` handler. The CPU columns are microseconds of CPU per successful
    /// request in A, in all recipients together and in the driver, then the cores all three
    /// kept busy.
    pub fn line(&self) -> String {
        let ok = self.requests.saturating_sub(self.errors).max(1) as f64;
        let per_request = |cpu: Duration| format!("{:.0}", cpu.as_micros() as f64 / ok);
        let seconds = if self.throughput > 0.0 {
            ok / self.throughput
        } else {
            0.0
        };
        let total = self.cpu.sender + self.cpu.recipients + self.cpu.driver;
        let cores = if seconds > 0.0 {
            total.as_secs_f64() / seconds
        } else {
            0.0
        };
        let goal = match self.meets_goal() {
            Some(true) => format!("PASS ({})", goal_text(self.scenario)),
            Some(false) => format!("MISS ({})", goal_text(self.scenario)),
            None => "-".into(),
        };
        format!(
            "{:<8} {:>4} {:>8} {:>6} {:>9.0} {:>9} {:>9} {:>9} {:>9} | {:>8} {:>8} | {:>7} {:>7} {:>7} {:>5.2} | {goal}",
            self.scenario.name(),
            self.concurrency,
            self.requests,
            self.errors,
            self.throughput,
            millis(self.mean),
            millis(self.p50),
            millis(self.p99),
            millis(self.max),
            self.handler.map_or("-".into(), millis),
            self.push.map_or("-".into(), millis),
            per_request(self.cpu.sender),
            per_request(self.cpu.recipients),
            per_request(self.cpu.driver),
            cores,
        )
    }
}

fn goal_text(scenario: Scenario) -> String {
    match scenario {
        Scenario::SendOne => format!(
            ">= {SEND_ONE_GOAL_PER_SECOND:.0}/s, p99 < {}",
            millis(SEND_ONE_GOAL_P99)
        ),
        Scenario::Get => format!(">= {GET_GOAL_PER_SECOND:.0}/s"),
        Scenario::SendFive => String::new(),
    }
}

/// A duration in milliseconds, to two decimals.
fn millis(duration: Duration) -> String {
    format!("{:.2}ms", duration.as_secs_f64() * 1000.0)
}

/// A latency in the unit that keeps it short: a hang's seconds-long stalls in ms, a healthy
/// call in µs.
pub(crate) fn short_latency(duration: Duration) -> String {
    if duration >= Duration::from_millis(10) {
        format!("{:.0} ms", duration.as_secs_f64() * 1000.0)
    } else {
        format!("{} µs", duration.as_micros())
    }
}

/// Failures under the row they belong to, so a non-zero errors column shows what kind.
pub(crate) fn print_error_samples(
    out: &mut dyn std::io::Write,
    samples: &[String],
) -> std::io::Result<()> {
    for sample in samples {
        writeln!(out, "    error: {sample}")?;
    }
    Ok(())
}

/// The machine's 1-minute load average when a run started, for the line that ends every
/// report: a run that began while other work shared the cores says so beside its figures.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoadBefore(Option<f64>);

impl LoadBefore {
    /// The load average now.
    pub(crate) fn now() -> Self {
        Self(cloister_harness::procfs::load_average())
    }

    /// The load average then, to two decimals.
    pub(crate) fn text(self) -> String {
        load_text(self.0)
    }

    /// Prints the line: the load average then and now.
    pub(crate) fn print_line(self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        writeln!(
            out,
            "machine load average (1 min): {} before, {} after (above ~0.5 before means other \
             work shared the cores)",
            self.text(),
            load_text(cloister_harness::procfs::load_average()),
        )
    }
}

fn load_text(load: Option<f64>) -> String {
    load.map_or_else(|| "unknown".to_owned(), |l| format!("{l:.2}"))
}

/// A goal's mark: `PASS` when `met`, else `MISS`.
pub(crate) fn verdict(met: bool) -> &'static str {
    if met {
        "PASS"
    } else {
        "MISS"
    }
}

/// A measured interval in whole milliseconds, or `none` when there was none (writes never
/// resumed, say).
pub(crate) fn whole_millis(interval: Option<Duration>) -> String {
    interval.map_or_else(|| "none".into(), |d| format!("{} ms", d.as_millis()))
}

/// KiB in MiB, to one decimal.
fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// One node's memory at the end of the run.
#[derive(Debug, Clone)]
pub struct NodeMemory {
    /// Its name (A…F).
    pub name: String,
    /// Its process id.
    pub pid: u32,
    /// What `/proc` said; `None` if the process was gone.
    pub memory: Option<Memory>,
}

impl NodeMemory {
    /// Whether its peak stayed under the goal.
    pub fn meets_goal(&self) -> bool {
        self.memory.is_some_and(|m| m.peak_kib < RSS_GOAL_KIB)
    }
}

/// The whole run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every measured level, in the order run.
    pub levels: Vec<Level>,
    /// Every node's memory after the last level.
    pub nodes: Vec<NodeMemory>,
}

impl Report {
    /// The memory table.
    pub fn memory_table(&self) -> String {
        let mut text = format!(
            "{:<4} {:>8} {:>10} {:>12} | goal\n",
            "node", "pid", "peak RSS", "current RSS"
        );
        for node in &self.nodes {
            let (peak, current) = match node.memory {
                Some(m) => (mib(m.peak_kib), mib(m.current_kib)),
                None => ("gone".into(), "gone".into()),
            };
            let verdict = if node.meets_goal() { "PASS" } else { "MISS" };
            let _ = writeln!(
                text,
                "{:<4} {:>8} {:>10} {:>12} | {verdict} (peak < {})",
                node.name,
                node.pid,
                peak,
                current,
                mib(RSS_GOAL_KIB)
            );
        }
        text
    }

    /// One line per goal: met or not, and by which level.
    pub fn goals(&self) -> String {
        let mut text = String::new();
        for scenario in [Scenario::SendOne, Scenario::Get] {
            let levels: Vec<&Level> = self
                .levels
                .iter()
                .filter(|l| l.scenario == scenario)
                .collect();
            let Some(best) = levels.iter().max_by(|a, b| {
                // Passing levels first, then the highest throughput.
                (a.meets_goal(), a.throughput)
                    .partial_cmp(&(b.meets_goal(), b.throughput))
                    .unwrap_or(std::cmp::Ordering::Equal)
            }) else {
                continue;
            };
            let verdict = if best.meets_goal() == Some(true) {
                "PASS"
            } else {
                "MISS"
            };
            let _ = writeln!(
                text,
                "{verdict}  {} {}: best {:.0}/s at concurrency {} (p99 {}, {} errors)",
                scenario.name(),
                goal_text(scenario),
                best.throughput,
                best.concurrency,
                millis(best.p99),
                best.errors,
            );
        }
        if !self.nodes.is_empty() {
            let largest = self
                .nodes
                .iter()
                .max_by_key(|n| n.memory.map_or(u64::MAX, |m| m.peak_kib));
            let verdict = if self.nodes.iter().all(NodeMemory::meets_goal) {
                "PASS"
            } else {
                "MISS"
            };
            if let Some(largest) = largest {
                let _ = writeln!(
                    text,
                    "{verdict}  peak RSS < {} on every node: largest {} ({})",
                    mib(RSS_GOAL_KIB),
                    largest.memory.map_or("gone".into(), |m| mib(m.peak_kib)),
                    largest.name,
                );
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(scenario: Scenario, throughput: f64, p99_ms: u64) -> Level {
        Level {
            scenario,
            concurrency: 8,
            requests: 100,
            errors: 0,
            error_samples: Vec::new(),
            throughput,
            mean: Duration::from_millis(1),
            p50: Duration::from_millis(1),
            p99: Duration::from_millis(p99_ms),
            max: Duration::from_millis(p99_ms),
            cpu: CpuUse::default(),
            handler: None,
            push: None,
        }
    }

    #[test]
    fn send_goal_needs_rate_and_tail() {
        assert_eq!(
            level(Scenario::SendOne, 2500.0, 20).meets_goal(),
            Some(true)
        );
        assert_eq!(
            level(Scenario::SendOne, 2500.0, 60).meets_goal(),
            Some(false)
        );
        assert_eq!(
            level(Scenario::SendOne, 1500.0, 20).meets_goal(),
            Some(false)
        );
        assert_eq!(level(Scenario::SendFive, 1.0, 1).meets_goal(), None);
        assert!(level(Scenario::SendOne, 2500.0, 20).line().contains("PASS"));
    }

    #[test]
    fn goals_pick_a_passing_level_over_a_faster_failing_one() {
        let report = Report {
            levels: vec![
                level(Scenario::SendOne, 2100.0, 40),
                level(Scenario::SendOne, 2600.0, 80),
                level(Scenario::Get, 9000.0, 1),
            ],
            nodes: vec![NodeMemory {
                name: "A".into(),
                pid: 1,
                memory: Some(Memory {
                    peak_kib: 70 * 1024,
                    current_kib: 1,
                }),
            }],
        };
        let goals = report.goals();
        assert!(goals.contains("PASS  send-1"), "{goals}");
        assert!(goals.contains("best 2100/s"), "{goals}");
        assert!(goals.contains("MISS  get"), "{goals}");
        assert!(goals.contains("MISS  peak RSS"), "{goals}");
    }
}
