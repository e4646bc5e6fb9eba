//! Real `cloister node` processes on loopback, configured only by Tessera-format config files
//! and key files made by `cloister keygen`.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cloister_addr::Endpoint;
use serde_json::{json, Value};

use super::http::{eventually, Request};

static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Names the `cloister` binary to run (tests pass `env!("CARGO_BIN_EXE_cloister")`). Without
/// it, `cloister` is looked for beside the running executable and one directory up (where
/// cargo puts binaries relative to test and bench executables).
pub fn use_binary(path: impl Into<PathBuf>) {
    let _ = BINARY.set(path.into());
}

/// The `cloister` binary as a command.
pub fn cloister() -> Command {
    Command::new(binary())
}

/// Where the `cloister` binary is.
pub fn binary() -> PathBuf {
    if let Some(path) = BINARY.get() {
        return path.clone();
    }
    let exe = std::env::current_exe().expect("the running executable has a path");
    let dir = exe.parent().expect("executables live in a directory");
    [dir.join("cloister"), dir.join("../cloister")]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "no cloister binary beside {}; build it first",
                exe.display()
            )
        })
}

/// A loopback port that was free a moment ago, and not handed out before by this process.
/// The kernel may give the same port to two `bind(0)` calls in a row once the first socket
/// is closed, so a node's P2P and ThirdParty ports could otherwise coincide.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<BTreeSet<u16>> = std::sync::Mutex::new(BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut handed_out = HANDED_OUT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if handed_out.insert(port) {
            return port;
        }
    }
}

/// A loopback address whose port was free a moment ago.
fn free_loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// Directories for nodes `a` and `b`, each with its key pair, under one fresh temporary root
/// that the caller keeps alive while the nodes run.
pub fn two_node_dirs() -> std::io::Result<(tempfile::TempDir, NodeDir, NodeDir)> {
    let root = tempfile::tempdir()?;
    let (a, b) = (
        NodeDir::new(root.path(), "a"),
        NodeDir::new(root.path(), "b"),
    );
    Ok((root, a, b))
}

/// One node's files and addresses, before and after it runs.
pub struct NodeDir {
    /// A short name for messages.
    pub name: String,
    /// Its directory (keys, config, database, socket).
    pub dir: PathBuf,
    /// Its base64 public key.
    pub public_key: String,
    /// P2P address.
    pub p2p: SocketAddr,
    /// ThirdParty address.
    pub third_party: SocketAddr,
    /// When its P2P server speaks TLS: the client config the harness reaches it with (its
    /// advertised URL is then `https://`).
    pub p2p_tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// When its Q2T server is TCP with TLS rather than the unix socket: where, and the client
    /// config the harness reaches it with (the config's `sslConfig` is the test's to add).
    pub q2t_tls: Option<(SocketAddr, std::sync::Arc<rustls::ClientConfig>)>,
}

impl NodeDir {
    /// Makes the directory and a key pair with `cloister keygen`.
    pub fn new(root: &Path, name: &str) -> Self {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let out = cloister()
            .args(["keygen", "--filename"])
            .arg(dir.join("tm"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "keygen: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let public_key = std::fs::read_to_string(dir.join("tm.pub")).unwrap();
        Self {
            name: name.into(),
            dir,
            public_key,
            p2p: free_loopback(),
            third_party: free_loopback(),
            p2p_tls: None,
            q2t_tls: None,
        }
    }

    /// A replica of this node: a new directory holding a copy of its key pair, with its own
    /// ports. Replicas of one node share its identity (and, configured so, its store).
    pub fn replica(&self, root: &Path, name: &str) -> Self {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for file in ["tm.key", "tm.pub"] {
            // `fs::copy` keeps the key file's owner-only mode.
            std::fs::copy(self.dir.join(file), dir.join(file)).unwrap();
        }
        Self {
            name: name.into(),
            dir,
            public_key: self.public_key.clone(),
            p2p: free_loopback(),
            third_party: free_loopback(),
            p2p_tls: None,
            q2t_tls: None,
        }
    }

    /// The advertised P2P URL (`https://` when its P2P server speaks TLS).
    pub fn p2p_url(&self) -> String {
        let scheme = if self.p2p_tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.p2p)
    }

    /// Sends `request` to the P2P server, over TLS when it speaks TLS.
    pub fn try_p2p(&self, request: &Request<'_>) -> std::io::Result<super::http::Response> {
        match &self.p2p_tls {
            Some(config) => request.try_send_tls(self.p2p, config),
            None => request.try_send(&Endpoint::from(self.p2p), None),
        }
    }

    /// The Q2T unix socket.
    pub fn q2t_socket(&self) -> PathBuf {
        self.dir.join("tm.ipc")
    }

    /// The Q2T server's address as a config or a proxy writes it: `unix:` and its socket, or
    /// `https://` and its TCP address.
    pub fn q2t_url(&self) -> String {
        match &self.q2t_tls {
            Some((address, _)) => format!("https://{address}"),
            None => format!("unix:{}", self.q2t_socket().display()),
        }
    }

    /// Sends `request` to the Q2T server, over TLS when it speaks TLS.
    pub fn try_q2t(&self, request: &Request<'_>) -> std::io::Result<super::http::Response> {
        match &self.q2t_tls {
            Some((address, config)) => request.try_send_tls(*address, config),
            None => request.try_send(&self.q2t(), None),
        }
    }

    /// A Tessera config for this node with these peers; `extra` members are merged in at the
    /// top level.
    pub fn config(&self, peers: &[&NodeDir], extra: Value) -> Value {
        let dir = self.dir.display();
        let mut config = json!({
            "useWhiteList": false,
            "jdbc": { "username": "", "password": "", "url": format!("jdbc:sqlite:{dir}/db.sqlite"), "autoCreateTables": true },
            "serverConfigs": [
                { "app": "Q2T", "serverAddress": self.q2t_url(), "communicationType": "REST" },
                { "app": "P2P", "serverAddress": self.p2p_url(), "communicationType": "REST",
                  "properties": { "partyInfoInterval": "200" } },
                { "app": "ThirdParty", "serverAddress": format!("http://{}", self.third_party), "communicationType": "REST" }
            ],
            "peer": peers.iter().map(|p| json!({ "url": p.p2p_url() })).collect::<Vec<_>>(),
            "keys": { "passwords": [], "keyData": [ { "privateKeyPath": format!("{dir}/tm.key"), "publicKeyPath": format!("{dir}/tm.pub") } ] },
            "alwaysSendTo": [],
            "features": { "enablePrivacyEnhancements": true }
        });
        if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
            config.extend(extra);
        }
        config
    }

