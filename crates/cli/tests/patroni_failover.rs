//! Cloister on a Patroni cluster (issue 14, first part): two `cloister node` replicas of one
//! party (one key pair) on a two-member Patroni cluster in synchronous mode, a peer on SQLite,
//! and writers sending continuously to both replicas. The primary's PostgreSQL is SIGKILLed, or
//! a switchover is requested; Patroni promotes the standby on its own, the replicas follow the
//! multi-host JDBC URL to it without a restart, every acknowledged send is readable afterwards
//! through both replicas and the recipient, no read answers 404 meanwhile, and the old primary
//! rejoins as the synchronous standby without anyone touching it.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cloister_addr::Endpoint;
use cloister_core::b64;
use cloister_harness::http::{eventually, path_escape, Request};
use cloister_harness::nodes::{NodeDir, RunningNode};
use cloister_harness::patroni::PatroniCluster;
use cloister_harness::proxy::RunningProxy;
use serde_json::json;

const DATABASE: &str = "cloister";
/// Writers, each sending to the replicas in turn.
const WRITERS: usize = 4;

/// One cluster at a time: the failover times are the measurement, and three clusters on two
/// cores would stretch them.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the load saw.
#[derive(Default)]
struct Seen {
    /// Keys of acknowledged sends, with when they were acknowledged.
    acknowledged: Vec<(String, Instant)>,
    /// Failed sends (status and text).
    failed_sends: Vec<String>,
    /// Reads of acknowledged keys that answered 404.
    false_not_found: Vec<String>,
    /// The slowest acknowledged send.
    slowest: Duration,
}

/// GoQuorum's `--ptm.timeout`: an answer later than this is an error to the user.
const GOQUORUM_TIMEOUT: Duration = Duration::from_secs(5);

/// The proxy's `timeouts.totalMs` in front of replicas on Patroni.
const PROXY_BUDGET: Duration = Duration::from_millis(4700);

fn send(target: &Endpoint, to: &str, payload: &str) -> Result<String, String> {
    let started = Instant::now();
    let sent = Request::new("POST", "/send")
        .json(&json!({ "payload": b64::encode(payload.as_bytes()), "to": [to] }))
        .try_send(target, None)
        .map_err(|e| e.to_string())?;
    if started.elapsed() > GOQUORUM_TIMEOUT {
        return Err(format!("answered after {:?}", started.elapsed()));
    }
    match sent.status {
        201 => Ok(sent.json()["key"].as_str().unwrap().to_owned()),
        status => Err(format!("{status} {}", sent.text())),
    }
}

fn read(target: &Endpoint, key: &str) -> Option<u16> {
    let path = format!("/transaction/{}?isRaw=false", path_escape(key));
    Request::new("GET", &path)
        .try_send(target, None)
        .ok()
        .map(|r| r.status)
}

/// Two replicas of one party on the Patroni cluster, and a peer on SQLite.
struct Party {
    cluster: PatroniCluster,
    replicas: Arc<[NodeDir; 2]>,
    peer: NodeDir,
    _running: Vec<RunningNode>,
    root: tempfile::TempDir,
}

impl Party {
    /// On a two-member Patroni cluster over a one-member etcd.
    fn start() -> Self {
        Self::start_on(1)
    }

    /// On a two-member Patroni cluster over an etcd cluster of `etcd_members`.
    fn start_on(etcd_members: usize) -> Self {
        cloister_harness::nodes::use_binary(env!("CARGO_BIN_EXE_cloister"));
        let cluster = PatroniCluster::start_with(2, etcd_members);
        let leader = cluster.leader().unwrap();
        cluster.sql(leader, "postgres", &format!("CREATE DATABASE {DATABASE}"));
        let root = tempfile::tempdir().unwrap();
        let one = NodeDir::new(root.path(), "replica1");
        let two = one.replica(root.path(), "replica2");
        let peer = NodeDir::new(root.path(), "peer");
        let jdbc = cluster.jdbc(DATABASE, "connectTimeout=1");
        let mut running: Vec<RunningNode> = [&one, &two]
            .iter()
            .map(|r| r.start(&r.config(&[&peer], json!({ "jdbc": jdbc })), &[]))
            .collect();
        running.push(peer.start(&peer.config(&[&one, &two], json!({})), &[]));
        for replica in [&one, &two] {
            assert!(eventually(Duration::from_secs(30), || replica
                .known_keys()
                .contains(&peer.public_key)));
        }
        Self {
            cluster,
            replicas: Arc::new([one, two]),
            peer,
            _running: running,
            root,
        }
    }

