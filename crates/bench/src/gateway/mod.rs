//! The gateway benchmark (`cloister-bench gateway`): two ganache nodes, the first the primary
//! and the second its backup, behind each of three JSON-RPC load balancers — `cloister
//! gateway`, nginx (`upstream` with the second node as `backup`) and HAProxy (`mode http` with
//! a JSON-RPC health check, the second node `backup`) — all with the same connect and
//! per-attempt timeouts, and direct to the first node as the baseline. The balancers' configs
//! are templates in `crates/bench/configs`.
//!
//! Steady state: `eth_blockNumber` (ganache answers from memory: the hop is most of the cost)
//! and `eth_call` on a contract (the EVM runs) at each concurrency, every front measured in
//! rotating rounds within each cell as `cloister-bench proxy` does, so drifting machine load
//! hits them alike. In primary-backup mode every call reaches the node the direct figures use,
//! so what each balancer adds over direct is its hop. The goal: the gateway's
//! throughput at least the better balancer's and its added p50 no more than theirs.
//!
//! Faults: calls through each front while the primary is SIGKILLed, then SIGSTOPped, a third
//! into the run, counting failed calls and the worst latency. Goal: fewer errors through the
//! gateway than through either balancer.
//!
//! With `--relay`, a byte relay to the first node ([`crate::relay`]) runs in the steady
//! rotation too: what one extra loopback hop costs here whatever a balancer does.
//!
//! - `front`: the fronts, started and stopped, and the balancers' configs;
//! - `steady`: the steady part; `fault`: the fault part;
//! - `report`: the rows, the verdicts and the text they print as.

mod fault;
mod front;
mod report;
mod steady;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use cloister_harness::ganache::{self, Ganache, ACCOUNT_0};
use cloister_protocol::media;
use hyper::Method;
use serde_json::{json, Value};

use crate::client::Call;
use crate::load::{check_levels, client_runtime};
use crate::report::LoadBefore;
use crate::scenario::Requests;
use crate::settings::GatewayBench;

pub use crate::fault_run::Fault;
pub use fault::CLIENT_TIMEOUT;
pub use front::Front;
pub use report::{FaultRow, GatewayReport, SteadyRow, SteadyVerdict};

/// Creation code of a contract whose every call returns the 32-byte word 42: the runtime
/// `PUSH1 42 PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN` behind the code that copies it out.
/// `eth_call` on it runs the EVM, unlike a call to an address without code.
const ANSWER_CONTRACT: &str = "0x600a600c600039600a6000f3602a60005260206000f3";
/// What a call to it returns.
const ANSWER: &str = "0x000000000000000000000000000000000000000000000000000000000000002a";

/// The two nodes, primary first, each with the answer contract at the same address (as HA
/// nodes sharing one chain have it).
pub(crate) struct Nodes {
    nodes: Vec<Ganache>,
    contract: String,
}

impl Nodes {
    fn start() -> anyhow::Result<Self> {
        let nodes = Ganache::start_many(2);
        let contract = deploy_answer(&nodes[0])?;
        anyhow::ensure!(
            deploy_answer(&nodes[1])? == contract,
            "the contract landed at different addresses"
        );
        Ok(Self { nodes, contract })
    }

    fn addresses(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.address).collect()
    }

    /// Makes the primary fail.
    fn apply(&mut self, fault: Fault) {
        match fault {
            Fault::Kill => self.nodes[0].kill(),
            Fault::Stop => {
                cloister_harness::signal::send("STOP", &[self.nodes[0].pid()]);
            }
        }
    }

    /// Brings a healthy primary back: a new one (with the contract) after a kill, the same one
    /// resumed after a stop.
    fn heal(&mut self, fault: Fault) -> anyhow::Result<()> {
        match fault {
            Fault::Kill => {
                let fresh = Ganache::start_many(1).remove(0);
                anyhow::ensure!(
                    deploy_answer(&fresh)? == self.contract,
                    "the contract landed at another address on the new primary"
                );
                self.nodes[0] = fresh;
            }
            Fault::Stop => {
                cloister_harness::signal::send("CONT", &[self.nodes[0].pid()]);
            }
        }
        Ok(())
    }
}

