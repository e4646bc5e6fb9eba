//! Slow headers (slowloris): hundreds of connections that send half a request head and stall,
//! against a node's P2P port, a `cloister proxy` in front of it, and a `cloister gateway`. Each
//! target runs with a 1 s `headerTimeoutMs` and 100 `maxConnectionsPerIp`, so the bounds show
//! within a test's patience.

use std::fmt;
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use cloister_harness::http::eventually;
use cloister_harness::nodes::free_port;
use serde_json::json;

use super::watch::{Seen, Watch};
use super::{cost, Victim};

/// Connections opened.
pub const CONNECTIONS: usize = 200;

/// The target's `headerTimeoutMs`.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// The target's `maxConnectionsPerIp`.
pub const PER_IP: usize = 100;

/// How long after the header timeout a connection still open counts as kept.
const GRACE: Duration = Duration::from_secs(2);

/// Half a head: the listener must wait for the rest, or give up on it.
const HALF_HEAD: &[u8] = b"POST /push HTTP/1.1\r\nHost: victim\r\nContent-Le";

/// What the stalled connections achieved against one listener.
#[derive(Debug, Clone, Copy)]
pub struct Stalled {
    /// Connections closed within half the header timeout: refused, over the per-address bound.
    pub refused_at_once: usize,
    /// Connections closed after half the header timeout but before it: neither refused at
    /// once nor held to the timeout.
    pub closed_early: usize,
    /// Connections still open [`GRACE`] after the header timeout.
    pub still_open: usize,
    /// The longest any connection the listener took was held before being closed, once all
    /// were closed.
    pub longest_held: Option<Duration>,
}

/// The attack on a node's P2P port.
#[derive(Debug, Clone, Copy)]
pub struct Slow {
    /// Memory and `tm.ipc` latency meanwhile.
    pub seen: Seen,
    /// What the connections achieved.
    pub stalled: Stalled,
    /// Whether the node, restarted on its data, came back healthy.
    pub restart_healthy: bool,
}

/// The bounds as a node's P2P `properties` spell them (strings, as Tessera's properties are).
fn node_bounds() -> serde_json::Value {
    json!({
        "headerTimeoutMs": HEADER_TIMEOUT.as_millis().to_string(),
        "maxConnectionsPerIp": PER_IP.to_string(),
    })
}

/// Runs the attack on a node's P2P port with `connections` connections.
pub fn run(connections: usize) -> anyhow::Result<Slow> {
    let mut victim = Victim::start(node_bounds());
    let watch = Watch::start(victim.node.pid(), victim.dir.q2t());
    let stalled = stall(victim.dir.p2p, connections)?;
    let seen = watch.finish();
    Ok(Slow {
        seen,
        stalled,
        restart_healthy: victim.restart_is_healthy(),
    })
}

/// Runs the attack on a `cloister proxy --role p2p` in front of a node, with the same bounds in
/// its config file's `connections`.
pub fn run_on_proxy(connections: usize) -> anyhow::Result<Stalled> {
    let victim = Victim::start(json!({}));
    let upstream = format!("http://{}", victim.dir.p2p);
    let config = json!({ "connections": front_bounds() });
    let proxy = Front::start(
        &["proxy", "--role", "p2p", "--upstream", &upstream],
        &config,
    )?;
    Ok(stall(proxy.address, connections)?)
}

/// Runs the attack on a `cloister gateway`, with the same bounds at its config file's top level.
/// Its upstream need not answer: the gateway listens whatever its upstreams' health.
pub fn run_on_gateway(connections: usize) -> anyhow::Result<Stalled> {
    let upstream = format!("http://127.0.0.1:{}", free_port());
    let gateway = Front::start(&["gateway", "--upstream", &upstream], &front_bounds())?;
    Ok(stall(gateway.address, connections)?)
}

/// The bounds as the proxy's and the gateway's config files spell them (numbers).
fn front_bounds() -> serde_json::Value {
    json!({
        "headerTimeoutMs": HEADER_TIMEOUT.as_millis(),
        "maxConnectionsPerIp": PER_IP,
    })
}

/// Opens `connections` connections to `address`, each sending half a head, and watches when
/// the listener closes them. Every connection is polled after each new one is opened, so a
/// refusal is seen while the others are still being opened.
pub fn stall(address: SocketAddr, connections: usize) -> std::io::Result<Stalled> {
    let started = Instant::now();
    let mut watched = Watched::default();
    for _ in 0..connections {
        // Before connecting: the listener's timer cannot start earlier.
        let opened = Instant::now();
        let mut stream = TcpStream::connect(address)?;
        let _ = stream.write_all(HALF_HEAD);
        stream.set_nonblocking(true)?;
        watched.open.push((stream, opened));
        watched.poll();
    }
    let deadline = Instant::now().max(started + HEADER_TIMEOUT) + GRACE;
    while !watched.open.is_empty() && Instant::now() < deadline {
        watched.poll();
        std::thread::sleep(Duration::from_millis(20));
    }
    let still_open = watched.open.len();
    Ok(Stalled {
        refused_at_once: watched.refused,
        closed_early: watched.early,
        still_open,
        longest_held: (still_open == 0).then_some(watched.longest_held),
    })
}

