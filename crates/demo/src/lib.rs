//! `cloister demo`: the HA picture, running on this machine. A party A of two replicas (one key
//! pair, one store) behind `cloister proxy` on A's `tm.ipc` and as A's P2P front, a party B,
//! and the store: a PostgreSQL primary with a synchronous standby when PostgreSQL's server
//! binaries are here, one shared SQLite file otherwise. GoQuorum-shaped traffic (A sends to B,
//! A reads back) runs while [`faults`] kills, hangs and restarts replicas (and, on
//! PostgreSQL, kills the primary and promotes the standby); a line a second shows it live. At
//! the end every acknowledged transaction is read back from both parties, and a [`Summary`]
//! says what was lost: nothing, or the exit status says so.
//!
//! - [`party`]: the processes and their configs (the configs a user would copy, kept with
//!   `--keep`);
//! - [`load`]: the clients and what they saw;
//! - [`faults`]: the schedule;
//! - [`summary`]: the table and its JSON.

pub mod faults;
pub mod load;
pub mod party;
pub mod summary;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use party::StoreChoice;
pub use summary::Summary;

/// What to run.
#[derive(Debug, Clone)]
pub struct DemoSettings {
    /// How long the traffic runs.
    pub duration: Duration,
    /// Which store.
    pub store: StoreChoice,
    /// Where to leave the configs and logs (a temporary directory, removed, otherwise).
    pub keep: Option<PathBuf>,
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// PostgreSQL was asked for and is not here.
    #[error("--store postgres needs PostgreSQL's server binaries: {0} (Debian: apt-get install postgresql)")]
    NoPostgres(String),
    /// A directory or file could not be made.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A piece did not start.
    #[error("{0}")]
    Start(String),
}

/// Runs the demo, writing its live lines to `out`, until the traffic has run or `stop` turns
/// true (Ctrl-C); everything it started is stopped when it returns, however it returns.
pub fn run(
    settings: &DemoSettings,
    out: &mut dyn Write,
    stop: &AtomicBool,
) -> Result<Summary, DemoError> {
    let mut party = party::Party::start(settings, out)?;
    let load = load::Load::start(&party);
    let schedule = faults::Schedule::for_store(party.store_kind(), settings.duration);
    let started = Instant::now();
    let mut applied = Vec::new();
    let mut next_line = Duration::from_secs(1);
    let (mut last_count, mut last_line) = (0, Duration::ZERO);
    while started.elapsed() < settings.duration && !stop.load(Ordering::Relaxed) {
        let now = started.elapsed();
        if let Some(fault) = schedule.due(now, applied.len()) {
            let _ = writeln!(
                out,
                "{:>5.1}s  fault: {}",
                now.as_secs_f64(),
                fault.describe()
            );
            fault.apply(&mut party);
            applied.push((fault, started + now));
        }
        if now >= next_line {
            let counts = load.counts();
            let rate = (counts.requests - last_count) as f64 / (now - last_line).as_secs_f64();
            let _ = writeln!(out, "{}", party.live_line(now, rate, &counts));
            (last_count, last_line) = (counts.requests, now);
            // A fault that took a while (a graceful restart) skips the lines it held up.
            next_line = now + Duration::from_secs(1);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let seen = load.finish();
    // A Ctrl-C at a terminal reaches the nodes too, and they drain and exit: nothing is left
    // to read back from, so an interrupted run is reported unverified, not lossy.
    let lost = if stop.load(Ordering::Relaxed) {
        None
    } else {
        let _ = writeln!(
            out,
            "reading every acknowledged transaction back from A and from B…"
        );
        Some(party.unreadable(&seen.acknowledged).len())
    };
    Ok(Summary::of(&party, &seen, started, &applied, lost))
}
