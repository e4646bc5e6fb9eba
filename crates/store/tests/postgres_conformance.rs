//! The backend-independent conformance suite, run against PostgreSQL: a fresh database per
//! check, on one single-primary cluster that the harness starts once for this test binary;
//! and once more over TLS (`sslmode=verify-full`, a server that refuses plain-text logins),
//! the store's other path to the same backend.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, OnceLock};

use cloister_core::config::jdbc::PostgresTls;
use cloister_harness::postgres::{HbaKind, PgCluster};
use cloister_harness::tessera::POSTGRES_DDL as TESSERA_DDL;
use cloister_harness::tls::TestCa;
use cloister_store::{PostgresStore, Store};

/// Started on first use; never dropped (statics are not), so the harness's watchdog stops
/// it when this process exits.
fn cluster() -> &'static PgCluster {
    static CLUSTER: OnceLock<PgCluster> = OnceLock::new();
    CLUSTER.get_or_init(PgCluster::single)
}

async fn fresh() -> (Arc<dyn Store>, ()) {
    let database =
        tokio::task::spawn_blocking(|| support::fresh_database(cluster(), "conformance"))
            .await
            .unwrap();
    let store = PostgresStore::connect(&support::options(cluster().hosts(), &database))
        .await
        .unwrap();
    (Arc::new(store), ())
}

cloister_store::conformance_tests!(fresh);

async fn fresh_tessera() -> (Arc<dyn Store>, ()) {
    let database = tokio::task::spawn_blocking(|| {
        let database = support::fresh_database(cluster(), "tessera");
        cluster().sql(0, &database, TESSERA_DDL);
        database
    })
    .await
    .unwrap();
    let mut options = support::options(cluster().hosts(), &database);
    options.auto_create_tables = false;
    (
        Arc::new(PostgresStore::connect(&options).await.unwrap()),
        (),
    )
}

/// A server with `ssl = on` that accepts only TLS logins, and the CA that signed its
/// certificate; started on first use, like [`cluster`].
fn tls_cluster() -> &'static (PgCluster, TestCa) {
    static CLUSTER: OnceLock<(PgCluster, TestCa)> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let ca = TestCa::new("conformance CA");
        let cluster = PgCluster::single_with_tls(&ca.server(&["127.0.0.1"]));
        cluster.only_hba(HbaKind::Tls);
        (cluster, ca)
    })
}

async fn fresh_over_tls() -> (Arc<dyn Store>, ()) {
    let (cluster, ca) = tokio::task::spawn_blocking(tls_cluster).await.unwrap();
    let database = tokio::task::spawn_blocking(|| support::fresh_database(&tls_cluster().0, "tls"))
        .await
        .unwrap();
    let mut options = support::options(cluster.hosts(), &database);
    options.tls = PostgresTls::verify_full(ca.file.clone());
    (
        Arc::new(PostgresStore::connect(&options).await.unwrap()),
        (),
    )
}

/// The whole suite over TLS at `sslmode=verify-full`.
mod over_tls {
    cloister_store::conformance_tests!(super::fresh_over_tls);
}

/// The whole suite again on a database laid out by Tessera's DDL and opened without
/// `autoCreateTables`: our statements fit Tessera's tables as they are.
mod on_tessera_ddl {
    cloister_store::conformance_tests!(super::fresh_tessera);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_tables_without_auto_create_fail_at_connect() {
    let database = tokio::task::spawn_blocking(|| support::fresh_database(cluster(), "empty"))
        .await
        .unwrap();
    let mut options = support::options(cluster().hosts(), &database);
    options.auto_create_tables = false;
    let error = PostgresStore::connect(&options).await.unwrap_err();
    assert!(
        matches!(error, cloister_store::StoreError::Schema(ref m) if m.contains("autoCreateTables")),
        "{error}"
    );
}
