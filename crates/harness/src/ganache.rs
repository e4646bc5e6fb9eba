//! Real Ethereum JSON-RPC nodes for gateway tests: `ganache` processes on free loopback ports,
//! with the deterministic wallet (the same ten funded, unlocked accounts on every process, as
//! GoQuorum HA nodes share one keystore) and chain and network id 1337.
//!
//! `scripts/test.sh` installs the pinned version under `.cache/ganache`; `CLOISTER_GANACHE`
//! names another executable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cloister_addr::Endpoint;
use serde_json::{json, Value};

use super::http::{eventually, Request};
use super::nodes::free_port;

/// The ganache version `scripts/test.sh` installs.
pub const VERSION: &str = "7.9.2";

/// The first account of ganache's deterministic wallet.
pub const ACCOUNT_0: &str = "0x90f8bf6a479f320ead074411a4b0e7944ea8c9c1";
/// The second account of ganache's deterministic wallet.
pub const ACCOUNT_1: &str = "0xffcf8fdee72ac11b5c542428b35eef5769c409f0";

/// Where the ganache executable is, or a panic saying how to get it.
pub fn executable() -> PathBuf {
    if let Some(path) = std::env::var_os("CLOISTER_GANACHE") {
        return path.into();
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../.cache/ganache/node_modules/.bin/ganache");
    assert!(
        path.exists(),
        "ganache is not installed at {}; run scripts/test.sh (it installs ganache@{VERSION}) or set CLOISTER_GANACHE",
        path.display()
    );
    path
}

/// A running ganache process; killed when dropped.
pub struct Ganache {
    child: Child,
    /// Its JSON-RPC address.
    pub address: SocketAddr,
    /// Its chain database: ganache's own temporary one outlives a SIGKILL, this one is removed
    /// after the process (fields drop after [`Drop::drop`] has killed it).
    _database: tempfile::TempDir,
}

impl Ganache {
    /// Starts `count` ganache processes at once and waits until each answers JSON-RPC.
    pub fn start_many(count: usize) -> Vec<Self> {
        let nodes: Vec<Self> = (0..count).map(|_| Self::spawn()).collect();
        for node in &nodes {
            node.wait_ready();
        }
        nodes
    }

    fn spawn() -> Self {
        let port = free_port();
        let database = tempfile::Builder::new()
            .prefix("ganache-")
            .tempdir()
            .expect("a temporary directory for ganache's database");
        let child = Command::new(executable())
            .args(["--server.host", "127.0.0.1", "--server.port"])
            .arg(port.to_string())
            .arg("--database.dbPath")
            .arg(database.path())
            .args([
                "--wallet.deterministic",
                "--chain.chainId",
                "1337",
                "--chain.networkId",
                "1337",
                "--logging.quiet",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", executable().display()));
        Self {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            _database: database,
        }
    }

    fn wait_ready(&self) {
        let up = eventually(Duration::from_secs(60), || {
            try_call(self.address, "eth_blockNumber", json!([])).is_some()
        });
        assert!(up, "ganache on {} did not start", self.address);
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Calls `method` directly (not through a gateway) and returns the `result`, panicking on
    /// an error.
    pub fn call(&self, method: &str, params: Value) -> Value {
        let response = call(self.address, method, params);
        assert!(
            response.get("error").is_none(),
            "{method} on {}: {response}",
            self.address
        );
        response["result"].clone()
    }

    /// Its process id, for signals (SIGSTOP to hang it, SIGCONT to resume it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the process (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Ganache {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One JSON-RPC call over HTTP to `address`; the whole response object.
pub fn call(address: SocketAddr, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    Request::new("POST", "/")
        .json(&body)
        .send(&Endpoint::from(address))
        .json()
}

fn try_call(address: SocketAddr, method: &str, params: Value) -> Option<Value> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let response = Request::new("POST", "/")
        .json(&body)
        .try_send(&Endpoint::from(address), None)
        .ok()?;
    (response.status == 200).then(|| response.json())
}
