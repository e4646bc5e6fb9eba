//! What the PostgreSQL test binaries share: options for the harness's clusters, and fresh
//! databases on one cluster started once per test binary.

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cloister_core::config::TargetServer;
use cloister_harness::postgres::{PgCluster, PASSWORD, SUPERUSER};
use cloister_store::PostgresOptions;
use zeroize::Zeroizing;

/// Options for `database` over `hosts`, with short timeouts so failures show quickly.
pub fn options(hosts: Vec<(String, u16)>, database: &str) -> PostgresOptions {
    PostgresOptions {
        hosts,
        database: Some(database.into()),
        username: Some(SUPERUSER.into()),
        password: Some(Zeroizing::new(PASSWORD.into())),
        target: TargetServer::Primary,
        connect_timeout: Duration::from_secs(2),
        statement_timeout: Duration::from_secs(5),
        pool_size: 8,
        auto_create_tables: true,
        ..PostgresOptions::default()
    }
}

/// A new, empty database on `cluster`'s primary.
pub fn fresh_database(cluster: &PgCluster, prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!("{prefix}_{}", NEXT.fetch_add(1, Ordering::Relaxed));
    cluster.create_database(&name);
    name
}
