//! The driver's command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::load::Budget;
use crate::scenario::Scenario;

/// End-to-end load on real `cloister node` processes over loopback: `/send` from A to one and
/// to five recipients, and `GET /transaction/{hash}` on A, through A's Q2T unix socket with
/// keep-alive connections (as GoQuorum calls it). Prints throughput, latency percentiles, CPU
/// per request and each node's peak RSS.
#[derive(Debug, Clone, Parser)]
#[command(name = "cloister-bench", version)]
pub struct Settings {
    /// Another benchmark instead of the nodes'.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The `cloister` binary to run [default: `cloister` beside this executable, or one
    /// directory up].
    #[arg(long, value_name = "PATH", global = true)]
    pub cloister: Option<PathBuf>,

    /// Concurrency levels: how many keep-alive connections send requests back to back.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,64")]
    pub concurrency: Vec<usize>,

    /// How long each level runs, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,

    /// Run each level for this many requests instead of for `--seconds`.
    #[arg(long, value_name = "N")]
    pub requests: Option<usize>,

    /// Scenarios to run (send-1, get, send-5); they always run in that order. `get` reads
    /// what `send-1` wrote, so without `send-1` it first writes some transactions unmeasured.
    #[arg(long, value_delimiter = ',', default_value = "send-1,get,send-5")]
    pub scenarios: Vec<Scenario>,

    /// Size of each `/send` payload in bytes.
    #[arg(long, default_value_t = 1024)]
    pub payload_bytes: usize,

    /// Unmeasured requests before each scenario, to open A's pooled connections to its peers
    /// and warm the caches.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,

    /// Worker threads for the driver's own runtime. One keeps the driver off the nodes' CPU
    /// as much as possible on a small machine; raise it if the driver becomes the limit.
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,

    /// Keep the nodes' directories (config, keys, database, logs) here instead of in a
    /// temporary directory that is removed afterwards.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Benchmarks other than the nodes'.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// `/send` on SQLite vs PostgreSQL with a synchronous standby, and the failover gap.
    HaStore(HaStoreBench),
    /// `cloister gateway` in front of two ganache nodes: `eth_blockNumber` and `eth_call`
    /// direct to one node vs through the gateway, over keep-alive HTTP connections. Prints
    /// throughput, p50/p99 and the gateway's added p50 latency and share of direct throughput.
    Gateway(GatewayBench),
    /// Two replicas behind nothing, nginx (the reference recipe) and `cloister proxy`: steady
    /// state and replica SIGKILL/SIGSTOP. See [`crate::proxy`].
    Proxy(crate::proxy::ProxyBench),
    /// Two replicas on a Patroni cluster: switchover, primary crash and primary hang, several
    /// runs each, timed against the new leader's lock. See [`crate::patroni`].
    Patroni(crate::patroni::PatroniBench),
    /// Each attack of the P2P boundary issue against a real node, with what it cost the node
    /// (peak RSS, `tm.ipc` latency) and what it achieved. See [`crate::hostile`].
    Hostile(crate::hostile::HostileBench),
    /// `/send` A→B with P2P over mutual TLS (CA mode) vs plain HTTP, in one run (throughput
    /// ratio, p99), and the TLS P2P listener's handshake rate, full and resumed. See
    /// [`crate::p2p_tls`].
    P2pTls(crate::p2p_tls::P2pTlsBench),
    /// `cloister migrate` of many transactions from SQLite and H2 into PostgreSQL: copy rate
    /// and peak RSS. See [`crate::migrate`].
    Migrate(crate::migrate::MigrateBench),
    /// `cloister node` start to its first `/upcheck`, with an empty store and with a million
    /// transactions, on SQLite and PostgreSQL. See [`crate::startup`].
    Startup(crate::startup::StartupBench),
    /// `cloister node --recover` of many transactions from one peer: its own figures and both
    /// nodes' peak RSS. See [`crate::recovery`].
    Recovery(crate::recovery::RecoveryBench),
    /// A's CPU per `/send` to five recipient nodes against a send to one, in rotating rounds.
    /// See [`crate::fanout`].
    Fanout(crate::fanout::FanoutBench),
    /// `/send` and `GET /transaction` with big payloads against the machine's own
    /// SHA3/XSalsa20/loopback floor, and peak RSS. See [`crate::payloads`].
    Payloads(crate::payloads::PayloadsBench),
}

/// The gateway benchmark's command line.
#[derive(Debug, Clone, Args)]
pub struct GatewayBench {
    /// Concurrency levels: how many keep-alive connections send calls back to back.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    pub concurrency: Vec<usize>,

    /// How long each steady cell runs per front, in seconds (all rounds together).
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,

    /// Run each steady cell for this many calls per front instead of for `--seconds`.
    #[arg(long, value_name = "N")]
    pub requests: Option<usize>,

    /// Unmeasured calls through each front before each steady cell and fault run.
    #[arg(long, default_value_t = 500)]
    pub warmup: usize,

    /// The gateway's routing mode. In primary-backup every call goes to the node that the
    /// direct figures also use, so the two differ only by the gateway.
    #[arg(long, default_value = "primary-backup")]
    pub mode: String,

    /// Worker threads for the driver's own runtime.
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,

