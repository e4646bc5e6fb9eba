//! Slow headers (slowloris): hundreds of connections that send half a request head and stall,
//! against a node's P2P port, a `cloister proxy` in front of it, and a `cloister gateway`.
//! Each target is attacked twice, once per bound, so that neither measurement depends on how
//! fast this machine opens connections:
//!
//! - **the per-address cap**: [`CONNECTIONS`] connections against a listener allowing
//!   [`PER_IP`] per address and a header timeout far longer than the attack, so every
//!   connection it closes was refused, and every one it keeps was admitted;
//! - **the header timeout**: [`PER_IP`] connections (all within the cap) against a listener
//!   with a [`HEADER_TIMEOUT`] of 1 s, each timed from its own opening.

use std::fmt;
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use cloister_addr::Endpoint;
use cloister_harness::http::{connect_tcp, eventually, Request};
use cloister_harness::nodes::free_port;
use serde_json::json;

use super::watch::{Seen, Watch};
use super::{cost, Victim};

/// Connections opened against the cap.
pub const CONNECTIONS: usize = 200;

/// The target's `maxConnectionsPerIp`.
pub const PER_IP: usize = 100;

/// The target's `headerTimeoutMs` in the timeout attack.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// The target's `headerTimeoutMs` in the cap attack: no connection times out while the
/// attack is watched.
const CAP_HEADER_TIMEOUT: Duration = Duration::from_secs(120);

/// How long the cap attack waits for the listener to refuse every connection over the cap.
const REFUSAL_PATIENCE: Duration = Duration::from_secs(10);

/// How long the cap attack then goes on watching for a connection within the cap being closed.
const SETTLE: Duration = Duration::from_millis(300);

/// How long after the header timeout a connection still open counts as kept.
const GRACE: Duration = Duration::from_secs(2);

/// Where the attack comes from: an address of its own, as another organisation's host has,
/// so that the per-address cap counts the attack alone (a node's connections to itself come
/// from 127.0.0.1).
const ATTACK_SOURCE: &str = "127.0.0.3";

/// Where the readiness probe comes from: not the attack's address.
const PROBE_SOURCE: &str = "127.0.0.2";

/// Half a head: the listener must wait for the rest, or give up on it.
const HALF_HEAD: &[u8] = b"POST /push HTTP/1.1\r\nHost: victim\r\nContent-Le";

/// The two attacks' results against one listener.
#[derive(Debug, Clone, Copy)]
pub struct Stalled {
    /// Against the per-address cap.
    pub capped: Capped,
    /// Against the header timeout.
    pub timed: Timed,
}

/// What [`CONNECTIONS`] stalled connections achieved against the per-address cap. The header
/// timeout is longer than the attack, so every close is a refusal. The listener may take
/// connections in any order (a proxy's workers accept side by side), so what counts is how
/// many it kept, not which.
#[derive(Debug, Clone, Copy)]
pub struct Capped {
    /// How long opening every connection took.
    pub opened_in: Duration,
    /// Connections the listener closed: refused.
    pub refused: usize,
    /// How long after the attack began the last refusal was seen (`None`: none was).
    pub last_refusal: Option<Duration>,
}

impl Capped {
    /// Connections the listener kept.
    pub fn kept(&self) -> usize {
        CONNECTIONS - self.refused
    }
}

/// What [`PER_IP`] stalled connections (all within the cap) achieved against the header
/// timeout, each timed from its own opening: the listener's timer cannot start earlier.
#[derive(Debug, Clone, Copy)]
pub struct Timed {
    /// Connections closed less than the header timeout after they were opened.
    pub closed_early: usize,
    /// The shortest time a connection was held, among those closed.
    pub shortest_hold: Option<Duration>,
    /// The longest time a connection was held, among those closed.
    pub longest_hold: Option<Duration>,
    /// Connections still open [`GRACE`] after their header timeout.
    pub still_open: usize,
}

/// The attack on a node's P2P port.
#[derive(Debug, Clone, Copy)]
pub struct Slow {
    /// Memory and `tm.ipc` latency during the cap attack (the most connections).
    pub seen: Seen,
    /// What the connections achieved.
    pub stalled: Stalled,
    /// Whether the node, restarted on its data, came back healthy.
    pub restart_healthy: bool,
}

/// The bounds with `header_timeout` as a node's P2P `properties` spell them (strings, as
/// Tessera's properties are).
fn node_bounds(header_timeout: Duration) -> serde_json::Value {
    json!({
        "headerTimeoutMs": header_timeout.as_millis().to_string(),
        "maxConnectionsPerIp": PER_IP.to_string(),
    })
}

/// The bounds with `header_timeout` as the proxy's `connections` and the gateway's top level
/// spell them (numbers).
fn front_bounds(header_timeout: Duration) -> serde_json::Value {
    json!({
        "headerTimeoutMs": header_timeout.as_millis(),
        "maxConnectionsPerIp": PER_IP,
    })
}

/// Runs both attacks on a node's P2P port.
pub fn run() -> anyhow::Result<Slow> {
    let mut victim = Victim::start(node_bounds(CAP_HEADER_TIMEOUT));
    let watch = Watch::start(victim.node.pid(), victim.dir.q2t());
    let capped = cap(victim.dir.p2p)?;
    let seen = watch.finish();
    let restart_healthy = victim.restart_is_healthy();
    drop(victim);
    let timed = time_out(Victim::start(node_bounds(HEADER_TIMEOUT)).dir.p2p)?;
    Ok(Slow {
        seen,
        stalled: Stalled { capped, timed },
        restart_healthy,
    })
}

