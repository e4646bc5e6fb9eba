//! Schema facts every backend shares: Tessera's tables and columns, and the indexes created with
//! `autoCreateTables`. The table DDL itself differs per dialect and stays in each backend.

/// Indexes: Tessera's two (`ST_TRANSACTION_VALSTG` from the DDL, `PRIVACY_GROUP_LOOKUPID`
/// from the entity), `ST_TRANSACTION_HASH` (in Tessera's entity annotation only) and one of
/// ours on the affected rows' foreign key. The last two keep the staging pass from being
/// quadratic; extra indexes do not bother Tessera if the database goes back to it.
pub(crate) const INDEXES: &str = "
CREATE INDEX IF NOT EXISTS ST_TRANSACTION_VALSTG ON ST_TRANSACTION (VALIDATION_STAGE);
CREATE INDEX IF NOT EXISTS PRIVACY_GROUP_LOOKUPID ON PRIVACY_GROUP (LOOKUP_ID);
CREATE INDEX IF NOT EXISTS ST_TRANSACTION_HASH ON ST_TRANSACTION (HASH);
CREATE INDEX IF NOT EXISTS ST_AFFECTED_TRANSACTION_TXNID ON ST_AFFECTED_TRANSACTION (TXN_ID);
";

/// Every table and the columns the store reads or writes.
pub(crate) const REQUIRED: &[(&str, &[&str])] = &[
    (
        "ENCRYPTED_TRANSACTION",
        &["HASH", "ENCODED_PAYLOAD", "PAYLOAD_CODEC", "TIMESTAMP"],
    ),
    (
        "ENCRYPTED_RAW_TRANSACTION",
        &[
            "HASH",
            "ENCRYPTED_PAYLOAD",
            "ENCRYPTED_KEY",
            "NONCE",
            "SENDER",
            "TIMESTAMP",
        ],
    ),
    ("PRIVACY_GROUP", &["ID", "LOOKUP_ID", "DATA", "TIMESTAMP"]),
    (
        "ST_TRANSACTION",
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
        "ST_AFFECTED_TRANSACTION",
        &["ID", "AFFECTED_HASH", "TXN_ID"],
    ),
];