    /// The gateway's `--worker-threads` (its own default when not given).
    #[arg(long, value_name = "N")]
    pub gateway_threads: Option<usize>,

    /// Also measure through a plain TCP relay to the first node (bytes copied both ways, no
    /// HTTP), the floor of what any proxy adds on this machine.
    #[arg(long)]
    pub relay: bool,

    /// Rounds per steady cell: the cell's budget is split into this many slices per front, run
    /// in rotating order (direct, cloister, nginx, haproxy; then cloister, nginx, haproxy,
    /// direct; …) so that drift on a shared machine cannot favour whichever front runs last.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,

    /// The nginx binary.
    #[arg(long, default_value = "nginx")]
    pub nginx: PathBuf,

    /// The HAProxy binary.
    #[arg(long, default_value = "haproxy")]
    pub haproxy: PathBuf,

    /// Time one attempt of a call may take on one node, the same for the three balancers
    /// (the gateway's `requestTimeoutMs`, nginx's `proxy_read_timeout`, HAProxy's
    /// `timeout server`).
    #[arg(long, default_value_t = 2000)]
    pub attempt_timeout_ms: u64,

    /// Length of a fault run in seconds (the primary fails a third of the way in); 0 skips the
    /// fault part.
    #[arg(long, default_value_t = 9.0)]
    pub fault_seconds: f64,

    /// Connections sending `eth_blockNumber` during a fault run.
    #[arg(long, default_value_t = 8)]
    pub fault_concurrency: usize,
}

/// `cloister-bench ha-store`: see [`crate::ha_store`].
#[derive(Debug, Clone, Args)]
pub struct HaStoreBench {
    /// The stores of the throughput part, measured in this order in one run: `sqlite`,
    /// `postgres` (a primary and a synchronous standby), `patroni` (a two-member Patroni
    /// cluster in synchronous mode, as `cloister-bench patroni` runs it).
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    pub stores: Vec<crate::ha_store::Backend>,

    /// Concurrency levels of the throughput part (empty: skip it).
    #[arg(long, value_delimiter = ',', default_value = "8,32")]
    pub concurrency: Vec<usize>,

    /// Seconds per throughput level.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,

    /// Warm-up sends before the throughput levels, per backend.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,

    /// Payload size of the throughput part, in bytes.
    #[arg(long, default_value_t = 1024)]
    pub payload_bytes: usize,

    /// Driver threads of the throughput part.
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,

    /// Failover runs, each on a fresh primary/standby pair (0: only the throughput part).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,

    /// Writers sending back to back during a failover run.
    #[arg(long, default_value_t = 4)]
    pub writers: usize,

    /// Milliseconds between the primary's death and the promotion (failure detection).
    #[arg(long, default_value_t = 1000)]
    pub detect_ms: u64,

    /// The JDBC URL's `connectTimeout` (seconds per host).
    #[arg(long, default_value_t = 1)]
    pub connect_timeout: u64,

    /// The JDBC URL's `socketTimeout` (seconds per statement).
    #[arg(long, default_value_t = 2)]
    pub socket_timeout: u64,
}

impl GatewayBench {
    /// The load each level applies.
    pub fn budget(&self) -> Budget {
        match self.requests {
            Some(n) => Budget::Requests(n),
            None => Budget::For(Duration::from_secs_f64(self.seconds.max(0.0))),
        }
    }
}

impl Settings {
    /// The load each level applies.
    pub fn budget(&self) -> Budget {
        match self.requests {
            Some(n) => Budget::Requests(n),
            None => Budget::For(Duration::from_secs_f64(self.seconds.max(0.0))),
        }
    }

    /// Whether `scenario` was asked for.
    pub fn runs(&self, scenario: Scenario) -> bool {
        self.scenarios.contains(&scenario)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_issue() {
        let settings = Settings::parse_from(["cloister-bench"]);
        assert_eq!(settings.concurrency, [1, 8, 32, 64]);
        assert_eq!(settings.budget(), Budget::For(Duration::from_secs(5)));
        assert_eq!(settings.payload_bytes, 1024);
        assert!(Scenario::ALL.into_iter().all(|s| settings.runs(s)));
    }

    #[test]
    fn a_request_count_replaces_the_duration() {
        let settings = Settings::parse_from([
            "cloister-bench",
            "--requests",
            "20",
            "--concurrency",
            "1",
            "--scenarios",
            "get",
        ]);
        assert_eq!(settings.budget(), Budget::Requests(20));
        assert_eq!(settings.concurrency, [1]);
        assert!(settings.runs(Scenario::Get) && !settings.runs(Scenario::SendOne));
    }

    #[test]
    fn the_gateway_benchmark_is_a_subcommand_sharing_the_binary_flag() {
        let settings = Settings::parse_from([
            "cloister-bench",
            "gateway",
            "--cloister",
            "/x/cloister",
            "--concurrency",
            "1,4",
        ]);
        let Some(Command::Gateway(gateway)) = settings.command else {
            panic!("no gateway subcommand: {settings:?}");
        };
        assert_eq!(settings.cloister, Some(PathBuf::from("/x/cloister")));
        assert_eq!(gateway.concurrency, [1, 4]);
        assert_eq!(gateway.budget(), Budget::For(Duration::from_secs(3)));
        assert_eq!(gateway.mode, "primary-backup");
    }
}
