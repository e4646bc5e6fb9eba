//! What carries a benchmarked front, the same for the proxy and gateway benchmarks: nothing
//! (calls go straight to the server), this process's byte relay, or a balancer process; what
//! it has spent on the CPU, and how a balancer is stopped.

use std::process::Child;
use std::time::Duration;

use crate::relay::Relay;

/// What carries one front.
pub(crate) enum FrontProcess {
    /// Nothing: the front is the server itself.
    Direct,
    /// A byte relay thread of this process.
    Relay(Relay),
    /// A balancer process (nginx, HAProxy, `cloister proxy` or `cloister gateway`).
    Balancer(Child),
}

impl FrontProcess {
    /// CPU spent so far by the balancer's processes (or the relay's thread); none for direct.
    pub(crate) fn cpu(&self) -> Option<Duration> {
        match self {
            Self::Balancer(child) => cloister_harness::procfs::tree_cpu_time(child.id()),
            Self::Relay(relay) => relay.cpu(),
            Self::Direct => None,
        }
    }

    /// The balancer's process id.
    pub(crate) fn pid(&self) -> Option<u32> {
        match self {
            Self::Balancer(child) => Some(child.id()),
            _ => None,
        }
    }

    /// Stops a balancer and waits for it; whether there was one running. SIGTERM, not
    /// SIGKILL: nginx's master must take its workers down with it (HAProxy in the foreground
    /// stops at once on it).
    pub(crate) fn stop(&mut self) -> bool {
        let Self::Balancer(child) = self else {
            return false;
        };
        cloister_harness::signal::send("TERM", &[child.id()]);
        let _ = child.wait();
        *self = Self::Direct;
        true
    }
}

/// The line an nginx config starts with: as root nginx would run its workers as `nobody`, who
/// can neither open the replicas' 0600 sockets nor write its temp paths here, so they keep the
/// owner's user, as a deployment would with `user`.
pub(crate) fn nginx_user_line() -> &'static str {
    let root =
        std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    if root {
        "user root;\n"
    } else {
        ""
    }
}
