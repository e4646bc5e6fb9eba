//! Schema facts every backend shares: Tessera's tables and columns, the indexes created with
//! `autoCreateTables`, and Cloister's own tables. Tessera's table DDL differs per dialect and
//! stays in each backend.

/// The name of every table the store uses, spelled once: error labels, schema checks and lists
/// name tables through these. SQL statements keep the names in their own text, so that each is
/// one `&'static str`, prepared and cached by that text, with no formatting per call.
pub(crate) mod table {
    /// Tessera's stored transactions ([`crate::TransactionRow`]).
    pub(crate) const TRANSACTION: &str = "ENCRYPTED_TRANSACTION";
    /// Tessera's raw transactions, stored before they are sent ([`crate::RawTransactionRow`]).
    pub(crate) const RAW_TRANSACTION: &str = "ENCRYPTED_RAW_TRANSACTION";
    /// Tessera's privacy groups ([`crate::PrivacyGroupRow`]).
    pub(crate) const PRIVACY_GROUP: &str = "PRIVACY_GROUP";
    /// Tessera's staging rows ([`crate::StagedTransaction`]).
    pub(crate) const STAGED_TRANSACTION: &str = "ST_TRANSACTION";
    /// The hashes each staging row affects, pointing at it by `TXN_ID`.
    pub(crate) const AFFECTED_TRANSACTION: &str = "ST_AFFECTED_TRANSACTION";
    /// Cloister's configured parties (discovery).
    pub(crate) const PARTY: &str = "CLOISTER_PARTY";
    /// Cloister's known peers (discovery, [`crate::PeerRow`]).
    pub(crate) const PEER: &str = "CLOISTER_PEER";
    /// Which peer announced which public key (discovery, [`crate::PeerKeyRow`]).
    pub(crate) const PEER_KEY: &str = "CLOISTER_PEER_KEY";
    /// First outcomes of keyed writes ([`crate::IdempotencyRow`]).
    pub(crate) const IDEMPOTENCY: &str = "CLOISTER_IDEMPOTENCY";
    /// Not a table: what [`crate::StoreError::Corrupt`] names when the damage or the failed
    /// statement belongs to no one table.
    pub(crate) const DATABASE: &str = "database";
}

/// Indexes: Tessera's two (`ST_TRANSACTION_VALSTG` from the DDL, `PRIVACY_GROUP_LOOKUPID`
/// from the entity), `ST_TRANSACTION_HASH` (in Tessera's entity annotation only) and one of
/// ours on the affected rows' foreign key, and one on (`VALIDATION_STAGE`, `ID`) for storing
/// the staged rows a page at a time. The last three keep recovery from being quadratic; extra indexes do not bother Tessera if the database goes back to it.
pub(crate) const INDEXES: &str = "
CREATE INDEX IF NOT EXISTS ST_TRANSACTION_VALSTG ON ST_TRANSACTION (VALIDATION_STAGE);
CREATE INDEX IF NOT EXISTS PRIVACY_GROUP_LOOKUPID ON PRIVACY_GROUP (LOOKUP_ID);
CREATE INDEX IF NOT EXISTS ST_TRANSACTION_HASH ON ST_TRANSACTION (HASH);
CREATE INDEX IF NOT EXISTS ST_AFFECTED_TRANSACTION_TXNID ON ST_AFFECTED_TRANSACTION (TXN_ID);
CREATE INDEX IF NOT EXISTS ST_TRANSACTION_STAGE_ID ON ST_TRANSACTION (VALIDATION_STAGE, ID);
";

/// The names of the indexes a DDL string creates (`CREATE INDEX IF NOT EXISTS NAME ON …`),
/// upper-cased as the catalog is read.
pub(crate) fn index_names(ddl: &str) -> impl Iterator<Item = String> + '_ {
    ddl.lines()
        .filter_map(|line| line.trim().strip_prefix("CREATE INDEX IF NOT EXISTS "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_uppercase)
}

