//! `cloister doctor`: checks one party's HA topology from the configs of its pieces, then
//! live where they answer, and prints a checklist with a one-line fix for every failure.
//!
//! What it checks is what the HA recipe needs and what breaks silently when it is wrong:
//! [`topology`] reads the configs (the replicas' keys, store, advertised P2P URL and binding
//! addresses; the proxies' upstreams), [`certificates`] looks ahead for expiring TLS
//! certificates, [`live`] asks the running pieces (each replica's `/health`, the store's
//! synchronous standby, the P2P front, the peers).

mod certificates;
mod live;
mod topology;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Result;
use clap::Args;
use cloister_node::NodeSettings;
use cloister_proxy::ProxySettings;
use serde::Serialize;

/// Arguments of `cloister doctor`.
#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// A replica's Tessera config file (repeat for every replica of the party).
    #[arg(long = "node", value_name = "FILE")]
    nodes: Vec<PathBuf>,
    /// A `cloister proxy` config file in front of the replicas (repeatable).
    #[arg(long = "proxy", value_name = "FILE")]
    proxies: Vec<PathBuf>,
    /// A `cloister gateway` config file (repeatable).
    #[arg(long = "gateway", value_name = "FILE")]
    gateways: Vec<PathBuf>,
    /// Fail the TLS check when a certificate expires within this many days.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    expiry_days: u64,
    /// Print the checklist as JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// One line of the checklist.
#[derive(Debug, Serialize)]
pub(crate) struct Check {
    /// What was checked (`keys`, `store`, …).
    name: &'static str,
    /// Whether it holds.
    passed: bool,
    /// What was found.
    detail: String,
    /// What to change when it does not hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<&'static str>,
}

impl Check {
    fn pass(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            passed: true,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(name: &'static str, detail: impl Into<String>, fix: &'static str) -> Self {
        Self {
            name,
            passed: false,
            detail: detail.into(),
            fix: Some(fix),
        }
    }

    /// Passes when `problems` is empty, else fails naming them.
    fn unless(
        name: &'static str,
        problems: Vec<String>,
        passed: impl Into<String>,
        fix: &'static str,
    ) -> Self {
        if problems.is_empty() {
            Self::pass(name, passed)
        } else {
            Self::fail(name, problems.join("; "), fix)
        }
    }
}

/// A replica's config, loaded.
pub(crate) struct Replica {
    /// Its config file, as given.
    file: PathBuf,
    settings: NodeSettings,
}

impl Replica {
    /// The config file's name, for messages.
    fn name(&self) -> String {
        short(&self.file)
    }
}

/// Runs every check; the exit code (0 only when all pass).
pub(crate) fn run(args: &DoctorArgs) -> Result<i32> {
    let mut checks = Vec::new();
    let replicas = load(&args.nodes, &mut checks, "node config", |path| {
        NodeSettings::from_config_file(path).map_err(|e| e.to_string())
    })
    .into_iter()
    .map(|(file, settings)| Replica { file, settings })
    .collect::<Vec<_>>();
    let proxies = load(&args.proxies, &mut checks, "proxy config", |path| {
        ProxySettings::from_file(path).map_err(|e| e.to_string())
    });
    let gateways = load(&args.gateways, &mut checks, "gateway config", |path| {
        cloister_gateway::GatewaySettings::from_file(path).map_err(|e| e.to_string())
    });
    let margin = Duration::from_secs(args.expiry_days.saturating_mul(24 * 60 * 60));
    checks.extend(certificates::check(
        &replicas,
        &proxies,
        &gateways,
        margin,
        SystemTime::now(),
    ));
    if args.nodes.is_empty() {
        checks.push(Check::fail(
            "replicas",
            "no replica config given",
            "name every replica's config with --node",
        ));
    } else if !replicas.is_empty() {
        checks.extend(topology::checks(&replicas, &proxies));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        checks.extend(runtime.block_on(live::checks(&replicas)));
    }
    print(&checks, args.json)?;
    Ok(if checks.iter().all(|c| c.passed) {
        0
    } else {
        1
    })
}

/// Loads each of `files` with `read`, recording a check per file.
fn load<T>(
    files: &[PathBuf],
    checks: &mut Vec<Check>,
    name: &'static str,
    read: impl Fn(&Path) -> Result<T, String>,
) -> Vec<(PathBuf, T)> {
    let mut loaded = Vec::new();
    for file in files {
        match read(file) {
            Ok(value) => {
                checks.push(Check::pass(name, format!("{} loads", short(file))));
                loaded.push((file.clone(), value));
            }
            Err(error) => checks.push(Check::fail(
                name,
                format!("{}: {error}", short(file)),
                "correct the file (the same error stops the process at start)",
            )),
        }
    }
    loaded
}

/// The checklist, as text or JSON, on stdout.
fn print(checks: &[Check], json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(checks)?);
        return Ok(());
    }
    for check in checks {
        let verdict = if check.passed { "PASS" } else { "FAIL" };
        println!("{verdict}  {:<15} {}", check.name, check.detail);
        if let Some(fix) = check.fix {
            println!("      {:<15} fix: {fix}", "");
        }
    }
    let failed = checks.iter().filter(|c| !c.passed).count();
    println!("{} checks, {failed} failed", checks.len());
    Ok(())
}

/// A file's name for messages: as given.
fn short(file: &Path) -> String {
    file.display().to_string()
}
