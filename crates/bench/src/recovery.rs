//! `cloister-bench recovery`: `cloister node --recover` of many transactions from one peer.
//!
//! A sends `--transactions` to B (GoQuorum-shaped `/send`, as the other benchmarks drive it);
//! then B is killed, its store deleted, and B started again with `--recover`: it asks A, which
//! resends everything B is party to in `/pushBatch` deliveries, stages it, and stores it. The
//! figures are the ones the command prints itself (its progress lines and its last line), with
//! both processes' peak RSS read from `/proc` while it runs. Goal (issue 17): at least 5,000
//! transactions/s, peak RSS under 128 MiB on both sides.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use cloister_addr::Endpoint;
use cloister_harness::nodes::cloister;
use cloister_harness::procfs::Memory;
use serde_json::json;

use crate::cluster::Cluster;
use crate::load::{client_runtime, run_level, Budget, Check};
use crate::scenario::Requests;

const RATE_GOAL: f64 = 5_000.0;
const RSS_GOAL_MIB: f64 = 128.0;

/// `cloister-bench recovery`'s command line.
#[derive(Debug, Clone, Args)]
pub struct RecoveryBench {
    /// Transactions A sends to B before B loses its store.
    #[arg(long, default_value_t = 100_000)]
    pub transactions: usize,
    /// Payload bytes of each.
    #[arg(long, default_value_t = 1024)]
    pub payload_bytes: usize,
}

/// Fills B through A, recovers B, prints B's own figures, both peaks and the goals.
pub fn run(settings: &RecoveryBench, out: &mut dyn Write) -> anyhow::Result<()> {
    let cluster = Cluster::start(None, json!({}))?;
    cluster.wait_for_discovery()?;
    let runtime = client_runtime(1)?;
    let filled = Instant::now();
    let outcome = runtime.block_on(run_level(
        &Endpoint::Unix(cluster.q2t_socket()),
        Requests::send(settings.payload_bytes, cluster.recipient_keys(1)),
        32,
        Budget::Requests(settings.transactions),
        Check::Key,
    ))?;
    if outcome.errors > 0 {
        bail!("{} sends failed while filling", outcome.errors);
    }
    writeln!(
        out,
        "A sent B {} transactions of {} B in {:.1} s",
        settings.transactions,
        settings.payload_bytes,
        filled.elapsed().as_secs_f64()
    )?;
    let b = &cluster.recipients()[0];
    cloister_harness::signal::send("KILL", &[b.process.pid()]);
    std::thread::sleep(Duration::from_millis(200));
    for entry in std::fs::read_dir(&b.dir.dir)? {
        let path = entry?.path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("db.sqlite"))
        {
            std::fs::remove_file(path)?;
        }
    }
    let started = Instant::now();
    let mut child = cloister()
        .args(["node", "-configfile"])
        .arg(b.dir.dir.join("tessera-config.json"))
        .arg("--recover")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id();
    let stdout = child.stdout.take().context("no stdout")?;
    let lines = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter(|l| l.starts_with("recovery:"))
            .collect::<Vec<_>>()
    });
    let (mut peak_b, mut peak_a) = (0, 0);
    let a = cluster.sender().process.pid();
    while child.try_wait()?.is_none() {
        peak_b = peak_b.max(Memory::of(pid).map_or(0, |m| m.peak_kib));
        peak_a = peak_a.max(Memory::of(a).map_or(0, |m| m.peak_kib));
        std::thread::sleep(Duration::from_millis(20));
    }
    let wall = started.elapsed();
    let status = child.wait()?;
    let lines = lines
        .join()
        .map_err(|_| anyhow::anyhow!("stdout reader panicked"))?;
    for line in &lines {
        writeln!(out, "  B: {line}")?;
    }
    let last = lines.last().context("B printed no recovery line")?;
    let stored: f64 = last
        .split(", ")
        .nth(1)
        .and_then(|part| part.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .context("no stored count in B's last line")?;
    let rate = stored / wall.as_secs_f64();
    let (mib_a, mib_b) = (peak_a as f64 / 1024.0, peak_b as f64 / 1024.0);
    let met = status.success()
        && stored as usize == settings.transactions
        && rate >= RATE_GOAL
        && mib_a < RSS_GOAL_MIB
        && mib_b < RSS_GOAL_MIB;
    writeln!(
        out,
        "recovery of {} transactions from one peer: exit {status}, {stored} stored in {:.1} s (process start to exit): {rate:.0}/s; peak RSS B {mib_b:.1} MiB, A {mib_a:.1} MiB; goal >= {RATE_GOAL}/s and < {RSS_GOAL_MIB} MiB each: {}",
        settings.transactions,
        wall.as_secs_f64(),
        if met { "met" } else { "MISSED" }
    )?;
    if !met {
        bail!("recovery missed its goals");
    }
    Ok(())
}