/// Cloister's own tables (discovery state and idempotency records shared by replicas), in a dialect's spelling of a
/// byte string and a 64-bit integer. Created at every start, whatever `autoCreateTables` says:
/// Tessera's DDL has no such tables, and a Tessera database going back to Tessera ignores them.
pub(crate) fn cloister_tables(bytes: &str, bigint: &str) -> String {
    format!(
        "
CREATE TABLE IF NOT EXISTS CLOISTER_PARTY (URL VARCHAR(2048) NOT NULL PRIMARY KEY);
CREATE TABLE IF NOT EXISTS CLOISTER_PEER (URL VARCHAR(2048) NOT NULL PRIMARY KEY, VERSIONS VARCHAR(1024) NOT NULL, TIMESTAMP {bigint});
CREATE TABLE IF NOT EXISTS CLOISTER_PEER_KEY (PUBLIC_KEY {bytes} NOT NULL PRIMARY KEY, URL VARCHAR(2048) NOT NULL);
CREATE INDEX IF NOT EXISTS CLOISTER_PEER_KEY_URL ON CLOISTER_PEER_KEY (URL);
CREATE TABLE IF NOT EXISTS CLOISTER_IDEMPOTENCY (IDEMPOTENCY_KEY VARCHAR(255) NOT NULL PRIMARY KEY, FINGERPRINT {bytes} NOT NULL, HASH {bytes} NOT NULL, TIMESTAMP {bigint} NOT NULL);
CREATE INDEX IF NOT EXISTS CLOISTER_IDEMPOTENCY_TIMESTAMP ON CLOISTER_IDEMPOTENCY (TIMESTAMP);
"
    )
}

/// The names of Cloister's own tables.
pub(crate) const CLOISTER_TABLES: &[&str] = &[
    table::PARTY,
    table::PEER,
    table::PEER_KEY,
    table::IDEMPOTENCY,
];

/// How `CLOISTER_PEER.VERSIONS` joins a peer's versions (version names never contain it).
const VERSION_SEPARATOR: char = ',';

/// `CLOISTER_PEER.VERSIONS` for `versions`.
pub(crate) fn join_versions(versions: &[String]) -> String {
    versions.join(&VERSION_SEPARATOR.to_string())
}

/// The versions in a `CLOISTER_PEER.VERSIONS` value.
pub(crate) fn split_versions(column: &str) -> Vec<String> {
    column
        .split(VERSION_SEPARATOR)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Every table and the columns the store reads or writes.
pub(crate) const REQUIRED: &[(&str, &[&str])] = &[
    (
        table::TRANSACTION,
        &["HASH", "ENCODED_PAYLOAD", "PAYLOAD_CODEC", "TIMESTAMP"],
    ),
    (
        table::RAW_TRANSACTION,
        &[
            "HASH",
            "ENCRYPTED_PAYLOAD",
            "ENCRYPTED_KEY",
            "NONCE",
            "SENDER",
            "TIMESTAMP",
        ],
    ),
    (
        table::PRIVACY_GROUP,
        &["ID", "LOOKUP_ID", "DATA", "TIMESTAMP"],
    ),
    (
        table::STAGED_TRANSACTION,
        &[
            "ID",
            "HASH",
            "PAYLOAD",
            "PAYLOAD_CODEC",
            "PRIVACY_MODE",
            "TIMESTAMP",
            "VALIDATION_STAGE",
        ],
    ),
    (
        table::AFFECTED_TRANSACTION,
        &["ID", "AFFECTED_HASH", "TXN_ID"],
    ),
    (table::PARTY, &["URL"]),
    (table::PEER, &["URL", "VERSIONS", "TIMESTAMP"]),
    (table::PEER_KEY, &["PUBLIC_KEY", "URL"]),
    (
        table::IDEMPOTENCY,
        &["IDEMPOTENCY_KEY", "FINGERPRINT", "HASH", "TIMESTAMP"],
    ),
];