/// Runs both attacks on a `cloister proxy --role p2p` in front of a node, with the bounds in
/// its config file's `connections`.
pub fn run_on_proxy() -> anyhow::Result<Stalled> {
    let victim = Victim::start(json!({}));
    let upstream = format!("http://{}", victim.dir.p2p);
    let args = ["proxy", "--role", "p2p", "--upstream", &upstream];
    let on = |timeout| Front::start(&args, &json!({ "connections": front_bounds(timeout) }));
    Ok(Stalled {
        capped: cap(on(CAP_HEADER_TIMEOUT)?.address)?,
        timed: time_out(on(HEADER_TIMEOUT)?.address)?,
    })
}

/// Runs both attacks on a `cloister gateway`, with the bounds at its config file's top level.
/// Its upstream need not answer: the gateway listens whatever its upstreams' health.
pub fn run_on_gateway() -> anyhow::Result<Stalled> {
    let upstream = format!("http://127.0.0.1:{}", free_port());
    let args = ["gateway", "--upstream", &upstream];
    let on = |timeout| Front::start(&args, &front_bounds(timeout));
    Ok(Stalled {
        capped: cap(on(CAP_HEADER_TIMEOUT)?.address)?,
        timed: time_out(on(HEADER_TIMEOUT)?.address)?,
    })
}

/// The cap attack on `address`: opens [`CONNECTIONS`], waits until the listener has closed
/// all those over the cap (or [`REFUSAL_PATIENCE`] passes), then watches a little longer for
/// any more it closes.
fn cap(address: SocketAddr) -> std::io::Result<Capped> {
    let started = Instant::now();
    let mut opened = open(address, CONNECTIONS)?;
    let opened_in = started.elapsed();
    let over_cap = CONNECTIONS - PER_IP;
    let closed = |opened: &[Tracked]| opened.iter().filter(|c| c.closed.is_some()).count();
    let patience = Instant::now() + REFUSAL_PATIENCE;
    while closed(&opened) < over_cap && Instant::now() < patience {
        std::thread::sleep(Duration::from_millis(20));
        poll(&mut opened);
    }
    std::thread::sleep(SETTLE);
    poll(&mut opened);
    Ok(Capped {
        opened_in,
        refused: closed(&opened),
        last_refusal: opened
            .iter()
            .filter_map(|c| c.closed)
            .max()
            .map(|last| last - started),
    })
}

/// The timeout attack on `address`: opens [`PER_IP`] connections and watches each until it
/// is closed or [`GRACE`] has passed after its header timeout.
fn time_out(address: SocketAddr) -> std::io::Result<Timed> {
    let mut opened = open(address, PER_IP)?;
    let deadline = opened
        .iter()
        .map(|c| c.opened)
        .max()
        .unwrap_or_else(Instant::now)
        + HEADER_TIMEOUT
        + GRACE;
    while opened.iter().any(|c| c.stream.is_some()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        poll(&mut opened);
    }
    let holds = || {
        opened
            .iter()
            .filter_map(|c| c.closed.map(|closed| closed - c.opened))
    };
    Ok(Timed {
        closed_early: holds().filter(|hold| *hold < HEADER_TIMEOUT).count(),
        shortest_hold: holds().min(),
        longest_hold: holds().max(),
        still_open: opened.iter().filter(|c| c.closed.is_none()).count(),
    })
}

/// Opens `connections` connections to `address`, each sending half a head. Every connection
/// is polled after each new one is opened, so a close is seen within a poll of when it
/// happened.
fn open(address: SocketAddr, connections: usize) -> std::io::Result<Vec<Tracked>> {
    let mut opened = Vec::with_capacity(connections);
    for _ in 0..connections {
        // Before connecting: the listener's timer cannot start earlier.
        let at = Instant::now();
        let mut stream = connect_tcp(&address.to_string(), Some(ATTACK_SOURCE))?;
        let _ = stream.write_all(HALF_HEAD);
        stream.set_nonblocking(true)?;
        opened.push(Tracked {
            stream: Some(stream),
            opened: at,
            closed: None,
        });
        poll(&mut opened);
    }
    Ok(opened)
}

/// One connection of the attack.
struct Tracked {
    /// `None` once the listener closed it.
    stream: Option<TcpStream>,
    opened: Instant,
    /// When it was seen closed.
    closed: Option<Instant>,
}

/// Notes every connection closed since the last poll. Each close is timed when it is seen
/// (not at the start of the poll, which could be before it happened).
fn poll(connections: &mut [Tracked]) {
    for connection in connections {
        if connection.stream.as_mut().is_some_and(is_closed) {
            connection.stream = None;
            connection.closed = Some(Instant::now());
        }
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

/// Whether `address` answers an HTTP request with an HTTP response. From another loopback
/// address than the attack's: the listener gives this connection's place back only after the
/// client sees it closed, and the attack must find all [`PER_IP`] places free.
fn answers_http(address: SocketAddr) -> bool {
    Request::new("GET", "/")
        .send_from(&Endpoint::from(address), PROBE_SOURCE)
        .is_ok()
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl fmt::Display for Stalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms =
            |d: Option<Duration>| d.map_or_else(|| "-".to_owned(), |d| d.as_millis().to_string());
        let (capped, timed) = (&self.capped, &self.timed);
        write!(
            f,
            "{CONNECTIONS} half-sent heads (opened in {} ms), {PER_IP} allowed: {} refused (the last after {} ms), {} kept; then {PER_IP} against a {} ms timeout: {} closed before it, held {}-{} ms, {} still open {} s after it",
            capped.opened_in.as_millis(),
            capped.refused,
            ms(capped.last_refusal),
            capped.kept(),
            HEADER_TIMEOUT.as_millis(),
            timed.closed_early,
            ms(timed.shortest_hold),
            ms(timed.longest_hold),
            timed.still_open,
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
