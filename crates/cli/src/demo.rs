//! `cloister demo`: the HA picture running on this machine (see `cloister_demo`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use cloister_demo::{DemoSettings, StoreChoice};

/// Arguments of `cloister demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// How long the traffic runs, in seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// `sqlite` (one shared file) or `postgres` (a primary and a synchronous standby); by
    /// default PostgreSQL when its server binaries are here.
    #[arg(long, value_name = "STORE", default_value = "auto")]
    store: StoreChoice,
    /// Also write the summary as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Leave the configs and logs in DIR (they are the configs a user would copy).
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
}

/// The exit status of an interrupted run, as a shell reports SIGINT.
const INTERRUPTED: i32 = 130;

/// Runs the demo; exit status 0 only when every acknowledged transaction was read back.
pub(crate) fn run(args: &DemoArgs) -> Result<i32> {
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = stop.clone();
    // Ctrl-C (or SIGTERM) ends the run early; everything started is stopped on the way out.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        if let Ok(runtime) = runtime {
            runtime.block_on(crate::shutdown::requested());
            watcher.store(true, Ordering::Relaxed);
        }
    });
    let settings = DemoSettings {
        duration: Duration::from_secs(args.seconds),
        store: args.store,
        keep: args.keep.clone(),
    };
    let mut out = std::io::stdout();
    let summary = cloister_demo::run(&settings, &mut out, &stop)?;
    println!("{summary}");
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&summary)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(match summary.lost {
        Some(0) => 0,
        Some(_) => 1,
        None => INTERRUPTED,
    })
}
