//! Real PostgreSQL clusters on loopback for tests, benchmarks and the demo: one primary alone,
//! or a primary with a synchronous streaming standby that can be crashed, hung, resumed,
//! promoted and rejoined.
//!
//! - [`PgBinaries::find`] locates the server binaries (`$CLOISTER_PG_BIN`,
//!   `/usr/lib/postgresql/*/bin`, `pg_config --bindir`) or says in one sentence how to install
//!   them.
//! - [`PgCluster::single`] starts one primary; [`PgCluster::pair`] adds a synchronous standby
//!   (`pg_basebackup -R --checkpoint=fast`, `synchronous_standby_names`), so every commit
//!   acknowledged by the primary is on the standby's disk too.
//! - [`PgCluster::single_with_tls`] and [`PgCluster::pair_with_tls`] do the same with
//!   `ssl = on` and a server certificate from a [`TestCa`] of the test's own;
//!   [`PgCluster::only_hba`] makes the servers accept only TLS, or only plain-text, logins.
//! - Faults: [`PgCluster::crash`] (SIGKILL of the postmaster and its backends, like a machine
//!   dying), [`PgCluster::hang`] / [`PgCluster::resume`] (SIGSTOP / SIGCONT: the kernel still
//!   accepts TCP, nothing answers), [`PgCluster::promote`], [`PgCluster::rejoin`]
//!   (`pg_rewind`, then streaming from the current primary), [`PgCluster::restart`].
//!
//! PostgreSQL refuses to run as root, so when the harness runs as root the server binaries run
//! as an unprivileged user (`postgres`, else `cloister-pg`, created if missing) who owns the
//! cluster directory. Node-specific settings never live in `postgresql.conf`, which
//! `pg_basebackup` and `pg_rewind` copy from the other node: the port and `cluster_name` are on
//! the command line and the role settings (`primary_conninfo`, `synchronous_standby_names`)
//! are rewritten by the harness into the node's `postgresql.auto.conf` before every start.
//!
//! Everything is torn down on drop, and also when the process dies without dropping (a static
//! cluster, an abort): a watchdog shell process, whose stdin is a pipe held by this process,
//! kills the nodes and removes the directory once that pipe closes.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::http::eventually;
use crate::nodes::free_port;

use crate::tls::{write_private, ServerTls};
use crate::watchdog::run_when_this_process_ends;

/// The database superuser the harness creates (and connects as).
pub const SUPERUSER: &str = "postgres";

/// The superuser's password: TCP connections authenticate with SCRAM, as production ones do.
pub const PASSWORD: &str = "cloister-harness";

/// Where the PostgreSQL server binaries are.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    bin: PathBuf,
}

/// PostgreSQL server binaries were not found; the message says how to install them.
#[derive(Debug, Clone, thiserror::Error)]
#[error("PostgreSQL server binaries (initdb, pg_ctl) were not found in $CLOISTER_PG_BIN, /usr/lib/postgresql/*/bin or `pg_config --bindir`; install them with `apt-get install postgresql`")]
pub struct PgMissing;

impl PgBinaries {
    /// Finds the binaries: `$CLOISTER_PG_BIN`, then the newest `/usr/lib/postgresql/*/bin`
    /// (Debian puts the server tools there, off `PATH`), then `pg_config --bindir`.
    pub fn find() -> Result<Self, PgMissing> {
        let usable = |dir: &Path| {
            ["initdb", "pg_ctl", "pg_basebackup", "pg_rewind", "psql"]
                .iter()
                .all(|tool| dir.join(tool).is_file())
        };
        let from_env = std::env::var_os("CLOISTER_PG_BIN").map(PathBuf::from);
        let mut debian: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
                Some((version, entry.path().join("bin")))
            })
            .collect();
        debian.sort();
        let pg_config = Command::new("pg_config")
            .arg("--bindir")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
        from_env
            .into_iter()
            .chain(debian.into_iter().rev().map(|(_, dir)| dir))
            .chain(pg_config)
            .find(|dir| usable(dir))
            .map(|bin| Self { bin })
            .ok_or(PgMissing)
    }

    /// The path of one tool (`initdb`, `psql`, …).
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }
}

