//! The HA store benchmark (`cloister-bench ha-store`), in two parts.
//!
//! 1. Throughput: `/send` from A to B (1 KiB, one recipient, keep-alive Q2T connections) with
//!    A's store on SQLite, then on a PostgreSQL primary with a synchronous streaming standby
//!    (the HA configuration: every commit waits for the standby's flush). Same machine, same
//!    run, ratios printed.
//! 2. Failover gap, over several runs, each on a fresh primary/standby pair: writers send
//!    `/send` back to back; the primary is SIGKILLed; after a fixed detection delay the standby
//!    is promoted. The gap is measured from the kill and from the start of the promotion to the
//!    first successful write among those started after the first failure (writes in flight
//!    when SIGKILL lands may still commit on the old primary). Afterwards every acknowledged
//!    write is read back; one missing is a lost write.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cloister_addr::Endpoint;
use cloister_harness::http::{path_escape, Request};
use cloister_harness::nodes::{NodeDir, RunningNode};
use cloister_harness::patroni::PatroniCluster;
use cloister_harness::postgres::PgCluster;
use cloister_harness::proxy::RunningProxy;
use cloister_protocol::{media, path};
use serde_json::{json, Value};

use crate::cluster::Cluster;
use crate::load::{client_runtime, run_level, Budget, Check};
use crate::report::{verdict, whole_millis};
use crate::scenario::Requests;
use crate::settings::HaStoreBench;

/// The database the benchmark's nodes use.
const DATABASE: &str = "cloister";

/// How long writers run before the primary is killed.
const STEADY_BEFORE_FAULT: Duration = Duration::from_secs(1);

/// How long writers keep going after the promotion.
const WINDOW_AFTER_PROMOTION: Duration = Duration::from_secs(4);

/// The goal for the gap between the start of the promotion and the first successful write.
const PROMOTION_GAP_GOAL: Duration = Duration::from_secs(2);

/// Where A's store lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file (the embedded default).
    Sqlite,
    /// A PostgreSQL primary with a synchronous streaming standby.
    Postgres,
    /// A two-member Patroni cluster in `synchronous_mode` (etcd3), through its multi-host URL.
    Patroni,
    /// Two replicas of A sharing a PostgreSQL primary with a synchronous standby, behind
    /// `cloister proxy` on A's `tm.ipc`: the HA recipe's write path.
    Replicas,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres+sync standby",
            Backend::Patroni => "patroni (2, synchronous)",
            Backend::Replicas => "2 replicas+proxy, pg+sync",
        }
    }

    /// Starts the backend's database servers; them (stopped when dropped, so kept while
    /// measured), the sender's config members for them, and the servers' process ids (primary
    /// first; empty where they are not ours to watch).
    fn start(self, settings: &HaStoreBench) -> (Option<Box<dyn std::any::Any>>, Value, Vec<u32>) {
        let timeouts = format!(
            "connectTimeout={}&socketTimeout={}",
            settings.connect_timeout, settings.socket_timeout
        );
        match self {
            Backend::Sqlite => (None, json!({}), Vec::new()),
            Backend::Postgres | Backend::Replicas => {
                let pg = PgCluster::pair();
                pg.create_database(DATABASE);
                let config = json!({ "jdbc": jdbc(&pg, settings) });
                let pids = pg.server_pids();
                (Some(Box::new(pg)), config, pids)
            }
            Backend::Patroni => {
                let cluster = PatroniCluster::start(2);
                let leader = cluster.leader().expect("a Patroni leader");
                cluster.sql(leader, "postgres", &format!("CREATE DATABASE {DATABASE}"));
                let config = json!({ "jdbc": cluster.jdbc(DATABASE, &timeouts) });
                (Some(Box::new(cluster)), config, Vec::new())
            }
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" => Ok(Self::Postgres),
            "patroni" => Ok(Self::Patroni),
            "replicas" => Ok(Self::Replicas),
            other => Err(format!(
                "unknown store {other:?}: sqlite, postgres, patroni or replicas"
            )),
        }
    }
}

