//! The proxy benchmark (`cloister-bench proxy`): two `cloister node` replicas of one party on
//! one PostgreSQL store, behind (1) nothing (direct to replica 1's socket), (2) nginx from the
//! distribution configured as the reference HA recipe (unix-socket listener, two upstreams,
//! `proxy_next_upstream error timeout http_404 non_idempotent`, keep-alive to the upstreams),
//! (3) `cloister proxy`; and, as the floor of what any hop costs here, a byte relay to replica 1
//! ([`crate::relay`]). All are driven the same way, over a unix socket with keep-alive
//! connections as GoQuorum holds them.
//!
//! Part 1, steady state: throughput and p50/p99 for `GET /upcheck` and GoQuorum's `POST /send`
//! (plain, and with the client's own `Idempotency-Key` so every front costs the replicas the
//! same), the fronts interleaved per level so drifting machine load hits them alike.
//! Part 2, faults: `/send` load through each front while replica 1 is SIGKILLed, then
//! SIGSTOPped, mid-run. The client gives up after GoQuorum's default 5 s `--ptm.timeout`, as
//! GoQuorum would; errors (non-2xx, broken connections, give-ups) and the worst latency of any
//! request are counted. Each fault run gets a fresh front (no health state carried over) and
//! healthy replicas.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use cloister_addr::Endpoint;
use cloister_harness::http::{eventually, Request};
use cloister_harness::party::TwinParty;
use cloister_protocol::path;
use hyper::Method;

use crate::client::{Call, Connection};
use crate::load::{run_level, Budget, Check, Outcome};
use crate::relay::Relay;
use crate::scenario::Requests;

/// GoQuorum's default `--ptm.timeout` (with `PRIVATE_CONFIG`): the client gives up after it.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// The goal: `cloister proxy` adds less than this to direct p50 latency.
pub const ADDED_P50_GOAL: Duration = Duration::from_micros(100);

/// `cloister-bench proxy`'s command line.
#[derive(Debug, Clone, Args)]
pub struct ProxyBench {
    /// Concurrency levels of the steady-state part: keep-alive connections sending back to back.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pub concurrency: Vec<usize>,

    /// Seconds per steady-state cell (one call, one front, one level).
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,

    /// Run each steady-state cell for this many requests instead of for `--seconds`.
    #[arg(long, value_name = "N")]
    pub requests: Option<usize>,

    /// Unmeasured requests through each front before each cell.
    #[arg(long, default_value_t = 100)]
    pub warmup: usize,

    /// Size of each `/send` payload in bytes.
    #[arg(long, default_value_t = 1024)]
    pub payload_bytes: usize,

    /// Worker threads for the driver's own runtime.
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,

    /// Workers sending `/send` during a fault run.
    #[arg(long, default_value_t = 8)]
    pub fault_concurrency: usize,

    /// Length of a fault run in seconds (the fault comes at a third of it). 0 skips part 2.
    #[arg(long, default_value_t = 9.0)]
    pub fault_seconds: f64,

    /// The nginx binary.
    #[arg(long, default_value = "nginx")]
    pub nginx: PathBuf,

    /// Rounds per steady-state cell: the cell's budget is split into this many slices per
    /// front, run in rotating order (direct, relay, nginx, cloister; then relay, nginx,
    /// cloister, direct; …) so that drift on a shared machine cannot favour whichever front
    /// runs last.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,

    /// Steady state only: nginx and cloister forward to replica 1 alone, as direct and the
    /// relay do, so what they add over direct is their hop and nothing else (two replicas on
    /// one store and two cores are slower than one). Part 2, which needs a second replica to
    /// fail over to, is skipped.
    #[arg(long)]
    pub one_replica: bool,

    /// The calls of the steady-state part.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "upcheck,send,send+key"
    )]
    pub calls: Vec<CallKind>,
}

impl ProxyBench {
    fn budget(&self) -> Budget {
        match self.requests {
            Some(n) => Budget::Requests(n),
            None => Budget::For(Duration::from_secs_f64(self.seconds.max(0.0))),
        }
    }

    /// Round `round`'s slice of a cell's budget (see [`ProxyBench::rounds`]); request counts
    /// add up to the cell's exactly.
    fn slice(&self, round: usize) -> Budget {
        let rounds = self.rounds.max(1);
        match self.budget() {
            Budget::Requests(n) => Budget::Requests(n / rounds + usize::from(round < n % rounds)),
            Budget::For(duration) => Budget::For(duration / u32::try_from(rounds).unwrap_or(1)),
        }
    }
}