/// A JSON-RPC call as the load sends it.
fn rpc_call(method: &str, params: Value) -> Arc<Requests> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    Requests::fixed(Call {
        method: Method::POST,
        target: "/".into(),
        media: media::JSON,
        body: Some(Bytes::from(body.to_string())),
        idempotency_key: None,
    })
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

/// Runs both parts, writing the tables to `out` as they come.
pub fn run(settings: &GatewayBench, out: &mut dyn Write) -> anyhow::Result<GatewayReport> {
    check_levels(&settings.concurrency)?;
    let runtime = client_runtime(settings.client_threads)?;
    let load_before = LoadBefore::now();
    let mut nodes = Nodes::start()?;
    let methods = [
        ("eth_blockNumber", rpc_call("eth_blockNumber", json!([]))),
        (
            "eth_call",
            rpc_call(
                "eth_call",
                json!([{"to": nodes.contract, "data": "0x"}, "latest"]),
            ),
        ),
    ];
    let mut order = vec![Front::Direct];
    if settings.relay {
        order.push(Front::Relay);
    }
    order.extend(Front::BALANCERS);
    let fronts = order
        .iter()
        .map(|f| front::start(*f, &nodes.addresses(), settings))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for running in &fronts {
        let answer = ganache::call(
            running.address,
            "eth_call",
            json!([{"to": nodes.contract}, "latest"]),
        );
        anyhow::ensure!(
            answer["result"] == ANSWER,
            "eth_call through {} answered {answer}",
            running.front.name()
        );
    }
    let pid = |front| {
        fronts
            .iter()
            .find(|r| r.front == front)
            .and_then(|r| r.pid())
            .map_or_else(|| "-".to_owned(), |p| p.to_string())
    };
    writeln!(
        out,
        "cloister-bench gateway: ganache {} x2 (primary + backup); fronts: direct to the primary, \
         cloister gateway --mode {} --worker-threads {} (pid {}), nginx (pid {}), haproxy (pid {}); \
         connect timeout 1000 ms and attempt timeout {} ms on all three; {} driver thread(s), {} \
         cores, load average {}",
        ganache::VERSION,
        settings.mode,
        settings
            .gateway_threads
            .map_or_else(|| "(default)".to_owned(), |n| n.to_string()),
        pid(Front::Cloister),
        pid(Front::Nginx),
        pid(Front::Haproxy),
        settings.attempt_timeout_ms,
        settings.client_threads.max(1),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_before.text(),
    )?;
    let mut report = GatewayReport {
        steady: steady::run(settings, &runtime, &fronts, &methods, out)?,
        faults: Vec::new(),
    };
    for running in fronts {
        running.stop();
    }
    if settings.fault_seconds > 0.0 {
        let call = methods[0].clone();
        report.faults = fault::run(settings, &runtime, &mut nodes, call, out)?;
    }
    let cells: Vec<SteadyVerdict> = methods
        .iter()
        .flat_map(|(method, _)| {
            settings
                .concurrency
                .iter()
                .filter_map(|c| report.verdict(method, *c))
                .collect::<Vec<_>>()
        })
        .collect();
    writeln!(
        out,
        "\nsteady goal (throughput >= the better balancer's, added p50 <= the better balancer's) \
         met in {} of {} cells",
        cells.iter().filter(|v| v.met()).count(),
        cells.len()
    )?;
    for fault in Fault::ALL {
        if let Some(met) = report.fault_goal_met(fault) {
            writeln!(
                out,
                "{} goal (fewer errors through cloister than through nginx and haproxy, or none): {}",
                fault.name(),
                if met { "PASS" } else { "MISS" }
            )?;
        }
    }
    load_before.print_line(out)?;
    out.flush()?;
    Ok(report)
}
