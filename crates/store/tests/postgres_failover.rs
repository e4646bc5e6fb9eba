//! Failover at the driver level, the cheap cases: hosts that refuse, hosts that accept TCP and
//! never answer, and host lists with no writable primary. Every case runs twice, each on one
//! primary + synchronous standby pair shared by the binary: once in plain text, and once with
//! `ssl = on`, servers that accept only TLS logins, and the store at `sslmode=verify-full`, so
//! TLS changes none of the walker's failover behaviour.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::TcpListener;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cloister_core::config::jdbc::PostgresTls;
use cloister_core::config::TargetServer;
use cloister_harness::postgres::{HbaKind, PgCluster, Role, PASSWORD, SUPERUSER};
use cloister_harness::tls::TestCa;
use cloister_store::conformance::tx;
use cloister_store::{PostgresOptions, PostgresStore, Store, StoreError};

/// A pair and how the store reaches it.
struct Setup {
    cluster: PgCluster,
    tls: PostgresTls,
    /// Keeps the CA's files (the root certificate the store reads) alive.
    _ca: Option<TestCa>,
}

impl Setup {
    /// Plain text, the servers' `ssl` off.
    fn plain() -> &'static Self {
        static PLAIN: OnceLock<Setup> = OnceLock::new();
        PLAIN.get_or_init(|| Setup {
            cluster: PgCluster::pair(),
            tls: PostgresTls::disabled(),
            _ca: None,
        })
    }

    /// `sslmode=verify-full` against servers whose certificate names 127.0.0.1 and that
    /// refuse plain-text logins, replication included.
    fn verify_full() -> &'static Self {
        static TLS: OnceLock<Setup> = OnceLock::new();
        TLS.get_or_init(|| {
            let ca = TestCa::new("failover CA");
            let cluster = PgCluster::pair_with_tls(&ca.server(&["127.0.0.1"]));
            cluster.only_hba(HbaKind::Tls);
            Setup {
                cluster,
                tls: PostgresTls::verify_full(ca.file.clone()),
                _ca: Some(ca),
            }
        })
    }

    /// The shared test options over `hosts`, with this setup's TLS.
    fn options(&self, hosts: Vec<(String, u16)>, database: &str) -> PostgresOptions {
        PostgresOptions {
            tls: self.tls.clone(),
            ..support::options(hosts, database)
        }
    }

    fn host(&'static self, role: Role) -> (String, u16) {
        let i = self
            .cluster
            .nodes()
            .iter()
            .position(|n| n.role == role)
            .unwrap();
        ("127.0.0.1".into(), self.cluster.port(i))
    }

    /// A fresh database on the pair (created on the primary, replicated to the standby).
    /// Waits until the standby has replayed its creation too: synchronous commit waits for
    /// the standby's flush, not its replay.
    async fn database(&'static self) -> String {
        let database =
            tokio::task::spawn_blocking(|| support::fresh_database(&self.cluster, "failover"))
                .await
                .unwrap();
        self.replayed(&database, "SELECT 1").await;
        database
    }

    /// Waits until `sql` succeeds on the standby's copy of `database`: what the primary
    /// committed has been replayed there, not just flushed.
    async fn replayed(&'static self, database: &str, sql: &'static str) {
        let database = database.to_owned();
        tokio::task::spawn_blocking(move || {
            let cluster = &self.cluster;
            let standby = cluster
                .nodes()
                .iter()
                .position(|n| n.role == Role::Standby)
                .unwrap();
            let replayed = cloister_harness::http::eventually(Duration::from_secs(10), || {
                cluster.try_sql(standby, &database, sql).is_ok()
            });
            assert!(replayed, "{database}: {sql} never succeeded on the standby");
        })
        .await
        .unwrap();
    }
}

/// Each case as a test per setup: `plain::case` and `verify_full::case`.
macro_rules! in_plain_text_and_over_tls {
    ($($case:ident),* $(,)?) => {
        mod plain {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let setup = tokio::task::spawn_blocking(super::Setup::plain).await.unwrap();
                    super::$case(setup).await;
                }
            )*
        }
        mod verify_full {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let setup =
                        tokio::task::spawn_blocking(super::Setup::verify_full).await.unwrap();
                    super::$case(setup).await;
                }
            )*
        }
    };
}

