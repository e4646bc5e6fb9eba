//! Slow headers (slowloris): hundreds of connections that send half a request head and stall,
//! against a node's P2P port, a `cloister proxy` in front of it, and a `cloister gateway`. Each
//! target runs with a 1 s `headerTimeoutMs` and 100 `maxConnectionsPerIp`, so the bounds show
//! within a test's patience.

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

/// Connections opened.
pub const CONNECTIONS: usize = 200;

/// The target's `headerTimeoutMs`.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// The target's `maxConnectionsPerIp`.
pub const PER_IP: usize = 100;

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

/// What the stalled connections achieved against one listener. The first [`PER_IP`]
/// connections are within the per-address cap, the rest over it.
#[derive(Debug, Clone, Copy)]
pub struct Stalled {
    /// Connections over the cap that the listener closed before it closed any within it:
    /// refused on arrival.
    pub refused: usize,
    /// Connections within the cap closed less than the header timeout after they were opened.
    pub closed_early: usize,
    /// The shortest time a connection within the cap was held, once it was closed.
    pub shortest_hold: Option<Duration>,
    /// Connections still open [`GRACE`] after the header timeout.
    pub still_open: usize,
    /// How long after the attack began the first refusal was seen: when the listener was
    /// seen accepting.
    pub first_refusal: Option<Duration>,
    /// Once all were closed, how long after the first refusal the last connection within the
    /// cap was closed. The listener accepted each of those before that refusal (it accepts in
    /// order), so this bounds how long it held any of them, however late it began accepting.
    pub held_after_refusal: Option<Duration>,
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
/// the listener closes them. Every connection is polled after each new one is opened, and
/// every 20 ms once all are, so a close is seen within a poll of when it happened.
pub fn stall(address: SocketAddr, connections: usize) -> std::io::Result<Stalled> {
    let started = Instant::now();
    let mut opened = Vec::with_capacity(connections);
    for index in 0..connections {
        // Before connecting: the listener's timer cannot start earlier.
        let at = Instant::now();
        let mut stream = connect_tcp(&address.to_string(), Some(ATTACK_SOURCE))?;
        let _ = stream.write_all(HALF_HEAD);
        stream.set_nonblocking(true)?;
        opened.push(Tracked {
            stream: Some(stream),
            over_cap: index >= PER_IP,
            opened: at,
            closed: None,
        });
        poll(&mut opened);
    }
    let deadline = Instant::now().max(started + HEADER_TIMEOUT) + GRACE;
    while opened.iter().any(|c| c.stream.is_some()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        poll(&mut opened);
    }
    Ok(Stalled::of(&opened, started))
}

/// One connection of the attack.
struct Tracked {
    /// `None` once the listener closed it.
    stream: Option<TcpStream>,
    /// Opened after [`PER_IP`] others.
    over_cap: bool,
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

impl Stalled {
    /// What became of `connections`, opened from `started` on. Refusals are told from
    /// timeouts by order, not by their time since opening: a listener that begins accepting
    /// late (a loaded machine) refuses late too, but still before any timeout.
    fn of(connections: &[Tracked], started: Instant) -> Self {
        let (over, within): (Vec<_>, Vec<_>) = connections.iter().partition(|c| c.over_cap);
        let first_timeout = within
            .iter()
            .filter_map(|c| {
                c.closed
                    .filter(|closed| *closed - c.opened >= HEADER_TIMEOUT)
            })
            .min();
        let refusals: Vec<Instant> = over
            .iter()
            .filter_map(|c| c.closed)
            .filter(|closed| first_timeout.is_none_or(|first| *closed < first))
            .collect();
        let first_refusal = refusals.iter().min().copied();
        let still_open = connections.iter().filter(|c| c.closed.is_none()).count();
        let last_timeout = within.iter().filter_map(|c| c.closed).max();
        Self {
            refused: refusals.len(),
            shortest_hold: within
                .iter()
                .filter_map(|c| c.closed.map(|closed| closed - c.opened))
                .min(),
            closed_early: within
                .iter()
                .filter(|c| {
                    c.closed
                        .is_some_and(|closed| closed - c.opened < HEADER_TIMEOUT)
                })
                .count(),
            still_open,
            first_refusal: first_refusal.map(|first| first - started),
            held_after_refusal: match (still_open, first_refusal, last_timeout) {
                (0, Some(first), Some(last)) => Some(last.saturating_duration_since(first)),
                _ => None,
            },
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
        write!(
            f,
            "{CONNECTIONS} half-sent heads, {PER_IP} allowed: {} refused (the first after {} ms), {} closed before the timeout (the shortest hold {} ms), {} still open {} s after it, the last allowed closed {} ms after the first refusal",
            self.refused,
            ms(self.first_refusal),
            self.closed_early,
            ms(self.shortest_hold),
            self.still_open,
            GRACE.as_secs(),
            ms(self.held_after_refusal),
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
