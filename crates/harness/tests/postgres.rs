//! The PostgreSQL harness does what it promises, checked with `psql` against real servers.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use cloister_harness::postgres::{HbaKind, NodeState, PgCluster, Role};
use cloister_harness::tls::TestCa;

fn insert(cluster: &PgCluster, node: usize, value: &str) {
    cluster.sql(
        node,
        "postgres",
        &format!("INSERT INTO t VALUES ('{value}')"),
    );
}

/// Every value in `t` on `node`, in order, comma-separated.
const VALUES: &str = "SELECT string_agg(v, ',' ORDER BY v) FROM t";

fn values(cluster: &PgCluster, node: usize) -> String {
    cluster.sql(node, "postgres", VALUES)
}

/// Whether `node` comes to hold exactly `expected` within five seconds: synchronous
/// replication flushes a commit on the standby before the primary acknowledges it, but does
/// not wait for it to be replayed there, so it becomes visible a moment later.
fn comes_to_hold(cluster: &PgCluster, node: usize, expected: &str) -> bool {
    cloister_harness::http::eventually(Duration::from_secs(5), || {
        cluster.try_sql(node, "postgres", VALUES).as_deref() == Ok(expected)
    })
}

#[test]
fn pair_replicates_fails_over_and_rejoins_both_ways() {
    replicates_fails_over_and_rejoins_both_ways(PgCluster::pair, false);
}

/// The same with `ssl = on` and only TLS logins accepted: streaming replication, `pg_rewind`
/// and the harness's own `psql` all reach the servers over TLS.
#[test]
fn tls_pair_replicates_fails_over_and_rejoins_both_ways() {
    let ca = TestCa::new("harness pair CA");
    let server = ca.server(&["127.0.0.1"]);
    replicates_fails_over_and_rejoins_both_ways(
        move || {
            let cluster = PgCluster::pair_with_tls(&server);
            cluster.only_hba(HbaKind::Tls);
            cluster
        },
        true,
    );
}

/// Whether every replication connection to `primary` is encrypted (and there is one).
fn replication_is_encrypted(cluster: &PgCluster, primary: usize) -> bool {
    cloister_harness::http::eventually(Duration::from_secs(5), || {
        cluster
            .try_sql(
                primary,
                "postgres",
                "SELECT count(*) > 0 AND bool_and(ssl) FROM pg_stat_replication JOIN pg_stat_ssl USING (pid)",
            )
            .as_deref()
            == Ok("t")
    })
}

fn replicates_fails_over_and_rejoins_both_ways(start: impl FnOnce() -> PgCluster, tls: bool) {
    let started = Instant::now();
    let mut cluster = start();
    eprintln!("pair up in {:?}", started.elapsed());
    if tls {
        assert!(replication_is_encrypted(&cluster, 0));
    }
    assert_eq!(cluster.primary(), 0);
    cluster.sql(0, "postgres", "CREATE TABLE t (v text PRIMARY KEY)");
    insert(&cluster, 0, "a");
    assert!(comes_to_hold(&cluster, 1, "a"));
    let refused = cluster
        .try_sql(1, "postgres", "INSERT INTO t VALUES ('x')")
        .unwrap_err();
    assert!(refused.contains("read-only"), "{refused}");

    // A hung primary accepts TCP but never answers; resuming it restores service.
    cluster.hang(0);
    assert_eq!(cluster.node(0).state, NodeState::Hung);
    let probe = std::net::TcpStream::connect(("127.0.0.1", cluster.port(0)));
    assert!(probe.is_ok(), "the kernel still accepts connections");
    cluster.resume(0);
    insert(&cluster, 0, "b");

    // Crash, promote, write on the new primary, rejoin the old one as its standby.
    let failover = Instant::now();
    cluster.crash(0);
    assert!(cluster.try_sql(0, "postgres", "SELECT 1").is_err());
    cluster.promote(1);
    insert(&cluster, 1, "c");
    eprintln!(
        "crash to first write on the new primary: {:?}",
        failover.elapsed()
    );
    assert_eq!(
        values(&cluster, 1),
        "a,b,c",
        "nothing acknowledged was lost"
    );
    let rejoin = Instant::now();
    cluster.rejoin(0);
    eprintln!("rejoin: {:?}", rejoin.elapsed());
    assert_eq!(cluster.node(0).role, Role::Standby);
    assert_eq!(cluster.primary(), 1);
    insert(&cluster, 1, "d");
    assert!(comes_to_hold(&cluster, 0, "a,b,c,d"));
    if tls {
        assert!(replication_is_encrypted(&cluster, 1), "after rejoin");
    }

    // And back: the rejoined node takes over, the other rejoins behind it.
    cluster.crash(1);
    cluster.promote(0);
    insert(&cluster, 0, "e");
    cluster.rejoin(1);
    insert(&cluster, 0, "f");
    assert!(comes_to_hold(&cluster, 1, "a,b,c,d,e,f"));
    cluster.create_database("scratch");
    assert_eq!(
        cluster.sql(0, "scratch", "SELECT current_database()"),
        "scratch"
    );

    let dir = cluster.dir().to_path_buf();
    drop(cluster);
    assert!(!dir.exists(), "drop removes the cluster directory");
    eprintln!("whole test: {:?}", started.elapsed());
}

#[test]
fn single_primary_serves_and_cleans_up() {
    let cluster = PgCluster::single();
    assert_eq!(cluster.nodes().len(), 1);
    cluster.create_database("one");
    assert_eq!(cluster.sql(0, "one", "SELECT pg_is_in_recovery()"), "f");
    let data = cluster.node(0).data.clone();
    drop(cluster);
    assert!(!data.exists());
}
