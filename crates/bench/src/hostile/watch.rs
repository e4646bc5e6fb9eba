//! What an attack costs the node under attack, seen from outside: its peak resident memory
//! (`VmHWM`), and how long GoQuorum would wait on `tm.ipc` meanwhile (a `/upcheck` every 20 ms,
//! on a fresh connection each, as a new GoQuorum call would make).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cloister_addr::Endpoint;
use cloister_harness::http::Request;
use cloister_harness::procfs::Memory;

/// What was seen.
#[derive(Debug, Clone, Copy, Default)]
pub struct Seen {
    /// The node's peak RSS since it started, in MiB.
    pub peak_rss_mib: f64,
    /// The slowest `/upcheck`.
    pub worst_upcheck: Duration,
    /// `/upcheck`s that failed or took over a second.
    pub failed_upchecks: usize,
}

/// A running watch.
pub struct Watch {
    pid: u32,
    stop: Arc<AtomicBool>,
    probe: JoinHandle<(Duration, usize)>,
}

impl Watch {
    /// Starts watching the node `pid` and its `/upcheck` at `target`.
    pub fn start(pid: u32, target: Endpoint) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let probe = std::thread::spawn(move || {
            let (mut worst, mut failed) = (Duration::ZERO, 0);
            while !stopped.load(Ordering::Relaxed) {
                let started = Instant::now();
                let ok = Request::new("GET", "/upcheck")
                    .try_send(&target, None)
                    .is_ok_and(|r| r.status == 200);
                let took = started.elapsed();
                worst = worst.max(took);
                if !ok || took > Duration::from_secs(1) {
                    failed += 1;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (worst, failed)
        });
        Self { pid, stop, probe }
    }

    /// Stops and says what was seen.
    pub fn finish(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        let (worst_upcheck, failed_upchecks) = self.probe.join().unwrap_or_default();
        Seen {
            peak_rss_mib: Memory::of(self.pid).map_or(0.0, |m| m.peak_kib as f64 / 1024.0),
            worst_upcheck,
            failed_upchecks,
        }
    }
}
