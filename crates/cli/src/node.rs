//! `cloister node`: a privacy manager from a Tessera config file, or the embedded default.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use cloister_core::config::Override;
use cloister_node::node::{DEFAULT_DRAIN_NOTICE, DEFAULT_DRAIN_TIMEOUT};
use cloister_node::settings::{DEFAULT_DATA_DIR, DEFAULT_IDEMPOTENCY_TTL};
use cloister_node::{Node, NodeSettings};

/// Arguments of `cloister node`.
#[derive(Debug, Args)]
pub(crate) struct NodeArgs {
    /// Tessera JSON config file (Tessera's `-configfile` works too). Without it the node runs on
    /// the embedded default under ./cloister-data.
    #[arg(long)]
    configfile: Option<PathBuf>,
    /// Replace one member of the config file before it is read, as Tessera's `-o` does:
    /// `jdbc.url=jdbc:sqlite:/x.db`, `serverConfigs[1].serverAddress=http://h:9001`.
    /// Repeatable, applied in order; the file itself is not changed.
    #[arg(
        short = 'o',
        long = "override",
        value_name = "KEY.PATH=VALUE",
        requires = "configfile"
    )]
    overrides: Vec<Override>,
    /// Write this process's id to FILE at start and remove it on a clean exit; refused while
    /// the file names another running process.
    #[arg(long, value_name = "FILE")]
    pidfile: Option<PathBuf>,
    /// Recover this node's transactions from its peers into an empty store, then exit with 0
    /// (all recovered), 1 (some) or 2 (none), as Tessera's `--recover` does.
    #[arg(long)]
    recover: bool,
    /// Seconds an idempotency key's first outcome is kept (keys come from `cloister proxy`).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_IDEMPOTENCY_TTL.as_secs())]
    idempotency_ttl: u64,
    /// A proxy in front of the P2P app (repeatable): with `useWhiteList`, the caller named in
    /// its `Forwarded` header is checked instead of the proxy itself.
    #[arg(long = "trusted-proxy", value_name = "IP")]
    trusted_proxies: Vec<std::net::IpAddr>,
    /// On SIGTERM or Ctrl-C: milliseconds the node goes on serving while `/health` answers
    /// 503 `DRAINING`, so that a proxy takes it out before it stops accepting connections.
    #[arg(long, value_name = "MS", default_value_t = millis(DEFAULT_DRAIN_NOTICE))]
    drain_notice_ms: u64,
    /// Then: milliseconds open connections get to finish their requests before the node
    /// exits anyway.
    #[arg(long, value_name = "MS", default_value_t = millis(DEFAULT_DRAIN_TIMEOUT))]
    drain_timeout_ms: u64,
}

const fn millis(duration: Duration) -> u64 {
    duration.as_millis() as u64
}

/// How often `--recover` prints where it stands.
const RECOVERY_PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// One progress line of `--recover`: received, stored, and the rate so far.
fn recovery_line(
    counts: cloister_node::transaction::recovery::Counts,
    elapsed: Duration,
) -> String {
    let seconds = elapsed.as_secs_f64().max(1e-9);
    format!(
        "{} transactions received, {} stored, {} refused in {seconds:.1} s ({:.0} received/s, {:.0} stored/s)",
        counts.received,
        counts.stored,
        counts.failed,
        counts.received as f64 / seconds,
        counts.stored as f64 / seconds
    )
}

/// Runs the node until a signal; with `--recover`, runs a recovery and returns its exit code
/// (0 success, 1 partial, 2 failure) as Tessera does.
pub(crate) fn run(args: &NodeArgs) -> Result<i32> {
    let mut settings = match &args.configfile {
        Some(path) => NodeSettings::from_config_file_with(path, &args.overrides)?,
        None => NodeSettings::embedded_default(DEFAULT_DATA_DIR.as_ref())?,
    };
    settings.recover = args.recover;
    settings.idempotency_ttl = Duration::from_secs(args.idempotency_ttl);
    settings.trusted_proxies = args.trusted_proxies.clone();
    let _pidfile = crate::pidfile::create_if(args.pidfile.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let node = Node::start(settings).await?;
        for (app, address) in node.addresses() {
            println!("{app} listening on {address}");
        }
        if args.recover {
            let started = Instant::now();
            let outcome = {
                let recovering = node.recover();
                tokio::pin!(recovering);
                let mut ticker = tokio::time::interval(RECOVERY_PROGRESS_EVERY);
                ticker.tick().await;
                loop {
                    tokio::select! {
                        outcome = &mut recovering => break outcome,
                        _ = ticker.tick() => {
                            println!("recovery: {}", recovery_line(node.recovery_progress(), started.elapsed()));
                        }
                    }
                }
            };
            println!(
                "recovery: {outcome:?}: {}",
                recovery_line(node.recovery_progress(), started.elapsed())
            );
            node.shutdown().await;
            return Ok(outcome.exit_code());
        }
        crate::shutdown::reloading_until_requested(|| {
            reload_tls(&node, args.configfile.as_deref(), &args.overrides);
        })
        .await?;
        let (notice, timeout) = (
            Duration::from_millis(args.drain_notice_ms),
            Duration::from_millis(args.drain_timeout_ms),
        );
        tracing::info!(
            ?notice,
            ?timeout,
            "draining: /health answers 503, then no new connections"
        );
        node.drain(notice, timeout).await;
        tracing::info!("drained");
        Ok(0)
    })
}

/// SIGHUP: certificate rotation. The config file is read again (with the same overrides) and
/// every TLS server's key and trust material loaded anew for its next handshakes; a file that no
/// longer loads leaves the old material in place, with the reason logged.
fn reload_tls(node: &Node, configfile: Option<&Path>, overrides: &[Override]) {
    let Some(path) = configfile else {
        tracing::info!("SIGHUP: no config file, nothing to reload");
        return;
    };
    match NodeSettings::from_config_file_with(path, overrides) {
        Ok(settings) => {
            let servers = node.reload_tls(&settings.servers);
            tracing::info!(servers, "SIGHUP: TLS key and trust material reloaded");
        }
        Err(error) => {
            tracing::warn!(%error, "SIGHUP: the config or its TLS files do not load; the current ones stay");
        }
    }
}