/// One front's slices of a cell, added up.
#[derive(Default)]
struct Tally {
    requests: usize,
    errors: usize,
    error_samples: Vec<String>,
    latencies: crate::latency::Latencies,
    elapsed: Duration,
    /// CPU of the front's processes during the slices, when it has any.
    cpu: Option<Duration>,
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

/// What a client reaches the replicas through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    /// Replica 1's own socket.
    Direct,
    /// A byte relay to replica 1 ([`crate::relay`]): what one hop costs here, whatever a proxy
    /// does. Steady state only (it has no failover to measure).
    Relay,
    /// nginx as the reference recipe.
    Nginx,
    /// `cloister proxy`.
    Cloister,
}

impl Front {
    /// All of them, in the order they run.
    pub const ALL: [Front; 4] = [Front::Direct, Front::Relay, Front::Nginx, Front::Cloister];

    /// The name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Front::Direct => "direct",
            Front::Relay => "relay",
            Front::Nginx => "nginx",
            Front::Cloister => "cloister",
        }
    }
}

/// The measured call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CallKind {
    /// `GET /upcheck`: the proxy's own overhead, nearly nothing behind it.
    Upcheck,
    /// GoQuorum's `POST /send` to one recipient. Through `cloister proxy` it gets an
    /// idempotency key, so the replica also records the key: exactly-once costs a row.
    Send,
    /// The same `/send` with the client's own `Idempotency-Key`: the replicas do the same work
    /// behind every front, so the difference between fronts is the proxy's alone.
    #[value(name = "send+key")]
    SendKeyed,
}

impl CallKind {
    /// The name in the report.
    pub fn name(self) -> &'static str {
        match self {
            CallKind::Upcheck => "upcheck",
            CallKind::Send => "send",
            CallKind::SendKeyed => "send+key",
        }
    }
}

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
}

/// How replica 1 fails in a fault run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL: connections reset, the socket refuses.
    Kill,
    /// SIGSTOP: connections accepted (by the kernel) and never answered.
    Stop,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::Kill => "SIGKILL",
            Fault::Stop => "SIGSTOP",
        }
    }
}

/// One fault run.
#[derive(Debug, Clone)]
pub struct FaultRow {
    /// The fault.
    pub fault: Fault,
    /// The front.
    pub front: Front,
    /// Requests attempted.
    pub requests: usize,
    /// Requests that failed or outlived the client timeout.
    pub errors: usize,
    /// The slowest request, failed or not (capped by the client timeout).
    pub worst: Duration,
    /// The first few failures.
    pub samples: Vec<String>,
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
            .all(|r| r.errors == 0)
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

/// A running front: its socket and, for the proxies, the process.
struct Running {
    socket: PathBuf,
    child: Option<Child>,
    relay: Option<Relay>,
}

impl Running {
    /// CPU spent so far by the front's processes (or the relay's thread); none for direct.
    fn cpu(&self) -> Option<Duration> {
        match (&self.child, &self.relay) {
            (Some(child), _) => crate::procfs::tree_cpu_time(child.id()),
            (None, Some(relay)) => relay.cpu(),
            (None, None) => None,
        }
    }

    fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM, not SIGKILL: nginx's master must take its workers down with it.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .stderr(Stdio::null())
                .status();
            let _ = child.wait();
            let _ = std::fs::remove_file(&self.socket);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// The reference recipe (proxy-and-gateway.md §1) plus what keep-alive needs on nginx 1.22:
/// HTTP/1.1 with an empty `Connection` to the upstreams, a pool of idle upstream connections,
/// and no cap on requests per client connection (GoQuorum keeps its connections forever).
fn nginx_config(dir: &Path, socket: &Path, upstreams: &[PathBuf]) -> String {
    let d = dir.display();
    // As root nginx would run its workers as `nobody`, who cannot open the replicas' 0600
    // sockets; run them as the owner, as a deployment would with `user`.
    let user = if is_root() { "user root;\n" } else { "" };
    format!(
        "{user}daemon off;
worker_processes auto;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 3600s;
  upstream q2t {{
{servers}    keepalive 64;
    keepalive_requests 100000000;
  }}
  server {{
    listen unix:{socket};
    location / {{
      # the reference recipe
      proxy_next_upstream error timeout http_404 non_idempotent;
      proxy_pass http://q2t;
      # keep-alive to the upstreams
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }}
  }}
}}
",
        servers = upstreams
            .iter()
            .map(|u| format!("    server unix:{};\n", u.display()))
            .collect::<String>(),
        socket = socket.display(),
    )
}

fn is_root() -> bool {
    std::os::unix::fs::MetadataExt::uid(&match std::fs::metadata("/proc/self") {
        Ok(m) => m,
        Err(_) => return false,
    }) == 0
}