/// `/send` figures for one backend at one concurrency.
#[derive(Debug, Clone)]
pub struct ThroughputRow {
    /// The store.
    pub backend: Backend,
    /// Workers.
    pub concurrency: usize,
    /// Successful sends per second.
    pub throughput: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Failed sends.
    pub errors: usize,
}

/// One failover run.
#[derive(Debug, Clone)]
pub struct FailoverRun {
    /// Kill → first successful write (includes the detection delay).
    pub kill_gap: Option<Duration>,
    /// Start of the promotion → first successful write.
    pub promotion_gap: Option<Duration>,
    /// How long the harness's promotion took (`pg_ctl promote -w`, reload, checkpoint).
    pub promotion_took: Duration,
    /// Writes acknowledged with 201.
    pub acknowledged: usize,
    /// Writes that failed (503 while no primary was writable).
    pub failed: usize,
    /// Failed writes whose status was not 503 (a 404 or a hang would be a bug).
    pub unexpected: usize,
    /// Acknowledged writes that could not be read back afterwards.
    pub lost: usize,
    /// The slowest write.
    pub slowest: Duration,
}

impl FailoverRun {
    /// Whether the run met the goals: no acknowledged write lost, writes resumed
    /// within the goal after the promotion, and no failure other than 503.
    pub fn meets_goals(&self) -> bool {
        self.lost == 0
            && self.unexpected == 0
            && self
                .promotion_gap
                .is_some_and(|gap| gap < PROMOTION_GAP_GOAL)
    }
}

/// Everything the benchmark measured.
#[derive(Debug, Default)]
pub struct HaStoreReport {
    /// Part 1.
    pub throughput: Vec<ThroughputRow>,
    /// Part 2.
    pub failovers: Vec<FailoverRun>,
}

impl HaStoreReport {
    /// Whether every failover run met its goals (none asked for: nothing missed).
    pub fn meets_goals(&self) -> bool {
        self.failovers.iter().all(FailoverRun::meets_goals)
    }
}

/// Runs both parts, printing as it goes.
pub fn run(settings: &HaStoreBench, out: &mut dyn Write) -> anyhow::Result<HaStoreReport> {
    let mut report = HaStoreReport::default();
    writeln!(
        out,
        "cloister-bench ha-store: {} cores, load average {:.2} before the run",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cloister_harness::procfs::load_average().unwrap_or(f64::NAN)
    )?;
    if !settings.concurrency.is_empty() {
        report.throughput = throughput(settings, out)?;
    }
    if settings.runs == 0 {
        return Ok(report);
    }
    writeln!(
        out,
        "\nfailover: {} writer(s) sending /send back to back; primary SIGKILLed after {:?}; standby promoted {} ms later; connectTimeout={}s socketTimeout={}s",
        settings.writers, STEADY_BEFORE_FAULT, settings.detect_ms, settings.connect_timeout, settings.socket_timeout
    )?;
    writeln!(
        out,
        "{:>3} {:>14} {:>17} {:>12} {:>6} {:>6} {:>10} {:>5} {:>10}",
        "run",
        "kill->write",
        "promotion->write",
        "promote took",
        "acked",
        "503s",
        "other err",
        "lost",
        "slowest"
    )?;
    for index in 1..=settings.runs {
        let run = failover_run(settings)?;
        writeln!(
            out,
            "{index:>3} {:>14} {:>17} {:>12} {:>6} {:>6} {:>10} {:>5} {:>10}",
            whole_millis(run.kill_gap),
            whole_millis(run.promotion_gap),
            format!("{} ms", run.promotion_took.as_millis()),
            run.acknowledged,
            run.failed - run.unexpected,
            run.unexpected,
            run.lost,
            format!("{} ms", run.slowest.as_millis()),
        )?;
        report.failovers.push(run);
    }
    writeln!(out, "{}", summary(&report))?;
    Ok(report)
}