in_plain_text_and_over_tls!(
    health_names_the_primary_written_to_and_its_synchronous_standby,
    a_refusing_first_host_is_skipped,
    a_first_host_that_never_answers_is_skipped_after_the_per_host_timeout,
    no_writable_primary_is_unavailable_promptly,
    nothing_reachable_is_unavailable_within_the_walk,
);

/// A loopback port with nothing listening: connecting is refused at once.
fn refused_port() -> u16 {
    cloister_harness::nodes::free_port()
}

/// What an operator reads in `/health` before a failover: which server takes the writes and
/// whether a commit there waits for a standby.
async fn health_names_the_primary_written_to_and_its_synchronous_standby(setup: &'static Setup) {
    let database = setup.database().await;
    let primary = setup.host(Role::Primary);
    let hosts = vec![setup.host(Role::Standby), primary.clone()];
    let store = PostgresStore::connect(&setup.options(hosts, &database))
        .await
        .unwrap();
    let health = store.health().await;
    assert!(health.is_reachable(), "{health:?}");
    assert_eq!(
        health.server.as_deref(),
        Some(format!("{}:{}", primary.0, primary.1).as_str())
    );
    assert_eq!(health.synchronous_standbys, Some(1), "{health:?}");
}

async fn a_refusing_first_host_is_skipped(setup: &'static Setup) {
    let database = setup.database().await;
    let hosts = vec![
        ("127.0.0.1".into(), refused_port()),
        setup.host(Role::Primary),
    ];
    let started = Instant::now();
    let store = PostgresStore::connect(&setup.options(hosts, &database))
        .await
        .unwrap();
    let row = tx(b"refused-first", b"payload", 1);
    assert!(store.insert_transaction(&row).await.unwrap().is_inserted());
    assert_eq!(store.get_transaction(&row.hash).await.unwrap(), Some(row));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a refusal costs no timeout: {:?}",
        started.elapsed()
    );
}

async fn a_first_host_that_never_answers_is_skipped_after_the_per_host_timeout(
    setup: &'static Setup,
) {
    let database = setup.database().await;
    // The kernel completes the TCP handshake into the backlog; nobody ever reads or writes,
    // as with a frozen server.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let hosts = vec![
        ("127.0.0.1".into(), silent.local_addr().unwrap().port()),
        setup.host(Role::Primary),
    ];
    let mut options = setup.options(hosts, &database);
    options.connect_timeout = Duration::from_millis(500);
    let started = Instant::now();
    let store = PostgresStore::connect(&options).await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(3),
        "one per-host timeout, then the next host: {waited:?}"
    );
    let row = tx(b"silent-first", b"payload", 1);
    assert!(store.insert_transaction(&row).await.unwrap().is_inserted());
    let health = store.health().await;
    assert!(health.is_reachable(), "{health:?}");
    assert_eq!(health.role.as_str(), "postgresql-primary");
}

async fn no_writable_primary_is_unavailable_promptly(setup: &'static Setup) {
    let database = setup.database().await;
    let standby = setup.host(Role::Standby);

    // Only a standby (and a dead host) to choose from: the store cannot answer, and says so
    // as a transient error, within the per-host timeouts.
    let mut options = setup.options(
        vec![("127.0.0.1".into(), refused_port()), standby.clone()],
        &database,
    );
    options.connect_timeout = Duration::from_millis(500);
    let started = Instant::now();
    let error = PostgresStore::connect(&options).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(error, StoreError::Unavailable(ref m) if m.contains("read-only") || m.contains("does not allow writes")),
        "{error}"
    );
    assert!(error.is_transient());
    let message = error.to_string();
    assert!(
        message.contains(&format!("127.0.0.1:{}", standby.1)),
        "{message}"
    );

    // Connected to the standby anyway (target any): reads answer, writes are refused with a
    // transient error that names the cause, never an empty answer.
    options.target = TargetServer::Any;
    options.hosts = vec![standby];
    options.auto_create_tables = false;
    let writer = PostgresStore::connect(&setup.options(vec![setup.host(Role::Primary)], &database))
        .await
        .unwrap();
    let row = tx(b"on-primary", b"payload", 1);
    writer.insert_transaction(&row).await.unwrap();
    // The schema the writer created must be on the standby before a store opens there, or it
    // would try (and fail) to create Cloister's tables on a read-only server.
    setup
        .replayed(&database, "SELECT 1 FROM CLOISTER_PEER_KEY")
        .await;
    let store = PostgresStore::connect(&options).await.unwrap();
    let health = store.health().await;
    assert_eq!(health.role.as_str(), "postgresql-standby");
    assert!(
        health.is_reachable(),
        "target any accepts a standby: {health:?}"
    );
    let started = Instant::now();
    let error = store
        .insert_transaction(&tx(b"on-standby", b"payload", 2))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        matches!(error, StoreError::Unavailable(ref m) if m.contains("writable")),
        "{error}"
    );
    // The refused connection was discarded, and the next call still works (for reads).
    let replicated = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(found) = store.get_transaction(&row.hash).await.unwrap() {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(replicated, row);
}