fn start_front(front: Front, party: &TwinParty, settings: &ProxyBench) -> anyhow::Result<Running> {
    let replicas = if settings.one_replica { 1 } else { 2 };
    let upstreams: Vec<PathBuf> = party.replicas[..replicas]
        .iter()
        .map(|replica| replica.q2t_socket())
        .collect();
    let root = party.root();
    let running = match front {
        Front::Direct => Running {
            socket: upstreams[0].clone(),
            child: None,
            relay: None,
        },
        Front::Relay => {
            let socket = root.join("relay.ipc");
            let relay = Relay::start(
                Endpoint::Unix(socket.clone()),
                Endpoint::Unix(upstreams[0].clone()),
            )?;
            Running {
                socket,
                child: None,
                relay: Some(relay),
            }
        }
        Front::Nginx => {
            let dir = root.join("nginx");
            std::fs::create_dir_all(&dir)?;
            let socket = dir.join("nginx.ipc");
            let _ = std::fs::remove_file(&socket);
            let config = dir.join("nginx.conf");
            std::fs::write(&config, nginx_config(&dir, &socket, &upstreams))?;
            let child = Command::new(&settings.nginx)
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.join("stderr.log"))?)
                .spawn()
                .with_context(|| {
                    format!(
                        "starting {} (install Debian's nginx: apt-get install -y nginx)",
                        settings.nginx.display()
                    )
                })?;
            Running {
                socket,
                child: Some(child),
                relay: None,
            }
        }
        Front::Cloister => {
            let socket = root.join("cloister-proxy.ipc");
            let mut command = cloister_harness::nodes::cloister();
            command
                .arg("proxy")
                .arg("--listen")
                .arg(format!("unix:{}", socket.display()));
            for upstream in &upstreams {
                command
                    .arg("--upstream")
                    .arg(format!("unix:{}", upstream.display()));
            }
            let child = command
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(root.join("cloister-proxy.log"))?)
                .spawn()?;
            Running {
                socket,
                child: Some(child),
                relay: None,
            }
        }
    };
    let target = Endpoint::Unix(running.socket.clone());
    if !eventually(Duration::from_secs(10), || {
        Request::new("GET", path::UPCHECK)
            .try_send(&target, None)
            .is_ok_and(|r| r.status == 200)
    }) {
        bail!(
            "{} did not come up on {}",
            front.name(),
            running.socket.display()
        );
    }
    Ok(running)
}

fn upcheck() -> Arc<Requests> {
    Requests::fixed(Call::q2t(Method::GET, path::UPCHECK, None))
}