/// What a node currently is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Accepts writes.
    Primary,
    /// Streams from the primary; read-only.
    Standby,
}

/// What a node's processes are doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Running and answering.
    Running,
    /// Stopped with SIGSTOP: connections are accepted by the kernel and never answered.
    Hung,
    /// Not running (crashed or stopped).
    Down,
}

/// One PostgreSQL server of a cluster.
#[derive(Debug)]
pub struct PgNode {
    /// `node0`, `node1`: its `cluster_name`, and its `application_name` as a standby.
    pub name: String,
    /// Its data directory.
    pub data: PathBuf,
    /// Its loopback TCP port.
    pub port: u16,
    /// Its role as the harness last configured it.
    pub role: Role,
    /// Whether it runs.
    pub state: NodeState,
}

/// The unprivileged account the servers run as when the harness is root.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunAs {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl RunAs {
    /// The account to run servers as: the unprivileged one when this process is root, else
    /// this process's own (`None`).
    pub(crate) fn when_root() -> Option<Self> {
        is_root().then(unprivileged_user)
    }

    /// `program` run as this account (through `setpriv`).
    pub(crate) fn command(self, program: &Path) -> Command {
        let mut command = Command::new("setpriv");
        command
            .arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .args(["--clear-groups", "--"])
            .arg(program);
        command
    }
}

/// A PostgreSQL cluster on loopback: one primary, or a primary and a synchronous standby.
pub struct PgCluster {
    bins: PgBinaries,
    // Kept for its drop, which removes the directory; declared after nothing that needs it.
    root: tempfile::TempDir,
    run_as: Option<RunAs>,
    nodes: Vec<PgNode>,
    /// The servers' certificate and key when they speak TLS.
    tls: Option<ServerTls>,
    // Its stdin pipe: when this process dies, the pipe closes and the watchdog cleans up.
    watchdog: Option<(Child, ChildStdin)>,
}

impl std::fmt::Debug for PgCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCluster")
            .field("root", &self.root.path())
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

/// Settings every node shares (`pg_basebackup` copies them to the standby). Small memory so
/// startup is quick; `fsync` and `synchronous_commit` on because durability is what the tests
/// are about.
const SHARED_CONF: &str = "
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
shared_buffers = '16MB'
fsync = on
synchronous_commit = on
full_page_writes = on
wal_level = replica
wal_log_hints = on
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = '256MB'
max_wal_size = '256MB'
hot_standby = on
wal_receiver_status_interval = '1s'
wal_retrieve_retry_interval = '200ms'
log_min_messages = warning
log_line_prefix = '%m [%p] '
";

/// What a TLS cluster adds to [`SHARED_CONF`]; paths are relative to the data directory.
const TLS_CONF: &str = "
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
ssl_ca_file = 'ca.crt'
";

/// Which TCP logins a cluster accepts after [`PgCluster::only_hba`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HbaKind {
    /// Only TLS (`hostssl`).
    Tls,
    /// Only plain text (`hostnossl`).
    PlainText,
}

impl PgCluster {
    /// One primary, no standby (for tests that need a database, not failover).
    ///
    /// # Panics
    /// If the binaries are missing (with [`PgMissing`]'s sentence) or the server cannot start.
    pub fn single() -> Self {
        let mut cluster = Self::new();
        cluster.init_primary();
        cluster
    }

    /// A primary (`node0`, index 0) and a synchronous streaming standby (`node1`, index 1).
    ///
    /// # Panics
    /// As [`PgCluster::single`].
    pub fn pair() -> Self {
        let mut cluster = Self::new();
        cluster.init_primary();
        cluster.add_standby();
        cluster
    }

    /// [`PgCluster::single`] with `ssl = on`, presenting `tls`'s certificate and accepting
    /// client certificates from its CA. Plain-text logins are still accepted (see
    /// [`PgCluster::only_hba`]).
    pub fn single_with_tls(tls: &ServerTls) -> Self {
        let mut cluster = Self::new();
        cluster.tls = Some(tls.clone());
        cluster.init_primary();
        cluster
    }

