//! The embedded backend: one SQLite file in WAL mode with Tessera's schema.
//!
//! - Durability: `synchronous=FULL`, so a commit returns only after the WAL is fsynced, and a
//!   write is acknowledged only after its commit returns.
//! - Throughput: all writes go to one writer thread that group-commits whatever is queued
//!   ([`writer`]); reads use a small pool of separate connections ([`readers`]), which WAL
//!   lets run alongside the writer.
//! - Several processes (replicas on one host) may open the same file: writes take SQLite's
//!   write lock with `BEGIN IMMEDIATE` and wait up to the busy timeout for it.

mod discovery;
pub(crate) mod error;
mod idempotency;
mod privacy_groups;
mod raw_transactions;
mod readers;
mod schema;
mod staging;
mod transactions;
mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use cloister_core::digest::TxHash;
use cloister_core::keys::PublicKey;
use cloister_core::payload::PayloadCodec;
use rusqlite::config::DbConfig;
use rusqlite::types::Type;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};

use self::error::{from_sqlite, in_table};
use self::readers::Readers;
use self::writer::Writer;
use crate::rows::{
    IdempotencyRow, InsertOutcome, NewStagedTransaction, OnceOutcome, PeerKeyRow, PeerRow,
    PrivacyGroupRow, RawTransactionRow, StagedTransaction, StagingCounts, TransactionRow,
};
use crate::{Store, StoreError, StoreHealth, StoreProblem, StoreRole};

/// How to open a SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Create missing tables and indexes (Tessera's `jdbc.autoCreateTables`, default off as in
    /// Tessera). Without it, opening a file without Tessera's tables fails.
    pub auto_create_tables: bool,
    /// Read connections in the pool (at least 1).
    pub readers: usize,
    /// How long a statement waits for a lock held by another process before failing with
    /// [`StoreError::Busy`].
    pub busy_timeout: Duration,
    /// The most write requests committed together in one transaction.
    pub max_batch: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            auto_create_tables: false,
            readers: 4,
            busy_timeout: Duration::from_secs(5),
            max_batch: 512,
        }
    }
}

