//! `cloister-bench proxy`'s command line, and the budget of a steady-state cell it gives.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::call::CallKind;
use crate::load::Budget;

/// `cloister-bench proxy`'s command line.
#[derive(Debug, Clone, Args)]
pub struct ProxyBench {
    /// Concurrency levels of the steady-state part: keep-alive connections sending back to back.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pub concurrency: Vec<usize>,

    /// Seconds per steady-state cell (one call, one front, one level).
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,

    /// Run each steady-state cell for this many requests instead of for `--seconds`.
    #[arg(long, value_name = "N")]
    pub requests: Option<usize>,

    /// Unmeasured requests through each front before each cell.
    #[arg(long, default_value_t = 100)]
    pub warmup: usize,

    /// Size of each `/send` payload in bytes.
    #[arg(long, default_value_t = 1024)]
    pub payload_bytes: usize,

    /// Worker threads for the driver's own runtime.
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,

    /// Workers sending `/send` during a fault run.
    #[arg(long, default_value_t = 8)]
    pub fault_concurrency: usize,

    /// Length of a fault run in seconds (the fault comes at a third of it). 0 skips part 2.
    #[arg(long, default_value_t = 9.0)]
    pub fault_seconds: f64,

    /// The nginx binary.
    #[arg(long, default_value = "nginx")]
    pub nginx: PathBuf,

    /// The HAProxy binary.
    #[arg(long, default_value = "haproxy")]
    pub haproxy: PathBuf,

    /// Rounds per steady-state cell: the cell's budget is split into this many slices per
    /// front, run in rotating order (direct, relay, nginx, haproxy, cloister; then relay,
    /// nginx, haproxy, cloister, direct; …) so that drift on a shared machine cannot favour whichever front
    /// runs last.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,

    /// Steady state only: nginx, HAProxy and cloister forward to replica 1 alone, as direct and the
    /// relay do, so what they add over direct is their hop and nothing else (two replicas on
    /// one store and two cores are slower than one). Part 2, which needs a second replica to
    /// fail over to, is skipped.
    #[arg(long)]
    pub one_replica: bool,

    /// The calls of the steady-state part.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "upcheck,send,send+key"
    )]
    pub calls: Vec<CallKind>,
}

impl ProxyBench {
    /// One steady-state cell's budget for each front, all rounds together.
    pub(super) fn budget(&self) -> Budget {
        match self.requests {
            Some(n) => Budget::Requests(n),
            None => Budget::For(Duration::from_secs_f64(self.seconds.max(0.0))),
        }
    }

    /// Round `round`'s slice of a cell's budget (see [`ProxyBench::rounds`]); request counts
    /// add up to the cell's exactly.
    pub(super) fn slice(&self, round: usize) -> Budget {
        let rounds = self.rounds.max(1);
        match self.budget() {
            Budget::Requests(n) => Budget::Requests(n / rounds + usize::from(round < n % rounds)),
            Budget::For(duration) => Budget::For(duration / u32::try_from(rounds).unwrap_or(1)),
        }
    }
}
