//! Slow headers: hundreds of connections to the P2P port that send half a request head and
//! stall (slowloris). The victim runs with a 1 s `headerTimeoutMs` and 100
//! `maxConnectionsPerIp`, so the bounds show within a test's patience.

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use super::watch::{Seen, Watch};
use super::{cost, Victim};

/// Connections opened.
pub const CONNECTIONS: usize = 200;

/// The victim's `headerTimeoutMs`.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// The victim's `maxConnectionsPerIp`.
pub const PER_IP: usize = 100;

/// What the stalled connections achieved.
#[derive(Debug, Clone)]
pub struct Slow {
    /// Memory and `tm.ipc` latency meanwhile.
    pub seen: Seen,
    /// Connections closed within 200 ms of their first bytes (over the per-address bound).
    pub refused_at_once: usize,
    /// Connections still open two seconds after the header timeout.
    pub still_open: usize,
    /// When the last connection the node took was closed, if it was.
    pub all_closed_after: Option<Duration>,
}

/// Runs the attack with `connections` connections.
pub fn run(connections: usize) -> anyhow::Result<Slow> {
    let properties = json!({
        "headerTimeoutMs": HEADER_TIMEOUT.as_millis().to_string(),
        "maxConnectionsPerIp": PER_IP.to_string(),
    });
    let victim = Victim::start(properties);
    let watch = Watch::start(victim.node.pid(), victim.dir.q2t());
    let started = Instant::now();
    let mut open: Vec<(TcpStream, Instant)> = Vec::new();
    for _ in 0..connections {
        let mut stream = TcpStream::connect(victim.dir.p2p)?;
        // Half a head: the node must wait for the rest, or give up on it.
        let _ = stream.write_all(b"POST /push HTTP/1.1\r\nHost: victim\r\nContent-Le");
        stream.set_nonblocking(true)?;
        open.push((stream, Instant::now()));
    }
    let (mut refused_at_once, mut last_closed) = (0, None);
    let deadline = started + HEADER_TIMEOUT + Duration::from_secs(2);
    while !open.is_empty() && Instant::now() < deadline {
        open.retain_mut(|(stream, opened)| {
            let mut byte = [0u8; 1];
            let closed = match stream.read(&mut byte) {
                Ok(0) => true,
                Ok(_) => false,
                Err(error) => error.kind() != ErrorKind::WouldBlock,
            };
            if closed {
                if opened.elapsed() < Duration::from_millis(200) {
                    refused_at_once += 1;
                } else {
                    last_closed = Some(started.elapsed());
                }
            }
            !closed
        });
        std::thread::sleep(Duration::from_millis(20));
    }
    let still_open = open.len();
    let seen = watch.finish();
    Ok(Slow {
        seen,
        refused_at_once,
        still_open,
        all_closed_after: (still_open == 0).then_some(last_closed).flatten(),
    })
}

impl fmt::Display for Slow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let closed = self.all_closed_after.map_or_else(
            || "not all".to_owned(),
            |d| format!("all by {} ms", d.as_millis()),
        );
        write!(
            f,
            "{CONNECTIONS} half-sent heads: {} refused at once, {} still open {} s after the timeout, {closed} closed; {}",
            self.refused_at_once,
            self.still_open,
            2,
            cost(&self.seen)
        )
    }
}
