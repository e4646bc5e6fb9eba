//! One type per row of Tessera's tables, holding the column values as stored.
//!
//! `TIMESTAMP` columns are milliseconds since the epoch (see [`crate::now_millis`]), set once
//! when the row is first inserted. Rows written by Tessera versions that predate the column
//! have NULL there; they read back as 0, and sort first.

use cloister_core::digest::TxHash;
use cloister_core::keys::PublicKey;
use cloister_core::payload::{PayloadCodec, PrivacyMode};

/// A row of `ENCRYPTED_TRANSACTION`: one encoded payload under its transaction hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionRow {
    /// `HASH`: the raw transaction hash (primary key).
    pub hash: TxHash,
    /// `ENCODED_PAYLOAD`: the payload encoded with [`Self::codec`].
    pub encoded_payload: Vec<u8>,
    /// `PAYLOAD_CODEC`; NULL in rows from older Tessera versions reads as LEGACY.
    pub codec: PayloadCodec,
    /// `TIMESTAMP`: when the hash was first stored, in ms since the epoch.
    pub timestamp: i64,
}

/// A row of `ENCRYPTED_RAW_TRANSACTION`: a raw (pre-signed) payload kept for `/sendsignedtx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTransactionRow {
    /// `HASH`: the raw transaction hash (primary key).
    pub hash: TxHash,
    /// `ENCRYPTED_PAYLOAD`: the payload encrypted under the master key.
    pub encrypted_payload: Vec<u8>,
    /// `ENCRYPTED_KEY`: the master key boxed for the sender.
    pub encrypted_key: Vec<u8>,
    /// `NONCE`: the payload nonce.
    pub nonce: Vec<u8>,
    /// `SENDER`: the sender's 32-byte public key.
    pub sender: Vec<u8>,
    /// `TIMESTAMP`: when the hash was first stored, in ms since the epoch.
    pub timestamp: i64,
}

/// A row of `PRIVACY_GROUP`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivacyGroupRow {
    /// `ID`: the group id bytes (primary key).
    pub id: Vec<u8>,
    /// `LOOKUP_ID`: derived from the members; several groups may share one.
    pub lookup_id: Vec<u8>,
    /// `DATA`: the encoded group record (tessera-internals §6.7).
    pub data: Vec<u8>,
    /// `TIMESTAMP`: when the group was first stored, in ms since the epoch.
    pub timestamp: i64,
}

/// What an insert-if-absent did. Several replicas may insert the same hash at once; exactly one
/// gets [`InsertOutcome::Inserted`], every other one sees the row that won.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome<T> {
    /// The row was absent and is now stored (durably, once this is returned).
    Inserted,
    /// A row with the same key was already stored; it is returned unchanged and the new row was
    /// not written.
    AlreadyPresent(T),
}

impl<T> InsertOutcome<T> {
    /// Whether this call wrote the row.
    pub fn is_inserted(&self) -> bool {
        matches!(self, Self::Inserted)
    }
}

/// A transaction received during recovery, to be written to `ST_TRANSACTION` together with its
/// affected hashes (`ST_AFFECTED_TRANSACTION`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStagedTransaction {
    /// The transaction hash (stored as base64 text in `HASH`, as Tessera does).
    pub hash: TxHash,
    /// `PAYLOAD`: the encoded payload as received.
    pub payload: Vec<u8>,
    /// `PAYLOAD_CODEC` of [`Self::payload`].
    pub codec: PayloadCodec,
    /// `PRIVACY_MODE` (stored as its ordinal 0–3).
    pub privacy_mode: PrivacyMode,
    /// `TIMESTAMP`, ms since the epoch.
    pub timestamp: i64,
    /// The hashes of the transactions this one depends on (`AFFECTED_HASH`, base64).
    pub affected: Vec<TxHash>,
}

/// A row of `ST_TRANSACTION` as read back for the sync step of recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedTransaction {
    /// `ID`, assigned by the store.
    pub id: i64,
    /// `HASH`, decoded from its base64 text.
    pub hash: TxHash,
    /// `PAYLOAD`: the encoded payload as received.
    pub payload: Vec<u8>,
    /// `PAYLOAD_CODEC`; NULL reads as LEGACY.
    pub codec: PayloadCodec,
    /// `PRIVACY_MODE`; NULL reads as standard private.
    pub privacy_mode: PrivacyMode,
    /// `TIMESTAMP`, ms since the epoch.
    pub timestamp: i64,
    /// `VALIDATION_STAGE`: `None` until the staging pass finds all its dependencies staged.
    pub validation_stage: Option<i64>,
}

/// How far the staging tables got: Tessera's recovery reports SUCCESS when every row is staged,
/// FAILURE when none is, PARTIAL_SUCCESS otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StagingCounts {
    /// Rows in `ST_TRANSACTION`.
    pub total: u64,
    /// Rows with a `VALIDATION_STAGE`.
    pub staged: u64,
}

/// A node of the network that announced itself (`CLOISTER_PEER`, one of Cloister's own tables):
/// discovery state every replica of a node shares through the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRow {
    /// `URL`: its normalised P2P URL (primary key).
    pub url: String,
    /// `VERSIONS`: the API versions it advertised, in its order.
    pub versions: Vec<String>,
}

/// A row of `CLOISTER_PEER_KEY`: which node holds a public key, as that node itself announced.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PeerKeyRow {
    /// `PUBLIC_KEY` (primary key: a key belongs to one node at a time).
    pub key: PublicKey,
    /// `URL` of the node holding it.
    pub url: String,
}

/// A row of `CLOISTER_IDEMPOTENCY`: the first outcome of a write sent with an idempotency key,
/// so that a repeat of the key (a retry through the proxy, on any replica) returns it instead
/// of writing again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRow {
    /// `IDEMPOTENCY_KEY`: the client's (or proxy's) key, at most 255 bytes (primary key).
    pub key: String,
    /// `FINGERPRINT`: a digest of the request, so a key reused for another request is noticed.
    pub fingerprint: Vec<u8>,
    /// `HASH`: the transaction the first request created.
    pub hash: TxHash,
    /// `TIMESTAMP`: when it was recorded, in ms since the epoch (for expiry).
    pub timestamp: i64,
}

/// What [`crate::Store::insert_transaction_once`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnceOutcome {
    /// The key was new: it is recorded, and the transaction was inserted (or was already
    /// stored under its hash, as the inner outcome says).
    Recorded(InsertOutcome<TransactionRow>),
    /// The key was recorded already, by this or another replica: nothing was written; here is
    /// the first outcome.
    Repeated(IdempotencyRow),
}
