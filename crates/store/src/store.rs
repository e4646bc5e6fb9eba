use async_trait::async_trait;
use cloister_core::digest::TxHash;
use cloister_core::payload::PayloadCodec;

use cloister_core::keys::PublicKey;

use crate::rows::{
    IdempotencyRow, InsertOutcome, NewStagedTransaction, OnceOutcome, PeerKeyRow, PeerRow,
    PrivacyGroupRow, RawTransactionRow, StagedTransaction, StagingCounts, TransactionRow,
};
use crate::StoreError;

/// The persistence a Cloister node needs, over Tessera's tables plus Cloister's own discovery
/// tables (so replicas sharing a store share what any of them learnt about the network).
///
/// Contract every backend keeps (checked by the `conformance` suite):
/// - a write returns only after it is durable (committed, and on disk or on the synchronous
///   standby); an error means it may or may not have happened, and retrying is safe because
///   every write is idempotent or a compare-and-swap;
/// - `get_*` returns `Ok(None)` only when the row is truly absent; anything that prevents an
///   answer is an `Err`;
/// - several stores over the same database (replicas) may call any method concurrently.
#[async_trait]
pub trait Store: Send + Sync {
    /// Stores `row` unless a row with its hash exists, atomically. Returns the existing row
    /// (untouched) in that case, so a retried or duplicated push can be compared with it.
    async fn insert_transaction(
        &self,
        row: &TransactionRow,
    ) -> Result<InsertOutcome<TransactionRow>, StoreError>;

    /// Replaces the payload of the row under `hash` if, and only if, it still holds
    /// `expected_payload` (compare-and-swap). Keeps the row's original `TIMESTAMP`. Returns
    /// `false` when the row is absent or holds other bytes: the caller re-reads and merges again.
    async fn replace_transaction(
        &self,
        hash: &TxHash,
        expected_payload: &[u8],
        new_payload: &[u8],
        new_codec: PayloadCodec,
    ) -> Result<bool, StoreError>;

    /// The row under `hash`, or `None` if there is none.
    async fn get_transaction(&self, hash: &TxHash) -> Result<Option<TransactionRow>, StoreError>;

    /// Deletes the row under `hash`; `false` if there was none.
    async fn delete_transaction(&self, hash: &TxHash) -> Result<bool, StoreError>;

    /// Up to `limit` rows whose hash is greater than `after` (from the first when `None`), in
    /// hash order (bytewise): a walk over every row by its primary key, each page an index
    /// range, so a whole walk costs one pass over the table (offset paging would sort and skip
    /// everything before each page).
    async fn scan_transactions(
        &self,
        after: Option<&TxHash>,
        limit: u64,
    ) -> Result<Vec<TransactionRow>, StoreError>;

    /// The number of rows in `ENCRYPTED_TRANSACTION`.
    async fn count_transactions(&self) -> Result<u64, StoreError>;

    /// Stores a raw transaction unless one with its hash exists (then returns that one).
    async fn insert_raw_transaction(
        &self,
        row: &RawTransactionRow,
    ) -> Result<InsertOutcome<RawTransactionRow>, StoreError>;

    /// The raw transaction under `hash`, or `None`.
    async fn get_raw_transaction(
        &self,
        hash: &TxHash,
    ) -> Result<Option<RawTransactionRow>, StoreError>;

    /// Deletes the raw transaction under `hash`; `false` if there was none.
    async fn delete_raw_transaction(&self, hash: &TxHash) -> Result<bool, StoreError>;

    /// Inserts the group, or replaces `LOOKUP_ID` and `DATA` of the group with the same id
    /// (keeping its first `TIMESTAMP`).
    async fn upsert_privacy_group(&self, row: &PrivacyGroupRow) -> Result<(), StoreError>;

    /// The group with this id, or `None`.
    async fn get_privacy_group(&self, id: &[u8]) -> Result<Option<PrivacyGroupRow>, StoreError>;

    /// Every group whose `LOOKUP_ID` equals `lookup_id`, ordered by id.
    async fn find_privacy_groups(
        &self,
        lookup_id: &[u8],
    ) -> Result<Vec<PrivacyGroupRow>, StoreError>;

    /// Every group, ordered by id.
    async fn list_privacy_groups(&self) -> Result<Vec<PrivacyGroupRow>, StoreError>;

    /// Writes a recovered transaction and its affected hashes to the staging tables, atomically.
    /// A version already staged with the same hash and the same payload bytes is not written
    /// twice (a retried `/pushBatch`); returns whether a row was added.
    async fn stage_transaction(&self, tx: &NewStagedTransaction) -> Result<bool, StoreError>;

    /// One round of the staging pass: sets `VALIDATION_STAGE = stage` on every unstaged row
    /// whose affected transactions are each either staged already (in an earlier round) or not
    /// in the staging tables at all. Returns how many rows it staged.
    async fn assign_validation_stage(&self, stage: i64) -> Result<u64, StoreError>;

    /// How many staging rows there are, and how many have a stage.
    async fn staging_counts(&self) -> Result<StagingCounts, StoreError>;

    /// The distinct `VALIDATION_STAGE`s of the staging rows, in order, unstaged (`None`) last.
    async fn staged_stages(&self) -> Result<Vec<Option<i64>>, StoreError>;

    /// Up to `limit` staging rows of `stage` (`None`: unstaged) whose `ID` is greater than
    /// `after_id`, in `ID` order: each page an index range (`VALIDATION_STAGE`, `ID`), so a walk
    /// over every stage costs one pass over the table (offset paging would sort it per page).
    async fn scan_staged(
        &self,
        stage: Option<i64>,
        after_id: i64,
        limit: u64,
    ) -> Result<Vec<StagedTransaction>, StoreError>;

