//! A Patroni cluster on loopback: an etcd cluster (one member, or three to lose one) as its
//! consensus store and two or more PostgreSQL members managed by Patroni, in `synchronous_mode`, so that promotions happen on
//! their own, as in production. Everything runs as the unprivileged user the PostgreSQL harness
//! uses when the tests run as root.
//!
//! Patroni comes from `$CLOISTER_PATRONI`, else the virtual environment `scripts/test.sh` makes
//! with the system Python (`/opt/cloister-test/patroni` as root, so that the unprivileged user
//! can read it wherever the checkout is; the workspace's `.cache/patroni` otherwise). The
//! interpreter must be one that user can execute: Patroni re-executes it to start PostgreSQL.
//! etcd is Debian's `etcd-server`.
//!
//! Timings are Patroni's floor: [`TTL`] 20 s (the least Patroni accepts), [`LOOP_WAIT`] 1 s,
//! [`RETRY_TIMEOUT`] 5 s (`loop_wait + 2 × retry_timeout ≤ ttl`), `primary_start_timeout` 0 (a
//! crashed primary fails over instead of being restarted in place). Patroni logs seconds since
//! the epoch, so that a benchmark can tell when a member took the lock.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, SystemTime};

use cloister_addr::Endpoint;
use serde_json::{json, Value};

use crate::http::{eventually, Request};
use crate::nodes::free_port;
use crate::postgres::{
    jdbc_section, kill_node, loopback_hosts, psql, signal_node, PgBinaries, RunAs, PASSWORD,
    SUPERUSER,
};
use crate::signal;
use crate::watchdog::run_when_this_process_ends;

/// Patroni's `ttl`: how long a leader's key outlives its last renewal (the least Patroni
/// accepts).
pub const TTL: Duration = Duration::from_secs(20);

/// Patroni's `loop_wait`: the pause between two runs of its HA loop.
pub const LOOP_WAIT: Duration = Duration::from_secs(1);

/// Patroni's `retry_timeout`: how long it retries etcd and PostgreSQL before demoting.
pub const RETRY_TIMEOUT: Duration = Duration::from_secs(5);

/// The Patroni scope (cluster name in etcd).
const SCOPE: &str = "cloister";

/// How long the harness waits for a member's REST API (a hung member never answers).
const REST_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a fresh cluster may take to elect a leader and stream to a synchronous standby.
const BOOTSTRAP: Duration = Duration::from_secs(90);

/// Where Patroni is: `$CLOISTER_PATRONI`, else where `scripts/test.sh` installs it.
fn patroni_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CLOISTER_PATRONI") {
        return PathBuf::from(path);
    }
    let system = PathBuf::from("/opt/cloister-test/patroni/bin/patroni");
    if system.exists() {
        return system;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/patroni/bin/patroni")
}

/// One PostgreSQL member and its Patroni.
struct Member {
    name: String,
    rest: SocketAddr,
    port: u16,
    data: PathBuf,
    config: PathBuf,
    log: PathBuf,
    patroni: Option<Child>,
}

/// One etcd member.
struct Etcd {
    client: SocketAddr,
    child: Option<Child>,
}

/// A Patroni cluster with its etcd; everything is killed and removed when dropped.
pub struct PatroniCluster {
    bins: PgBinaries,
    root: tempfile::TempDir,
    run_as: Option<RunAs>,
    etcd: Vec<Etcd>,
    members: Vec<Member>,
    watchdog: Option<(Child, ChildStdin)>,
    synchronous: Synchronous,
}

/// How Patroni keeps a synchronous standby.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// `synchronous_mode`: commits wait for a synchronous standby while there is one; with
    /// none left, Patroni lets the primary commit alone.
    Preferred,
    /// `synchronous_mode_strict` as well: with no synchronous standby, commits wait.
    Strict,
}

impl PatroniCluster {
    /// Starts a one-member etcd and `members` Patroni members, and waits until one leads and
    /// another streams to it as its synchronous standby.
    ///
    /// # Panics
    /// If a binary is missing or the cluster does not form in time (with the logs).
    pub fn start(members: usize) -> Self {
        Self::start_with(members, 1, Synchronous::Preferred)
    }