    /// [`PgCluster::pair`] with `ssl = on` on both nodes (the standby's copy of the data
    /// directory carries the certificate and key). Replication itself uses TLS too: its
    /// connection string leaves libpq's default, `sslmode=prefer`.
    pub fn pair_with_tls(tls: &ServerTls) -> Self {
        let mut cluster = Self::new();
        cluster.tls = Some(tls.clone());
        cluster.init_primary();
        cluster.add_standby();
        cluster
    }

    /// Rewrites every node's `pg_hba.conf` to accept TCP logins (and replication) of one
    /// kind only, `hostssl` (TLS) or `hostnossl` (plain text), and reloads it. A login of
    /// the other kind is refused with SQLSTATE 28000.
    pub fn only_hba(&self, kind: HbaKind) {
        let kind = match kind {
            HbaKind::Tls => "hostssl",
            HbaKind::PlainText => "hostnossl",
        };
        let hba = format!(
            "local all all trust\n{kind} all all 127.0.0.1/32 scram-sha-256\n{kind} replication all 127.0.0.1/32 scram-sha-256\n"
        );
        for (i, node) in self.nodes.iter().enumerate() {
            let path = node.data.join("pg_hba.conf");
            fs::write(&path, &hba).unwrap();
            self.give(&path);
            if node.state == NodeState::Running {
                self.reload(i);
            }
        }
    }