    /// Empties `ST_AFFECTED_TRANSACTION` and `ST_TRANSACTION`.
    async fn clear_staging(&self) -> Result<(), StoreError>;

    /// Adds peer URLs to contact (discovery's party list) while the list holds fewer than
    /// `max_total`; URLs already there are kept. Returns how many were added.
    async fn add_parties(&self, urls: &[String], max_total: usize) -> Result<usize, StoreError>;

    /// Removes a URL from the party list; `false` if it was not there.
    async fn remove_party(&self, url: &str) -> Result<bool, StoreError>;

    /// Every peer URL to contact, ordered.
    async fn list_parties(&self) -> Result<Vec<String>, StoreError>;

    /// Records what the node at `peer.url` proved, atomically: its versions, and `keys` as
    /// held by it (a key another node held moves to this one). Keys it held before and does not
    /// list stay: an announcement never removes a key (only [`Store::forget_peer`] does), so
    /// whoever can post an announcement in another node's name cannot erase its keys.
    async fn record_peer(&self, peer: &PeerRow, keys: &[PublicKey]) -> Result<(), StoreError>;

    /// Forgets the node at `url`: its versions and keys (not its place in the party list).
    async fn forget_peer(&self, url: &str) -> Result<(), StoreError>;

    /// Every node that announced itself, ordered by URL.
    async fn list_peers(&self) -> Result<Vec<PeerRow>, StoreError>;

    /// The node holding `key`, or `None` if no node announced it.
    async fn peer_for_key(&self, key: &PublicKey) -> Result<Option<PeerRow>, StoreError>;

    /// [`Store::peer_for_key`] for each of `keys`, in order. A `/send` looks up every remote
    /// recipient: a backend that can answer them in one read (one round trip, one hand-off to
    /// a reader thread) should, since this one asks for each in turn.
    async fn peers_for_keys(&self, keys: &[PublicKey]) -> Result<Vec<Option<PeerRow>>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            found.push(self.peer_for_key(key).await?);
        }
        Ok(found)
    }

    /// Every (key, node URL) announced, ordered by key.
    async fn list_peer_keys(&self) -> Result<Vec<PeerKeyRow>, StoreError>;

    /// Records `record` (an idempotency key and the hash of `row`) and inserts `row` if absent,
    /// in one transaction, unless a record with that key exists: then nothing is written and
    /// the existing record is returned. Replicas racing with one key: exactly one records.
    async fn insert_transaction_once(
        &self,
        row: &TransactionRow,
        record: &IdempotencyRow,
    ) -> Result<OnceOutcome, StoreError>;

    /// The record of an idempotency key, or `None`.
    async fn get_idempotency(&self, key: &str) -> Result<Option<IdempotencyRow>, StoreError>;

    /// Deletes the record of an idempotency key (its write was undone); `false` if absent.
    async fn delete_idempotency(&self, key: &str) -> Result<bool, StoreError>;

    /// Deletes every idempotency record older than `before` (ms since the epoch); returns how
    /// many.
    async fn expire_idempotency(&self, before: i64) -> Result<u64, StoreError>;

    /// Whether the store answers, and what it is.
    async fn health(&self) -> StoreHealth;

    /// The staging pass of recovery (tessera-internals §6.5 step 3): rounds 1, 2, 3, … of
    /// [`Store::assign_validation_stage`] until a round stages nothing. A chain a → b → c
    /// (c depends on b, b on a) gets stages 1, 2, 3; rows on a dependency cycle stay unstaged.
    /// Run it from one process at a time.
    async fn run_staging_pass(&self) -> Result<StagingCounts, StoreError> {
        let mut stage = 1;
        while self.assign_validation_stage(stage).await? > 0 {
            stage += 1;
        }
        self.staging_counts().await
    }
}

/// The answer to a health probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreHealth {
    /// What serves the store.
    pub role: StoreRole,
    /// Why it cannot serve, when it cannot.
    pub problem: Option<StoreProblem>,
    /// The PostgreSQL server the store reached, as it names itself (`address:port`).
    pub server: Option<String>,
    /// On a PostgreSQL primary: how many standbys it waits for at commit
    /// (`pg_stat_replication` rows in `sync` or `quorum` state). 0 means an acknowledged write
    /// is on one server only, and a failover now could lose it.
    pub synchronous_standbys: Option<u32>,
}

impl StoreHealth {
    /// Whether the store answered a trivial query and can accept writes.
    pub fn is_reachable(&self) -> bool {
        self.problem.is_none()
    }
}

/// What serves a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreRole {
    /// The embedded SQLite file.
    Sqlite,
    /// A PostgreSQL primary (accepts writes).
    PostgresqlPrimary,
    /// A PostgreSQL standby (read-only).
    PostgresqlStandby,
    /// PostgreSQL, whose role could not be asked.
    Postgresql,
}

impl StoreRole {
    /// `sqlite`, `postgresql-primary`, `postgresql-standby` or `postgresql`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::PostgresqlPrimary => "postgresql-primary",
            Self::PostgresqlStandby => "postgresql-standby",
            Self::Postgresql => "postgresql",
        }
    }
}

/// Why a store cannot serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreProblem {
    /// The probe failed.
    #[error(transparent)]
    Error(#[from] StoreError),
    /// The only host reached is a standby, and the store needs a writable primary.
    #[error("connected to a standby, which cannot accept writes")]
    ReadOnlyStandby,
}
