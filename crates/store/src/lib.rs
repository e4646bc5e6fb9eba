//! `cloister-store`: where a Cloister node keeps what it has acknowledged.
//!
//! - [`Store`]: the backend-independent operations, bytes-level (payloads are stored as the
//!   encoded bytes the node hands in; nothing here decodes them).
//! - [`rows`]: one type per row of Tessera's tables (`ENCRYPTED_TRANSACTION`,
//!   `ENCRYPTED_RAW_TRANSACTION`, `PRIVACY_GROUP`, `ST_TRANSACTION`).
//!   and of Cloister's own (`CLOISTER_PARTY`, `CLOISTER_PEER`, `CLOISTER_PEER_KEY`: discovery
//!   state; `CLOISTER_IDEMPOTENCY`: first outcomes of keyed writes), created even without
//!   `autoCreateTables` because Tessera's DDL has no such tables).
//! - [`StoreError`]: failures, split so callers can tell "cannot answer now" (5xx) from
//!   "the answer is no" (`Ok(None)`, which alone may become a 404).
//! - [`sqlite`]: the embedded backend, Tessera's SQLite schema with group-committed writes.
//! - [`postgres`]: the HA backend, Tessera's PostgreSQL schema over a pool that fails over
//!   between hosts by itself. Always built (no cargo feature): it is the backend HA
//!   deployments need, and its dependencies are pure Rust.
//! - [`bulk`]: whole tables, page by page, for `cloister migrate`.
//! - `conformance` (cargo feature `conformance`): the test suite every backend must pass.
//!
//! Several replicas of one node may share one store, so every write that could race is offered
//! as a single atomic operation (insert-if-absent, compare-and-swap), never as read-then-write
//! left to the caller.

pub mod bulk;
mod error;
pub mod postgres;
pub mod rows;
mod schema;
pub mod sqlite;
mod store;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::StoreError;
pub use postgres::{PostgresOptions, PostgresStore};
pub use rows::{
    IdempotencyRow, InsertOutcome, NewStagedTransaction, OnceOutcome, PeerKeyRow, PeerRow,
    PrivacyGroupRow, RawTransactionRow, StagedTransaction, StagingCounts, TransactionRow,
};
pub use sqlite::{SqliteOptions, SqliteStore};
pub use store::{Store, StoreHealth, StoreProblem, StoreRole};

/// Milliseconds since the Unix epoch, the unit of every `TIMESTAMP` column (Tessera's
/// `System.currentTimeMillis()`). A clock before 1970 reads as 0.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
