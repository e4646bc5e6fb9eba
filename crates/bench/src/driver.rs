//! A whole run: start the nodes, run every scenario at every concurrency level, report as it
//! goes.

use std::io::Write;
use std::time::Duration;

use cloister_addr::Endpoint;
use cloister_harness::procfs::{self, Memory};
use cloister_protocol::path;

use crate::cluster::Cluster;
use crate::load::{check_levels, client_runtime, run_level, Budget, Check, Outcome};
use crate::report::{CpuUse, Level, LoadBefore, NodeMemory, Report};
use crate::scenario::{Requests, Scenario};
use crate::server_time::RouteTotals;
use crate::settings::Settings;

/// How many transactions `get` reads when `send-1` did not run to leave some behind.
const GET_PREFILL: usize = 2_000;

/// Runs the benchmark `settings` describe, writing the report to `out` line by line (so a long
/// run shows progress) and returning it. The `cloister` binary must already be chosen with
/// [`cloister_harness::nodes::use_binary`] or be where the harness looks by default.
pub fn run(settings: &Settings, out: &mut dyn Write) -> anyhow::Result<Report> {
    check_levels(&settings.concurrency)?;
    let runtime = client_runtime(settings.client_threads)?;
    let load_before = LoadBefore::now();
    let mut cluster = Cluster::start(settings.dir.as_deref(), serde_json::json!({}))?;
    let mut report = Report::default();
    // Hashes send-1 created, for get to read.
    let mut written: Vec<String> = Vec::new();
    let mut header_shown = false;
    for scenario in Scenario::ALL.into_iter().filter(|s| settings.runs(*s)) {
        cluster.grow_to(scenario.recipients())?;
        cluster.wait_for_discovery()?;
        if !header_shown {
            writeln!(out, "{}", describe(settings, &cluster))?;
            writeln!(out, "{}", Level::header())?;
            header_shown = true;
        }
        let endpoint = Endpoint::Unix(cluster.q2t_socket());
        let send_to_one = Requests::send(settings.payload_bytes, cluster.recipient_keys(1));
        if scenario == Scenario::Get && written.is_empty() {
            let prefill = runtime.block_on(run_level(
                &endpoint,
                send_to_one.clone(),
                8,
                Budget::Requests(GET_PREFILL),
                Check::Key,
            ))?;
            ensure_clean("writing transactions for get", &prefill)?;
            written = prefill.keys;
        }
        let requests = match scenario {
            Scenario::SendOne => send_to_one,
            Scenario::SendFive => Requests::send(settings.payload_bytes, cluster.recipient_keys(5)),
            Scenario::Get => Requests::get(&written),
        };
        let check = if scenario == Scenario::SendOne {
            Check::Key
        } else {
            Check::Status
        };
        if settings.warmup > 0 {
            let warmup = runtime.block_on(run_level(
                &endpoint,
                requests.clone(),
                settings
                    .concurrency
                    .iter()
                    .copied()
                    .max()
                    .unwrap_or(1)
                    .min(8),
                Budget::Requests(settings.warmup),
                check,
            ))?;
            ensure_clean(&format!("warming up {scenario}"), &warmup)?;
            written.extend(warmup.keys);
        }
        for &concurrency in &settings.concurrency {
            let before = Snapshot::take(&cluster, scenario);
            let mut outcome = runtime.block_on(run_level(
                &endpoint,
                requests.clone(),
                concurrency,
                settings.budget(),
                check,
            ))?;
            let after = Snapshot::take(&cluster, scenario);
            written.append(&mut outcome.keys);
            let seconds = |s: Option<f64>| s.map(Duration::from_secs_f64);
            let level = Level::new(scenario, concurrency, outcome, after.cpu_since(&before))
                .with_handler_times(
                    seconds(after.handler.mean_since(&before.handler)),
                    seconds(after.push.mean_since(&before.push)),
                );
            writeln!(out, "{}", level.line())?;
            for sample in &level.error_samples {
                writeln!(out, "    error: {sample}")?;
            }
            out.flush()?;
            report.levels.push(level);
        }
    }
    report.nodes = cluster
        .members()
        .map(|member| {
            let pid = member.process.pid();
            NodeMemory {
                name: member.dir.name.clone(),
                pid,
                memory: Memory::of(pid),
            }
        })
        .collect();
    writeln!(out)?;
    write!(out, "{}", report.memory_table())?;
    writeln!(out)?;
    write!(out, "{}", report.goals())?;
    load_before.print_line(out)?;
    out.flush()?;
    Ok(report)
}

/// The run's setup, printed above the table.
fn describe(settings: &Settings, cluster: &Cluster) -> String {
    let budget = match settings.budget() {
        Budget::For(duration) => format!("{:.1}s per level", duration.as_secs_f64()),
        Budget::Requests(n) => format!("{n} requests per level"),
    };
    let pids: Vec<String> = cluster
        .members()
        .map(|m| format!("{}={}", m.dir.name, m.process.pid()))
        .collect();
    format!(
        "cloister-bench: {} B payloads, {budget}, {} driver thread(s), {} cores; nodes under {} (pids {})\n\
         latency is per request on a keep-alive Q2T connection; req/s counts successes; \
         A srv/push = mean time in A's handler / in a recipient's /push handler; \
         A/peers/driver = CPU microseconds per request; cores = CPU busy across all three",
        settings.payload_bytes,
        settings.client_threads.max(1),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cluster.root().display(),
        pids.join(" "),
    )
}

fn ensure_clean(what: &str, outcome: &Outcome) -> anyhow::Result<()> {
    anyhow::ensure!(
        outcome.errors == 0,
        "{what}: {} of {} requests failed, e.g. {}",
        outcome.errors,
        outcome.requests,
        outcome.error_samples.join("; ")
    );
    Ok(())
}

/// Counters read before and after a level: CPU time of A, of the recipients together and of
/// the driver, and the handler totals of A's route and of the recipients' `/push`.
struct Snapshot {
    cpu: CpuUse,
    handler: RouteTotals,
    push: RouteTotals,
}

impl Snapshot {
    fn take(cluster: &Cluster, scenario: Scenario) -> Self {
        let of = |pid: u32| procfs::cpu_time(pid).unwrap_or_default();
        let (app, route) = scenario.route();
        let cpu = CpuUse {
            sender: of(cluster.sender().process.pid()),
            recipients: cluster
                .recipients()
                .iter()
                .map(|m| of(m.process.pid()))
                .sum::<Duration>(),
            driver: procfs::own_cpu_time().unwrap_or_default(),
        };
        Self {
            cpu,
            handler: RouteTotals::of(&cluster.sender().dir, app, route),
            push: cluster
                .recipients()
                .iter()
                .map(|m| RouteTotals::of(&m.dir, "P2P", path::PUSH))
                .fold(RouteTotals::default(), RouteTotals::plus),
        }
    }

    fn cpu_since(&self, earlier: &Snapshot) -> CpuUse {
        CpuUse {
            sender: self.cpu.sender.saturating_sub(earlier.cpu.sender),
            recipients: self.cpu.recipients.saturating_sub(earlier.cpu.recipients),
            driver: self.cpu.driver.saturating_sub(earlier.cpu.driver),
        }
    }
}
