//! The processes of the demo: A's two replicas, the proxy (A's `tm.ipc` and P2P front), B,
//! and the store. Each is a real `cloister` (or PostgreSQL) process, stopped when the
//! [`Party`] is dropped.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use cloister_addr::Endpoint;
use cloister_harness::http::{eventually, path_escape, Request};
use cloister_harness::nodes::{free_port, NodeDir, RunningNode};
use cloister_harness::postgres::{PgBinaries, PgCluster};
use cloister_harness::proxy::RunningProxy;
use cloister_protocol::path;
use serde_json::{json, Value};

use crate::load::Counts;
use crate::{DemoError, DemoSettings};

/// The database A's replicas share on PostgreSQL.
const DATABASE: &str = "party_a";

/// Which store `--store` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreChoice {
    /// PostgreSQL when its server binaries are here, SQLite otherwise.
    Auto,
    /// One SQLite file shared by both replicas.
    Sqlite,
    /// A PostgreSQL primary with a synchronous standby.
    Postgres,
}

impl std::str::FromStr for StoreChoice {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "auto" => Ok(Self::Auto),
            "sqlite" => Ok(Self::Sqlite),
            "postgres" => Ok(Self::Postgres),
            other => Err(format!("unknown store {other:?}: sqlite or postgres")),
        }
    }
}

/// The store the party runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// One SQLite file.
    Sqlite,
    /// A primary and a synchronous standby.
    Postgres,
}

/// Everything the demo started.
pub struct Party {
    /// A's replicas: their directories and configs.
    pub replicas: [NodeDir; 2],
    configs: [Value; 2],
    /// A's running replicas (`None` while one is down).
    pub running: [Option<RunningNode>; 2],
    /// B.
    pub peer: NodeDir,
    _peer_running: RunningNode,
    proxy: RunningProxy,
    /// A's `tm.ipc`: the proxy's socket.
    pub tm_ipc: PathBuf,
    /// The PostgreSQL pair, when the store is PostgreSQL.
    pub pg: Option<PgCluster>,
    /// The directory of configs and logs (kept when `--keep` named it).
    pub dir: PathBuf,
    _temporary: Option<tempfile::TempDir>,
}