fn summary(report: &HaStoreReport) -> String {
    let gaps: Vec<Duration> = report
        .failovers
        .iter()
        .filter_map(|r| r.promotion_gap)
        .collect();
    let lost: usize = report.failovers.iter().map(|r| r.lost).sum();
    let worst = gaps.iter().max().copied();
    format!(
        "goals: promotion->write < {} ms in every run (worst {}): {}; acknowledged writes lost: {lost}: {}",
        PROMOTION_GAP_GOAL.as_millis(),
        whole_millis(worst),
        verdict(gaps.len() == report.failovers.len() && worst.is_some_and(|w| w < PROMOTION_GAP_GOAL)),
        verdict(lost == 0),
    )
}

/// The `jdbc` section of a node on `pg`.
fn jdbc(pg: &PgCluster, settings: &HaStoreBench) -> Value {
    pg.jdbc(
        DATABASE,
        &format!(
            "connectTimeout={}&socketTimeout={}",
            settings.connect_timeout, settings.socket_timeout
        ),
        true,
    )
}

/// Part 1: the same `/send` load on each backend.
/// The processes of one throughput level, by part: where the CPU of a send goes.
struct CpuGroups(Vec<(&'static str, Vec<u32>)>);

impl CpuGroups {
    /// Each group's CPU time so far: a process and its children (PostgreSQL's backends are
    /// the postmaster's), except this process, whose children are the nodes under test.
    fn cpu(&self) -> Vec<Duration> {
        let own = std::process::id();
        self.0
            .iter()
            .map(|(_, pids)| {
                pids.iter()
                    .filter_map(|&pid| match pid == own {
                        true => cloister_harness::procfs::cpu_time(pid),
                        false => cloister_harness::procfs::tree_cpu_time(pid),
                    })
                    .sum()
            })
            .collect()
    }

    /// Each group's CPU per request since `before`, in µs, and the total.
    fn per_request(&self, before: &[Duration], requests: usize) -> String {
        let requests = requests.max(1) as f64;
        let mut total = 0.0;
        let mut parts = Vec::new();
        for ((name, pids), (now, then)) in self.0.iter().zip(self.cpu().iter().zip(before)) {
            if pids.is_empty() {
                continue;
            }
            let micros = now.saturating_sub(*then).as_secs_f64() * 1e6 / requests;
            total += micros;
            parts.push(format!("{name} {micros:.0} µs"));
        }
        format!("{}; total {total:.0} µs", parts.join(", "))
    }
}

/// A second replica of the cluster's sender (the same keys and store) and a `cloister proxy`
/// in front of both as A's `tm.ipc`; them (kept while measured) and the proxy's socket.
fn second_replica_behind_proxy(
    cluster: &Cluster,
    sender_config: &Value,
) -> ((RunningNode, RunningProxy), std::path::PathBuf) {
    let first = &cluster.sender().dir;
    let second = first.replica(cluster.root(), "A2");
    let peers: Vec<&NodeDir> = cluster.recipients().iter().map(|r| &r.dir).collect();
    let running = second.start(&second.config(&peers, sender_config.clone()), &[]);
    let socket = cluster.root().join("tm-proxy.ipc");
    let args = [
        "--listen".to_owned(),
        format!("unix:{}", socket.display()),
        "--upstream".to_owned(),
        first.q2t_url(),
        "--upstream".to_owned(),
        second.q2t_url(),
    ];
    let proxy = RunningProxy::start(cluster.root(), &args, &json!({}));
    ((running, proxy), socket)
}

fn throughput(settings: &HaStoreBench, out: &mut dyn Write) -> anyhow::Result<Vec<ThroughputRow>> {
    let runtime = client_runtime(settings.client_threads)?;
    writeln!(
        out,
        "\n/send A->B, {} B payloads, {:.1}s per level, keep-alive Q2T connections",
        settings.payload_bytes, settings.seconds
    )?;
    writeln!(
        out,
        "{:<22} {:>5} {:>10} {:>10} {:>10} {:>6}",
        "store", "conc", "req/s", "p50", "p99", "errors"
    )?;
    let mut rows = Vec::new();
    for &backend in &settings.stores {
        let (_servers, sender_config, database_pids) = backend.start(settings);
        let cluster = Cluster::start(None, sender_config.clone())?;
        cluster.wait_for_discovery()?;
        let mut senders = vec![cluster.sender().process.pid()];
        let mut proxies = Vec::new();
        let (_second, endpoint) = if backend == Backend::Replicas {
            let (second, socket) = second_replica_behind_proxy(&cluster, &sender_config);
            senders.push(second.0.pid());
            proxies.push(second.1.pid());
            (Some(second), Endpoint::Unix(socket))
        } else {
            (None, Endpoint::Unix(cluster.q2t_socket()))
        };
        let groups = CpuGroups(vec![
            ("A", senders),
            ("proxy", proxies),
            (
                "pg primary",
                database_pids.first().copied().into_iter().collect(),
            ),
            (
                "pg standby",
                database_pids.iter().skip(1).copied().collect(),
            ),
            (
                "B",
                cluster
                    .recipients()
                    .iter()
                    .map(|r| r.process.pid())
                    .collect(),
            ),
            ("driver", vec![std::process::id()]),
        ]);
        let requests = Requests::send(settings.payload_bytes, cluster.recipient_keys(1));
        if settings.warmup > 0 {
            runtime.block_on(run_level(
                &endpoint,
                requests.clone(),
                8,
                Budget::Requests(settings.warmup),
                Check::Key,
            ))?;
        }
        for &concurrency in &settings.concurrency {
            let before = groups.cpu();
            let mut outcome = runtime.block_on(run_level(
                &endpoint,
                requests.clone(),
                concurrency,
                Budget::For(Duration::from_secs_f64(settings.seconds)),
                Check::Key,
            ))?;
            let row = ThroughputRow {
                backend,
                concurrency,
                throughput: outcome.throughput(),
                p50: outcome.latencies.quantile(0.50),
                p99: outcome.latencies.quantile(0.99),
                errors: outcome.errors,
            };
            writeln!(
                out,
                "{:<22} {:>5} {:>10.0} {:>10} {:>10} {:>6}",
                backend.name(),
                concurrency,
                row.throughput,
                format!("{:.2} ms", row.p50.as_secs_f64() * 1e3),
                format!("{:.2} ms", row.p99.as_secs_f64() * 1e3),
                row.errors
            )?;
            writeln!(
                out,
                "{:>28} {}",
                "CPU per send:",
                groups.per_request(&before, outcome.latencies.len())
            )?;
            rows.push(row);
        }
    }
    for &concurrency in &settings.concurrency {
        // A store listed more than once (alternated, so that drift hits both alike) counts
        // by its mean.
        let find = |backend| mean(&rows, backend, concurrency);
        let pairs = [
            ("postgres/sqlite", Backend::Postgres, Backend::Sqlite),
            ("replicas/sqlite", Backend::Replicas, Backend::Sqlite),
            ("patroni/postgres", Backend::Patroni, Backend::Postgres),
        ];
        for (label, measured, baseline) in pairs {
            if let (Some(measured), Some(baseline)) = (find(measured), find(baseline)) {
                writeln!(
                    out,
                    "concurrency {concurrency}: {label} throughput {:.2}, p99 {:.2}x",
                    measured.0 / baseline.0.max(f64::MIN_POSITIVE),
                    measured.1 / baseline.1.max(f64::MIN_POSITIVE),
                )?;
            }
        }
    }
    Ok(rows)
}

/// The mean throughput and p99 (seconds) of `backend`'s rows at `concurrency`, if any.
fn mean(rows: &[ThroughputRow], backend: Backend, concurrency: usize) -> Option<(f64, f64)> {
    let of: Vec<&ThroughputRow> = rows
        .iter()
        .filter(|r| r.backend == backend && r.concurrency == concurrency)
        .collect();
    let n = of.len() as f64;
    (!of.is_empty()).then(|| {
        (
            of.iter().map(|r| r.throughput).sum::<f64>() / n,
            of.iter().map(|r| r.p99.as_secs_f64()).sum::<f64>() / n,
        )
    })
}

/// One write of the failover load.
struct Sample {
    started: Instant,
    finished: Instant,
    status: Option<u16>,
    key: Option<String>,
    payload: String,
}

/// Part 2: one kill-and-promote on a fresh pair.
fn failover_run(settings: &HaStoreBench) -> anyhow::Result<FailoverRun> {
    let root = tempfile::Builder::new()
        .prefix("cloister-ha-bench")
        .tempdir()?;
    let mut pg = PgCluster::pair();
    pg.create_database(DATABASE);
    let node = NodeDir::new(root.path(), "A");
    let _process = node.start(
        &node.config(&[], json!({ "jdbc": jdbc(&pg, settings) })),
        &[],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let writers = start_writers(&node.q2t(), settings.writers, &stop);
    std::thread::sleep(STEADY_BEFORE_FAULT);
    let killed = Instant::now();
    pg.crash(0);
    std::thread::sleep(Duration::from_millis(settings.detect_ms));
    let promoting = Instant::now();
    pg.promote(1);
    let promotion_took = promoting.elapsed();
    std::thread::sleep(WINDOW_AFTER_PROMOTION.saturating_sub(promotion_took));
    stop.store(true, Ordering::Relaxed);
    let samples: Vec<Sample> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap_or_default())
        .collect();
    // Writes in flight while SIGKILL lands can still commit on the old primary; the outage
    // starts with the first failure, and the gap ends with the first write started after it
    // that succeeds (necessarily on the new primary).
    let outage = samples
        .iter()
        .filter(|s| s.status != Some(201) && s.finished >= killed)
        .map(|s| s.finished)
        .min()
        .unwrap_or(killed);
    let first_write = samples
        .iter()
        .filter(|s| s.status == Some(201) && s.started >= outage)
        .map(|s| s.finished)
        .min();
    let acknowledged: Vec<&Sample> = samples.iter().filter(|s| s.status == Some(201)).collect();
    let failed = samples.len() - acknowledged.len();
    let unexpected = samples
        .iter()
        .filter(|s| !matches!(s.status, Some(201) | Some(503)))
        .count();
    let lost = acknowledged
        .iter()
        .filter(|s| !readable(&node.q2t(), s))
        .count();
    Ok(FailoverRun {
        kill_gap: first_write.map(|t| t.duration_since(killed)),
        promotion_gap: first_write.map(|t| t.saturating_duration_since(promoting)),
        promotion_took,
        acknowledged: acknowledged.len(),
        failed,
        unexpected,
        lost,
        slowest: samples
            .iter()
            .map(|s| s.finished - s.started)
            .max()
            .unwrap_or_default(),
    })
}

/// Writers sending `/send` (to this node only) back to back, one connection per request.
fn start_writers(
    target: &Endpoint,
    count: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<JoinHandle<Vec<Sample>>> {
    static SEQUENCE: AtomicUsize = AtomicUsize::new(0);
    (0..count.max(1))
        .map(|_| {
            let (target, stop) = (target.clone(), Arc::clone(stop));
            std::thread::spawn(move || {
                let mut samples = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let payload = cloister_core::b64::encode(format!(
                        "failover write {}",
                        SEQUENCE.fetch_add(1, Ordering::Relaxed)
                    ));
                    let started = Instant::now();
                    let response = Request::new("POST", path::SEND)
                        .json(&json!({ "payload": payload, "to": [] }))
                        .try_send(&target, None);
                    let finished = Instant::now();
                    let (status, key) = match &response {
                        Ok(r) if r.status == 201 => {
                            (Some(201), r.json()["key"].as_str().map(str::to_owned))
                        }
                        Ok(r) => (Some(r.status), None),
                        Err(_) => (None, None),
                    };
                    samples.push(Sample {
                        started,
                        finished,
                        status,
                        key,
                        payload,
                    });
                }
                samples
            })
        })
        .collect()
}

/// Whether an acknowledged write reads back with its payload.
fn readable(target: &Endpoint, sample: &Sample) -> bool {
    let Some(key) = &sample.key else {
        return false;
    };
    let response = Request::new(
        "GET",
        &format!("{}{}", path::TRANSACTION_PREFIX, path_escape(key)),
    )
    .header("Accept", media::JSON)
    .try_send(target, None);
    response.is_ok_and(|r| r.status == 200 && r.json()["payload"] == sample.payload.as_str())
}