async fn nothing_reachable_is_unavailable_within_the_walk(setup: &'static Setup) {
    let options = setup.options(
        vec![
            ("127.0.0.1".into(), refused_port()),
            ("127.0.0.1".into(), refused_port()),
        ],
        "nowhere",
    );
    let started = Instant::now();
    let error = PostgresStore::connect(&options).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(matches!(error, StoreError::Unavailable(_)), "{error}");
}

/// A primary that lost its synchronous standby, as a deposed primary has once its standby
/// follows the new one: it still finds what it holds, but "not found" from it could be stale,
/// so on a store that fails over the answer is "unavailable" (a 503 clients retry), never a
/// false 404. A store on that one host alone cannot fail over and answers at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_needs_a_commit_on_a_store_that_fails_over() {
    let (mut pair, database) = tokio::task::spawn_blocking(|| {
        let pair = PgCluster::pair();
        let database = support::fresh_database(&pair, "absence");
        (pair, database)
    })
    .await
    .unwrap();
    let primary = pair.primary();
    let options = PostgresOptions {
        statement_timeout: Duration::from_secs(1),
        ..support::options(pair.hosts(), &database)
    };
    let store = PostgresStore::connect(&options).await.unwrap();
    let alone = PostgresOptions {
        hosts: vec![("127.0.0.1".into(), pair.port(primary))],
        ..options
    };
    let alone = PostgresStore::connect(&alone).await.unwrap();
    let held = tx(b"held", b"payload", 1);
    let absent = tx(b"absent", b"payload", 1).hash;
    assert!(store.insert_transaction(&held).await.unwrap().is_inserted());
    assert_eq!(store.get_transaction(&absent).await.unwrap(), None);

    tokio::task::block_in_place(|| pair.crash(1 - primary));
    assert_eq!(
        store.get_transaction(&held.hash).await.unwrap(),
        Some(held.clone())
    );
    match store.get_transaction(&absent).await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("a stale absence was answered: {other:?}"),
    }
    assert_eq!(alone.get_transaction(&absent).await.unwrap(), None);
}

/// A replica starting beside others under load (a rolling restart): on a complete schema it
/// takes no table lock, so it starts while a writer's transaction holds one, and its DDL
/// cannot deadlock with their writes. An index that is missing (a database from an older
/// release) is still created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_on_a_complete_schema_locks_nothing_and_a_missing_index_is_added() {
    let setup = tokio::task::spawn_blocking(Setup::plain).await.unwrap();
    let database = setup.database().await;
    let primary = setup.host(Role::Primary);
    let options = setup.options(vec![primary.clone()], &database);
    drop(PostgresStore::connect(&options).await.unwrap());

    let (writer, connection) = tokio_postgres::connect(
        &format!(
            "host={} port={} user={SUPERUSER} password={PASSWORD} dbname={database}",
            primary.0, primary.1
        ),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    // What an insert holds until its commit.
    writer
        .batch_execute("BEGIN; LOCK TABLE ENCRYPTED_TRANSACTION IN ROW EXCLUSIVE MODE")
        .await
        .unwrap();
    let started = PostgresStore::connect(&options).await;
    writer.batch_execute("ROLLBACK").await.unwrap();
    assert!(started.is_ok(), "{:?}", started.err());

    let index = |sql: &'static str| {
        let database = database.clone();
        tokio::task::spawn_blocking(move || {
            let primary = setup.cluster.primary();
            setup.cluster.sql(primary, &database, sql)
        })
    };
    index("DROP INDEX ST_TRANSACTION_HASH").await.unwrap();
    drop(PostgresStore::connect(&options).await.unwrap());
    let count = index("SELECT count(*) FROM pg_indexes WHERE indexname = 'st_transaction_hash'");
    assert_eq!(count.await.unwrap().trim(), "1");
}
