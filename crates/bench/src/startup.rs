//! `cloister-bench startup`: how long `cloister node` takes from its start to a successful
//! `/upcheck` on its Q2T socket, with an empty store and with many transactions in it (the
//! goal: under 100 ms with 1,000,000, on SQLite and on PostgreSQL).
//!
//! The SQLite store is filled through the store's bulk writer; the PostgreSQL one by
//! `cloister migrate` from it. Each start is timed from the spawn to the first `/upcheck`
//! answered 200, polled every millisecond, then the node is killed; several starts per store.

use std::io::Write;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use cloister_harness::http::Request;
use cloister_harness::nodes::{cloister, NodeDir};
use cloister_harness::postgres::PgCluster;
use serde_json::{json, Value};

/// The goal.
const GOAL: Duration = Duration::from_millis(100);

/// How long one start may take before the bench gives up on it.
const PATIENCE: Duration = Duration::from_secs(30);

/// `cloister-bench startup`'s command line.
#[derive(Debug, Clone, Args)]
pub struct StartupBench {
    /// Transactions in the full stores.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Bytes of each transaction's encoded payload.
    #[arg(long, default_value_t = 256)]
    pub payload_bytes: usize,
    /// Starts per store.
    #[arg(long, default_value_t = 5)]
    pub starts: usize,
}

/// Fills the stores, times the starts, prints a row per store and the goal.
pub fn run(settings: &StartupBench, out: &mut dyn Write) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pg = PgCluster::single();
    let full_sqlite = dir.path().join("full.db");
    let started = Instant::now();
    let filled = crate::migrate::fill_sqlite(&full_sqlite, settings.rows, settings.payload_bytes)?;
    writeln!(
        out,
        "filled SQLite with {} transactions in {:.1} s",
        settings.rows,
        started.elapsed().as_secs_f64()
    )?;
    pg.create_database("empty");
    pg.create_database("full");
    let full_postgres = pg.url("full");
    let copied = cloister()
        .args(["migrate", "--from", &filled, "--to", &full_postgres])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !copied.success() {
        bail!("cloister migrate into PostgreSQL failed");
    }
    let sqlite = |path: &std::path::Path| json!({ "url": format!("jdbc:sqlite:{}", path.display()), "autoCreateTables": true });
    let stores = [
        ("SQLite, empty", sqlite(&dir.path().join("empty.db"))),
        ("SQLite, full", sqlite(&full_sqlite)),
        ("PostgreSQL, empty", pg.jdbc("empty", "", true)),
        ("PostgreSQL, full", pg.jdbc("full", "", true)),
    ];
    writeln!(
        out,
        "\nnode start -> first /upcheck 200 on tm.ipc, {} starts each ({} transactions of {} B when full)",
        settings.starts, settings.rows, settings.payload_bytes
    )?;
    writeln!(
        out,
        "{:<20} {:>10} {:>10} {:>10}",
        "store", "median", "max", "goal"
    )?;
    let mut missed = false;
    for (name, jdbc) in stores {
        let node = NodeDir::new(dir.path(), &name.replace([',', ' '], ""));
        let mut times: Vec<Duration> = (0..settings.starts)
            .map(|_| time_start(&node, &node.config(&[], json!({ "jdbc": jdbc.clone() }))))
            .collect::<anyhow::Result<_>>()?;
        times.sort();
        let (median, max) = (times[times.len() / 2], times[times.len() - 1]);
        let full = name.ends_with("full");
        missed |= full && max >= GOAL;
        writeln!(
            out,
            "{name:<20} {:>7.1} ms {:>7.1} ms {:>10}",
            median.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3,
            if !full {
                "-"
            } else if max < GOAL {
                "met"
            } else {
                "MISSED"
            }
        )?;
    }
    if missed {
        bail!("a start with a full store took {GOAL:?} or more");
    }
    Ok(())
}

/// One start of `node` on `config`: spawn to the first `/upcheck` answered 200.
fn time_start(node: &NodeDir, config: &Value) -> anyhow::Result<Duration> {
    let path = node.dir.join("tessera-config.json");
    std::fs::write(&path, serde_json::to_vec(config)?)?;
    let _ = std::fs::remove_file(node.q2t_socket());
    let started = Instant::now();
    let child = cloister()
        .args(["node", "-configfile"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let mut child = Killed(child);
    let upcheck = Request::new("GET", "/upcheck");
    loop {
        if node.try_q2t(&upcheck).is_ok_and(|r| r.status == 200) {
            return Ok(started.elapsed());
        }
        if let Some(status) = child.0.try_wait()? {
            bail!("the node exited before answering ({status})");
        }
        if started.elapsed() > PATIENCE {
            return Err(anyhow::anyhow!("no /upcheck within {PATIENCE:?}"))
                .context(node.name.clone());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A child killed (and reaped) when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