    /// Writes `config` and starts `cloister node -configfile` on it (Tessera's spelling), waiting
    /// until every app answers.
    pub fn start(&self, config: &Value, extra_args: &[&str]) -> RunningNode {
        let (child, log) = self.spawn(config, extra_args, "node.log");
        let node = RunningNode { child, log };
        let up = eventually(Duration::from_secs(20), || {
            let upcheck = Request::new("GET", "/upcheck");
            self.try_p2p(&upcheck).is_ok_and(|r| r.status == 200)
                && self.try_q2t(&upcheck).is_ok_and(|r| r.status == 200)
        });
        assert!(up, "{} did not start: {}", self.name, node.log_text());
        node
    }

    /// Writes `config` and starts `cloister node -configfile` (Tessera's spelling) on it, its
    /// log going to `log_name` in the node's directory.
    fn spawn(&self, config: &Value, extra_args: &[&str], log_name: &str) -> (Child, PathBuf) {
        let path = self.dir.join("tessera-config.json");
        std::fs::write(&path, serde_json::to_vec_pretty(config).unwrap()).unwrap();
        let log_path = self.dir.join(log_name);
        let log = std::fs::File::create(&log_path).unwrap();
        let child = cloister()
            .args(["node", "-configfile"])
            .arg(&path)
            .args(extra_args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        (child, log_path)
    }

    /// Writes `config` and runs `cloister node` on it to completion (e.g. `--recover`), giving
    /// the exit code and the log.
    pub fn run_to_exit(
        &self,
        config: &Value,
        extra_args: &[&str],
        timeout: Duration,
    ) -> (Option<i32>, String) {
        let (mut child, log_path) = self.spawn(config, extra_args, "run.log");
        let deadline = std::time::Instant::now() + timeout;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        (
            status.and_then(|s| s.code()),
            std::fs::read_to_string(log_path).unwrap_or_default(),
        )
    }

    /// The Q2T target.
    pub fn q2t(&self) -> Endpoint {
        Endpoint::Unix(self.q2t_socket())
    }

    /// The P2P target.
    pub fn p2p_target(&self) -> Endpoint {
        Endpoint::from(self.p2p)
    }

    /// The ThirdParty target.
    pub fn third_party_target(&self) -> Endpoint {
        Endpoint::from(self.third_party)
    }

    /// The keys this node's ThirdParty app reports as known in the network.
    pub fn known_keys(&self) -> Vec<String> {
        let response = Request::new("GET", "/partyinfo/keys").send(&self.third_party_target());
        response.json()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["key"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// A running node process; killed when dropped.
pub struct RunningNode {
    child: Child,
    log: PathBuf,
}

impl RunningNode {
    /// What the node logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id, for reading its `/proc/<pid>` entries (memory, CPU time) or attaching
    /// a profiler.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Freezes the process (SIGSTOP): its sockets stay open, nothing answers.
    pub fn hang(&self) {
        self.signal("STOP");
    }

    /// Unfreezes the process (SIGCONT).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        let pid = self.child.id();
        assert!(crate::signal::send(name, &[pid]), "kill -{name} {pid}");
    }

    /// Asks the process to stop (SIGTERM): a node drains, then exits by itself.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Waits up to `within` for the process to exit; its exit status, or `None` if it still
    /// runs.
    pub fn wait_for_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let mut status = None;
        eventually(within, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        status
    }

    /// Stops the process (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RunningNode {
    fn drop(&mut self) {
        self.kill();
    }
}
