//! `cloister proxy`: the `tm.ipc` sidecar (and P2P / ThirdParty front) in front of a party's
//! privacy-manager replicas.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use cloister_proxy::{
    listen_address, upstream_address, ListenerSettings, Proxy, ProxySettings, Role,
};

/// Arguments of `cloister proxy`; the command line adds a listener to the config file's and
/// overrides its admin address.
#[derive(Debug, Args)]
pub(crate) struct ProxyArgs {
    /// Where clients connect: `unix:/path/tm.ipc`, `http://host:port` or `host:port`; repeat
    /// for several listeners in front of the same upstreams.
    #[arg(long)]
    listen: Vec<String>,
    /// A replica: `http://host:port`, `host:port` or `unix:/path`; repeat for each replica.
    #[arg(long = "upstream")]
    upstreams: Vec<String>,
    /// Which API the listeners front: q2t (default), p2p or thirdparty.
    #[arg(long, default_value = "q2t")]
    role: Role,
    /// Where to serve /metrics and /status (TCP host:port).
    #[arg(long)]
    admin: Option<SocketAddr>,
    /// JSON config file for several listeners, timeouts and health settings (docs/proxy.md).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Worker threads, each an event loop owning its connections (default: one per core;
    /// `workerThreads` in the config).
    #[arg(long)]
    worker_threads: Option<usize>,
    /// A proxy in front of this one (repeatable; added to `trustedProxies` in the config): its
    /// own `Forwarded` fields are relayed with this proxy's element appended. Anyone else's
    /// are dropped and replaced.
    #[arg(long = "trusted-proxy", value_name = "IP")]
    trusted_proxies: Vec<IpAddr>,
    /// Write this process's id to FILE at start and remove it on a clean exit; refused while
    /// the file names another running process.
    #[arg(long, value_name = "FILE")]
    pidfile: Option<PathBuf>,
}

/// Runs the proxy until a signal.
pub(crate) fn run(args: &ProxyArgs) -> Result<i32> {
    let mut settings = match &args.config {
        Some(path) => ProxySettings::from_file(path)?,
        None => ProxySettings::default(),
    };
    if !args.listen.is_empty() {
        let upstreams = args
            .upstreams
            .iter()
            .map(|u| upstream_address(u))
            .collect::<Result<Vec<_>, _>>()?;
        for listen in &args.listen {
            settings.listeners.push(ListenerSettings::http(
                listen_address(listen)?,
                args.role,
                upstreams.clone(),
            ));
        }
    } else if !args.upstreams.is_empty() {
        anyhow::bail!("--upstream needs --listen");
    }
    if args.admin.is_some() {
        settings.admin = args.admin;
    }
    if let Some(threads) = args.worker_threads {
        settings.worker_threads = threads;
    }
    settings
        .trusted_proxies
        .extend(args.trusted_proxies.iter().copied());
    let _pidfile = crate::pidfile::create_if(args.pidfile.as_deref())?;
    // The workers run their own event loops; this one only runs health checks and the admin
    // listener.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let proxy = Proxy::start(settings).await?;
        for address in proxy.listening() {
            println!("proxy listening on {address}");
        }
        if let Some(admin) = proxy.admin_address() {
            println!("admin listening on {admin}");
        }
        crate::shutdown::reloading_until_requested(|| match proxy.reload_tls() {
            Ok(listeners) => tracing::info!(listeners, "SIGHUP: listener certificates reloaded"),
            Err(error) => {
                tracing::warn!(%error, "SIGHUP: a listener certificate does not load; the current ones stay");
            }
        })
        .await?;
        tracing::info!("shutting down");
        proxy.shutdown().await;
        Ok(0)
    })
}