    fn new() -> Self {
        let bins = PgBinaries::find().unwrap_or_else(|e| panic!("{e}"));
        let root = tempfile::Builder::new()
            .prefix("cloister-pg-")
            .tempdir()
            .unwrap();
        let run_as = if is_root() {
            Some(unprivileged_user())
        } else {
            None
        };
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o700)).unwrap();
        if let Some(user) = run_as {
            std::os::unix::fs::chown(root.path(), Some(user.uid), Some(user.gid)).unwrap();
        }
        let mut cluster = Self {
            bins,
            root,
            run_as,
            nodes: Vec::new(),
            tls: None,
            watchdog: None,
        };
        cluster.watchdog = Some(cluster.start_watchdog());
        cluster
    }

    /// The cluster's directory (data directories, logs).
    pub fn dir(&self) -> &Path {
        self.root.path()
    }

    /// The nodes, by index.
    pub fn nodes(&self) -> &[PgNode] {
        &self.nodes
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &PgNode {
        &self.nodes[i]
    }

    /// The loopback port of node `i`.
    pub fn port(&self, i: usize) -> u16 {
        self.nodes[i].port
    }

    /// Each server's postmaster process id (its backends are its children), in node order;
    /// 0 for a server that is not running.
    pub fn server_pids(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .map(|n| postmaster_pid(&n.data).unwrap_or(0))
            .collect()
    }

    /// Every node as `("127.0.0.1", port)`, in index order: a multi-host list.
    pub fn hosts(&self) -> Vec<(String, u16)> {
        self.nodes
            .iter()
            .map(|n| ("127.0.0.1".to_owned(), n.port))
            .collect()
    }

    /// The index of the node configured as primary.
    pub fn primary(&self) -> usize {
        self.nodes
            .iter()
            .position(|n| n.role == Role::Primary)
            .expect("a cluster always has a primary role")
    }

    /// A `postgresql://` URL for `database` over every node, accepting only a writable primary.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgresql://{SUPERUSER}:{PASSWORD}@{}/{database}?target_session_attrs=read-write",
            self.host_list()
        )
    }

    /// The `jdbc` section of a Tessera config for `database` on this cluster: Tessera's URL
    /// form (`jdbc:postgresql://h1:p1,h2:p2/database?targetServerType=primary`, with `extra`
    /// query parameters appended, e.g. `"connectTimeout=1&socketTimeout=2"`), the harness's
    /// credentials and `autoCreateTables`.
    pub fn jdbc(&self, database: &str, extra: &str, auto_create_tables: bool) -> serde_json::Value {
        jdbc_section(&self.host_list(), database, extra, auto_create_tables)
    }

    /// `127.0.0.1:p0,127.0.0.1:p1`: every node, in index order.
    fn host_list(&self) -> String {
        loopback_hosts(self.nodes.iter().map(|n| n.port))
    }

    /// The server log of node `i` (for failure messages).
    pub fn log(&self, i: usize) -> String {
        fs::read_to_string(self.log_path(i)).unwrap_or_default()
    }

    /// Creates an empty database on the primary.
    pub fn create_database(&self, name: &str) {
        self.sql(
            self.primary(),
            "postgres",
            &format!("CREATE DATABASE \"{name}\""),
        );
    }

    /// Runs `sql` with `psql` on node `i` in `database`; returns its unaligned, tuples-only
    /// output, or `psql`'s error text.
    pub fn try_sql(&self, i: usize, database: &str, sql: &str) -> Result<String, String> {
        psql(&self.bins, self.nodes[i].port, database, sql)
    }

    /// [`PgCluster::try_sql`], panicking with the error.
    pub fn sql(&self, i: usize, database: &str, sql: &str) -> String {
        self.try_sql(i, database, sql)
            .unwrap_or_else(|e| panic!("{} on {}: {e}", sql, self.nodes[i].name))
    }

    /// Kills node `i` the way a machine dies: SIGKILL to the postmaster and every backend at
    /// once, so nothing gets to clean up.
    pub fn crash(&mut self, i: usize) {
        if self.nodes[i].state != NodeState::Down {
            kill_node(&self.nodes[i].data);
            self.nodes[i].state = NodeState::Down;
        }
    }

    /// Freezes node `i` (SIGSTOP to the postmaster and its backends): TCP connections are still
    /// accepted by the kernel, but no byte comes back.
    pub fn hang(&mut self, i: usize) {
        assert_eq!(
            self.nodes[i].state,
            NodeState::Running,
            "hang a running node"
        );
        signal_node(&self.nodes[i].data, "STOP");
        self.nodes[i].state = NodeState::Hung;
    }

    /// Unfreezes node `i` (SIGCONT).
    pub fn resume(&mut self, i: usize) {
        assert_eq!(self.nodes[i].state, NodeState::Hung, "resume a hung node");
        signal_node(&self.nodes[i].data, "CONT");
        self.nodes[i].state = NodeState::Running;
    }

    /// Promotes standby `i` to primary (`pg_ctl promote -w`). It no longer waits for a
    /// synchronous standby (the old primary is presumed gone) until one rejoins: writes resume
    /// at once, which is what a failover is for.
    pub fn promote(&mut self, i: usize) {
        assert_eq!(self.nodes[i].role, Role::Standby, "promote a standby");
        assert_eq!(
            self.nodes[i].state,
            NodeState::Running,
            "promote a running node"
        );
        self.server_tool("pg_ctl", |c| {
            c.args(["promote", "-w", "-t", "30", "-D"])
                .arg(&self.nodes[i].data);
        });
        self.nodes[i].role = Role::Primary;
        self.write_role_conf(i, None);
        self.reload(i);
        // The control file names the new timeline only after a checkpoint; until then
        // pg_rewind against this node sees "same timeline, no rewind required" and the old
        // primary later refuses to follow (spec §3 worked only because of timing).
        self.sql(i, "postgres", "CHECKPOINT");
    }

    /// Brings node `i` back as a synchronous standby of the current primary: stops it if it
    /// runs, `pg_rewind`s it onto the primary's timeline (discarding what it committed locally
    /// and never replicated), starts it streaming, and makes the primary wait for it again.
    pub fn rejoin(&mut self, i: usize) {
        let primary = self
            .nodes
            .iter()
            .position(|n| n.role == Role::Primary && n.state == NodeState::Running);
        let primary = primary
            .filter(|&p| p != i)
            .expect("rejoin needs another node running as primary");
        self.stop(i);
        let source = format!(
            "host=127.0.0.1 port={} user={SUPERUSER} password={PASSWORD} dbname=postgres",
            self.nodes[primary].port
        );
        self.server_tool("pg_rewind", |c| {
            c.arg("--target-pgdata")
                .arg(&self.nodes[i].data)
                .arg(format!("--source-server={source}"));
        });
        self.follow(i, primary);
    }

    /// Starts a node that is down again in the role it had (a primary restarted after a crash
    /// without failover, or a standby catching up).
    pub fn restart(&mut self, i: usize) {
        assert_eq!(
            self.nodes[i].state,
            NodeState::Down,
            "restart a node that is down"
        );
        self.start_node(i);
    }

    /// Stops node `i` cleanly (`pg_ctl stop -m fast`), resuming it first if it is hung.
    pub fn stop(&mut self, i: usize) {
        match self.nodes[i].state {
            NodeState::Down => return,
            NodeState::Hung => self.resume(i),
            NodeState::Running => {}
        }
        self.server_tool("pg_ctl", |c| {
            c.args(["stop", "-m", "fast", "-w", "-t", "30", "-D"])
                .arg(&self.nodes[i].data);
        });
        self.nodes[i].state = NodeState::Down;
    }

    fn init_primary(&mut self) {
        let i = self.push_node();
        let pwfile = self.dir().join("pwfile");
        fs::write(&pwfile, PASSWORD).unwrap();
        self.give(&pwfile);
        // --no-sync only skips flushing the fresh template files at the end of initdb; every
        // commit the tests make is still fsynced by the server (fsync = on).
        self.server_tool("initdb", |c| {
            c.arg("-D")
                .arg(&self.nodes[i].data)
                .args(["-U", SUPERUSER, "--pwfile"])
                .arg(&pwfile)
                .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
                .args([
                    "--locale=C",
                    "--encoding=UTF8",
                    "--no-sync",
                    "--no-instructions",
                ]);
        });
        let conf = self.nodes[i].data.join("postgresql.conf");
        let mut file = fs::OpenOptions::new().append(true).open(conf).unwrap();
        file.write_all(SHARED_CONF.as_bytes()).unwrap();
        if let Some(tls) = &self.tls {
            // In the data directory, so pg_basebackup gives the standby the same files.
            let data = &self.nodes[i].data;
            for (name, contents) in [
                ("server.crt", &tls.certificate),
                ("server.key", &tls.key),
                ("ca.crt", &tls.client_ca),
            ] {
                let path = data.join(name);
                // The server refuses a key that group or others can read.
                write_private(&path, contents);
                self.give(&path);
            }
            file.write_all(TLS_CONF.as_bytes()).unwrap();
        }
        self.write_role_conf(i, None);
        self.start_node(i);
    }

    fn add_standby(&mut self) {
        let primary = self.primary();
        let i = self.push_node();
        self.server_tool("pg_basebackup", |c| {
            c.args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.nodes[primary].port.to_string(),
            ])
            .args(["-U", SUPERUSER, "-D"])
            .arg(&self.nodes[i].data)
            .args(["-R", "-X", "stream", "--checkpoint=fast", "--no-sync"]);
        });
        self.follow(i, primary);
    }

    /// Starts node `i`, whose data directory is a copy of `primary`'s, as its synchronous
    /// standby, and waits until it is in sync.
    fn follow(&mut self, i: usize, primary: usize) {
        self.nodes[i].role = Role::Standby;
        self.write_role_conf(i, Some(primary));
        self.start_node(i);
        self.write_role_conf(primary, Some(i));
        self.reload(primary);
        self.wait_sync(primary, i);
    }

    fn push_node(&mut self) -> usize {
        let i = self.nodes.len();
        self.nodes.push(PgNode {
            name: format!("node{i}"),
            data: self.dir().join(format!("node{i}")),
            port: free_port(),
            role: Role::Primary,
            state: NodeState::Down,
        });
        i
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.dir().join(format!("node{i}.log"))
    }

    /// Writes node `i`'s role settings. A standby streams from `peer`; a primary waits for
    /// `peer` as its synchronous standby (none: commits do not wait).
    fn write_role_conf(&self, i: usize, peer: Option<usize>) {
        let node = &self.nodes[i];
        let mut conf = String::from("# Written by cloister-harness before every start.\n");
        match (node.role, peer) {
            (Role::Standby, Some(p)) => {
                conf += &format!(
                    "primary_conninfo = 'host=127.0.0.1 port={} user={SUPERUSER} password={PASSWORD} application_name={}'\n",
                    self.nodes[p].port, node.name
                );
                conf += "recovery_target_timeline = 'latest'\n";
                let signal = node.data.join("standby.signal");
                fs::write(&signal, b"").unwrap();
                self.give(&signal);
            }
            (Role::Standby, None) => panic!("a standby needs a primary to stream from"),
            (Role::Primary, Some(p)) => {
                conf += &format!(
                    "synchronous_standby_names = 'FIRST 1 ({})'\n",
                    self.nodes[p].name
                );
            }
            (Role::Primary, None) => conf += "synchronous_standby_names = ''\n",
        }
        let path = node.data.join("postgresql.auto.conf");
        fs::write(&path, conf).unwrap();
        self.give(&path);
    }

    fn start_node(&mut self, i: usize) {
        let options = format!(
            "-p {} -c cluster_name={}",
            self.nodes[i].port, self.nodes[i].name
        );
        let log = self.log_path(i);
        self.server_tool("pg_ctl", |c| {
            c.args(["start", "-w", "-t", "60", "-D"])
                .arg(&self.nodes[i].data)
                .arg("-l")
                .arg(&log)
                .args(["-o", &options]);
        });
        self.nodes[i].state = NodeState::Running;
    }

    fn reload(&self, i: usize) {
        self.server_tool("pg_ctl", |c| {
            c.args(["reload", "-D"]).arg(&self.nodes[i].data);
        });
    }

    /// Waits until `primary` reports `standby` as its synchronous, streaming standby.
    fn wait_sync(&self, primary: usize, standby: usize) {
        let name = &self.nodes[standby].name;
        let query = format!(
            "SELECT state || '/' || sync_state FROM pg_stat_replication WHERE application_name = '{name}'"
        );
        let ok = eventually(Duration::from_secs(30), || {
            self.try_sql(primary, "postgres", &query).as_deref() == Ok("streaming/sync")
        });
        assert!(
            ok,
            "{name} never became the synchronous standby of {}; its log:\n{}",
            self.nodes[primary].name,
            self.log(standby)
        );
    }

    /// Runs a server tool as the unprivileged user; panics with its output if it fails.
    fn server_tool(&self, tool: &str, args: impl FnOnce(&mut Command)) -> Output {
        let mut command = match self.run_as {
            Some(user) => user.command(&self.bins.tool(tool)),
            None => Command::new(self.bins.tool(tool)),
        };
        args(&mut command);
        let started = Instant::now();
        let out = command
            .current_dir(self.dir())
            // The servers' own libpq (walreceiver, pg_basebackup, pg_rewind) looks for client
            // certificates under $HOME/.postgresql; as the unprivileged user, root's home is
            // unreadable, so libpq's TLS setup fails and `sslmode=prefer` silently falls back
            // to plain text. The cluster's own directory holds no such files.
            .env("HOME", self.dir())
            .env("PGPASSWORD", PASSWORD)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} failed after {:?}: {}{}",
            started.elapsed(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Makes `path` belong to the unprivileged user (when there is one).
    fn give(&self, path: &Path) {
        if let Some(user) = self.run_as {
            std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid)).unwrap();
        }
    }

    /// A shell that waits for its stdin to close, then kills whatever runs in the cluster's
    /// data directories and removes the directory.
    fn start_watchdog(&self) -> (Child, ChildStdin) {
        let root = self.dir().display().to_string();
        let script = format!(
            "cat >/dev/null
for pidfile in '{root}'/node*/postmaster.pid; do
  [ -f \"$pidfile\" ] || continue
  pid=$(head -n 1 \"$pidfile\")
  grep -q postgres \"/proc/$pid/cmdline\" 2>/dev/null || continue
  kill -STOP \"$pid\" 2>/dev/null; pkill -KILL -P \"$pid\"; kill -KILL \"$pid\" 2>/dev/null
done
rm -rf '{root}'"
        );
        run_when_this_process_ends(&script)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        for node in &self.nodes {
            if node.state != NodeState::Down {
                kill_node(&node.data);
            }
        }
        if let Some((mut child, stdin)) = self.watchdog.take() {
            // Closing the pipe runs the watchdog now; wait so the directory is gone after drop.
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// `127.0.0.1:p0,127.0.0.1:p1,…`: servers on loopback `ports`, as a multi-host URL lists them.
pub(crate) fn loopback_hosts(ports: impl IntoIterator<Item = u16>) -> String {
    let hosts: Vec<String> = ports
        .into_iter()
        .map(|port| format!("127.0.0.1:{port}"))
        .collect();
    hosts.join(",")
}

/// The `jdbc` section of a Tessera config for `database` over `hosts` (`h1:p1,h2:p2`):
/// Tessera's URL form (`jdbc:postgresql://hosts/database?targetServerType=primary`, with
/// `extra` query parameters appended), the harness's credentials and `autoCreateTables`.
pub(crate) fn jdbc_section(
    hosts: &str,
    database: &str,
    extra: &str,
    auto_create_tables: bool,
) -> serde_json::Value {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!("&{extra}")
    };
    serde_json::json!({
        "url": format!("jdbc:postgresql://{hosts}/{database}?targetServerType=primary{extra}"),
        "username": SUPERUSER,
        "password": PASSWORD,
        "autoCreateTables": auto_create_tables,
    })
}

/// Runs `sql` with `psql` against the server on loopback `port`, in `database`, as the
/// harness's superuser; its unaligned, tuples-only output, or `psql`'s error text.
pub(crate) fn psql(
    bins: &PgBinaries,
    port: u16,
    database: &str,
    sql: &str,
) -> Result<String, String> {
    let out = Command::new(bins.tool("psql"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-U", SUPERUSER, "-d", database, "-X", "-A", "-t", "-q"])
        .args(["-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGPASSWORD", PASSWORD)
        .env("PGCONNECT_TIMEOUT", "5")
        // A commit waiting for a synchronous standby that is gone would otherwise wait
        // forever and hang the test instead of failing it.
        .env("PGOPTIONS", "-c statement_timeout=30s")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

fn is_root() -> bool {
    // `/proc/self` belongs to the process's effective uid.
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// The account to run the servers as: `postgres` (Debian's package creates it), else
/// `cloister-pg`, created as a system user if it does not exist.
fn unprivileged_user() -> RunAs {
    for name in ["postgres", "cloister-pg"] {
        if let Some(user) = lookup_user(name) {
            return user;
        }
    }
    let out = Command::new("useradd")
        .args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "cloister-pg",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cannot create the cloister-pg user to run PostgreSQL as: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    lookup_user("cloister-pg").expect("cloister-pg exists after useradd")
}

fn lookup_user(name: &str) -> Option<RunAs> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 4 || fields[0] != name {
            return None;
        }
        Some(RunAs {
            uid: fields[2].parse().ok()?,
            gid: fields[3].parse().ok()?,
        })
    })
}

/// The postmaster's pid from its pid file.
pub(crate) fn postmaster_pid(data: &Path) -> Option<u32> {
    fs::read_to_string(data.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// The pids whose parent is `parent` (read from `/proc`, so only those exact processes).
fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // The command name may hold spaces; fields after its `)` are fixed.
                    let after = stat.rsplit_once(')')?.1;
                    after.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

/// Sends `signal` to a node's postmaster and its backends, postmaster first (so it cannot
/// fork new backends meanwhile) when stopping, last when continuing.
pub(crate) fn signal_node(data: &Path, signal: &str) {
    let Some(pid) = postmaster_pid(data) else {
        return;
    };
    if signal == "CONT" {
        crate::signal::send(signal, &children(pid));
        crate::signal::send(signal, &[pid]);
    } else {
        crate::signal::send(signal, &[pid]);
        crate::signal::send(signal, &children(pid));
    }
}

/// SIGKILLs a node's postmaster and backends and waits until they are gone, so a restart
/// finds no live process holding the data directory.
pub(crate) fn kill_node(data: &Path) {
    let Some(pid) = postmaster_pid(data) else {
        return;
    };
    crate::signal::send("STOP", &[pid]);
    let mut all = children(pid);
    crate::signal::send("KILL", &all);
    crate::signal::send("KILL", &[pid]);
    all.push(pid);
    let gone = eventually(Duration::from_secs(10), || {
        all.iter()
            .all(|p| !Path::new(&format!("/proc/{p}")).exists() || is_zombie(*p))
    });
    assert!(gone, "PostgreSQL processes {all:?} survived SIGKILL");
    // The pid file would name a dead process whose pid may be reused; nothing needs it.
    let _ = fs::remove_file(data.join("postmaster.pid"));
}

fn is_zombie(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, after)| after.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}
