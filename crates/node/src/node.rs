//! A running node: the store opened, the apps listening, discovery broadcasting.

use std::sync::Arc;
use std::time::Duration;

use cloister_addr::Endpoint;
use cloister_core::config::{AppType, SqlitePath, StoreTarget};
use cloister_core::enclave::{Enclave, EnclaveError};
use cloister_core::privacy_group::{GroupState, GroupType, PrivacyGroup};
use cloister_net::TlsListener;
use cloister_protocol::metric::side;
use cloister_store::{
    PostgresOptions, PostgresStore, SqliteOptions, SqliteStore, Store, StoreError,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::{self, AppState};
use crate::discovery::{broadcaster, Network};
use crate::health::HealthCheck;
use crate::listener::{self, ListenError};
use crate::metrics::Metrics;
use crate::peer_client::PeerClient;
use crate::recovery;
use crate::settings::{NodeSettings, ServerSettings};
use crate::transaction::recovery::Outcome;
use crate::transaction::{TransactionManager, TransactionRules};

/// How long a call to a peer may take before it counts as failed.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The keys are unusable.
    #[error(transparent)]
    Enclave(#[from] EnclaveError),
    /// The store could not be opened.
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    /// The configured store kind is not available in this build.
    #[error("{0}")]
    UnsupportedStore(&'static str),
    /// A listener could not be opened.
    #[error(transparent)]
    Listen(#[from] ListenError),
}

/// How long [`Node::drain`] waits for open connections by default: longer than any request
/// takes within GoQuorum's 5 s timeout.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a draining node goes on serving by default before it stops accepting connections:
/// a proxy checking every second (with a half-second timeout) has seen it draining by then.
pub const DEFAULT_DRAIN_NOTICE: Duration = Duration::from_millis(1500);

/// A started node. Dropping it does not stop it; call [`Node::drain`] or [`Node::shutdown`].
pub struct Node {
    addresses: Vec<(AppType, Endpoint)>,
    transactions: Arc<TransactionManager>,
    network: Arc<Network>,
    peers: PeerClient,
    party_info_interval: Duration,
    stop: watch::Sender<bool>,
    /// What `/health` reports, draining included.
    health: Arc<HealthCheck>,
    /// Listeners: once `stop` is set they accept nothing more and end when their
    /// connections have.
    servers: Vec<JoinHandle<()>>,
    /// Where the certificates' expiry is recorded, again at each rotation.
    metrics: Arc<Metrics>,
    /// The TLS side of each server that has one, by app, for certificate rotation.
    tls: Vec<(AppType, TlsListener)>,
    /// Background loops: aborted at shutdown.
    background: Vec<JoinHandle<()>>,
}

impl Node {
    /// Opens the store, binds every listener and starts serving and broadcasting.
    pub async fn start(settings: NodeSettings) -> Result<Self, NodeError> {
        if !settings.features.remote_key_validation() {
            tracing::warn!("enableRemoteKeyValidation is off: any host that reaches the P2P port can credit itself with another party's key");
        }
        let store = open_store(&settings).await?;
        let own_keys: Vec<_> = settings.keys.iter().map(|pair| *pair.public()).collect();
        let enclave = Arc::new(Enclave::new(settings.keys)?);
        let network = Arc::new(
            Network::new(
                &settings.p2p_url,
                own_keys,
                &settings.peers,
                settings.disable_peer_discovery,
                settings.peer_limits,
                store.clone(),
            )
            .await?,
        );
        let peers = PeerClient::new(
            PEER_TIMEOUT,
            settings.peer_limits.max_peer_response_bytes,
            settings.peer_tls.as_ref().map(|t| t.config.clone()),
        );
        let rules = TransactionRules {
            digest: settings.digest,
            privacy_enhancements: settings.features.enable_privacy_enhancements,
            recovery_mode: settings.recover,
        };
        let transactions = Arc::new(TransactionManager::new(
            enclave,
            store,
            network.clone(),
            peers.clone(),
            settings.forwarding_keys,
            rules,
        ));
        let metrics = Arc::new(Metrics::default());
        if let Some(tls) = &settings.peer_tls {
            metrics.observe_certificate(AppType::P2P.as_str(), side::CLIENT, tls.not_after);
        }
        let state = AppState {
            transactions: transactions.clone(),
            network: network.clone(),
            peers: peers.clone(),
            features: settings.features,
            resident_groups: Arc::new(
                settings
                    .resident_groups
                    .into_iter()
                    .map(|g| {
                        PrivacyGroup::new(
                            g.name,
                            g.description,
                            g.members,
                            Vec::new(),
                            GroupType::Resident,
                            GroupState::Active,
                        )
                    })
                    .collect(),
            ),
            whitelist: settings.use_white_list.then(|| {
                Arc::new(api::p2p::Whitelist {
                    hosts: api::p2p::whitelist_hosts(&settings.peers),
                    trusted_proxies: settings.trusted_proxies.iter().copied().collect(),
                })
            }),
            recovery_mode: settings.recover,
            metrics: metrics.clone(),
            max_body_bytes: settings.max_body_bytes,
            health: Arc::new(HealthCheck::new(transactions.store().clone())),
        };
        let (stop, stopped) = watch::channel(false);
        let health = state.health.clone();
        let mut node = Self {
            addresses: Vec::new(),
            transactions,
            network: network.clone(),
            peers: peers.clone(),
            party_info_interval: settings.party_info_interval,
            stop,
            health,
            metrics: metrics.clone(),
            servers: Vec::new(),
            tls: Vec::new(),
            background: Vec::new(),
        };
        for server in &settings.servers {
            let bound = listener::Bound::endpoint(&server.listen).await?;
            let local = bound.local_endpoint();
            node.addresses.push((server.app, local.clone()));
            tracing::info!(app = %server.app, address = %local, tls = server.tls.is_some(), "listening");
            let router = api::router(server.app, server.cors.clone(), state.clone());
            let tls = listener::tls_listener(
                &bound,
                server.limits,
                server.tls.as_ref().map(|t| t.config.clone()),
            );
            if let Some(tls) = &tls {
                node.tls.push((server.app, tls.clone()));
            }
            if let Some(presenting) = &server.tls {
                metrics.observe_certificate(
                    server.app.as_str(),
                    side::SERVER,
                    presenting.not_after,
                );
            }
            node.servers.push(tokio::spawn(listener::serve(
                bound,
                router,
                server.limits,
                tls,
                stopped.clone(),
            )));
        }
        node.background.push(tokio::spawn(observe_store(
            node.health.clone(),
            metrics.clone(),
        )));
        node.background.push(tokio::spawn(expire_idempotency(
            node.transactions.store().clone(),
            settings.idempotency_ttl,
        )));
        if settings.servers.iter().any(|s| s.app == AppType::P2P) {
            let interval = settings.party_info_interval;
            node.background.push(tokio::spawn(broadcaster::run(
                network, peers, interval, metrics,
            )));
        }
        Ok(node)
    }

    /// Rotates certificates: every TLS server takes the TLS config `servers` give its app (as
    /// [`NodeSettings`] built them from the config file again) for its next handshakes;
    /// established connections keep theirs. Returns how many servers took a new config.
    pub fn reload_tls(&self, servers: &[ServerSettings]) -> usize {
        let mut replaced = 0;
        for (app, listener) in &self.tls {
            let config = servers
                .iter()
                .find(|server| server.app == *app)
                .and_then(|server| server.tls.as_ref());
            if let Some(presenting) = config {
                listener.replace(presenting.config.clone());
                self.metrics
                    .observe_certificate(app.as_str(), side::SERVER, presenting.not_after);
                replaced += 1;
            }
        }
        replaced
    }

    /// Where each app listens (with the real port when 0 was asked for).
    pub fn addresses(&self) -> &[(AppType, Endpoint)] {
        &self.addresses
    }

    /// Recovers this node's transactions from its peers (the node must have been started with
    /// `recover` set, so that it accepts `/pushBatch`).
    pub async fn recover(&self) -> Outcome {
        let keys: Vec<_> = self.transactions.enclave().public_keys().copied().collect();
        let wait = self.party_info_interval * 3 + Duration::from_secs(5);
        recovery::recover(&self.network, &self.peers, &self.transactions, &keys, wait).await
    }

    /// How far [`Node::recover`] has come (for progress lines while it runs).
    pub fn recovery_progress(&self) -> crate::transaction::recovery::Counts {
        self.transactions.recovery_progress()
    }

    /// Stops at once: [`Node::drain`] with no notice.
    pub async fn shutdown(self) {
        self.drain(Duration::ZERO, DEFAULT_DRAIN_TIMEOUT).await;
    }

    /// Leaves service without failing a request, as a rolling restart needs: `/health` answers
    /// 503 `DRAINING` at once, so that a proxy's next check takes this replica out while it
    /// still serves; after `notice`, the listeners accept no more connections (unix sockets
    /// are removed, so a proxy's new connection fails at once and goes to another replica),
    /// idle connections are closed and busy ones after their answer; once they are all
    /// closed, or after `timeout`, background tasks end.
    pub async fn drain(self, notice: Duration, timeout: Duration) {
        self.health.start_draining();
        tokio::time::sleep(notice).await;
        let _ = self.stop.send(true);
        let servers = futures_util::future::join_all(self.servers);
        if tokio::time::timeout(timeout, servers).await.is_err() {
            tracing::warn!(?timeout, "connections still open when the drain timed out");
        }
        for task in self.background {
            task.abort();
            let _ = task.await;
        }
    }
}

/// Deletes idempotency records older than `ttl`, a few times per `ttl` (at least once a
/// minute). Every replica runs it; the deletes are idempotent.
/// How often the store's health is recorded in the metrics when nothing asks `/health`.
pub const STORE_METRICS_INTERVAL: Duration = Duration::from_secs(5);

/// Records the store's health in the metrics every [`STORE_METRICS_INTERVAL`], apart from
/// `/metrics`: a scrape never waits on a store that hangs (a timed-out scrape would read as the
/// replica being down). Its result is not reused by `/health`.
async fn observe_store(health: Arc<HealthCheck>, metrics: Arc<Metrics>) {
    let mut ticker = tokio::time::interval(STORE_METRICS_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        metrics.observe_store(&health.check_now().await);
    }
}

async fn expire_idempotency(store: Arc<dyn Store>, ttl: Duration) {
    let mut ticker =
        tokio::time::interval((ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(60)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let ttl_millis = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let before = cloister_store::now_millis().saturating_sub(ttl_millis);
        match store.expire_idempotency(before).await {
            Ok(0) => {}
            Ok(expired) => tracing::debug!(expired, "idempotency records expired"),
            Err(error) => tracing::warn!(%error, "could not expire idempotency records"),
        }
    }
}

async fn open_store(settings: &NodeSettings) -> Result<Arc<dyn Store>, NodeError> {
    let options = SqliteOptions {
        auto_create_tables: settings.auto_create_tables,
        ..Default::default()
    };
    match &settings.store {
        StoreTarget::Sqlite { path: SqlitePath::File(path), .. } => {
            let path = path.clone();
            let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path, &options))
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))??;
            Ok(Arc::new(store))
        }
        StoreTarget::Sqlite { path: SqlitePath::Memory, .. } => Err(NodeError::UnsupportedStore(
            "jdbc:sqlite::memory: is not supported: an in-memory store loses every transaction on restart; use jdbc:sqlite:<file>",
        )),
        StoreTarget::Postgres(_) => {
            let options = PostgresOptions::from_target(&settings.store, settings.auto_create_tables)?;
            Ok(Arc::new(PostgresStore::connect(&options).await?))
        }
    }
}
