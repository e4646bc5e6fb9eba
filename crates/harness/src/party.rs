//! A party of two `cloister node` replicas sharing one key pair and one PostgreSQL database, and
//! a peer on SQLite that both know as the recipient: the world of the proxy and exactly-once
//! tests and of the proxy benchmark. Replicas can be killed, restarted as they were, frozen and
//! resumed; the database can be counted.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::http::eventually;
use crate::nodes::{free_port, NodeDir, RunningNode};
use crate::postgres::PgCluster;

/// The database the replicas share.
pub const DATABASE: &str = "cloister";

/// How long the replicas get to learn the peer's key from its announcement.
const DISCOVERY: Duration = Duration::from_secs(30);

/// Two replicas of one party on one PostgreSQL database, and a peer.
pub struct TwinParty {
    /// The replicas' directories (one key pair, two sockets).
    pub replicas: [NodeDir; 2],
    /// Their configs, so a killed replica restarts as it was.
    pub configs: [Value; 2],
    /// The running replicas; `None` while one is killed.
    pub running: [Option<RunningNode>; 2],
    /// The recipient.
    pub peer: NodeDir,
    /// The running recipient.
    pub peer_running: RunningNode,
    /// The shared store.
    pub pg: PgCluster,
    root: tempfile::TempDir,
}

/// How the replicas serve Q2T over TLS: the Q2T server's `sslConfig`, shared by both (one
/// certificate for the party, as the HA recipe shares one key pair), and the client config the
/// harness checks them with.
pub struct Q2tTls {
    /// The Q2T server's `sslConfig`.
    pub ssl: Value,
    /// A client the replicas accept.
    pub client: Arc<rustls::ClientConfig>,
}

impl TwinParty {
    /// Starts the database, both replicas and the peer, and waits until both replicas know
    /// the peer's key.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// The same, with the replicas' Q2T servers on TCP with TLS when `q2t_tls` is given
    /// (rather than their unix sockets).
    pub fn start_with(q2t_tls: Option<&Q2tTls>) -> Self {
        let root = tempfile::tempdir().unwrap();
        let pg = PgCluster::single();
        pg.create_database(DATABASE);
        let mut one = NodeDir::new(root.path(), "replica1");
        let mut two = one.replica(root.path(), "replica2");
        let peer = NodeDir::new(root.path(), "peer");
        let jdbc = pg.jdbc(DATABASE, "", true);
        if let Some(tls) = q2t_tls {
            for replica in [&mut one, &mut two] {
                let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
                replica.q2t_tls = Some((address, tls.client.clone()));
            }
        }
        let configs = [&one, &two].map(|r| {
            let mut config = r.config(&[&peer], json!({ "jdbc": jdbc }));
            if let Some(tls) = q2t_tls {
                let servers = config["serverConfigs"].as_array_mut().unwrap();
                let q2t = servers.iter_mut().find(|s| s["app"] == "Q2T").unwrap();
                q2t["sslConfig"] = tls.ssl.clone();
            }
            config
        });
        let running = [
            Some(one.start(&configs[0], &[])),
            Some(two.start(&configs[1], &[])),
        ];
        let peer_running = peer.start(&peer.config(&[&one, &two], json!({})), &[]);
        for replica in [&one, &two] {
            assert!(
                eventually(DISCOVERY, || replica
                    .known_keys()
                    .contains(&peer.public_key)),
                "{} never learnt the peer's key",
                replica.name
            );
        }
        Self {
            replicas: [one, two],
            configs,
            running,
            peer,
            peer_running,
            pg,
            root,
        }
    }

    /// A directory that lives as long as the party, for whatever runs beside it (proxies).
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Running replica `i`.
    pub fn node(&self, i: usize) -> &RunningNode {
        self.running[i]
            .as_ref()
            .unwrap_or_else(|| panic!("replica {} is not running", i + 1))
    }

    /// Running replica `i`, to signal or wait for.
    pub fn node_mut(&mut self, i: usize) -> &mut RunningNode {
        self.running[i]
            .as_mut()
            .unwrap_or_else(|| panic!("replica {} is not running", i + 1))
    }

    /// SIGKILLs replica `i` (if it runs).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut node) = self.running[i].take() {
            node.kill();
        }
    }

    /// Starts replica `i` again with its config.
    pub fn restart(&mut self, i: usize) {
        self.running[i] = Some(self.replicas[i].start(&self.configs[i], &[]));
    }

    /// Rows in the party's `ENCRYPTED_TRANSACTION`.
    pub fn stored(&self) -> usize {
        self.pg
            .sql(0, DATABASE, "SELECT COUNT(*) FROM ENCRYPTED_TRANSACTION")
            .trim()
            .parse()
            .unwrap()
    }
}
