//! `cloister demo` as a newcomer runs it (issue 15): a 30-second run on each store this
//! machine has, checked through its JSON summary (faults injected, nothing lost, every
//! acknowledged transaction read back from both parties), and a run interrupted midway, after
//! which no process it started is left.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use cloister_harness::http::eventually;
use cloister_harness::postgres::PgBinaries;
use cloister_harness::signal;
use serde_json::Value;

/// One demo at a time: each runs a whole party.
static SERIAL: Mutex<()> = Mutex::new(());

fn demo() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cloister"));
    command.arg("demo").stdin(Stdio::null());
    command
}

/// Runs `cloister demo --seconds 30 --store STORE --json FILE`; its exit status and summary.
fn run_for_30_seconds(store: &str) -> (i32, Value) {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let out = demo()
        .args(["--seconds", "30", "--store", store, "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    let summary = std::fs::read(&json)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_else(|| {
            panic!(
                "no summary: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    (out.status.code().unwrap(), summary)
}

/// What every run must show.
fn nothing_lost(code: i32, summary: &Value, faults: usize) {
    assert_eq!(code, 0, "{summary:#}");
    assert_eq!(summary["lost"], 0, "{summary:#}");
    assert_eq!(summary["interrupted"], false, "{summary:#}");
    assert!(
        summary["acknowledged"].as_u64().unwrap() > 100,
        "{summary:#}"
    );
    let injected = summary["faults"].as_array().unwrap();
    assert_eq!(injected.len(), faults, "{summary:#}");
    assert!(injected.iter().all(|f| f["gapMs"].is_u64()), "{summary:#}");
}

#[test]
fn a_sqlite_demo_injects_its_faults_and_loses_nothing() {
    let (code, summary) = run_for_30_seconds("sqlite");
    assert_eq!(summary["store"], "sqlite");
    nothing_lost(code, &summary, 5);
}

#[test]
fn a_postgres_demo_fails_the_database_over_and_loses_nothing() {
    if let Err(missing) = PgBinaries::find() {
        // scripts/test.sh installs PostgreSQL, so in CI this runs; say so when it cannot.
        eprintln!("skipped: {missing}");
        return;
    }
    let (code, summary) = run_for_30_seconds("postgres");
    assert_eq!(summary["store"], "postgres");
    nothing_lost(code, &summary, 6);
    assert_eq!(
        summary["faults"][5]["fault"],
        "PostgreSQL primary SIGKILLed, standby promoted"
    );
}

#[test]
fn ctrl_c_midway_stops_everything_the_demo_started() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("kept");
    let mut child = demo()
        .args(["--seconds", "120", "--store", "sqlite", "--keep"])
        .arg(&keep)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let live = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("req/s"));
    assert!(live, "no live line before the end of the output");
    assert!(
        !started_from(&keep).is_empty(),
        "nothing runs from {}",
        keep.display()
    );
    assert!(signal::send("INT", &[child.id()]));
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let mut status = None;
    let exited = eventually(Duration::from_secs(60), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    assert!(exited, "the demo did not exit after Ctrl-C");
    assert_eq!(status.and_then(|s| s.code()), Some(130));
    assert!(
        rest.iter().any(|line| line.contains("interrupted")),
        "no summary after Ctrl-C: {rest:?}"
    );
    let left = started_from(&keep);
    assert!(left.is_empty(), "still running: {left:?}");
    // The configs stay to study.
    assert!(keep.join("a1/tessera-config.json").is_file());
}

/// Processes whose command line names `dir` (the nodes' configs and the proxy's are there).
fn started_from(dir: &Path) -> Vec<String> {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(&needle) && !cmdline.contains("cargo"))
        .collect()
}
