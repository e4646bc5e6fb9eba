//! What the run came to: the table printed at the end and its JSON (`--json`).

use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::faults::Fault;
use crate::load::Seen;
use crate::party::Party;

/// The longest a fault's gap is looked for after it.
const GAP_WINDOW: Duration = Duration::from_secs(10);

/// The run's outcome.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// `sqlite` or `postgres`.
    pub store: &'static str,
    /// Requests made (sends and read-backs).
    pub requests: usize,
    /// Sends acknowledged (201).
    pub acknowledged: usize,
    /// Requests that failed as GoQuorum would see them (an error, or an answer after 5 s).
    pub client_errors: usize,
    /// The first few of them.
    pub first_errors: Vec<String>,
    /// Acknowledged sends that A or B could not read back at the end (`None`: not read back,
    /// the run was interrupted).
    pub lost: Option<usize>,
    /// Each fault injected, with the longest pause between acknowledged sends it caused.
    pub faults: Vec<FaultGap>,
    /// Whether Ctrl-C cut the run short (then nothing was read back).
    pub interrupted: bool,
    /// Where the configs and logs are.
    pub directory: String,
}

/// One fault and its gap.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultGap {
    /// What it did.
    pub fault: &'static str,
    /// Seconds into the run.
    pub at_seconds: f64,
    /// The longest pause between two acknowledged sends around it, in milliseconds.
    pub gap_ms: Option<u64>,
}

impl Summary {
    /// The summary of a run on `party` that started at `started`.
    pub fn of(
        party: &Party,
        seen: &Seen,
        started: Instant,
        applied: &[(Fault, Instant)],
        lost: Option<usize>,
    ) -> Self {
        let mut acks = seen.acknowledged_at.clone();
        acks.sort();
        let faults = applied
            .iter()
            .enumerate()
            .map(|(i, (fault, at))| {
                let until = applied
                    .get(i + 1)
                    .map_or(*at + GAP_WINDOW, |(_, next)| (*next).min(*at + GAP_WINDOW));
                FaultGap {
                    fault: fault.describe(),
                    at_seconds: at.duration_since(started).as_secs_f64(),
                    gap_ms: gap(&acks, *at, until).map(|g| g.as_millis() as u64),
                }
            })
            .collect();
        Self {
            store: match party.store_kind() {
                crate::party::StoreKind::Sqlite => "sqlite",
                crate::party::StoreKind::Postgres => "postgres",
            },
            requests: seen.requests,
            acknowledged: seen.acknowledged.len(),
            client_errors: seen.errors,
            first_errors: seen.first_errors.clone(),
            lost,
            faults,
            interrupted: lost.is_none(),
            directory: party.dir.display().to_string(),
        }
    }
}

/// The longest pause between consecutive acknowledgements (sorted `acks`) from the last one
/// before `from` to the last one before `until`.
fn gap(acks: &[Instant], from: Instant, until: Instant) -> Option<Duration> {
    let first = acks.iter().rposition(|a| *a <= from)?;
    let window: Vec<Instant> = acks[first..]
        .iter()
        .copied()
        .take_while(|a| *a <= until)
        .collect();
    window.windows(2).map(|pair| pair[1] - pair[0]).max()
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "\nsummary ({} store{})",
            self.store,
            if self.interrupted {
                ", interrupted"
            } else {
                ""
            }
        )?;
        writeln!(f, "  requests               {:>8}", self.requests)?;
        writeln!(f, "  acknowledged sends     {:>8}", self.acknowledged)?;
        writeln!(f, "  client-visible errors  {:>8}", self.client_errors)?;
        match self.lost {
            Some(lost) => writeln!(
                f,
                "  transactions lost      {lost:>8}  (every acknowledged send read back from A and from B)"
            )?,
            None => writeln!(f, "  transactions lost             ?  (interrupted: not read back)")?,
        }
        writeln!(f, "  {:<58} {:>8} {:>10}", "fault", "at", "gap")?;
        for fault in &self.faults {
            let gap = fault
                .gap_ms
                .map_or_else(|| "-".into(), |g| format!("{g} ms"));
            writeln!(
                f,
                "  {:<58} {:>7.1}s {:>10}",
                fault.fault, fault.at_seconds, gap
            )?;
        }
        for error in &self.first_errors {
            writeln!(f, "  error: {error}")?;
        }
        write!(f, "  configs and logs: {}", self.directory)
    }
}
