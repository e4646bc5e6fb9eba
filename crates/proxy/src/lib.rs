//! `cloister-proxy`: the `tm.ipc` sidecar in front of a party's privacy-manager replicas (and
//! the P2P / ThirdParty front), replacing the reference recipe's nginx with a proxy that knows
//! what each Tessera call means.
//!
//! - [`policy`]: which request is a read or a write and which failure may be retried.
//! - [`settings`]: the settings and the JSON config file.
//! - [`error`]: the errors and the one mapping to client statuses (never 404).
//! - [`http1`]: HTTP/1.1 on both sides: heads, bodies, connections.
//! - [`hedge`]: hedged requests: the delay estimator and the budget.
//! - [`upstream`]: each replica, the client connections' links to it, and its health state.
//! - `passthrough`: listeners that relay connections unread, for replicas that terminate TLS.
//! - `tls`: the listeners' certificates, the client to `https://` replicas, the handshake check.
//! - [`admin`]: `/metrics` and `/status`.
//! - `worker`: the event loops that serve the listeners, one thread each (nginx's workers).
//! - [`metrics`]: Prometheus metrics.
//!
//! Every listener shares one health state per upstream: active checks (`GET /health`, falling
//! back to `/upcheck`) run in the background, passive ejection happens on live traffic, and
//! `/metrics` and `/status` are served on a separate admin listener.

pub mod admin;
pub mod error;
mod forward;
pub mod hedge;
pub mod http1;
mod listener;
pub mod metrics;
mod passthrough;
pub mod policy;
pub mod settings;
mod tls;
pub mod upstream;
mod worker;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use cloister_addr::Endpoint;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use admin::{Admin, Front};
pub use error::{ConfigError, ListenError, ProxyError};
pub use metrics::Metrics;
pub use policy::Role;
pub use settings::{
    listen_address, upstream_address, HealthSettings, ListenerSettings, ListenerTls, Mode,
    ProxySettings, Timeouts, UpstreamTls,
};
use upstream::{Group, Upstream};

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The settings are unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A listener could not be opened.
    #[error(transparent)]
    Listen(#[from] ListenError),
}

/// A running proxy.
pub struct Proxy {
    listening: Vec<Endpoint>,
    admin: Option<SocketAddr>,
    fronts: Arc<Vec<Front>>,
    metrics: Arc<Metrics>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    workers: Vec<std::thread::JoinHandle<()>>,
    rotation: tls::Rotation,
}

