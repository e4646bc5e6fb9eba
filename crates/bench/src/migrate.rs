//! `cloister-bench migrate`: `cloister migrate` of many transactions from SQLite (or H2) into
//! PostgreSQL, timed, with the command's peak RSS read from `/proc` while it runs.
//!
//! The source is filled here (SQLite through the store's bulk writer, H2 by H2's own jar), the
//! destination is a fresh database on a harness PostgreSQL (with a synchronous standby when
//! asked). The rate is the one the command prints for its copy phase; the wall time covers
//! everything (opening, H2's export, the copy, the verification pass).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use cloister_harness::nodes::cloister;
use cloister_harness::postgres::PgCluster;
use cloister_harness::procfs::Memory;
use cloister_store::bulk::{BulkWrite, Checkpoint, SqliteBulk, Value, TABLES};

/// The goals.
const RATE_GOAL: f64 = 10_000.0;
const RSS_GOAL_MIB: f64 = 128.0;

/// Which database the rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Source {
    /// An SQLite file.
    Sqlite,
    /// An H2 file database, as Tessera's default store.
    H2,
}

/// `cloister-bench migrate`'s command line.
#[derive(Debug, Clone, Args)]
pub struct MigrateBench {
    /// Transactions in the source.
    #[arg(long, default_value_t = 100_000)]
    pub rows: u64,
    /// Bytes of each transaction's encoded payload.
    #[arg(long, default_value_t = 1024)]
    pub payload_bytes: usize,
    /// Rows per page (`cloister migrate --batch-rows`).
    #[arg(long, default_value_t = 1000)]
    pub batch_rows: usize,
    /// Sources to migrate from, each into a fresh database.
    #[arg(long, value_delimiter = ',', default_value = "sqlite,h2")]
    pub sources: Vec<Source>,
    /// Give the PostgreSQL primary a synchronous standby (the HA destination).
    #[arg(long)]
    pub standby: bool,
}

/// One migration, measured.
struct Measured {
    copy_line: String,
    rate: f64,
    wall: Duration,
    peak_mib: f64,
}

/// Fills each source, migrates it into PostgreSQL, prints a row each and the goals.
pub fn run(settings: &MigrateBench, out: &mut dyn Write) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pg = if settings.standby {
        PgCluster::pair()
    } else {
        PgCluster::single()
    };
    writeln!(
        out,
        "cloister migrate into PostgreSQL ({}): {} transactions of {} B, pages of {}",
        if settings.standby {
            "primary + synchronous standby"
        } else {
            "one server"
        },
        settings.rows,
        settings.payload_bytes,
        settings.batch_rows
    )?;
    let mut missed = false;
    for (i, source) in settings.sources.iter().enumerate() {
        let from = match source {
            Source::Sqlite => fill_sqlite(
                &dir.path().join("source.db"),
                settings.rows,
                settings.payload_bytes,
            )?,
            Source::H2 => fill_h2(&dir.path().join("source"), settings),
        };
        let database = format!("migrated_{i}");
        pg.create_database(&database);
        let measured = migrate(&from, &pg.url(&database), settings.batch_rows)?;
        let meets = measured.rate >= RATE_GOAL && measured.peak_mib < RSS_GOAL_MIB;
        missed |= !meets;
        writeln!(
            out,
            "{source:?} -> PostgreSQL: {}\n  whole command {:.1} s, peak RSS {:.1} MiB; goal >= {RATE_GOAL} rows/s and < {RSS_GOAL_MIB} MiB: {}",
            measured.copy_line,
            measured.wall.as_secs_f64(),
            measured.peak_mib,
            if meets { "met" } else { "MISSED" }
        )?;
    }
    if missed {
        bail!("a migration missed its goals");
    }
    Ok(())
}

/// Runs `cloister migrate`, polling its peak RSS until it exits.
fn migrate(from: &str, to: &str, batch_rows: usize) -> anyhow::Result<Measured> {
    let started = Instant::now();
    let mut child = cloister()
        .args([
            "migrate",
            "--from",
            from,
            "--to",
            to,
            "--batch-rows",
            &batch_rows.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id();
    let stdout = child.stdout.take().context("no stdout")?;
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let mut peak_kib = 0;
    while child.try_wait()?.is_none() {
        if let Some(memory) = Memory::of(pid) {
            peak_kib = peak_kib.max(memory.peak_kib);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let wall = started.elapsed();
    let lines = reader
        .join()
        .map_err(|_| anyhow::anyhow!("stdout reader panicked"))?;
    let status = child.wait()?;
    if !status.success() || !lines.iter().any(|l| l.starts_with("verified")) {
        bail!("cloister migrate failed ({status}): {}", lines.join("\n"));
    }
    let copy_line = lines
        .iter()
        .find(|l| l.starts_with("copy "))
        .cloned()
        .context("no copy line")?;
    let rate = copy_line
        .split(": ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .context("no rate in the copy line")?;
    Ok(Measured {
        copy_line: copy_line.trim_start_matches("copy").trim().to_owned(),
        rate,
        wall,
        peak_mib: peak_kib as f64 / 1024.0,
    })
}

/// A deterministic stand-in for a transaction's bytes: `len` bytes from `seed`.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// An SQLite store of `rows` transactions of `payload_bytes` each (as a node on the embedded
/// default would hold them); its URL.
pub(crate) fn fill_sqlite(path: &Path, rows: u64, payload_bytes: usize) -> anyhow::Result<String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = SqliteBulk::for_writing(path)?;
        let table = &TABLES[0];
        let mut written = 0u64;
        while written < rows {
            let page: Vec<Vec<Value>> = (written..rows.min(written + 5000))
                .map(|n| {
                    vec![
                        Value::Bytes(bytes(n, 64)),
                        Value::Bytes(bytes(n + (1 << 40), payload_bytes)),
                        Value::Text("CBOR".into()),
                        Value::Int(1_700_000_000_000 + n as i64),
                    ]
                })
                .collect();
            written += page.len() as u64;
            let checkpoint = Checkpoint {
                last_key: Value::Null,
                rows: written,
                done: true,
            };
            store
                .write("cloister-bench", table, page, &checkpoint)
                .await?;
        }
        anyhow::Ok(())
    })?;
    Ok(format!("jdbc:sqlite:{}", path.display()))
}

/// An H2 source, made by H2's jar with Tessera's DDL; its URL. Payloads are SHA-512 blocks
/// joined with `||` (binary; H2's `REPEAT` would make a string of them).
fn fill_h2(base: &Path, settings: &MigrateBench) -> String {
    let blocks = (0..settings.payload_bytes.div_ceil(64).max(1))
        .map(|k| format!("HASH('SHA-512', CAST(X * {} AS VARCHAR))", k + 2))
        .collect::<Vec<_>>()
        .join(" || ");
    cloister_harness::tessera::h2_run_script(
        base,
        &format!(
            "{}\nINSERT INTO ENCRYPTED_TRANSACTION (HASH, ENCODED_PAYLOAD, PAYLOAD_CODEC, TIMESTAMP) \
             SELECT HASH('SHA-512', CAST(X AS VARCHAR)), SUBSTRING({blocks} FROM 1 FOR {}), 'CBOR', X \
             FROM SYSTEM_RANGE(1, {});",
            cloister_harness::tessera::H2_DDL,
            settings.payload_bytes,
            settings.rows
        ),
    );
    format!("jdbc:h2:{}", base.display())
}