    /// A `cloister proxy` on a unix socket in front of both replicas, as GoQuorum's `tm.ipc`.
    fn proxy(&self) -> (RunningProxy, Endpoint) {
        let socket = self.root.path().join("proxy.ipc");
        let mut args = vec!["--listen".to_owned(), format!("unix:{}", socket.display())];
        for replica in self.replicas.iter() {
            args.extend(["--upstream".to_owned(), replica.q2t_url()]);
        }
        // The budget an operator on Patroni sets: all of GoQuorum's 5 s but the time to answer
        // (docs/proxy.md), so a promotion of up to ~4 s still reaches GoQuorum as a slow send.
        let config = json!({ "timeouts": { "totalMs": PROXY_BUDGET.as_millis() as u64 } });
        let proxy = RunningProxy::start(self.root.path(), &args, &config);
        (proxy, Endpoint::Unix(socket))
    }

    /// Runs the writers (to the replicas in turn, or all through `via`), applies `fault` after
    /// 2 s (it returns the member that led before),
    /// waits for a new leader and for acknowledged sends after it, and checks what the issue
    /// asks of every fault: writes resume, every acknowledged send is readable through both
    /// replicas and the recipient, no read answered 404, and the old leader rejoins as the
    /// synchronous standby.
    fn survives(
        &self,
        what: &str,
        via: Option<&Endpoint>,
        fault: impl FnOnce(&PatroniCluster) -> usize,
    ) -> Vec<String> {
        let load = self.load(via);
        let seen = load.seen.clone();
        std::thread::sleep(Duration::from_secs(2));
        let faulted = Instant::now();
        let old = fault(&self.cluster);
        let new = self
            .cluster
            .await_new_leader(old, Duration::from_secs(60))
            .unwrap_or_else(|| panic!("{what}: Patroni never promoted: {}", self.cluster.logs()));
        let promoted = faulted.elapsed();
        let resumed = eventually(Duration::from_secs(30), || {
            seen.lock()
                .unwrap()
                .acknowledged
                .iter()
                .any(|(_, at)| *at > faulted + promoted)
        });
        std::thread::sleep(Duration::from_secs(2));
        let seen = load.finish();
        eprintln!(
            "{what}: member {new} leads {promoted:?} after the fault; {} sends acknowledged, {} failed, the slowest in {:?}",
            seen.acknowledged.len(),
            seen.failed_sends.len(),
            seen.slowest
        );
        assert!(
            resumed,
            "{what}: writes never resumed: {:?}",
            seen.failed_sends.last()
        );
        assert!(
            seen.false_not_found.is_empty(),
            "{what}: acknowledged sends read as 404: {:?}",
            seen.false_not_found
        );
        self.all_readable(what, &seen);
        assert!(
            eventually(Duration::from_secs(90), || self.cluster.sync_standby()
                == Some(old)),
            "{what}: the old leader never rejoined as the synchronous standby: {}",
            self.cluster.logs()
        );
        // Each replica's /health (on its socket) names the new primary and its standby.
        let writes_to = self.cluster.address(new);
        for replica in self.replicas.iter() {
            let health = || {
                Request::new("GET", "/health")
                    .try_send(&replica.q2t(), None)
                    .map(|r| r.json())
                    .unwrap_or_default()
            };
            let named = eventually(Duration::from_secs(10), || {
                let store = &health()["store"];
                store["server"] == writes_to.as_str() && store["synchronousStandbys"] == 1
            });
            assert!(named, "{what}: {} /health: {}", replica.name, health());
        }
        seen.failed_sends.clone()
    }
}

impl Party {
    /// Starts the writers: to the replicas in turn, or all through `via`.
    fn load(&self, via: Option<&Endpoint>) -> Load {
        let to = self.peer.public_key.clone();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let targets: [Endpoint; 2] = match via {
            Some(proxy) => [proxy.clone(), proxy.clone()],
            None => [self.replicas[0].q2t(), self.replicas[1].q2t()],
        };
        let writers = (0..WRITERS)
            .map(|id| {
                let (targets, to, seen, stop) =
                    (targets.clone(), to.clone(), seen.clone(), stop.clone());
                std::thread::spawn(move || write(id, &targets, &to, &seen, &stop))
            })
            .collect();
        Load {
            seen,
            stop,
            writers,
        }
    }