    /// The same on an etcd cluster of `etcd_members`, in `synchronous` mode.
    pub fn start_with(members: usize, etcd_members: usize, synchronous: Synchronous) -> Self {
        let bins = PgBinaries::find().unwrap_or_else(|e| panic!("{e}"));
        let patroni = patroni_binary();
        assert!(
            patroni.exists(),
            "Patroni is missing at {} (scripts/test.sh installs it; or set CLOISTER_PATRONI)",
            patroni.display()
        );
        let root = tempfile::Builder::new()
            .prefix("cloister-patroni-")
            .tempdir()
            .unwrap();
        let run_as = RunAs::when_root();
        if let Some(user) = run_as {
            std::os::unix::fs::chown(root.path(), Some(user.uid), Some(user.gid)).unwrap();
        }
        let watchdog = Some(watchdog(root.path()));
        let etcd = start_etcd(root.path(), run_as, etcd_members);
        let mut cluster = Self {
            bins,
            root,
            run_as,
            etcd,
            members: Vec::new(),
            watchdog,
            synchronous,
        };
        for i in 0..members {
            let member = cluster.member(i);
            cluster.members.push(member);
            cluster.start_patroni(i);
        }
        let formed = eventually(BOOTSTRAP, || {
            cluster.leader().is_some() && cluster.sync_standby().is_some()
        });
        assert!(
            formed,
            "the Patroni cluster did not form: {}",
            cluster.logs()
        );
        cluster
    }

    fn member(&self, i: usize) -> Member {
        let name = format!("pg{i}");
        let dir = self.root.path();
        let member = Member {
            rest: SocketAddr::from(([127, 0, 0, 1], free_port())),
            port: free_port(),
            data: dir.join(&name),
            config: dir.join(format!("{name}.yml")),
            log: dir.join(format!("{name}.log")),
            name,
            patroni: None,
        };
        // JSON is YAML: no YAML writer needed.
        let etcd: Vec<String> = self.etcd.iter().map(|e| e.client.to_string()).collect();
        let config = member_config(&member, &etcd.join(","), &self.bins, dir, self.synchronous);
        std::fs::write(&member.config, config.to_string()).unwrap();
        self.give(&member.config);
        member
    }

