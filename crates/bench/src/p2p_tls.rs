//! The P2P TLS benchmark (`cloister-bench p2p-tls`), in one run on one machine:
//!
//! 1. `/send` A→B (keep-alive Q2T connections into A) with A and B's P2P over plain HTTP, then
//!    over mutual TLS in CA mode: throughput and p99 of each, and the TLS/plain throughput
//!    ratio (the goal is ≥ 0.85, which pooled connections and session resumption should give).
//! 2. The TLS P2P listener's handshake rate: clients connecting back to back, each connection
//!    a full handshake (mutual, CA-verified, resumption off), then with session resumption.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use cloister_addr::Endpoint;
use cloister_harness::http::eventually;
use cloister_harness::nodes::{NodeDir, RunningNode};
use cloister_harness::tls::{self, Signer, TestCa};
use serde_json::json;

use crate::load::{check_levels, client_runtime, run_level, Budget, Check, Outcome};
use crate::scenario::Requests;

/// The TLS/plain `/send` throughput the node issue asks for.
pub const THROUGHPUT_RATIO_GOAL: f64 = 0.85;

/// How long discovery may take between the two nodes.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// `cloister-bench p2p-tls`'s command line.
#[derive(Debug, Clone, Args)]
pub struct P2pTlsBench {
    /// Concurrency levels of `/send`.
    #[arg(long, value_delimiter = ',', default_value = "8,32")]
    pub concurrency: Vec<usize>,

    /// Seconds per `/send` level and transport.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,

    /// Run each level for this many sends instead of for `--seconds`.
    #[arg(long, value_name = "N")]
    pub requests: Option<usize>,

    /// Unmeasured sends before the levels, per transport (opens A's pooled connections).
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,

    /// Size of each `/send` payload in bytes.
    #[arg(long, default_value_t = 1024)]
    pub payload_bytes: usize,

    /// Seconds of each handshake measurement (full, resumed).
    #[arg(long, default_value_t = 3.0)]
    pub handshake_seconds: f64,

    /// Clients connecting back to back in the handshake measurement.
    #[arg(long, default_value_t = 4)]
    pub handshake_clients: usize,

    /// Worker threads of the driver's runtime.
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,
}

/// `/send` figures for one transport at one concurrency.
#[derive(Debug, Clone)]
pub struct SendRow {
    /// `plain` or `mTLS (CA)`.
    pub transport: &'static str,
    /// Workers.
    pub concurrency: usize,
    /// Successful sends per second.
    pub throughput: f64,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Failed sends.
    pub errors: usize,
}

/// A handshake measurement.
#[derive(Debug, Clone)]
pub struct HandshakeRow {
    /// `full` or `resumed`.
    pub kind: &'static str,
    /// Completed handshakes per second.
    pub rate: f64,
    /// Handshakes that failed.
    pub errors: usize,
}

/// Everything measured.
#[derive(Debug, Default)]
pub struct P2pTlsReport {
    /// Part 1, plain rows then TLS rows.
    pub sends: Vec<SendRow>,
    /// Part 2.
    pub handshakes: Vec<HandshakeRow>,
}

impl P2pTlsReport {
    /// Whether anything failed.
    pub fn errors(&self) -> usize {
        self.sends.iter().map(|r| r.errors).sum::<usize>()
            + self.handshakes.iter().map(|r| r.errors).sum::<usize>()
    }

    /// TLS throughput over plain throughput at `concurrency`.
    pub fn ratio(&self, concurrency: usize) -> Option<f64> {
        let of = |transport: &str| {
            self.sends
                .iter()
                .find(|r| r.transport == transport && r.concurrency == concurrency)
                .map(|r| r.throughput)
        };
        Some(of(TLS)? / of(PLAIN)?).filter(|r| r.is_finite())
    }
}

const PLAIN: &str = "plain";
const TLS: &str = "mTLS (CA)";

/// Two nodes, A sending to B, with P2P over plain HTTP or mutual TLS.
struct Pair {
    _root: tempfile::TempDir,
    a: NodeDir,
    b: NodeDir,
    _processes: (RunningNode, RunningNode),
    /// A client certificate the P2P listeners accept (TLS only).
    harness: Option<Arc<rustls::ClientConfig>>,
}

impl Pair {
    fn start(tls: bool) -> anyhow::Result<Self> {
        let root = tempfile::Builder::new()
            .prefix("cloister-bench-tls")
            .tempdir()?;
        let ca = TestCa::in_dir(&root.path().join("certificates"));
        let pems = tls.then(|| {
            (
                ca.leaf("a", "node-a", Signer::Ca),
                ca.leaf("b", "node-b", Signer::Ca),
            )
        });
        let mut a = NodeDir::new(root.path(), "A");
        let mut b = NodeDir::new(root.path(), "B");
        if let Some((a_pem, b_pem)) = &pems {
            a.p2p_tls = Some(a_pem.client());
            b.p2p_tls = Some(b_pem.client());
        }
        let config = |node: &NodeDir, peer: &NodeDir, pem: Option<&tls::Pem>| {
            let config = node.config(&[peer], json!({}));
            match pem {
                Some(pem) => tls::with_p2p_ssl(
                    config,
                    tls::ssl_config(&node.dir, pem, &ca.file, "CA", "CA"),
                    json!({}),
                ),
                None => config,
            }
        };
        let a_process = a.start(&config(&a, &b, pems.as_ref().map(|p| &p.0)), &[]);
        let b_process = b.start(&config(&b, &a, pems.as_ref().map(|p| &p.1)), &[]);
        let known = eventually(DISCOVERY_TIMEOUT, || a.known_keys().contains(&b.public_key));
        anyhow::ensure!(
            known,
            "A did not learn B's key within {DISCOVERY_TIMEOUT:?}"
        );
        let harness = pems.as_ref().map(|p| p.0.client());
        Ok(Self {
            _root: root,
            a,
            b,
            _processes: (a_process, b_process),
            harness,
        })
    }
}

