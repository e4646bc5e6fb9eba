//! Cloister on a Patroni cluster (`cloister-bench patroni`, and the Patroni failover tests): two
//! `cloister node` replicas of one party (one key pair) on a two-member Patroni cluster in
//! synchronous mode, a peer on SQLite, and writers sending `/send` continuously (to the
//! replicas in turn, reading each acknowledged send back through the other, or all through a
//! `cloister proxy` on a unix socket, as GoQuorum's `tm.ipc`). A [`Fault`] is applied and
//! Patroni left to promote on its own; a [`FaultRun`] is what the writers saw, timed against
//! the moment the new leader took the lock.
//!
//! The benchmark repeats each fault on one cluster (each run waits until the old leader is
//! back as the synchronous standby) and prints one row per run.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use clap::Args;
use cloister_addr::Endpoint;
use cloister_core::b64;
use cloister_harness::http::{eventually, path_escape, Request};
use cloister_harness::nodes::{NodeDir, RunningNode};
use cloister_harness::patroni::{self, PatroniCluster, Synchronous};
use cloister_harness::proxy::RunningProxy;
use cloister_protocol::{path, GOQUORUM_PTM_TIMEOUT};
use serde_json::json;

use crate::report::{verdict, whole_millis};

/// The database the replicas share.
const DATABASE: &str = "cloister";

/// Writers, each sending back to back.
pub const WRITERS: usize = 4;

/// The proxy's `timeouts.totalMs` in front of replicas on Patroni: all of GoQuorum's 5 s but
/// the time to answer (docs/proxy.md), so that a promotion of up to ~4 s reaches GoQuorum as
/// a slow send, not a failed one.
pub const PROXY_BUDGET: Duration = Duration::from_millis(4700);

/// How long the writers run before the fault, and after the first write on the new primary.
const STEADY: Duration = Duration::from_secs(2);

/// How long Patroni may take to promote (a hung leader costs `ttl` and more).
const PROMOTION_PATIENCE: Duration = Duration::from_secs(60);

/// How long the old leader may take to come back as the synchronous standby (pg_rewind,
/// restart, catching up).
const REJOIN_PATIENCE: Duration = Duration::from_secs(90);

/// A fault Patroni must handle on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL of the primary's PostgreSQL (postmaster and backends); Patroni lives on.
    Crash,
    /// SIGSTOP of the primary's Patroni and PostgreSQL, woken (SIGCONT) once another member
    /// leads: a machine that stops answering, then comes back.
    Hang,
    /// A switchover to the synchronous standby (`POST /switchover`, as `patronictl` sends).
    Switchover,
}

impl Fault {
    /// Every fault, in the benchmark's order.
    pub const ALL: [Self; 3] = [Self::Switchover, Self::Crash, Self::Hang];

    /// The fault's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Crash => "crash",
            Self::Hang => "hang",
            Self::Switchover => "switchover",
        }
    }

    /// Applies the fault to the cluster's leader; which member that was.
    fn apply(self, cluster: &PatroniCluster) -> usize {
        let old = cluster.leader().expect("a leader before the fault");
        match self {
            Self::Crash => cluster.kill_postgres(old),
            Self::Hang => cluster.hang(old),
            Self::Switchover => cluster.switchover(old),
        }
        old
    }

    /// Undoes what needs undoing once member `new` leads.
    fn heal(self, cluster: &PatroniCluster, old: usize) {
        if self == Self::Hang {
            cluster.resume(old);
        }
    }
}

impl std::str::FromStr for Fault {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| format!("unknown fault {name:?}: crash, hang or switchover"))
    }
}

/// A send that failed, and how long the writer waited for it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Status and body, or the transport error.
    pub error: String,
    /// From sending to the answer.
    pub took: Duration,
}

/// What the writers saw during one fault.
#[derive(Debug, Clone)]
pub struct FaultRun {
    /// The fault.
    pub fault: Fault,
    /// The member that led before, and the one that leads after.
    pub old: usize,
    /// The member that leads after.
    pub new: usize,
    /// From the fault to the new leader reporting itself the running primary.
    pub promoted_after: Duration,
    /// From the new leader taking the lock (its log) to the first acknowledged send after it.
    pub lock_to_first_write: Option<Duration>,
    /// From the last send acknowledged before the lock was taken to the first one after: the
    /// failover gap the writers saw.
    pub gap: Option<Duration>,
    /// Keys of the acknowledged sends.
    pub acknowledged: Vec<String>,
    /// Sends that failed.
    pub failed: Vec<Failure>,
    /// Acknowledged sends that a read through the other target answered 404.
    pub false_not_found: Vec<String>,
    /// The slowest acknowledged send.
    pub slowest: Duration,
}