/// Runs both parts, printing as it goes.
pub fn run(settings: &ProxyBench, out: &mut dyn Write) -> anyhow::Result<ProxyReport> {
    writeln!(
        out,
        "cloister-bench proxy: {} cores, load average {:.2}; two replicas on one PostgreSQL store, a peer as the recipient",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        crate::procfs::load_average().unwrap_or(f64::NAN)
    )?;
    let mut party = TwinParty::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.client_threads.max(1))
        .enable_all()
        .build()?;
    let mut report = ProxyReport::default();
    let fronts: Vec<Running> = Front::ALL
        .iter()
        .map(|front| start_front(*front, &party, settings))
        .collect::<anyhow::Result<_>>()?;
    let send = Requests::send(settings.payload_bytes, vec![party.peer.public_key.clone()]);
    let keyed_send =
        Requests::keyed_send(settings.payload_bytes, vec![party.peer.public_key.clone()]);
    writeln!(
        out,
        "\npart 1: steady state ({:?} per cell and front, in {} rotating rounds)",
        settings.budget(),
        settings.rounds.max(1)
    )?;
    writeln!(
        out,
        "{:<9} {:>4} {:<9} {:>10} {:>10} {:>10} {:>7} {:>9}",
        "call", "conc", "front", "req/s", "p50", "p99", "errors", "cpu/req"
    )?;
    for &call in &settings.calls {
        let requests = match call {
            CallKind::Upcheck => upcheck(),
            CallKind::Send => send.clone(),
            CallKind::SendKeyed => keyed_send.clone(),
        };
        let check = match call {
            CallKind::Upcheck => Check::Status,
            CallKind::Send | CallKind::SendKeyed => Check::Key,
        };
        for &concurrency in &settings.concurrency {
            let endpoints: Vec<Endpoint> = fronts
                .iter()
                .map(|running| Endpoint::Unix(running.socket.clone()))
                .collect();
            for endpoint in &endpoints {
                runtime.block_on(run_level(
                    endpoint,
                    requests.clone(),
                    concurrency,
                    Budget::Requests(settings.warmup),
                    check,
                ))?;
            }
            let mut tallies: Vec<Tally> = Front::ALL.iter().map(|_| Tally::default()).collect();
            for round in 0..settings.rounds.max(1) {
                for k in 0..Front::ALL.len() {
                    let i = (round + k) % Front::ALL.len();
                    let before = fronts[i].cpu();
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
                }
            }
            for (front, mut outcome) in Front::ALL.iter().zip(tallies) {
                let row = SteadyRow {
                    call,
                    concurrency,
                    front: *front,
                    throughput: outcome.throughput(),
                    p50: outcome.latencies.quantile(0.50),
                    p99: outcome.latencies.quantile(0.99),
                    requests: outcome.requests,
                    errors: outcome.errors,
                    cpu_per_request: outcome.cpu_per_request(),
                };
                writeln!(
                    out,
                    "{:<9} {:>4} {:<9} {:>10.0} {:>10} {:>10} {:>7} {:>9}",
                    call.name(),
                    concurrency,
                    front.name(),
                    row.throughput,
                    micros(row.p50),
                    micros(row.p99),
                    row.errors,
                    row.cpu_per_request.map_or_else(|| "-".to_owned(), micros),
                )?;
                for sample in &outcome.error_samples {
                    writeln!(out, "    error: {sample}")?;
                }
                report.steady.push(row);
            }
            print_ratios(out, &report.steady, call, concurrency)?;
        }
    }
    for running in fronts {
        running.stop();
    }
    if settings.fault_seconds > 0.0 && !settings.one_replica {
        writeln!(
            out,
            "\npart 2: replica 1 fails a third into {:.0} s of /send at concurrency {}; the client gives up after {:?} as GoQuorum does",
            settings.fault_seconds, settings.fault_concurrency, CLIENT_TIMEOUT
        )?;
        writeln!(
            out,
            "{:<8} {:<9} {:>9} {:>7} {:>10}",
            "fault", "front", "requests", "errors", "worst"
        )?;
        for fault in [Fault::Kill, Fault::Stop] {
            // A byte relay has no failover: it would only repeat direct's figures.
            for front in Front::ALL.into_iter().filter(|f| *f != Front::Relay) {
                let running = start_front(front, &party, settings)?;
                let endpoint = Endpoint::Unix(running.socket.clone());
                runtime.block_on(run_level(
                    &endpoint,
                    send.clone(),
                    settings.fault_concurrency,
                    Budget::Requests(settings.warmup),
                    Check::Key,
                ))?;
                let row = fault_run(
                    &runtime, &mut party, &endpoint, &send, fault, front, settings,
                )?;
                running.stop();
                heal(&mut party, fault);
                writeln!(
                    out,
                    "{:<8} {:<9} {:>9} {:>7} {:>10}",
                    fault.name(),
                    front.name(),
                    row.requests,
                    row.errors,
                    micros(row.worst)
                )?;
                for sample in &row.samples {
                    writeln!(out, "    error: {sample}")?;
                }
                report.faults.push(row);
            }
        }
    }
    Ok(report)
}

fn print_ratios(
    out: &mut dyn Write,
    rows: &[SteadyRow],
    call: CallKind,
    concurrency: usize,
) -> anyhow::Result<()> {
    let find = |front| {
        rows.iter()
            .find(|r| r.call == call && r.concurrency == concurrency && r.front == front)
    };
    let (Some(direct), Some(relay), Some(nginx), Some(cloister)) = (
        find(Front::Direct),
        find(Front::Relay),
        find(Front::Nginx),
        find(Front::Cloister),
    ) else {
        return Ok(());
    };
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    let added = |r: &SteadyRow| r.p50.as_micros() as i64 - direct.p50.as_micros() as i64;
    writeln!(
        out,
        "    cloister/nginx: throughput {:.2}, p50 {:.2} | cloister/direct: throughput {:.2}, p50 {:.2} | added p50 over direct: cloister {:+} µs (goal < {} µs), nginx {:+} µs, byte relay {:+} µs",
        ratio(cloister.throughput, nginx.throughput),
        ratio(cloister.p50.as_secs_f64(), nginx.p50.as_secs_f64()),
        ratio(cloister.throughput, direct.throughput),
        ratio(cloister.p50.as_secs_f64(), direct.p50.as_secs_f64()),
        added(cloister),
        ADDED_P50_GOAL.as_micros(),
        added(nginx),
        added(relay),
    )?;
    Ok(())
}

fn micros(duration: Duration) -> String {
    if duration >= Duration::from_millis(10) {
        format!("{:.0} ms", duration.as_secs_f64() * 1000.0)
    } else {
        format!("{} µs", duration.as_micros())
    }
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
