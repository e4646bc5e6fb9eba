//! Failover at the driver level, the cheap cases: hosts that refuse, hosts that accept TCP and
//! never answer, and host lists with no writable primary. One primary + synchronous standby
//! pair serves every test of this binary.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::TcpListener;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cloister_core::config::TargetServer;
use cloister_harness::postgres::{PgCluster, Role};
use cloister_store::conformance::tx;
use cloister_store::{PostgresStore, Store, StoreError};

fn pair() -> &'static PgCluster {
    static PAIR: OnceLock<PgCluster> = OnceLock::new();
    PAIR.get_or_init(PgCluster::pair)
}

fn host(cluster: &PgCluster, role: Role) -> (String, u16) {
    let i = cluster.nodes().iter().position(|n| n.role == role).unwrap();
    ("127.0.0.1".into(), cluster.port(i))
}

/// A fresh database on the pair (created on the primary, replicated to the standby).
/// Waits until the standby has replayed its creation too: synchronous commit waits for the
/// standby's flush, not its replay.
async fn database() -> String {
    let database = tokio::task::spawn_blocking(|| support::fresh_database(pair(), "failover"))
        .await
        .unwrap();
    replayed(&database, "SELECT 1").await;
    database
}

/// Waits until `sql` succeeds on the standby's copy of `database`: what the primary committed
/// has been replayed there, not just flushed.
async fn replayed(database: &str, sql: &'static str) {
    let database = database.to_owned();
    tokio::task::spawn_blocking(move || {
        let standby = pair()
            .nodes()
            .iter()
            .position(|n| n.role == Role::Standby)
            .unwrap();
        let replayed = cloister_harness::http::eventually(Duration::from_secs(10), || {
            pair().try_sql(standby, &database, sql).is_ok()
        });
        assert!(replayed, "{database}: {sql} never succeeded on the standby");
    })
    .await
    .unwrap();
}

/// A loopback port with nothing listening: connecting is refused at once.
fn refused_port() -> u16 {
    cloister_harness::nodes::free_port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_first_host_is_skipped() {
    let database = database().await;
    let hosts = vec![
        ("127.0.0.1".into(), refused_port()),
        host(pair(), Role::Primary),
    ];
    let started = Instant::now();
    let store = PostgresStore::connect(&support::options(hosts, &database))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_host_that_never_answers_is_skipped_after_the_per_host_timeout() {
    let database = database().await;
    // The kernel completes the TCP handshake into the backlog; nobody ever reads or writes,
    // as with a frozen server.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let hosts = vec![
        ("127.0.0.1".into(), silent.local_addr().unwrap().port()),
        host(pair(), Role::Primary),
    ];
    let mut options = support::options(hosts, &database);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_writable_primary_is_unavailable_promptly() {
    let database = database().await;
    let standby = host(pair(), Role::Standby);

    // Only a standby (and a dead host) to choose from: the store cannot answer, and says so
    // as a transient error, within the per-host timeouts.
    let mut options = support::options(
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
    let writer = PostgresStore::connect(&support::options(
        vec![host(pair(), Role::Primary)],
        &database,
    ))
    .await
    .unwrap();
    let row = tx(b"on-primary", b"payload", 1);
    writer.insert_transaction(&row).await.unwrap();
    // The schema the writer created must be on the standby before a store opens there, or it
    // would try (and fail) to create Cloister's tables on a read-only server.
    replayed(&database, "SELECT 1 FROM CLOISTER_PEER_KEY").await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_reachable_is_unavailable_within_the_walk() {
    let options = support::options(
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