    /// Every acknowledged send is readable through both replicas and the recipient.
    fn all_readable(&self, what: &str, seen: &Seen) {
        for (key, _) in &seen.acknowledged {
            for node in [&self.replicas[0], &self.replicas[1], &self.peer] {
                let status = read(&node.q2t(), key);
                assert_eq!(status, Some(200), "{what}: {key} on {}", node.name);
            }
        }
    }
}

/// Writers running.
struct Load {
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    writers: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    /// Stops the writers; what they saw.
    fn finish(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        for writer in self.writers {
            writer.join().unwrap();
        }
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

/// One writer: sends to the targets in turn until stopped, reading each acknowledged send back
/// through the other at once.
fn write(id: usize, targets: &[Endpoint; 2], to: &str, seen: &Mutex<Seen>, stop: &AtomicBool) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let started = Instant::now();
        match send(&targets[n % 2], to, &format!("writer {id} send {n}")) {
            Ok(key) => {
                let took = started.elapsed();
                let mut seen_now = seen.lock().unwrap();
                seen_now.slowest = seen_now.slowest.max(took);
                drop(seen_now);
                if read(&targets[(n + 1) % 2], &key) == Some(404) {
                    seen.lock().unwrap().false_not_found.push(key.clone());
                }
                seen.lock()
                    .unwrap()
                    .acknowledged
                    .push((key, Instant::now()));
            }
            Err(error) => {
                seen.lock().unwrap().failed_sends.push(error);
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn crash(cluster: &PatroniCluster) -> usize {
    let old = cluster.leader().unwrap();
    cluster.kill_postgres(old);
    old
}

fn switchover(cluster: &PatroniCluster) -> usize {
    let old = cluster.leader().unwrap();
    cluster.switchover(old);
    old
}

#[test]
fn patroni_promotes_on_a_primary_crash_and_every_acknowledged_send_survives() {
    let _turn = serial();
    let party = Party::start();
    party.survives("SIGKILL of the primary's PostgreSQL", None, crash);
    // What GoQuorum sees through its tm.ipc proxy: the gap fits in the proxy's budget.
    let (proxy, via) = party.proxy();
    let failed = party.survives("SIGKILL, through the proxy", Some(&via), crash);
    assert!(
        failed.is_empty(),
        "GoQuorum saw errors: {failed:?}\n{}",
        proxy.log_text()
    );
}

#[test]
fn a_switchover_moves_the_primary_and_every_acknowledged_send_survives() {
    let _turn = serial();
    let party = Party::start();
    party.survives("switchover", None, switchover);
    let (proxy, via) = party.proxy();
    let failed = party.survives("switchover, through the proxy", Some(&via), switchover);
    assert!(
        failed.is_empty(),
        "GoQuorum saw errors: {failed:?}\n{}",
        proxy.log_text()
    );
}

#[test]
fn losing_the_etcd_leader_moves_no_primary_and_costs_no_write() {
    let _turn = serial();
    let mut party = Party::start_on(3);
    let leader = party.cluster.leader().unwrap();
    let etcd_leader = party.cluster.etcd_leader().expect("an etcd leader");
    let load = party.load(None);
    std::thread::sleep(Duration::from_secs(2));
    party.cluster.kill_etcd(etcd_leader);
    // Longer than Patroni's retry_timeout (5 s): the primary must keep its lock through the
    // etcd election, not merely outlast it.
    std::thread::sleep(Duration::from_secs(8));
    let seen = load.finish();
    eprintln!(
        "etcd leader lost: {} sends acknowledged, {} failed; new etcd leader: {:?}",
        seen.acknowledged.len(),
        seen.failed_sends.len(),
        party.cluster.etcd_leader()
    );
    assert!(
        seen.failed_sends.is_empty(),
        "{:?}",
        &seen.failed_sends[..seen.failed_sends.len().min(5)]
    );
    assert_eq!(
        party.cluster.leader(),
        Some(leader),
        "{}",
        party.cluster.logs()
    );
    assert!(party.cluster.sync_standby().is_some());
    assert!(party
        .cluster
        .etcd_leader()
        .is_some_and(|l| l != etcd_leader));
    party.all_readable("etcd leader lost", &seen);
}
