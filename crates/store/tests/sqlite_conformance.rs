//! The backend-independent conformance suite, run against SQLite on a temp file.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use cloister_store::{SqliteOptions, SqliteStore, Store};

async fn fresh() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions {
        auto_create_tables: true,
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open(&dir.path().join("cloister.db"), &options).unwrap();
    (Arc::new(store), dir)
}

cloister_store::conformance_tests!(fresh);
