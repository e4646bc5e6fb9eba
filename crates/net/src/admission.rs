//! Which connections a listener takes: at most `maxConnections` at once, and at most
//! `maxConnectionsPerIp` from one address, so no one caller can hold every file descriptor a
//! process has. A connection over the bound is closed as soon as it is accepted; one within
//! it carries a [`Permit`] that gives its place back when dropped. [`ListenerLimits`] adds how
//! long an idle TCP connection may keep its place.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::listen::Bound;

/// Default `maxConnections`: far above what a consortium's peers and a node's GoQuorum clients
/// hold, far below the open-file limit the process raises itself to.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Default `maxConnectionsPerIp`: a peer needs a handful (Tessera pools a few), a proxy in
/// front of replicas one per client connection it relays.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 256;

/// Default `headerTimeoutMs` on TCP listeners: how long a connection may take to send a whole
/// request head once it is idle. Generous for a peer across the internet, short enough that
/// half-sent requests cannot pile up. Unix sockets have none: GoQuorum keeps its connections
/// idle indefinitely.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Which connections one listener admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Connections open at once from one IP address (TCP only).
    pub max_per_ip: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
        }
    }
}

/// The names every Cloister config gives a listener's bounds (node `properties`, proxy
/// `connections`, gateway top level).
pub mod member {
    /// `maxConnections`: [`super::ConnectionLimits::max_connections`].
    pub const MAX_CONNECTIONS: &str = "maxConnections";
    /// `maxConnectionsPerIp`: [`super::ConnectionLimits::max_per_ip`].
    pub const MAX_CONNECTIONS_PER_IP: &str = "maxConnectionsPerIp";
    /// `headerTimeoutMs`: [`super::ListenerLimits::header_timeout`].
    pub const HEADER_TIMEOUT_MS: &str = "headerTimeoutMs";
}

impl ConnectionLimits {
    /// The config name of a bound set to 0, if any: such a listener would refuse every
    /// connection, so configs refuse it.
    pub fn zero_bound(&self) -> Option<&'static str> {
        if self.max_connections == 0 {
            Some(member::MAX_CONNECTIONS)
        } else if self.max_per_ip == 0 {
            Some(member::MAX_CONNECTIONS_PER_IP)
        } else {
            None
        }
    }

    /// No bound at all (tests and the benchmark's byte relay).
    pub const UNLIMITED: Self = Self {
        max_connections: usize::MAX,
        max_per_ip: usize::MAX,
    };
}

/// The bounds of one listener, as every Cloister server configures them (`maxConnections`,
/// `maxConnectionsPerIp`, `headerTimeoutMs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Which connections it admits.
    pub connections: ConnectionLimits,
    /// `headerTimeoutMs`: how long a TCP connection may take to send a whole request head,
    /// counted from the moment it is idle (accepted, or its last answer written), so it is the
    /// header-read and the idle keep-alive timeout at once. `None`: no timeout.
    pub header_timeout: Option<Duration>,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self {
            connections: ConnectionLimits::default(),
            header_timeout: Some(DEFAULT_HEADER_TIMEOUT),
        }
    }
}

impl ListenerLimits {
    /// A configured `headerTimeoutMs`: 0 means no timeout.
    pub fn header_timeout_from_millis(millis: u64) -> Option<Duration> {
        (millis > 0).then(|| Duration::from_millis(millis))
    }

    /// These limits as they apply to `bound`: a unix socket never gets the header timeout,
    /// since GoQuorum keeps its `tm.ipc` connections idle indefinitely and fails a `/send` on
    /// one closed under it, and only the socket's owner can connect.
    pub fn for_bound(self, bound: &Bound) -> Self {
        match bound {
            Bound::Tcp(_) => self,
            Bound::Unix(..) => Self {
                header_timeout: None,
                ..self
            },
        }
    }
}

/// One listener's open connections, shared by every loop that accepts from it.
#[derive(Debug, Clone)]
pub struct Admission {
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    limits: ConnectionLimits,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The listener holds `maxConnections` already.
    #[error("the listener holds its maximum of {0} connections")]
    Full(usize),
    /// The caller's address holds `maxConnectionsPerIp` already.
    #[error("{0} holds its maximum of {1} connections")]
    PerIp(IpAddr, usize),
}

impl Admission {
    /// A listener admitting within `limits`.
    pub fn new(limits: ConnectionLimits) -> Self {
        Self {
            state: Arc::new(State {
                limits,
                open: Mutex::new(Open::default()),
            }),
        }
    }

    /// A place for a connection from `ip` (`None`: a unix socket), or why there is none.
    pub fn admit(&self, ip: Option<IpAddr>) -> Result<Permit, Refusal> {
        let limits = self.state.limits;
        let mut open = self.open();
        if open.total >= limits.max_connections {
            return Err(Refusal::Full(limits.max_connections));
        }
        if let Some(ip) = ip {
            let from_ip = open.by_ip.entry(ip).or_default();
            if *from_ip >= limits.max_per_ip {
                return Err(Refusal::PerIp(ip, limits.max_per_ip));
            }
            *from_ip += 1;
        }
        open.total += 1;
        Ok(Permit {
            state: self.state.clone(),
            ip,
        })
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.open().total
    }

    fn open(&self) -> MutexGuard<'_, Open> {
        self.state.open()
    }
}

impl State {
    fn open(&self) -> MutexGuard<'_, Open> {
        // Counts stay consistent even if a holder panicked: every change is one statement.
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A connection's place; given back when dropped.
#[derive(Debug)]
pub struct Permit {
    state: Arc<State>,
    ip: Option<IpAddr>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self.state.open();
        open.total = open.total.saturating_sub(1);
        if let Some(ip) = self.ip {
            if let Some(from_ip) = open.by_ip.get_mut(&ip) {
                *from_ip -= 1;
                if *from_ip == 0 {
                    open.by_ip.remove(&ip);
                }
            }
        }
    }
}

/// Raises the process's open-file soft limit to its hard limit (often 1024 against 524288),
/// so the connection bounds, not the kernel, decide what a flood of connections costs.
/// Returns the soft limit now in force.
pub fn raise_open_file_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_and_the_per_address_bounds_hold_and_dropped_permits_give_back() {
        let admission = Admission::new(ConnectionLimits {
            max_connections: 3,
            max_per_ip: 2,
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = admission.admit(Some(a)).unwrap();
        let _second = admission.admit(Some(a)).unwrap();
        assert_eq!(admission.admit(Some(a)).unwrap_err(), Refusal::PerIp(a, 2));
        let _third = admission.admit(Some(b)).unwrap();
        assert_eq!(admission.admit(None).unwrap_err(), Refusal::Full(3));
        drop(first);
        assert_eq!(admission.open_connections(), 2);
        let _again = admission.admit(Some(a)).unwrap();
        assert_eq!(admission.admit(Some(b)).unwrap_err(), Refusal::Full(3));
    }
}
