//! The gateway benchmark: two ganache nodes, a `cloister gateway` process in front, and the
//! same JSON-RPC calls sent direct to the first node and through the gateway, level by level
//! (direct, then gateway, at each concurrency, so drifting machine load hits both alike).
//!
//! In primary-backup mode every call through the gateway reaches the node the direct figures
//! use, so the difference between the two is the gateway's hop: what it adds to the median
//! latency, and how much of the node's throughput survives it, against the goals.
//!
//! With `--relay`, `eth_blockNumber` also goes through a plain TCP relay (a thread of this
//! process copying bytes both ways, no HTTP), the same levels measured the same way: what an
//! extra loopback hop costs on this machine whatever the proxy does.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cloister_addr::Endpoint;
use cloister_harness::ganache::{self, Ganache, ACCOUNT_0};
use cloister_harness::procfs;
use cloister_protocol::media;
use hyper::Method;
use serde_json::{json, Value};

use crate::client::Call;
use crate::load::{check_levels, client_runtime, run_level, Budget, Check, Outcome};
use crate::relay::Relay;
use crate::scenario::Requests;
use crate::settings::GatewayBench;

/// The goal: the gateway adds less than this to the median latency...
pub const ADDED_P50_GOAL: Duration = Duration::from_micros(100);
/// ...and keeps at least this share of direct throughput.
pub const THROUGHPUT_SHARE_GOAL: f64 = 0.90;

/// Creation code of a contract whose every call returns the 32-byte word 42: the runtime
/// `PUSH1 42 PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN` behind the code that copies it out.
/// `eth_call` on it runs the EVM, unlike a call to an address without code.
const ANSWER_CONTRACT: &str = "0x600a600c600039600a6000f3602a60005260206000f3";
/// What a call to it returns.
const ANSWER: &str = "0x000000000000000000000000000000000000000000000000000000000000002a";

/// One measured path at one level.
#[derive(Debug, Clone, Copy, Default)]
pub struct Figures {
    /// Calls attempted.
    pub requests: usize,
    /// Calls that failed (transport, non-2xx, or a JSON-RPC error).
    pub errors: usize,
    /// Successful calls per second.
    pub throughput: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th-percentile latency.
    pub p99: Duration,
}

impl Figures {
    fn of(outcome: &mut Outcome) -> Self {
        Self {
            requests: outcome.requests,
            errors: outcome.errors,
            throughput: outcome.throughput(),
            p50: outcome.latencies.quantile(0.50),
            p99: outcome.latencies.quantile(0.99),
        }
    }
}

/// One method at one concurrency, direct and through the gateway.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The JSON-RPC method.
    pub method: &'static str,
    /// Connections sending at once.
    pub concurrency: usize,
    /// Straight to the node.
    pub direct: Figures,
    /// Through the gateway.
    pub gateway: Figures,
    /// The gateway process's CPU time per call through it.
    pub gateway_cpu_per_call: Option<Duration>,
    /// Measured through the TCP relay instead of the gateway (not counted against the goals).
    pub relay: bool,
}

impl Comparison {
    /// Gateway p50 minus direct p50, in microseconds (negative when the gateway was faster).
    pub fn added_p50_micros(&self) -> i64 {
        let micros = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        micros(self.gateway.p50) - micros(self.direct.p50)
    }

    /// Gateway throughput as a share of direct throughput.
    pub fn throughput_share(&self) -> f64 {
        if self.direct.throughput > 0.0 {
            self.gateway.throughput / self.direct.throughput
        } else {
            0.0
        }
    }

    /// Whether both goals are met.
    pub fn meets_goals(&self) -> bool {
        self.direct.errors == 0
            && self.gateway.errors == 0
            && self.added_p50_micros() < ADDED_P50_GOAL.as_micros() as i64
            && self.throughput_share() >= THROUGHPUT_SHARE_GOAL
    }

    /// The table header matching [`Comparison::line`].
    pub fn header() -> String {
        format!(
            "{:<15} {:>4} | {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} | {:>9} {:>7} {:>7} | goal",
            "method",
            "conc",
            "direct/s",
            "p50",
            "p99",
            "gw/s",
            "p50",
            "p99",
            "added p50",
            "thr %",
            "gw cpu",
        )
    }

    /// One line of the table.
    pub fn line(&self) -> String {
        let ms = |d: Duration| format!("{:.3}ms", d.as_secs_f64() * 1e3);
        let cpu = self
            .gateway_cpu_per_call
            .map_or("-".to_owned(), |d| format!("{}µs", d.as_micros()));
        let errors = self.direct.errors + self.gateway.errors;
        let verdict = if self.meets_goals() { "PASS" } else { "MISS" };
        let method = if self.relay {
            "  tcp relay"
        } else {
            self.method
        };
        let mut line = format!(
            "{:<15} {:>4} | {:>8.0} {:>8} {:>8} | {:>8.0} {:>8} {:>8} | {:>+7}µs {:>6.1}% {:>7} | {verdict}",
            method,
            self.concurrency,
            self.direct.throughput,
            ms(self.direct.p50),
            ms(self.direct.p99),
            self.gateway.throughput,
            ms(self.gateway.p50),
            ms(self.gateway.p99),
            self.added_p50_micros(),
            self.throughput_share() * 100.0,
            cpu,
        );
        if errors > 0 {
            line.push_str(&format!(" ({errors} errors)"));
        }
        line
    }
}

