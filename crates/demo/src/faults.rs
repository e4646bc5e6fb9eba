//! The faults the demo injects, at fixed fractions of its run: a replica killed and later
//! started again, a replica frozen and woken, a replica restarted gracefully (SIGTERM, drain),
//! and on PostgreSQL the primary killed and the standby promoted.

use std::time::Duration;

use crate::party::{Party, StoreKind};

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL of replica `a1`.
    KillReplica,
    /// `a1` started again.
    RestartReplica,
    /// SIGSTOP of replica `a2`.
    HangReplica,
    /// SIGCONT of `a2`.
    ResumeReplica,
    /// SIGTERM of `a1`: it drains and exits; then it is started again.
    RollingRestart,
    /// SIGKILL of the PostgreSQL primary, then the standby promoted.
    FailOverDatabase,
}

impl Fault {
    /// What the fault does, for the live lines and the summary.
    pub fn describe(self) -> &'static str {
        match self {
            Self::KillReplica => "replica a1 SIGKILLed",
            Self::RestartReplica => "replica a1 started again",
            Self::HangReplica => "replica a2 frozen (SIGSTOP)",
            Self::ResumeReplica => "replica a2 woken (SIGCONT)",
            Self::RollingRestart => "replica a1 restarted gracefully (SIGTERM, drain, start)",
            Self::FailOverDatabase => "PostgreSQL primary SIGKILLed, standby promoted",
        }
    }

    /// Applies the fault to `party`.
    pub fn apply(self, party: &mut Party) {
        match self {
            Self::KillReplica => {
                if let Some(mut node) = party.running[0].take() {
                    node.kill();
                }
            }
            Self::RestartReplica => party.restart(0),
            Self::HangReplica => {
                if let Some(node) = &party.running[1] {
                    node.hang();
                }
            }
            Self::ResumeReplica => {
                if let Some(node) = &party.running[1] {
                    node.resume();
                }
            }
            Self::RollingRestart => {
                if let Some(mut node) = party.running[0].take() {
                    node.terminate();
                    let _ = node.wait_for_exit(Duration::from_secs(15));
                }
                party.restart(0);
            }
            Self::FailOverDatabase => {
                if let Some(pg) = &mut party.pg {
                    let primary = pg.primary();
                    pg.crash(primary);
                    pg.promote(1 - primary);
                }
            }
        }
    }
}

/// When each fault comes, as fractions of the run.
pub struct Schedule {
    at: Vec<(Duration, Fault)>,
}

impl Schedule {
    /// The schedule for a run of `duration` on `store`.
    pub fn for_store(store: StoreKind, duration: Duration) -> Self {
        let mut fractions = vec![
            (0.12, Fault::KillReplica),
            (0.24, Fault::RestartReplica),
            (0.36, Fault::HangReplica),
            (0.46, Fault::ResumeReplica),
            (0.58, Fault::RollingRestart),
        ];
        if store == StoreKind::Postgres {
            fractions.push((0.74, Fault::FailOverDatabase));
        }
        Self {
            at: fractions
                .into_iter()
                .map(|(fraction, fault)| (duration.mul_f64(fraction), fault))
                .collect(),
        }
    }

    /// The fault due at `now`, given that `applied` have been applied.
    pub fn due(&self, now: Duration, applied: usize) -> Option<Fault> {
        self.at
            .get(applied)
            .filter(|(at, _)| now >= *at)
            .map(|(_, fault)| *fault)
    }
}