impl FaultRun {
    /// Whether sends were acknowledged after the new leader took the lock.
    pub fn resumed(&self) -> bool {
        self.lock_to_first_write.is_some()
    }
}

/// Two replicas of one party on a Patroni cluster, and a peer on SQLite.
pub struct Party {
    /// The database cluster.
    pub cluster: PatroniCluster,
    replicas: [NodeDir; 2],
    peer: NodeDir,
    _running: Vec<RunningNode>,
    root: tempfile::TempDir,
}

impl Party {
    /// Starts the party on a two-member Patroni cluster over an etcd cluster of
    /// `etcd_members`, and waits until both replicas know the peer.
    pub fn start(etcd_members: usize, synchronous: Synchronous) -> Self {
        let cluster = PatroniCluster::start_with(2, etcd_members, synchronous);
        let leader = cluster.leader().expect("a leader");
        cluster.sql(leader, "postgres", &format!("CREATE DATABASE {DATABASE}"));
        let root = tempfile::tempdir().expect("a temporary directory");
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
            let known = eventually(Duration::from_secs(30), || {
                replica.known_keys().contains(&peer.public_key)
            });
            assert!(known, "{} never learnt the peer's key", replica.name);
        }
        Self {
            cluster,
            replicas: [one, two],
            peer,
            _running: running,
            root,
        }
    }

    /// A `cloister proxy` on a unix socket in front of both replicas, as GoQuorum's `tm.ipc`,
    /// with the budget an operator on Patroni sets ([`PROXY_BUDGET`]).
    pub fn proxy(&self) -> (RunningProxy, Endpoint) {
        let socket = self.root.path().join("proxy.ipc");
        let mut args = vec!["--listen".to_owned(), format!("unix:{}", socket.display())];
        for replica in &self.replicas {
            args.extend(["--upstream".to_owned(), replica.q2t_url()]);
        }
        let config = json!({ "timeouts": { "totalMs": PROXY_BUDGET.as_millis() as u64 } });
        let proxy = RunningProxy::start(self.root.path(), &args, &config);
        (proxy, Endpoint::Unix(socket))
    }

    /// Runs the writers (to the replicas in turn, or all through `via`), applies `fault`
    /// after [`STEADY`], waits for Patroni to promote another member and for sends to be
    /// acknowledged after it, heals the fault, and returns what the writers saw.
    ///
    /// # Panics
    /// If Patroni never promotes (with its logs).
    pub fn run_fault(&self, fault: Fault, via: Option<&Endpoint>) -> FaultRun {
        let load = self.load(via);
        std::thread::sleep(STEADY);
        let faulted = Instant::now();
        let faulted_at = SystemTime::now();
        let old = fault.apply(&self.cluster);
        let new = self
            .cluster
            .await_new_leader(old, PROMOTION_PATIENCE)
            .unwrap_or_else(|| {
                panic!(
                    "{}: Patroni never promoted: {}",
                    fault.name(),
                    self.cluster.logs()
                )
            });
        let promoted_after = faulted.elapsed();
        fault.heal(&self.cluster, old);
        let lock = self.cluster.lock_taken(new, faulted_at);
        let after_lock = |at: &SystemTime| lock.is_some_and(|lock| *at > lock);
        eventually(Duration::from_secs(30), || {
            seen(&load.seen)
                .acknowledged
                .iter()
                .any(|(_, at)| after_lock(at))
        });
        std::thread::sleep(STEADY);
        let seen = load.finish();
        let first_after = seen
            .acknowledged
            .iter()
            .map(|(_, at)| *at)
            .filter(after_lock)
            .min();
        let last_before = seen
            .acknowledged
            .iter()
            .map(|(_, at)| *at)
            .filter(|at| !after_lock(at))
            .max();
        let since = |from: Option<SystemTime>| {
            first_after
                .zip(from)
                .and_then(|(to, from)| to.duration_since(from).ok())
        };
        FaultRun {
            fault,
            old,
            new,
            promoted_after,
            lock_to_first_write: since(lock),
            gap: since(last_before),
            acknowledged: seen.acknowledged.into_iter().map(|(key, _)| key).collect(),
            failed: seen.failed,
            false_not_found: seen.false_not_found,
            slowest: seen.slowest,
        }
    }

    /// Of `acknowledged` (sends' keys), those a replica or the recipient cannot read now,
    /// with where.
    pub fn unreadable<'a>(
        &self,
        acknowledged: impl IntoIterator<Item = &'a String>,
    ) -> Vec<String> {
        let nodes = [&self.replicas[0], &self.replicas[1], &self.peer];
        acknowledged
            .into_iter()
            .flat_map(|key| nodes.into_iter().map(move |node| (key, node)))
            .filter(|(key, node)| read(&node.q2t(), key) != Some(200))
            .map(|(key, node)| format!("{key} on {}", node.name))
            .collect()
    }

    /// Waits until member `old` is back as the synchronous standby; whether it came.
    pub fn rejoined(&self, old: usize) -> bool {
        eventually(REJOIN_PATIENCE, || self.cluster.sync_standby() == Some(old))
    }

    /// Each replica's `/health` (on its socket), once it names member `primary` as the server
    /// it writes to with `standbys` synchronous standbys, or as it last read.
    pub fn health_names(&self, primary: usize, standbys: u64) -> Result<(), String> {
        let writes_to = self.cluster.address(primary);
        for replica in &self.replicas {
            let health = || {
                Request::new("GET", path::HEALTH)
                    .try_send(&replica.q2t(), None)
                    .map(|r| r.json())
                    .unwrap_or_default()
            };
            let named = eventually(Duration::from_secs(10), || {
                let store = &health()["store"];
                store["server"] == writes_to.as_str() && store["synchronousStandbys"] == standbys
            });
            if !named {
                return Err(format!("{} /health: {}", replica.name, health()));
            }
        }
        Ok(())
    }

    /// One `/send` to the peer through replica `i`.
    pub fn send_through(&self, i: usize, payload: &str) -> Result<String, Failure> {
        send(&self.replicas[i].q2t(), &self.peer.public_key, payload)
    }

    /// Starts the writers: to the replicas in turn, or all through `via`.
    pub fn load(&self, via: Option<&Endpoint>) -> Load {
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
}