/// What a run found.
#[derive(Debug, Default)]
pub struct GatewayReport {
    /// Every method at every level.
    pub rows: Vec<Comparison>,
}

/// A `cloister gateway` process; killed when dropped.
struct GatewayProcess {
    child: Child,
    address: SocketAddr,
    log: tempfile::NamedTempFile,
}

impl GatewayProcess {
    /// Starts the gateway over `upstreams` and waits for the line saying where it listens,
    /// which it prints once it has probed every upstream.
    fn start(upstreams: &[String], mode: &str, threads: Option<usize>) -> anyhow::Result<Self> {
        let log = tempfile::NamedTempFile::new()?;
        let mut command = cloister_harness::nodes::cloister();
        command.args(["gateway", "--listen", "127.0.0.1:0", "--mode", mode]);
        if let Some(threads) = threads {
            command.args(["--worker-threads", &threads.to_string()]);
        }
        for upstream in upstreams {
            command.args(["--upstream", upstream]);
        }
        let mut child = command
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.reopen()?)
            .spawn()?;
        let mut first = String::new();
        if let Some(stdout) = child.stdout.take() {
            BufReader::new(stdout).read_line(&mut first)?;
        }
        let address = first
            .trim()
            .strip_prefix("gateway listening on ")
            .and_then(|a| a.parse().ok());
        let Some(address) = address else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(log.path()).unwrap_or_default();
            anyhow::bail!("cloister gateway did not start: {first:?}\n{log}");
        };
        Ok(Self {
            child,
            address,
            log,
        })
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JSON-RPC call as the load sends it.
fn rpc_call(method: &str, params: Value) -> Call {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    Call {
        method: Method::POST,
        target: "/".into(),
        media: media::JSON,
        body: Some(Bytes::from(body.to_string())),
        idempotency_key: None,
    }
}

