//! Every table `cloister migrate` copies, with its columns as every backend holds them.
//!
//! Tables are listed parents first (`ST_AFFECTED_TRANSACTION` points at `ST_TRANSACTION`), so
//! copying in this order never breaks a foreign key. Each table has a one-column primary key,
//! which is what copies are ordered and resumed by.

use crate::schema::table;

/// What a column holds, whatever the backend's spelling (`BYTEA`/`BLOB`/`LONGVARBINARY`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A byte string.
    Bytes,
    /// A 64-bit integer (Tessera's `BIGINT`, `NUMBER(19)`, `DECIMAL(19)`, `INTEGER`).
    Int,
    /// A character string.
    Text,
}

/// One column of a copied table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Its name, as Tessera's DDL spells it.
    pub name: &'static str,
    /// What it holds.
    pub kind: Kind,
    /// What a NULL (or a column an older schema lacks) means, when it has a meaning: a NULL
    /// `PAYLOAD_CODEC` is `LEGACY` (Tessera's rule), and SQLite's DDL requires the value.
    pub null_means: Option<&'static str>,
    /// Whether an older Tessera schema may lack it (it was added by a Tessera migration).
    pub added_later: bool,
}

/// One copied table.
#[derive(Debug)]
pub struct Table {
    /// Its name.
    pub name: &'static str,
    /// Its columns, the primary key first.
    pub columns: &'static [Column],
    /// Whether every Tessera database has it; when false (staging tables of old Tessera
    /// versions, Cloister's own tables) a source without it has nothing to copy.
    pub required: bool,
}

impl Table {
    /// The primary key column.
    pub fn key(&self) -> &Column {
        &self.columns[0]
    }
}

const fn column(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        null_means: None,
        added_later: false,
    }
}

const fn added(name: &'static str, kind: Kind) -> Column {
    Column {
        added_later: true,
        ..column(name, kind)
    }
}

/// `PAYLOAD_CODEC`, added by Tessera's `add-codec` migration; NULL means LEGACY.
const PAYLOAD_CODEC: Column = Column {
    null_means: Some("LEGACY"),
    ..added("PAYLOAD_CODEC", Kind::Text)
};

/// Every copied table, parents first.
pub const TABLES: &[Table] = &[
    Table {
        name: table::TRANSACTION,
        columns: &[
            column("HASH", Kind::Bytes),
            column("ENCODED_PAYLOAD", Kind::Bytes),
            PAYLOAD_CODEC,
            added("TIMESTAMP", Kind::Int),
        ],
        required: true,
    },
    Table {
        name: table::RAW_TRANSACTION,
        columns: &[
            column("HASH", Kind::Bytes),
            column("ENCRYPTED_KEY", Kind::Bytes),
            column("ENCRYPTED_PAYLOAD", Kind::Bytes),
            column("NONCE", Kind::Bytes),
            column("SENDER", Kind::Bytes),
            added("TIMESTAMP", Kind::Int),
        ],
        required: true,
    },
    Table {
        name: table::PRIVACY_GROUP,
        columns: &[
            column("ID", Kind::Bytes),
            column("LOOKUP_ID", Kind::Bytes),
            column("DATA", Kind::Bytes),
            column("TIMESTAMP", Kind::Int),
        ],
        required: false,
    },
    Table {
        name: table::STAGED_TRANSACTION,
        columns: &[
            column("ID", Kind::Int),
            column("HASH", Kind::Text),
            column("PAYLOAD", Kind::Bytes),
            PAYLOAD_CODEC,
            column("PRIVACY_MODE", Kind::Int),
            column("TIMESTAMP", Kind::Int),
            column("VALIDATION_STAGE", Kind::Int),
        ],
        required: false,
    },
    Table {
        name: table::AFFECTED_TRANSACTION,
        columns: &[
            column("ID", Kind::Int),
            column("AFFECTED_HASH", Kind::Text),
            column("TXN_ID", Kind::Int),
        ],
        required: false,
    },
    Table {
        name: table::PARTY,
        columns: &[column("URL", Kind::Text)],
        required: false,
    },
    Table {
        name: table::PEER,
        columns: &[
            column("URL", Kind::Text),
            column("VERSIONS", Kind::Text),
            column("TIMESTAMP", Kind::Int),
        ],
        required: false,
    },
    Table {
        name: table::PEER_KEY,
        columns: &[column("PUBLIC_KEY", Kind::Bytes), column("URL", Kind::Text)],
        required: false,
    },
    Table {
        name: table::IDEMPOTENCY,
        columns: &[
            column("IDEMPOTENCY_KEY", Kind::Text),
            column("FINGERPRINT", Kind::Bytes),
            column("HASH", Kind::Bytes),
            column("TIMESTAMP", Kind::Int),
        ],
        required: false,
    },
];
