//! `cloister migrate --from URL --to URL`: copies a Tessera database (H2, SQLite or
//! PostgreSQL) into SQLite or PostgreSQL, with a progress line, then verifies the copy.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use cloister_migrate::{Location, Options, Progress, TableReport, Verification};

/// Arguments of `cloister migrate`.
#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    /// The source's JDBC URL: `jdbc:h2:…` (Tessera's default), `jdbc:sqlite:FILE` or
    /// `jdbc:postgresql://…`. Opened read-only.
    #[arg(long, value_name = "JDBC_URL")]
    from: String,
    /// The destination's JDBC URL: `jdbc:sqlite:FILE` or `jdbc:postgresql://…`; its schema is
    /// created if missing.
    #[arg(long, value_name = "JDBC_URL")]
    to: String,
    /// Rows per page and per destination transaction.
    #[arg(long, value_name = "N", default_value_t = cloister_migrate::DEFAULT_BATCH_ROWS)]
    batch_rows: usize,
    /// Copy at most N rows in this run, then stop; the next run resumes after them.
    #[arg(long, value_name = "N")]
    max_rows: Option<u64>,
}

/// How often a progress line is printed when stderr is not a terminal.
const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Runs the migration; exit 0 when the copy is complete and verified (or stopped on purpose by
/// `--max-rows`), 1 when the verification finds a difference.
pub(crate) fn run(args: &MigrateArgs) -> Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(migrate(args))
}

async fn migrate(args: &MigrateArgs) -> Result<i32> {
    let (from, to) = (Location::parse(&args.from)?, Location::parse(&args.to)?);
    let source_name = cloister_migrate::redacted(&args.from);
    eprintln!("reading {source_name} (read-only)");
    let source = from.open_source().await?;
    let tables = cloister_migrate::source_tables(source.as_ref(), &source_name).await?;
    let destination = to.open_destination().await?;
    let options = Options {
        batch_rows: args.batch_rows,
        max_rows: args.max_rows,
    };
    let started = Instant::now();
    let mut bar = Bar::new();
    let reports = cloister_migrate::copy(
        source.as_ref(),
        destination.as_ref(),
        &source_name,
        &tables,
        &options,
        |p| bar.show(p),
    )
    .await?;
    bar.finish();
    let copied = started.elapsed();
    print_copy(&reports, copied);
    if reports.iter().any(|r| !r.complete) {
        println!(
            "stopped after --max-rows {}: run the same command again to resume",
            args.max_rows.unwrap_or(0)
        );
        return Ok(0);
    }
    let verifications = cloister_migrate::verify(
        source.as_ref(),
        destination.as_ref(),
        &tables,
        args.batch_rows,
    )
    .await?;
    Ok(print_verification(&verifications))
}

/// The copy's figures per table and in all.
fn print_copy(reports: &[TableReport], elapsed: Duration) {
    for r in reports {
        let resumed = r
            .resumed_at
            .map(|n| format!(", resumed after {n}"))
            .unwrap_or_default();
        println!(
            "copied  {:<26} {:>9} rows read, {:>9} inserted{resumed} in {:.1} s",
            r.table,
            r.read,
            r.inserted,
            r.elapsed.as_secs_f64()
        );
    }
    let rows: u64 = reports.iter().map(|r| r.read).sum();
    let bytes: u64 = reports.iter().map(|r| r.bytes).sum();
    let seconds = elapsed.as_secs_f64().max(1e-9);
    println!(
        "copy    {rows} rows, {:.1} MB in {seconds:.2} s: {:.0} rows/s, {:.1} MB/s",
        bytes as f64 / 1e6,
        rows as f64 / seconds,
        bytes as f64 / 1e6 / seconds
    );
}

/// The verification per table; the exit code (0 when every table agrees).
fn print_verification(verifications: &[Verification]) -> i32 {
    for v in verifications {
        let verdict = if v.agrees() { "equal" } else { "DIFFERENT" };
        println!(
            "verify  {:<26} source {:>9} rows {}  destination {:>9} rows {}  {verdict}",
            v.table,
            v.source.rows(),
            &v.source.to_hex()[..16],
            v.destination.rows(),
            &v.destination.to_hex()[..16],
        );
    }
    if verifications.iter().all(Verification::agrees) {
        println!("verified: every table holds the same rows on both sides");
        0
    } else {
        println!(
            "verification FAILED: the destination differs (it may hold rows the source does not)"
        );
        1
    }
}

/// The progress line on stderr: redrawn in place on a terminal, a line every few seconds
/// otherwise (logs, CI).
struct Bar {
    terminal: bool,
    last_plain: Option<Instant>,
}

impl Bar {
    fn new() -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
            last_plain: None,
        }
    }

    fn show(&mut self, p: &Progress) {
        if !self.terminal {
            if self
                .last_plain
                .is_some_and(|t| t.elapsed() < PLAIN_PROGRESS_EVERY)
            {
                return;
            }
            self.last_plain = Some(Instant::now());
        }
        let seconds = p.elapsed.as_secs_f64().max(1e-9);
        let rate = p.rows_this_run as f64 / seconds;
        let left = p.total.saturating_sub(p.rows);
        let eta = if rate > 0.0 { left as f64 / rate } else { 0.0 };
        let done = if p.total == 0 {
            1.0
        } else {
            p.rows as f64 / p.total as f64
        };
        let filled = (done.min(1.0) * 20.0) as usize;
        let line = format!(
            "{:<26} [{}{}] {}/{} rows  {rate:.0} rows/s  {:.1} MB/s  ETA {eta:.0} s",
            p.table,
            "#".repeat(filled),
            "-".repeat(20 - filled),
            p.rows,
            p.total,
            p.bytes as f64 / 1e6 / seconds,
        );
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r{line}\x1b[K");
        } else {
            let _ = writeln!(err, "{line}");
        }
    }

    fn finish(&self) {
        if self.terminal {
            eprintln!();
        }
    }
}