/// Deploys the answer contract on `node` and gives its address.
fn deploy_answer(node: &Ganache) -> anyhow::Result<String> {
    let hash = node.call(
        "eth_sendTransaction",
        json!([{"from": ACCOUNT_0, "data": ANSWER_CONTRACT, "gas": "0x100000"}]),
    );
    let receipt = node.call("eth_getTransactionReceipt", json!([hash]));
    receipt["contractAddress"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no contract address in {receipt}"))
}

/// Runs the gateway benchmark, writing the table to `out` line by line.
pub fn run(settings: &GatewayBench, out: &mut dyn Write) -> anyhow::Result<GatewayReport> {
    check_levels(&settings.concurrency)?;
    let runtime = client_runtime(settings.client_threads)?;
    let load_before = procfs::load_average();
    let nodes = Ganache::start_many(2);
    let urls: Vec<String> = nodes.iter().map(Ganache::url).collect();
    // The same contract at the same address on both, as on real HA nodes sharing one chain.
    let contract = deploy_answer(&nodes[0])?;
    anyhow::ensure!(
        deploy_answer(&nodes[1])? == contract,
        "the contract landed at different addresses"
    );
    let gateway = GatewayProcess::start(&urls, &settings.mode, settings.gateway_threads)?;
    let relay = if settings.relay {
        Some(Relay::start(
            "127.0.0.1:0".parse()?,
            Endpoint::from(nodes[0].address),
        )?)
    } else {
        None
    };
    let direct = Endpoint::from(nodes[0].address);
    let through = Endpoint::from(gateway.address);
    let methods = [
        ("eth_blockNumber", rpc_call("eth_blockNumber", json!([]))),
        (
            "eth_call",
            rpc_call(
                "eth_call",
                json!([{"to": contract, "data": "0x"}, "latest"]),
            ),
        ),
    ];
    let answer = ganache::call(
        gateway.address,
        "eth_call",
        json!([{"to": contract}, "latest"]),
    );
    anyhow::ensure!(
        answer["result"] == ANSWER,
        "eth_call through the gateway answered {answer}"
    );
    writeln!(
        out,
        "cloister-bench gateway: ganache {} x2, cloister gateway --mode {} --worker-threads {} in \
         front (pid {}); {}, {} driver thread(s), {} cores\n\
         direct = keep-alive HTTP to the first node; gw = the same calls through the gateway; \
         added p50 = gw p50 - direct p50; thr % = gw/direct throughput; gw cpu = gateway CPU per \
         call; goal: added p50 < {}µs and thr % >= {:.0}",
        ganache::VERSION,
        settings.mode,
        settings
            .gateway_threads
            .map_or_else(|| "(default)".to_owned(), |n| n.to_string()),
        gateway.child.id(),
        match settings.budget() {
            Budget::For(d) => format!("{:.1}s per level and path", d.as_secs_f64()),
            Budget::Requests(n) => format!("{n} calls per level and path"),
        },
        settings.client_threads.max(1),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        ADDED_P50_GOAL.as_micros(),
        THROUGHPUT_SHARE_GOAL * 100.0,
    )?;
    writeln!(out, "{}", Comparison::header())?;
    let mut report = GatewayReport::default();
    let gateway_pid = gateway.child.id();
    for (method, call) in methods {
        let requests = Requests::fixed(call);
        let measure = |endpoint: &Endpoint, concurrency: usize, budget: Budget| {
            runtime.block_on(run_level(
                endpoint,
                Arc::clone(&requests),
                concurrency,
                budget,
                Check::RpcResult,
            ))
        };
        if settings.warmup > 0 {
            for endpoint in [&direct, &through] {
                let warmup = measure(endpoint, 4, Budget::Requests(settings.warmup))?;
                anyhow::ensure!(
                    warmup.errors == 0,
                    "warming up {method} on {endpoint}: {}",
                    warmup.error_samples.join("; ")
                );
            }
        }
        for &concurrency in &settings.concurrency {
            let mut direct_outcome = measure(&direct, concurrency, settings.budget())?;
            let cpu_before = procfs::cpu_time(gateway_pid);
            let mut gateway_outcome = measure(&through, concurrency, settings.budget())?;
            let cpu_after = procfs::cpu_time(gateway_pid);
            let calls = gateway_outcome.latencies.len().max(1) as u32;
            let row = Comparison {
                method,
                concurrency,
                direct: Figures::of(&mut direct_outcome),
                gateway: Figures::of(&mut gateway_outcome),
                gateway_cpu_per_call: cpu_before
                    .zip(cpu_after)
                    .map(|(before, after)| after.saturating_sub(before) / calls),
                relay: false,
            };
            writeln!(out, "{}", row.line())?;
            for sample in direct_outcome
                .error_samples
                .iter()
                .chain(&gateway_outcome.error_samples)
            {
                writeln!(out, "    error: {sample}")?;
            }
            out.flush()?;
            let floor = match &relay {
                Some(relay) if method == "eth_blockNumber" => {
                    let cpu_before = relay.cpu();
                    let mut outcome = measure(&relay.endpoint, concurrency, settings.budget())?;
                    let cpu_after = relay.cpu();
                    let calls = outcome.latencies.len().max(1) as u32;
                    Some(Comparison {
                        gateway: Figures::of(&mut outcome),
                        gateway_cpu_per_call: cpu_before
                            .zip(cpu_after)
                            .map(|(before, after)| after.saturating_sub(before) / calls),
                        relay: true,
                        ..row.clone()
                    })
                }
                _ => None,
            };
            report.rows.push(row);
            if let Some(floor) = floor {
                writeln!(out, "{}", floor.line())?;
                out.flush()?;
                report.rows.push(floor);
            }
        }
    }
    let gateway_rows = report.rows.iter().filter(|r| !r.relay);
    let met = gateway_rows.clone().filter(|r| r.meets_goals()).count();
    writeln!(
        out,
        "\ngoals met at {met} of {} levels (gateway CPU per call is measured from /proc, 10 ms \
         resolution{})",
        gateway_rows.count(),
        if relay.is_some() {
            "; tcp relay rows: the same direct figures against a plain TCP relay, whose CPU is \
             its thread's"
        } else {
            ""
        },
    )?;
    let load = |l: Option<f64>| l.map_or("unknown".into(), |l| format!("{l:.2}"));
    writeln!(
        out,
        "machine load average (1 min): {} before, {} after",
        load(load_before),
        load(procfs::load_average()),
    )?;
    if report
        .rows
        .iter()
        .any(|r| r.direct.errors + r.gateway.errors > 0)
    {
        let log = std::fs::read_to_string(gateway.log.path()).unwrap_or_default();
        writeln!(out, "gateway log:\n{log}")?;
    }
    out.flush()?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn figures(throughput: f64, p50_micros: u64) -> Figures {
        Figures {
            requests: 100,
            errors: 0,
            throughput,
            p50: Duration::from_micros(p50_micros),
            p99: Duration::from_micros(p50_micros * 2),
        }
    }

    fn row(direct: Figures, gateway: Figures) -> Comparison {
        Comparison {
            method: "eth_blockNumber",
            concurrency: 1,
            direct,
            gateway,
            gateway_cpu_per_call: None,
            relay: false,
        }
    }

    #[test]
    fn goals_need_both_latency_and_throughput() {
        let met = row(figures(1000.0, 300), figures(950.0, 380));
        assert_eq!(met.added_p50_micros(), 80);
        assert!(met.meets_goals());
        assert!(met.line().ends_with("PASS"), "{}", met.line());
        let slow = row(figures(1000.0, 300), figures(950.0, 400));
        assert!(!slow.meets_goals(), "an added p50 of exactly 100µs misses");
        let starved = row(figures(1000.0, 300), figures(899.0, 310));
        assert!(!starved.meets_goals());
        assert!(starved.line().contains("MISS"), "{}", starved.line());
        let mut failing = row(figures(1000.0, 300), figures(1000.0, 300));
        failing.gateway.errors = 1;
        assert!(!failing.meets_goals());
        assert!(failing.line().contains("1 errors"), "{}", failing.line());
    }
}
