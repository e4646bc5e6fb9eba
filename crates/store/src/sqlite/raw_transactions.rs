//! Tessera's `ENCRYPTED_RAW_TRANSACTION` on SQLite (see [`crate::Store::insert_raw_transaction`]
//! and its siblings).

use cloister_core::digest::TxHash;
use rusqlite::{params, Connection, Row};

use super::{deleted, insert_if_absent, one, timestamp};
use crate::rows::{InsertOutcome, RawTransactionRow};
use crate::schema::table;
use crate::StoreError;

const SELECT: &str = "SELECT HASH, ENCRYPTED_PAYLOAD, ENCRYPTED_KEY, NONCE, SENDER, TIMESTAMP FROM ENCRYPTED_RAW_TRANSACTION";

fn raw_row(row: &Row<'_>) -> rusqlite::Result<RawTransactionRow> {
    Ok(RawTransactionRow {
        hash: TxHash::new(row.get::<_, Vec<u8>>(0)?),
        encrypted_payload: row.get(1)?,
        encrypted_key: row.get(2)?,
        nonce: row.get(3)?,
        sender: row.get(4)?,
        timestamp: timestamp(row, 5)?,
    })
}

pub(super) fn get(conn: &Connection, hash: &[u8]) -> Result<Option<RawTransactionRow>, StoreError> {
    let sql = format!("{SELECT} WHERE HASH = ?1");
    one(conn, &sql, [hash], raw_row, table::RAW_TRANSACTION)
}

/// Inserts `row` unless its hash is stored; returns the stored row then.
pub(super) fn insert(
    conn: &Connection,
    row: &RawTransactionRow,
) -> Result<InsertOutcome<RawTransactionRow>, StoreError> {
    insert_if_absent(
        conn,
        "INSERT INTO ENCRYPTED_RAW_TRANSACTION \
         (HASH, ENCRYPTED_PAYLOAD, ENCRYPTED_KEY, NONCE, SENDER, TIMESTAMP) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (HASH) DO NOTHING",
        params![
            row.hash.as_bytes(),
            row.encrypted_payload,
            row.encrypted_key,
            row.nonce,
            row.sender,
            row.timestamp
        ],
        &row.hash,
        get,
    )
}

pub(super) fn delete(conn: &Connection, hash: &TxHash) -> Result<bool, StoreError> {
    let sql = "DELETE FROM ENCRYPTED_RAW_TRANSACTION WHERE HASH = ?1";
    deleted(conn, sql, [hash.as_bytes()])
}