    /// Starts member `i`'s Patroni (which starts its PostgreSQL).
    pub fn start_patroni(&mut self, i: usize) {
        let member = &self.members[i];
        let log = std::fs::File::create(&member.log).unwrap();
        self.give(&member.log);
        let program = patroni_binary();
        let mut command = match self.run_as {
            Some(user) => user.command(&program),
            None => Command::new(&program),
        };
        let child = command
            .arg(&member.config)
            .current_dir(self.root.path())
            .env("HOME", self.root.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.members[i].patroni = Some(child);
    }

    fn give(&self, path: &Path) {
        if let Some(user) = self.run_as {
            std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid)).unwrap();
        }
    }

    /// Member `i`'s state as its Patroni reports it (`GET /patroni`), if it answers.
    pub fn state(&self, i: usize) -> Option<Value> {
        // Briefly: a hung member's REST API accepts and never answers.
        Request::new("GET", "/patroni")
            .try_send_within(&Endpoint::from(self.members[i].rest), REST_TIMEOUT)
            .ok()
            .filter(|r| r.status == 200 || r.status == 503)
            .map(|r| r.json())
    }

    /// The member that runs as primary, per the members' own REST APIs.
    pub fn leader(&self) -> Option<usize> {
        (0..self.members.len()).find(|&i| self.leads(i))
    }

    /// A member streaming to the leader as its synchronous standby, per the leader's
    /// `GET /cluster`.
    pub fn sync_standby(&self) -> Option<usize> {
        let leader = self.leader()?;
        let cluster = Request::new("GET", "/cluster")
            .try_send_within(&Endpoint::from(self.members[leader].rest), REST_TIMEOUT)
            .ok()?
            .json();
        let members = cluster["members"].as_array()?;
        let name = members
            .iter()
            .find(|m| m["role"] == "sync_standby" && m["state"] == "streaming")?["name"]
            .as_str()?
            .to_owned();
        self.members.iter().position(|m| m.name == name)
    }

    /// Waits until a member other than `old` leads; which one. `old` is not asked: it may be
    /// the member that hangs.
    pub fn await_new_leader(&self, old: usize, within: Duration) -> Option<usize> {
        let mut found = None;
        eventually(within, || {
            found = (0..self.members.len())
                .filter(|&i| i != old)
                .find(|&i| self.leads(i));
            found.is_some()
        });
        found
    }

    /// Whether member `i` reports itself the running primary.
    fn leads(&self, i: usize) -> bool {
        self.state(i)
            .is_some_and(|s| s["role"] == "primary" && s["state"] == "running")
    }

    /// Asks leader `leader` to hand over to the synchronous standby (`POST /switchover`, what
    /// `patronictl switchover` sends), and checks that Patroni accepted it: `patronictl`
    /// itself exits 0 even when a switchover fails.
    pub fn switchover(&self, leader: usize) {
        let candidate = self
            .sync_standby()
            .expect("a synchronous standby to hand over to");
        let answer = Request::new("POST", "/switchover")
            .json(&json!({
                "leader": self.members[leader].name,
                "candidate": self.members[candidate].name,
            }))
            .try_send(&Endpoint::from(self.members[leader].rest), None)
            .unwrap();
        assert_eq!(answer.status, 200, "switchover refused: {}", answer.text());
    }

    /// SIGKILLs member `i` whole, Patroni first (so it cannot restart PostgreSQL), then its
    /// PostgreSQL; [`PatroniCluster::start_patroni`] brings it back.
    pub fn kill_member(&mut self, i: usize) {
        kill_child(&mut self.members[i].patroni);
        kill_node(&self.members[i].data);
    }

    /// SIGKILLs member `i`'s PostgreSQL (postmaster and backends); its Patroni lives on and
    /// reacts as it would to a crash.
    pub fn kill_postgres(&self, i: usize) {
        kill_node(&self.members[i].data);
    }

    /// Freezes member `i` whole (SIGSTOP to its Patroni and its PostgreSQL), as a machine that
    /// stops answering: its leader key expires only after `ttl`.
    pub fn hang(&self, i: usize) {
        if let Some(patroni) = &self.members[i].patroni {
            signal::send("STOP", &[patroni.id()]);
        }
        signal_node(&self.members[i].data, "STOP");
    }

    /// Wakes member `i` (SIGCONT), PostgreSQL first, so that Patroni wakes to a running
    /// server it must demote.
    pub fn resume(&self, i: usize) {
        signal_node(&self.members[i].data, "CONT");
        if let Some(patroni) = &self.members[i].patroni {
            signal::send("CONT", &[patroni.id()]);
        }
    }

    /// Member `i`'s PostgreSQL as `127.0.0.1:port` (as a server names itself).
    pub fn address(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.members[i].port)
    }

    /// The etcd member that leads the etcd cluster, per the members themselves.
    pub fn etcd_leader(&self) -> Option<usize> {
        let status = |client: SocketAddr| {
            Request::new("POST", "/v3/maintenance/status")
                .json(&json!({}))
                .try_send(&Endpoint::from(client), None)
                .ok()
                .map(|r| r.json())
        };
        self.etcd.iter().enumerate().find_map(|(i, member)| {
            member.child.as_ref()?;
            let status = status(member.client)?;
            (status["leader"] == status["header"]["member_id"]).then_some(i)
        })
    }

    /// SIGKILLs etcd member `i`.
    pub fn kill_etcd(&mut self, i: usize) {
        kill_child(&mut self.etcd[i].child);
    }

    /// Every member as `127.0.0.1:port`, in index order.
    fn host_list(&self) -> String {
        loopback_hosts(self.members.iter().map(|m| m.port))
    }

    /// The `jdbc` section of a Tessera config for `database` over every member, accepting
    /// only the primary, with `extra` query parameters (e.g. `connectTimeout=1`).
    pub fn jdbc(&self, database: &str, extra: &str) -> Value {
        jdbc_section(&self.host_list(), database, extra, true)
    }

    /// Runs `sql` with `psql` on member `i`; its unaligned, tuples-only output.
    pub fn sql(&self, i: usize, database: &str, sql: &str) -> String {
        psql(&self.bins, self.members[i].port, database, sql)
            .unwrap_or_else(|e| panic!("{sql} on {}: {e}", self.members[i].name))
    }

    /// When member `i` first took the leader lock after `after`, per its Patroni log: the
    /// first line saying it acquired the lock ("…after acquiring leader lock" on a switchover,
    /// "promoted self to leader by acquiring session lock" on a failover), a few milliseconds
    /// after the fact.
    pub fn lock_taken(&self, i: usize, after: SystemTime) -> Option<SystemTime> {
        let log = std::fs::read_to_string(&self.members[i].log).ok()?;
        log.lines()
            .filter(|line| line.contains("acquiring") && line.contains(" lock"))
            .filter_map(|line| {
                let seconds: f64 = line.split_whitespace().next()?.parse().ok()?;
                Some(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(seconds))
            })
            .find(|at| *at > after)
    }

    /// Every Patroni log and etcd's, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for member in &self.members {
            let log = std::fs::read_to_string(&member.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            text.push_str(&format!("\n--- {} ---\n", member.name));
            for line in tail.into_iter().rev() {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }
}