/// What the writers saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Keys of acknowledged sends, with when they were acknowledged.
    pub acknowledged: Vec<(String, SystemTime)>,
    /// Sends that failed.
    pub failed: Vec<Failure>,
    /// Acknowledged sends that a read through the other target answered 404.
    pub false_not_found: Vec<String>,
    /// The slowest acknowledged send.
    pub slowest: Duration,
}

/// What the writers saw so far (a writer that panicked holding it left it consistent: each
/// change is one push).
fn seen(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Writers running.
pub struct Load {
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    writers: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    /// Stops the writers; what they saw.
    pub fn finish(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        for writer in self.writers {
            writer.join().expect("a writer panicked");
        }
        std::mem::take(&mut *seen(&self.seen))
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
                let acknowledged = SystemTime::now();
                let took = started.elapsed();
                let stale = read(&targets[(n + 1) % 2], &key) == Some(404);
                let mut seen = self::seen(seen);
                seen.slowest = seen.slowest.max(took);
                if stale {
                    seen.false_not_found.push(key.clone());
                }
                seen.acknowledged.push((key, acknowledged));
            }
            Err(failure) => {
                self::seen(seen).failed.push(failure);
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// A `/send` of `payload` to `to` through `target`, failed if answered later than GoQuorum
/// waits.
fn send(target: &Endpoint, to: &str, payload: &str) -> Result<String, Failure> {
    let started = Instant::now();
    let failure = |error: String| Failure {
        error,
        took: started.elapsed(),
    };
    let sent = Request::new("POST", path::SEND)
        .json(&json!({ "payload": b64::encode(payload.as_bytes()), "to": [to] }))
        .try_send(target, None)
        .map_err(|e| failure(e.to_string()))?;
    if started.elapsed() > GOQUORUM_PTM_TIMEOUT {
        return Err(failure(format!("answered after {:?}", started.elapsed())));
    }
    match sent.status {
        201 => Ok(sent.json()["key"].as_str().unwrap_or_default().to_owned()),
        status => Err(failure(format!("{status} {}", sent.text()))),
    }
}

/// The status of `GET /transaction/{key}` through `target`, if it answered.
fn read(target: &Endpoint, key: &str) -> Option<u16> {
    let path = format!("/transaction/{}?isRaw=false", path_escape(key));
    Request::new("GET", &path)
        .try_send(target, None)
        .ok()
        .map(|r| r.status)
}

/// `cloister-bench patroni`'s command line.
#[derive(Debug, Clone, Args)]
pub struct PatroniBench {
    /// Runs per fault.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,

    /// Which faults (default: switchover, crash, hang).
    #[arg(long, value_delimiter = ',')]
    pub faults: Vec<Fault>,

    /// Writers send to the replicas directly instead of through `cloister proxy`.
    #[arg(long)]
    pub direct: bool,
}

/// The goal: the first acknowledged send within this long of the new leader's lock.
const LOCK_TO_WRITE_GOAL: Duration = Duration::from_millis(500);

/// The goal for a planned switchover's gap.
const SWITCHOVER_GAP_GOAL: Duration = Duration::from_secs(2);

/// Runs every fault `settings.runs` times on one party, printing a row per run and the goals.
pub fn run(settings: &PatroniBench, out: &mut dyn Write) -> anyhow::Result<()> {
    let faults = if settings.faults.is_empty() {
        Fault::ALL.to_vec()
    } else {
        settings.faults.clone()
    };
    writeln!(
        out,
        "cloister-bench patroni: 2 replicas on a 2-member Patroni cluster (synchronous_mode, etcd3), {WRITERS} writers {}; ttl {} s, loop_wait {} s, retry_timeout {} s; Cloister connectTimeout 1 s, statement timeout 5 s",
        if settings.direct { "to the replicas directly".to_owned() } else { format!("through cloister proxy on a unix socket (totalMs {})", PROXY_BUDGET.as_millis()) },
        patroni::TTL.as_secs(),
        patroni::LOOP_WAIT.as_secs(),
        patroni::RETRY_TIMEOUT.as_secs(),
    )?;
    writeln!(
        out,
        "{:<11} {:>3} {:>10} {:>12} {:>9} {:>6} {:>6} {:>5} {:>8} {:>10}",
        "fault",
        "run",
        "promoted",
        "lock->write",
        "gap",
        "acked",
        "errors",
        "lost",
        "false404",
        "slowest"
    )?;
    let party = Party::start(1, Synchronous::Preferred);
    let proxy = (!settings.direct).then(|| party.proxy());
    let via = proxy.as_ref().map(|(_, endpoint)| endpoint);
    let mut all = Vec::new();
    for fault in faults {
        for index in 1..=settings.runs {
            let run = party.run_fault(fault, via);
            let lost = party.unreadable(&run.acknowledged).len();
            writeln!(
                out,
                "{:<11} {index:>3} {:>10} {:>12} {:>9} {:>6} {:>6} {lost:>5} {:>8} {:>10}",
                fault.name(),
                whole_millis(Some(run.promoted_after)),
                whole_millis(run.lock_to_first_write),
                whole_millis(run.gap),
                run.acknowledged.len(),
                run.failed.len(),
                run.false_not_found.len(),
                whole_millis(Some(run.slowest)),
            )?;
            anyhow::ensure!(
                party.rejoined(run.old),
                "the old leader never rejoined: {}",
                party.cluster.logs()
            );
            all.push((run, lost));
        }
    }
    writeln!(out, "{}", goals(&all))?;
    Ok(())
}

/// The goals, over every run.
fn goals(runs: &[(FaultRun, usize)]) -> String {
    let worst = |of: &dyn Fn(&FaultRun) -> Option<Duration>, only: Option<Fault>| {
        runs.iter()
            .filter(|(r, _)| only.is_none_or(|f| r.fault == f))
            .map(|(r, _)| of(r))
            .max()
            .flatten()
    };
    let lock = worst(&|r| r.lock_to_first_write, None);
    let every_resumed = runs.iter().all(|(r, _)| r.resumed());
    let switchover = worst(&|r| r.gap, Some(Fault::Switchover));
    let errors: usize = runs
        .iter()
        .filter(|(r, _)| r.fault != Fault::Hang)
        .map(|(r, _)| r.failed.len())
        .sum();
    let lost: usize = runs.iter().map(|(_, lost)| lost).sum();
    format!(
        "goals: lock->first write < {} ms in every run (worst {}): {}; switchover gap < {} ms (worst {}): {}; errors on switchover and crash: {errors}: {}; acknowledged sends lost: {lost}: {}",
        LOCK_TO_WRITE_GOAL.as_millis(),
        whole_millis(lock),
        verdict(every_resumed && lock.is_some_and(|w| w < LOCK_TO_WRITE_GOAL)),
        SWITCHOVER_GAP_GOAL.as_millis(),
        whole_millis(switchover),
        verdict(switchover.is_none_or(|w| w < SWITCHOVER_GAP_GOAL)),
        verdict(errors == 0),
        verdict(lost == 0),
    )
}