impl Proxy {
    /// Validates `settings`, opens every listener (and the admin one), and starts health checks.
    /// Must run inside a Tokio runtime.
    pub async fn start(settings: ProxySettings) -> Result<Self, StartError> {
        settings.validate()?;
        let metrics = Arc::new(Metrics::default());
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut fronts = Vec::new();
        let mut listening = Vec::new();
        let mut served = Vec::new();
        let clients = tls::Clients::of(&settings)?;
        let mut rotation = tls::Rotation::new(metrics.clone());
        // One upstream object per distinct address and mode: two listeners in front of one
        // replica share its health.
        let mut upstreams: Vec<(Mode, Arc<Upstream>)> = Vec::new();
        // Compared with callers' addresses as the admission counts them, an IPv4 caller on a
        // dual-stack listener as IPv4.
        let trusted_proxies: Arc<[IpAddr]> = settings
            .trusted_proxies
            .iter()
            .map(IpAddr::to_canonical)
            .collect();
        for listener in &settings.listeners {
            let bound = listener::Bound::endpoint(&listener.listen).await?;
            let members = listener
                .upstreams
                .iter()
                .map(|address| {
                    let known = upstreams
                        .iter()
                        .find(|(mode, u)| *mode == listener.mode && u.address() == address);
                    if let Some((_, known)) = known {
                        return known.clone();
                    }
                    let (tls, probe) = clients.for_upstream(address, listener.mode);
                    let upstream = Arc::new(Upstream::new(
                        probe,
                        tls,
                        settings.timeouts.connect,
                        settings.health,
                        metrics.clone(),
                    ));
                    upstreams.push((listener.mode, upstream.clone()));
                    upstream
                })
                .collect();
            let group = Arc::new(Group::new(members));
            let local = bound.local_endpoint().over_tls(listener.tls.is_some());
            let label: Arc<str> = local.to_string().into();
            let hedge = (settings.hedge.enabled && listener.mode == Mode::Http)
                .then(|| Arc::new(hedge::Hedging::new(settings.hedge, policy::route_names())));
            let service = match listener.mode {
                Mode::Http => {
                    metrics.start_listener(&label);
                    listener::Handling::Requests(listener::Service::Forward(Arc::new(
                        forward::Listener {
                            label: label.clone(),
                            role: listener.role,
                            group: group.clone(),
                            timeouts: settings.timeouts,
                            max_body_bytes: settings.max_body_bytes,
                            confirm_not_found: settings.confirm_not_found,
                            trusted_proxies: trusted_proxies.clone(),
                            metrics: metrics.clone(),
                            hedge: hedge.clone(),
                        },
                    )))
                }
                Mode::Passthrough => listener::Handling::Relay(Arc::new(passthrough::Relay {
                    group: group.clone(),
                    connect_timeout: settings.timeouts.connect,
                })),
            };
            tracing::info!(listen = %local, role = %listener.role, mode = ?listener.mode, tls = listener.tls.is_some(), upstreams = ?listener.upstreams.iter().map(ToString::to_string).collect::<Vec<_>>(), "proxy listening");
            let bounds = listener::Bounds::of(&bound, settings.connections);
            let tls = rotation.listener(listener, &label, bounds.header_timeout())?;
            let bounds = bounds.with_tls(tls);
            let shared =
                listener::SharedListener::of(bound).map_err(|source| ListenError::Bind {
                    address: local.to_string(),
                    source,
                })?;
            served.push((shared, service, bounds));
            fronts.push(Front {
                listen: local.clone(),
                role: listener.role,
                group,
                hedge,
            });
            listening.push(local);
        }
        let workers = (0..settings.worker_threads.max(1))
            .map(|index| worker::spawn(index, &served, stopped.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| ListenError::Bind {
                address: "worker threads".into(),
                source,
            })?;
        for (_, upstream) in &upstreams {
            tasks.push(tokio::spawn(check_forever(
                upstream.clone(),
                settings.health.interval,
                stopped.clone(),
            )));
        }
        let fronts = Arc::new(fronts);
        let admin = match settings.admin {
            Some(address) => {
                let bound = listener::Bound::tcp(address, &address.to_string()).await?;
                let local = bound.tcp_address();
                let bounds = listener::Bounds::of(&bound, settings.connections);
                let admin = Admin {
                    fronts: fronts.clone(),
                    metrics: metrics.clone(),
                };
                tasks.push(tokio::spawn(listener::serve(
                    bound,
                    listener::Handling::Requests(listener::Service::Admin(Arc::new(admin))),
                    bounds,
                    stopped_signal(stopped.clone()),
                )));
                local
            }
            None => None,
        };
        Ok(Self {
            listening,
            admin,
            fronts,
            metrics,
            stop,
            tasks,
            workers,
            rotation,
        })
    }

    /// Reads every TLS listener's certificate files again for its next handshakes (SIGHUP);
    /// established connections keep theirs. All or nothing. How many listeners changed.
    pub fn reload_tls(&self) -> Result<usize, ConfigError> {
        self.rotation.reload()
    }

    /// Where the listeners listen, in the settings' order (TCP port 0 resolved).
    pub fn listening(&self) -> &[Endpoint] {
        &self.listening
    }

    /// The admin listener's address, if any.
    pub fn admin_address(&self) -> Option<SocketAddr> {
        self.admin
    }

    /// Every listener's upstreams and their health, as `/status` shows it.
    pub fn status(&self) -> serde_json::Value {
        admin::status(&self.fronts)
    }

    /// The metrics, as `/metrics` shows them.
    pub fn metrics(&self) -> String {
        self.metrics.render()
    }

    /// Stops accepting, stops the checks and removes the socket files. Requests in progress
    /// finish on their own.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        let workers = self.workers;
        let _ = tokio::task::spawn_blocking(move || {
            for worker in workers {
                let _ = worker.join();
            }
        })
        .await;
    }
}

async fn stopped_signal(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Checks `upstream` every `interval` until stopped.
async fn check_forever(
    upstream: Arc<Upstream>,
    interval: std::time::Duration,
    stopped: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    // A check that overran its slot is not made up for: what matters is the next fresh one.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = stopped_signal(stopped);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let passed = upstream.check().await;
                upstream.record_check(passed);
            }
            () = &mut stop => return,
        }
    }
}