/// A [`Store`] over one SQLite database file.
pub struct SqliteStore {
    path: PathBuf,
    // Declared before `writer` only for clarity; drop order does not matter for correctness.
    readers: Readers,
    writer: Writer,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`: its directory is created owner-only
    /// (0700) and a new file owner-only (0600); SQLite gives its `-wal` and `-shm` files the
    /// same mode. Blocks while it opens the connections and checks the schema.
    pub fn open(path: &Path, options: &SqliteOptions) -> Result<Self, StoreError> {
        create_private_file(path)?;
        let writer_conn = connect(path, options)?;
        let mode: String = writer_conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(from_sqlite)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!(
                "{} cannot use WAL journal mode (got {mode})",
                path.display()
            )));
        }
        writer_conn
            .execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(from_sqlite)?;
        // Durability is the contract, so check it took rather than trust it (2 = FULL).
        let synchronous: i64 = writer_conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .map_err(from_sqlite)?;
        if synchronous != 2 {
            return Err(StoreError::Unavailable(format!(
                "{} refused synchronous=FULL (got {synchronous})",
                path.display()
            )));
        }
        schema::prepare(&writer_conn, options.auto_create_tables)?;

        let readers = (0..options.readers.max(1))
            .map(|_| {
                let conn = connect(path, options)?;
                // Read connections never write: a bug that tries to is refused, not committed
                // behind the writer's back.
                conn.execute_batch("PRAGMA query_only = ON;")
                    .map_err(from_sqlite)?;
                Ok(conn)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;

        Ok(Self {
            path: path.to_path_buf(),
            readers: Readers::new(readers),
            writer: Writer::start(writer_conn, options.max_batch)?,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Creates the directory (0700) and an empty file (0600) if they do not exist yet, so the
/// database is never readable by others, not even for a moment after SQLite creates it.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let io = |what: &str, e: std::io::Error| {
        StoreError::Unavailable(format!("cannot {what} {}: {e}", path.display()))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder
                .create(dir)
                .map_err(|e| io("create the directory of", e))?;
        }
    }
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
    match file.open(path) {
        Ok(_) => Ok(()),
        // Already there (ours from an earlier run, Tessera's, or another replica's just now).
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io("create", e)),
    }
}

fn connect(path: &Path, options: &SqliteOptions) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| match from_sqlite(e) {
        StoreError::Unavailable(m) | StoreError::Backend(m) => {
            StoreError::Unavailable(format!("cannot open {}: {m}", path.display()))
        }
        other => other,
    })?;
    conn.busy_timeout(options.busy_timeout)
        .map_err(from_sqlite)?;
    // The bundled SQLite has STAT4, under which a statement whose plan might depend on a bound
    // value is compiled again on every step: the peer lookup of every `/send` recipient was
    // (12 % of a sender's CPU when sending to five). Every statement here has one good plan.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(from_sqlite)?;
    Ok(conn)
}

/// A value that does not fit its column's meaning (reported as a corrupt row).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BadValue(String);

fn bad(index: usize, ty: Type, reason: impl Into<String>) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, ty, Box::new(BadValue(reason.into())))
}

fn codec(row: &Row<'_>, index: usize) -> rusqlite::Result<PayloadCodec> {
    let name: Option<String> = row.get(index)?;
    PayloadCodec::from_column(name.as_deref())
        .ok_or_else(|| bad(index, Type::Text, "unknown PAYLOAD_CODEC"))
}

/// A NULL `TIMESTAMP` (rows from before Tessera added the column) reads as 0.
fn timestamp(row: &Row<'_>, index: usize) -> rusqlite::Result<i64> {
    Ok(row.get::<_, Option<i64>>(index)?.unwrap_or(0))
}

/// SQLite takes signed 64-bit limits; larger ones mean "everything" anyway.
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Runs `insert` (an `INSERT … ON CONFLICT (HASH) DO NOTHING`); on a conflict, reads the row
/// that won with `get` and hands it back unchanged. Both run in the writer's one transaction, so
/// the conflicting row cannot vanish in between.
fn insert_if_absent<T>(
    conn: &Connection,
    insert: &str,
    params: impl rusqlite::Params,
    hash: &TxHash,
    get: fn(&Connection, &[u8]) -> Result<Option<T>, StoreError>,
) -> Result<InsertOutcome<T>, StoreError> {
    if execute(conn, insert, params)? == 1 {
        return Ok(InsertOutcome::Inserted);
    }
    get(conn, hash.as_bytes())?
        .map(InsertOutcome::AlreadyPresent)
        .ok_or_else(|| StoreError::Backend("insert conflicted with no row".into()))
}

fn execute(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<usize, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .map_err(from_sqlite)
}

/// The one row `sql` selects by `key`, mapped by `map`; `None` when there is none.
fn one<T>(
    conn: &Connection,
    sql: &str,
    key: impl rusqlite::Params,
    map: fn(&Row<'_>) -> rusqlite::Result<T>,
    table: &'static str,
) -> Result<Option<T>, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.query_row(key, map).optional())
        .map_err(in_table(table))
}

/// Runs a `DELETE` of one row by key; whether there was one.
fn deleted(conn: &Connection, sql: &str, key: impl rusqlite::Params) -> Result<bool, StoreError> {
    Ok(execute(conn, sql, key)? == 1)
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_transaction(
        &self,
        row: &TransactionRow,
    ) -> Result<InsertOutcome<TransactionRow>, StoreError> {
        let row = row.clone();
        self.writer
            .write(move |conn| transactions::insert(conn, &row))
            .await
    }

    async fn replace_transaction(
        &self,
        hash: &TxHash,
        expected_payload: &[u8],
        new_payload: &[u8],
        new_codec: PayloadCodec,
    ) -> Result<bool, StoreError> {
        let (hash, expected, new) = (
            hash.clone(),
            expected_payload.to_vec(),
            new_payload.to_vec(),
        );
        self.writer
            .write(move |conn| transactions::replace(conn, &hash, &expected, &new, new_codec))
            .await
    }

    async fn get_transaction(&self, hash: &TxHash) -> Result<Option<TransactionRow>, StoreError> {
        let hash = hash.clone();
        self.readers
            .read(move |conn| transactions::get(conn, hash.as_bytes()))
            .await
    }

    async fn delete_transaction(&self, hash: &TxHash) -> Result<bool, StoreError> {
        let hash = hash.clone();
        self.writer
            .write(move |conn| transactions::delete(conn, &hash))
            .await
    }

    async fn scan_transactions(
        &self,
        after: Option<&TxHash>,
        limit: u64,
    ) -> Result<Vec<TransactionRow>, StoreError> {
        let after = after.cloned();
        self.readers
            .read(move |conn| transactions::scan(conn, after.as_ref(), limit))
            .await
    }

    async fn count_transactions(&self) -> Result<u64, StoreError> {
        self.readers.read(transactions::total).await
    }

    async fn insert_raw_transaction(
        &self,
        row: &RawTransactionRow,
    ) -> Result<InsertOutcome<RawTransactionRow>, StoreError> {
        let row = row.clone();
        self.writer
            .write(move |conn| raw_transactions::insert(conn, &row))
            .await
    }

    async fn get_raw_transaction(
        &self,
        hash: &TxHash,
    ) -> Result<Option<RawTransactionRow>, StoreError> {
        let hash = hash.clone();
        self.readers
            .read(move |conn| raw_transactions::get(conn, hash.as_bytes()))
            .await
    }

    async fn delete_raw_transaction(&self, hash: &TxHash) -> Result<bool, StoreError> {
        let hash = hash.clone();
        self.writer
            .write(move |conn| raw_transactions::delete(conn, &hash))
            .await
    }

    async fn upsert_privacy_group(&self, row: &PrivacyGroupRow) -> Result<(), StoreError> {
        let row = row.clone();
        self.writer
            .write(move |conn| privacy_groups::upsert(conn, &row))
            .await
    }

    async fn get_privacy_group(&self, id: &[u8]) -> Result<Option<PrivacyGroupRow>, StoreError> {
        let id = id.to_vec();
        self.readers
            .read(move |conn| privacy_groups::get(conn, &id))
            .await
    }

    async fn find_privacy_groups(
        &self,
        lookup_id: &[u8],
    ) -> Result<Vec<PrivacyGroupRow>, StoreError> {
        let lookup_id = lookup_id.to_vec();
        self.readers
            .read(move |conn| privacy_groups::find(conn, &lookup_id))
            .await
    }

    async fn list_privacy_groups(&self) -> Result<Vec<PrivacyGroupRow>, StoreError> {
        self.readers.read(privacy_groups::list).await
    }

    async fn stage_transaction(&self, tx: &NewStagedTransaction) -> Result<bool, StoreError> {
        let tx = tx.clone();
        self.writer
            .write(move |conn| staging::stage(conn, &tx))
            .await
    }

    async fn assign_validation_stage(&self, stage: i64) -> Result<u64, StoreError> {
        self.writer
            .write(move |conn| staging::assign_validation_stage(conn, stage))
            .await
    }

    async fn staging_counts(&self) -> Result<StagingCounts, StoreError> {
        self.readers.read(staging::counts).await
    }

    async fn staged_stages(&self) -> Result<Vec<Option<i64>>, StoreError> {
        self.readers.read(staging::stages).await
    }

    async fn scan_staged(
        &self,
        stage: Option<i64>,
        after_id: i64,
        limit: u64,
    ) -> Result<Vec<StagedTransaction>, StoreError> {
        self.readers
            .read(move |conn| staging::scan(conn, stage, after_id, limit))
            .await
    }

    async fn clear_staging(&self) -> Result<(), StoreError> {
        self.writer.write(staging::clear).await
    }

    async fn add_parties(&self, urls: &[String], max_total: usize) -> Result<usize, StoreError> {
        let urls = urls.to_vec();
        self.writer
            .write(move |conn| discovery::add_parties(conn, &urls, max_total))
            .await
    }

    async fn remove_party(&self, url: &str) -> Result<bool, StoreError> {
        let url = url.to_owned();
        self.writer
            .write(move |conn| discovery::remove_party(conn, &url))
            .await
    }

    async fn list_parties(&self) -> Result<Vec<String>, StoreError> {
        self.readers.read(discovery::list_parties).await
    }

    async fn record_peer(&self, peer: &PeerRow, keys: &[PublicKey]) -> Result<(), StoreError> {
        let (peer, keys, now) = (peer.clone(), keys.to_vec(), crate::now_millis());
        self.writer
            .write(move |conn| discovery::record_peer(conn, &peer, &keys, now))
            .await
    }

    async fn forget_peer(&self, url: &str) -> Result<(), StoreError> {
        let url = url.to_owned();
        self.writer
            .write(move |conn| discovery::forget_peer(conn, &url))
            .await
    }

    async fn list_peers(&self) -> Result<Vec<PeerRow>, StoreError> {
        self.readers.read(discovery::list_peers).await
    }

    async fn peer_for_key(&self, key: &PublicKey) -> Result<Option<PeerRow>, StoreError> {
        let key = *key;
        self.readers
            .read(move |conn| discovery::peer_for_key(conn, &key))
            .await
    }

    async fn peers_for_keys(&self, keys: &[PublicKey]) -> Result<Vec<Option<PeerRow>>, StoreError> {
        let keys = keys.to_vec();
        self.readers
            .read(move |conn| {
                keys.iter()
                    .map(|key| discovery::peer_for_key(conn, key))
                    .collect()
            })
            .await
    }

    async fn list_peer_keys(&self) -> Result<Vec<PeerKeyRow>, StoreError> {
        self.readers.read(discovery::list_peer_keys).await
    }

    async fn insert_transaction_once(
        &self,
        row: &TransactionRow,
        record: &IdempotencyRow,
    ) -> Result<OnceOutcome, StoreError> {
        let (row, record) = (row.clone(), record.clone());
        self.writer
            .write(move |conn| idempotency::insert_once(conn, &row, &record))
            .await
    }

    async fn get_idempotency(&self, key: &str) -> Result<Option<IdempotencyRow>, StoreError> {
        let key = key.to_owned();
        self.readers
            .read(move |conn| idempotency::get(conn, &key))
            .await
    }

    async fn delete_idempotency(&self, key: &str) -> Result<bool, StoreError> {
        let key = key.to_owned();
        self.writer
            .write(move |conn| idempotency::delete(conn, &key))
            .await
    }

    async fn expire_idempotency(&self, before: i64) -> Result<u64, StoreError> {
        self.writer
            .write(move |conn| idempotency::expire(conn, before))
            .await
    }

    async fn health(&self) -> StoreHealth {
        let read = self
            .readers
            .read(|conn| {
                conn.query_row("SELECT 1", [], |_| Ok(()))
                    .map_err(from_sqlite)
            })
            .await;
        // An empty write transaction proves the writer runs and can take the write lock; with
        // nothing written, its commit costs no fsync.
        let write = match read {
            Ok(()) if self.writer.is_running() => self.writer.write(|_| Ok(())).await,
            Ok(()) => Err(StoreError::Unavailable(
                "the SQLite writer has stopped".into(),
            )),
            Err(e) => Err(e),
        };
        StoreHealth {
            role: StoreRole::Sqlite,
            problem: write.err().map(StoreProblem::from),
            server: None,
            synchronous_standbys: None,
        }
    }
}