/// Runs both parts, printing as it goes.
pub fn run(settings: &P2pTlsBench, out: &mut dyn Write) -> anyhow::Result<P2pTlsReport> {
    check_levels(&settings.concurrency)?;
    let runtime = client_runtime(settings.client_threads)?;
    let mut report = P2pTlsReport::default();
    writeln!(
        out,
        "cloister-bench p2p-tls: {} cores, load average {:.2} before the run",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cloister_harness::procfs::load_average().unwrap_or(f64::NAN)
    )?;
    writeln!(
        out,
        "\n/send A->B, {} B payloads, keep-alive Q2T connections into A; P2P plain vs mutual TLS (CA mode)",
        settings.payload_bytes
    )?;
    writeln!(
        out,
        "{:<10} {:>5} {:>10} {:>10} {:>6}",
        "p2p", "conc", "req/s", "p99", "errors"
    )?;
    let budget = match settings.requests {
        Some(n) => Budget::Requests(n),
        None => Budget::For(Duration::from_secs_f64(settings.seconds)),
    };
    let mut tls_pair = None;
    for (transport, tls) in [(PLAIN, false), (TLS, true)] {
        let pair = Pair::start(tls)?;
        let endpoint = Endpoint::Unix(pair.a.q2t_socket());
        let requests = Requests::send(settings.payload_bytes, vec![pair.b.public_key.clone()]);
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
            let mut outcome: Outcome = runtime.block_on(run_level(
                &endpoint,
                requests.clone(),
                concurrency,
                budget,
                Check::Key,
            ))?;
            let row = SendRow {
                transport,
                concurrency,
                throughput: outcome.throughput(),
                p99: outcome.latencies.quantile(0.99),
                errors: outcome.errors,
            };
            writeln!(
                out,
                "{:<10} {:>5} {:>10.0} {:>10} {:>6}",
                transport,
                concurrency,
                row.throughput,
                format!("{:.2} ms", row.p99.as_secs_f64() * 1e3),
                row.errors
            )?;
            for sample in &outcome.error_samples {
                writeln!(out, "  error: {sample}")?;
            }
            report.sends.push(row);
        }
        if tls {
            tls_pair = Some(pair);
        }
    }
    for &concurrency in &settings.concurrency {
        if let Some(ratio) = report.ratio(concurrency) {
            writeln!(
                out,
                "mTLS/plain throughput at {concurrency}: {ratio:.2} (goal >= {THROUGHPUT_RATIO_GOAL})"
            )?;
        }
    }

    let pair = tls_pair.ok_or_else(|| anyhow::anyhow!("the TLS pair did not run"))?;
    let client = pair
        .harness
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no TLS client"))?;
    writeln!(
        out,
        "\nhandshakes on B's P2P listener (mutual TLS, CA mode): {} clients back to back, {:.1}s each",
        settings.handshake_clients, settings.handshake_seconds
    )?;
    writeln!(out, "{:<8} {:>12} {:>6}", "kind", "per second", "errors")?;
    let mut full = (*client).clone();
    full.resumption = rustls::client::Resumption::disabled();
    for (kind, config) in [("full", Arc::new(full)), ("resumed", client)] {
        let row = handshakes(pair.b.p2p, config, kind, settings);
        writeln!(out, "{:<8} {:>12.0} {:>6}", row.kind, row.rate, row.errors)?;
        report.handshakes.push(row);
    }
    Ok(report)
}

/// Clients connecting to `target` back to back for the configured time, each connection one
/// handshake (then closed): handshakes completed per second.
fn handshakes(
    target: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    kind: &'static str,
    settings: &P2pTlsBench,
) -> HandshakeRow {
    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(settings.handshake_seconds);
    let threads: Vec<_> = (0..settings.handshake_clients.max(1))
        .map(|_| {
            let (config, done, failed) = (config.clone(), done.clone(), failed.clone());
            std::thread::spawn(move || {
                while Instant::now() < until {
                    let counter = match handshake(target, &config) {
                        Ok(()) => &done,
                        Err(_) => &failed,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
    let seconds = started.elapsed().as_secs_f64();
    HandshakeRow {
        kind,
        rate: done.load(Ordering::Relaxed) as f64 / seconds,
        errors: failed.load(Ordering::Relaxed),
    }
}

/// One TLS handshake with `target`, then a clean close.
fn handshake(target: SocketAddr, config: &Arc<rustls::ClientConfig>) -> std::io::Result<()> {
    let name = rustls::pki_types::ServerName::IpAddress(target.ip().into());
    let mut connection =
        rustls::ClientConnection::new(config.clone(), name).map_err(std::io::Error::other)?;
    let mut tcp = TcpStream::connect(target)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    while connection.is_handshaking() {
        connection.complete_io(&mut tcp)?;
    }
    // With TLS 1.3 the server's verdict on the client certificate, and its session tickets,
    // come after the client's Finished: read until they are in, so a refusal counts as one.
    connection.send_close_notify();
    let _ = connection.complete_io(&mut tcp);
    let mut rest = Vec::new();
    let mut stream = rustls::Stream::new(&mut connection, &mut tcp);
    match std::io::Read::read_to_end(&mut stream, &mut rest) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(()),
        Err(e) => Err(e),
    }
}