/// SIGKILLs the process in `slot`, if any, and reaps it; the slot is empty afterwards.
fn kill_child(slot: &mut Option<Child>) {
    if let Some(mut child) = slot.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for PatroniCluster {
    fn drop(&mut self) {
        for member in &mut self.members {
            kill_child(&mut member.patroni);
            kill_node(&member.data);
        }
        for etcd in &mut self.etcd {
            kill_child(&mut etcd.child);
        }
        if let Some((mut child, stdin)) = self.watchdog.take() {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// A Patroni member's configuration.
fn member_config(
    member: &Member,
    etcd: &str,
    bins: &PgBinaries,
    dir: &Path,
    synchronous: Synchronous,
) -> Value {
    let bin_dir = bins.tool("postgres").parent().unwrap().to_owned();
    json!({
        "scope": SCOPE,
        "name": member.name,
        "restapi": { "listen": member.rest.to_string(), "connect_address": member.rest.to_string() },
        "etcd3": { "hosts": etcd },
        // Seconds since the epoch: what a benchmark compares with its own clock.
        "log": { "format": "%(created).3f %(levelname)s: %(message)s" },
        "bootstrap": {
            "dcs": {
                "ttl": TTL.as_secs(),
                "loop_wait": LOOP_WAIT.as_secs(),
                "retry_timeout": RETRY_TIMEOUT.as_secs(),
                "maximum_lag_on_failover": 1_048_576,
                "synchronous_mode": true,
                "synchronous_mode_strict": synchronous == Synchronous::Strict,
                "primary_start_timeout": 0,
                "postgresql": {
                    "use_pg_rewind": true,
                    "use_slots": true,
                    "parameters": {
                        "wal_level": "replica", "hot_standby": "on", "wal_log_hints": "on",
                        "max_wal_senders": 10, "max_replication_slots": 10,
                        "wal_keep_size": "256MB", "max_connections": 200,
                    },
                },
            },
            "initdb": [ { "encoding": "UTF8" }, { "locale": "C" } ],
        },
        "postgresql": {
            "listen": format!("127.0.0.1:{}", member.port),
            "connect_address": format!("127.0.0.1:{}", member.port),
            "data_dir": member.data,
            "bin_dir": bin_dir,
            "pgpass": dir.join(format!("pgpass-{}", member.name)),
            "pg_hba": [
                "local all all trust",
                "host all all 127.0.0.1/32 scram-sha-256",
                "host replication all 127.0.0.1/32 scram-sha-256",
            ],
            "authentication": {
                "superuser": { "username": SUPERUSER, "password": PASSWORD },
                "replication": { "username": "replicator", "password": PASSWORD },
                "rewind": { "username": "rewinder", "password": PASSWORD },
            },
            "parameters": {
                "unix_socket_directories": dir,
                "shared_buffers": "16MB",
            },
            "basebackup": [ { "checkpoint": "fast" } ],
        },
    })
}

/// Starts an etcd cluster of `members` on loopback, and waits until each member answers.
fn start_etcd(dir: &Path, run_as: Option<RunAs>, members: usize) -> Vec<Etcd> {
    let etcd = Path::new("/usr/bin/etcd");
    assert!(
        etcd.exists(),
        "etcd is missing (scripts/test.sh installs Debian's etcd-server)"
    );
    let ports: Vec<(SocketAddr, SocketAddr)> = (0..members)
        .map(|_| {
            let at = |port| SocketAddr::from(([127, 0, 0, 1], port));
            (at(free_port()), at(free_port()))
        })
        .collect();
    let initial: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, (_, peer))| format!("etcd{i}=http://{peer}"))
        .collect();
    let started: Vec<Etcd> = ports
        .iter()
        .enumerate()
        .map(|(i, (client, peer))| {
            let mut command = match run_as {
                Some(user) => user.command(etcd),
                None => Command::new(etcd),
            };
            let log = std::fs::File::create(dir.join(format!("etcd{i}.log"))).unwrap();
            let child = command
                .arg(format!("--name=etcd{i}"))
                .arg(format!(
                    "--data-dir={}",
                    dir.join(format!("etcd{i}")).display()
                ))
                .arg(format!("--listen-client-urls=http://{client}"))
                .arg(format!("--advertise-client-urls=http://{client}"))
                .arg(format!("--listen-peer-urls=http://{peer}"))
                .arg(format!("--initial-advertise-peer-urls=http://{peer}"))
                .arg(format!("--initial-cluster={}", initial.join(",")))
                .current_dir(dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap();
            Etcd {
                client: *client,
                child: Some(child),
            }
        })
        .collect();
    for (i, member) in started.iter().enumerate() {
        let up = eventually(Duration::from_secs(30), || {
            Request::new("GET", "/health")
                .try_send(&Endpoint::from(member.client), None)
                .is_ok_and(|r| r.status == 200)
        });
        assert!(
            up,
            "etcd{i} did not start: {}",
            std::fs::read_to_string(dir.join(format!("etcd{i}.log"))).unwrap_or_default()
        );
    }
    started
}

/// Kills whatever still runs from `dir` (Patroni, PostgreSQL, etcd) and removes it when this
/// process ends, however it ends.
fn watchdog(dir: &Path) -> (Child, ChildStdin) {
    let dir = dir.display().to_string();
    // `[/]tmp/…` matches the servers' command lines but not this script's own.
    let pattern = format!("[/]{}", dir.trim_start_matches('/'));
    run_when_this_process_ends(&format!(
        "cat >/dev/null\npkill -KILL -f '{pattern}'\nsleep 1\nrm -rf '{dir}'"
    ))
}