/// The connections still open, and what became of the others.
#[derive(Default)]
struct Watched {
    open: Vec<(TcpStream, Instant)>,
    refused: usize,
    early: usize,
    longest_held: Duration,
}

impl Watched {
    /// Notes every connection closed since the last poll: one closed within half the header
    /// timeout can only have been refused (the others are polled often enough to be seen
    /// sooner), one closed later was held, by the timeout unless it closed before it.
    fn poll(&mut self) {
        let (refused, early, longest) =
            (&mut self.refused, &mut self.early, &mut self.longest_held);
        self.open.retain_mut(|(stream, opened)| {
            let closed = is_closed(stream);
            if closed {
                let held = opened.elapsed();
                if held < HEADER_TIMEOUT / 2 {
                    *refused += 1;
                } else {
                    *early += usize::from(held < HEADER_TIMEOUT);
                    *longest = (*longest).max(held);
                }
            }
            !closed
        });
    }
}

/// Whether the other end closed `stream` (an answer such as a 408 is read and skipped).
fn is_closed(stream: &mut TcpStream) -> bool {
    let mut buffer = [0u8; 512];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(error) => return error.kind() != ErrorKind::WouldBlock,
        }
    }
}

/// A `cloister proxy` or `cloister gateway` process listening on loopback; killed when
/// dropped.
struct Front {
    child: Child,
    address: SocketAddr,
    _config: tempfile::NamedTempFile,
}

impl Front {
    /// Runs `cloister <args> --listen <a free port> --config <config>` and waits until it
    /// answers HTTP. A build that refuses the config (one from before these bounds existed, so
    /// that it can be measured too) runs without it.
    fn start(args: &[&str], config: &serde_json::Value) -> anyhow::Result<Self> {
        match Self::start_with(args, config)? {
            Ok(front) => Ok(front),
            Err(refused) => {
                eprintln!(
                    "cloister {} refused the bounds' config, measured without it: {refused}",
                    args[0]
                );
                Self::start_with(args, &json!({}))?.map_err(|stderr| {
                    anyhow::anyhow!("cloister {} exited at start: {stderr}", args[0])
                })
            }
        }
    }

    /// The front serving, or what it printed to stderr before exiting.
    fn start_with(
        args: &[&str],
        config: &serde_json::Value,
    ) -> anyhow::Result<Result<Self, String>> {
        let file = tempfile::NamedTempFile::new()?;
        std::fs::write(file.path(), config.to_string())?;
        let log = tempfile::tempfile()?;
        let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let child = cloister_harness::nodes::cloister()
            .args(args)
            .args(["--listen", &address.to_string()])
            .arg("--config")
            .arg(file.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.try_clone()?)
            .spawn()?;
        let mut front = Self {
            child,
            address,
            _config: file,
        };
        // A TCP connect alone would also succeed on a port bound but not yet served: the
        // attack would then measure the backlog. An HTTP answer shows the accept loop runs.
        let settled = eventually(Duration::from_secs(10), || {
            answers_http(address) || !matches!(front.child.try_wait(), Ok(None))
        });
        if let Ok(Some(_)) = front.child.try_wait() {
            return Ok(Err(read_from_start(log)));
        }
        anyhow::ensure!(
            settled,
            "cloister {} never answered on {address}: {}",
            args[0],
            read_from_start(log)
        );
        Ok(Ok(front))
    }
}

/// What a process wrote to `log`.
fn read_from_start(mut log: std::fs::File) -> String {
    let mut text = String::new();
    let _ = log.seek(SeekFrom::Start(0));
    let _ = log.read_to_string(&mut text);
    text
}

/// Whether `address` answers an HTTP request with an HTTP status line, then closes the
/// connection (so it no longer counts against the per-address bound).
fn answers_http(address: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect(address) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let asked = stream.write_all(b"GET / HTTP/1.1\r\nHost: ready\r\nConnection: close\r\n\r\n");
    let mut answer = Vec::new();
    asked.is_ok() && stream.read_to_end(&mut answer).is_ok() && answer.starts_with(b"HTTP/")
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl fmt::Display for Stalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = self.longest_held.map_or_else(
            || "not all closed".to_owned(),
            |d| format!("the others closed, each within {} ms", d.as_millis()),
        );
        write!(
            f,
            "{CONNECTIONS} half-sent heads: {} refused at once, {} closed before the timeout, {} still open {} s after it, {held}",
            self.refused_at_once,
            self.closed_early,
            self.still_open,
            GRACE.as_secs(),
        )
    }
}

impl fmt::Display for Slow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; {}; restart healthy: {}",
            self.stalled,
            cost(&self.seen),
            self.restart_healthy
        )
    }
}
