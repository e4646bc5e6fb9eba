//! `cloister gateway`: the JSON-RPC gateway in front of a group of GoQuorum nodes.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use cloister_gateway::settings::listen_endpoint;
use cloister_gateway::{Gateway, GatewaySettings, Mode, UpstreamSettings};

/// Arguments of `cloister gateway`; the command line overrides the config file.
#[derive(Debug, Args)]
pub(crate) struct GatewayArgs {
    /// Where JSON-RPC clients connect: `host:port` or `http://host:port` (default
    /// 127.0.0.1:8545).
    #[arg(long)]
    listen: Option<String>,
    /// A node's JSON-RPC URL: http://, ws://, https:// or wss:// (the other transport assumed on
    /// the same port), or ipc:/path/geth.ipc for its IPC socket; then, comma-separated,
    /// optionally its ws:// or wss:// URL, `ca=FILE`, the PEM CA file its TLS certificate must
    /// chain to (default: the platform's CAs), and `privacy=URL`, the URL of its privacy manager
    /// or `cloister proxy` (http://host:port or unix:/path/tm.ipc), which is health-checked so
    /// private calls avoid a node whose privacy path is down
    /// (`http://q1:8545,ws://q1:8546,privacy=unix:/q1/tm.ipc`). Repeat for each node, in
    /// priority order. Replaces the config file's upstreams.
    #[arg(long = "upstream")]
    upstreams: Vec<String>,
    /// primary-backup (default) or balanced.
    #[arg(long)]
    mode: Option<Mode>,
    /// Threads of the gateway's async runtime (default 1; see `workerThreads` in the config).
    #[arg(long)]
    worker_threads: Option<usize>,
    /// JSON config file for everything else (timeouts, health thresholds, limits).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Write this process's id to FILE at start and remove it on a clean exit; refused while
    /// the file names another running process.
    #[arg(long, value_name = "FILE")]
    pidfile: Option<PathBuf>,
}

/// Runs the gateway until a signal.
pub(crate) fn run(args: &GatewayArgs) -> Result<i32> {
    let mut settings = match &args.config {
        Some(path) => GatewaySettings::from_file(path)?,
        None => GatewaySettings::default(),
    };
    if let Some(listen) = &args.listen {
        settings.listen = listen_endpoint(listen)?;
    }
    if !args.upstreams.is_empty() {
        settings.upstreams = args
            .upstreams
            .iter()
            .map(|url| UpstreamSettings::from_arg(url))
            .collect();
    }
    if let Some(mode) = args.mode {
        settings.mode = mode;
    }
    if let Some(threads) = args.worker_threads {
        settings.worker_threads = threads;
    }
    settings.validate()?;
    let _pidfile = crate::pidfile::create_if(args.pidfile.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.worker_threads)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let gateway = Gateway::start(settings).await?;
        println!("gateway listening on {}", gateway.local_address());
        crate::shutdown::reloading_until_requested(|| match gateway.reload_tls() {
            Ok(true) => tracing::info!("SIGHUP: listener certificate reloaded"),
            Ok(false) => tracing::info!("SIGHUP: no listener certificate to reload"),
            Err(error) => {
                tracing::warn!(%error, "SIGHUP: the listener certificate does not load; the current one stays");
            }
        })
        .await?;
        tracing::info!("shutting down");
        gateway.shutdown().await;
        Ok(0)
    })
}