impl Party {
    /// Starts every piece and waits until A and B know each other.
    pub fn start(settings: &DemoSettings, out: &mut dyn Write) -> Result<Self, DemoError> {
        cloister_harness::nodes::use_binary(std::env::current_exe()?);
        let (dir, temporary) = match &settings.keep {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                (dir.canonicalize()?, None)
            }
            None => {
                let temporary = tempfile::Builder::new()
                    .prefix("cloister-demo-")
                    .tempdir()?;
                (temporary.path().to_owned(), Some(temporary))
            }
        };
        let pg = store(settings, out)?;
        let jdbc = match &pg {
            Some(pg) => pg.jdbc(DATABASE, "connectTimeout=1", true),
            None => json!({ "url": format!("jdbc:sqlite:{}", dir.join("party-a.sqlite").display()),
                            "username": "", "password": "", "autoCreateTables": true }),
        };
        let one = NodeDir::new(&dir, "a1");
        let two = one.replica(&dir, "a2");
        let peer = NodeDir::new(&dir, "b");
        let front = format!("http://127.0.0.1:{}", free_port());
        let configs = [&one, &two].map(|replica| replica_config(replica, &peer, &front, &jdbc));
        let tm_ipc = dir.join("tm.ipc");
        let _ = writeln!(out, "starting A's replicas a1 and a2, the proxy on {} (A's tm.ipc) and at {front} (A's P2P front), and B, in {}", tm_ipc.display(), dir.display());
        let running = [one.start(&configs[0], &[]), two.start(&configs[1], &[])];
        let proxy = RunningProxy::start(
            &dir,
            &[],
            &json!({
                "listeners": [
                    { "listen": format!("unix:{}", tm_ipc.display()), "role": "q2t",
                      "upstreams": [one.q2t_url(), two.q2t_url()] },
                    { "listen": front, "role": "p2p", "upstreams": [one.p2p_url(), two.p2p_url()] },
                ],
                "timeouts": { "totalMs": 4700 },
                "health": { "intervalMs": 250 },
            }),
        );
        let mut peer_config = peer.config(&[], json!({}));
        peer_config["peer"] = json!([{ "url": front }]);
        let peer_running = peer.start(&peer_config, &[]);
        let party = Self {
            replicas: [one, two],
            configs,
            running: running.map(Some),
            peer,
            _peer_running: peer_running,
            proxy,
            tm_ipc,
            pg,
            dir,
            _temporary: temporary,
        };
        party.await_discovery()?;
        Ok(party)
    }

    /// The store the party runs on.
    pub fn store_kind(&self) -> StoreKind {
        if self.pg.is_some() {
            StoreKind::Postgres
        } else {
            StoreKind::Sqlite
        }
    }

    /// A's `tm.ipc`, as GoQuorum reaches it.
    pub fn tm_ipc(&self) -> Endpoint {
        Endpoint::Unix(self.tm_ipc.clone())
    }

    /// Starts replica `i` again on its config (after a kill or a drain).
    pub fn restart(&mut self, i: usize) {
        self.running[i] = Some(self.replicas[i].start(&self.configs[i], &[]));
    }

    /// Of `keys` (acknowledged sends), those A (through its `tm.ipc`) or B cannot read now.
    pub fn unreadable(&self, keys: &[String]) -> Vec<String> {
        let read = |target: &Endpoint, key: &str| {
            let path = format!("/transaction/{}?isRaw=false", path_escape(key));
            Request::new("GET", &path)
                .try_send(target, None)
                .is_ok_and(|r| r.status == 200)
        };
        let (a, b) = (self.tm_ipc(), self.peer.q2t());
        keys.iter()
            .filter(|key| !read(&a, key) || !read(&b, key))
            .cloned()
            .collect()
    }

    /// One live line: the second, the request rate since the last line, the tallies, which
    /// replicas serve and which database host takes the writes.
    pub fn live_line(&self, at: Duration, rate: f64, counts: &Counts) -> String {
        format!(
            "{:>5.1}s  {rate:>5.0} req/s  {:>6} acknowledged  {:>3} errors  replicas {}  store {}",
            at.as_secs_f64(),
            counts.acknowledged,
            counts.errors,
            self.serving(),
            self.writes_to()
        )
    }

    /// Which replicas the proxy sends requests to, per its `/status`.
    fn serving(&self) -> String {
        let status = Request::new("GET", "/status")
            .try_send(&self.proxy.admin, None)
            .map(|r| r.json())
            .unwrap_or_default();
        ["a1", "a2"]
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let healthy = status["listeners"][0]["upstreams"][i]["healthy"] == true;
                format!("{name}:{}", if healthy { "up" } else { "out" })
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The database server A writes to, per a running replica's `/health`.
    pub fn writes_to(&self) -> String {
        if self.pg.is_none() {
            return "sqlite (one file)".into();
        }
        self.replicas
            .iter()
            .zip(&self.running)
            .filter(|(_, running)| running.is_some())
            .find_map(|(replica, _)| {
                let health = Request::new("GET", path::HEALTH)
                    .try_send_within(&replica.q2t(), Duration::from_millis(500))
                    .ok()?
                    .json();
                health["store"]["server"].as_str().map(str::to_owned)
            })
            .unwrap_or_else(|| "-".into())
    }

    /// Waits until A's replicas know B's key and B knows A's (through the front).
    fn await_discovery(&self) -> Result<(), DemoError> {
        let knows = |node: &NodeDir, key: &str| node.known_keys().iter().any(|k| k == key);
        let ready = eventually(Duration::from_secs(30), || {
            self.replicas
                .iter()
                .all(|r| knows(r, &self.peer.public_key))
                && knows(&self.peer, &self.replicas[0].public_key)
        });
        if ready {
            Ok(())
        } else {
            Err(DemoError::Start(
                "A and B did not discover each other within 30 s".into(),
            ))
        }
    }
}

/// A replica's config: the shared store, B as its peer, the front as its advertised P2P URL
/// and its own address as `bindingAddress`.
fn replica_config(replica: &NodeDir, peer: &NodeDir, front: &str, jdbc: &Value) -> Value {
    let mut config = replica.config(&[peer], json!({ "jdbc": jdbc }));
    let p2p = &mut config["serverConfigs"][1];
    p2p["bindingAddress"] = json!(replica.p2p_url());
    p2p["serverAddress"] = json!(front);
    config
}

/// The store `settings` ask for: a PostgreSQL pair, or `None` for SQLite (saying why).
fn store(settings: &DemoSettings, out: &mut dyn Write) -> Result<Option<PgCluster>, DemoError> {
    let found = PgBinaries::find().map_err(|missing| missing.to_string());
    match (settings.store, found) {
        (StoreChoice::Sqlite, _) => Ok(None),
        (StoreChoice::Postgres, Err(missing)) => Err(DemoError::NoPostgres(missing)),
        (StoreChoice::Auto, Err(missing)) => {
            let _ = writeln!(out, "store: one SQLite file shared by both replicas (PostgreSQL's server binaries not found: {missing}; apt-get install postgresql, or set CLOISTER_PG_BIN, to see a database failover too)");
            Ok(None)
        }
        (_, Ok(bins)) => {
            let _ = writeln!(
                out,
                "store: a PostgreSQL primary and a synchronous standby ({})",
                bins.tool("postgres").display()
            );
            let pg = PgCluster::pair();
            pg.create_database(DATABASE);
            Ok(Some(pg))
        }
    }
}
