//! Tessera's `ENCRYPTED_TRANSACTION` on SQLite (see [`crate::Store::insert_transaction`] and its
//! siblings).

use cloister_core::digest::TxHash;
use cloister_core::payload::PayloadCodec;
use rusqlite::{params, Connection, Row};

use super::error::{from_sqlite, in_table};
use super::{clamp, codec, count, deleted, execute, insert_if_absent, one, timestamp};
use crate::rows::{InsertOutcome, TransactionRow};
use crate::schema::table;
use crate::StoreError;

const SELECT: &str =
    "SELECT HASH, ENCODED_PAYLOAD, PAYLOAD_CODEC, TIMESTAMP FROM ENCRYPTED_TRANSACTION";

fn tx_row(row: &Row<'_>) -> rusqlite::Result<TransactionRow> {
    Ok(TransactionRow {
        hash: TxHash::new(row.get::<_, Vec<u8>>(0)?),
        encoded_payload: row.get(1)?,
        codec: codec(row, 2)?,
        timestamp: timestamp(row, 3)?,
    })
}

pub(super) fn get(conn: &Connection, hash: &[u8]) -> Result<Option<TransactionRow>, StoreError> {
    let sql = format!("{SELECT} WHERE HASH = ?1");
    one(conn, &sql, [hash], tx_row, table::TRANSACTION)
}

/// Inserts `row` unless its hash is stored; returns the stored row then.
pub(super) fn insert(
    conn: &Connection,
    row: &TransactionRow,
) -> Result<InsertOutcome<TransactionRow>, StoreError> {
    insert_if_absent(
        conn,
        "INSERT INTO ENCRYPTED_TRANSACTION (HASH, ENCODED_PAYLOAD, PAYLOAD_CODEC, TIMESTAMP) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (HASH) DO NOTHING",
        params![
            row.hash.as_bytes(),
            row.encoded_payload,
            row.codec.name(),
            row.timestamp
        ],
        &row.hash,
        get,
    )
}

pub(super) fn replace(
    conn: &Connection,
    hash: &TxHash,
    expected_payload: &[u8],
    new_payload: &[u8],
    new_codec: PayloadCodec,
) -> Result<bool, StoreError> {
    let changed = execute(
        conn,
        "UPDATE ENCRYPTED_TRANSACTION SET ENCODED_PAYLOAD = ?1, PAYLOAD_CODEC = ?2 \
         WHERE HASH = ?3 AND ENCODED_PAYLOAD = ?4",
        params![
            new_payload,
            new_codec.name(),
            hash.as_bytes(),
            expected_payload
        ],
    )?;
    Ok(changed == 1)
}

pub(super) fn delete(conn: &Connection, hash: &TxHash) -> Result<bool, StoreError> {
    let sql = "DELETE FROM ENCRYPTED_TRANSACTION WHERE HASH = ?1";
    deleted(conn, sql, [hash.as_bytes()])
}

pub(super) fn scan(
    conn: &Connection,
    after: Option<&TxHash>,
    limit: u64,
) -> Result<Vec<TransactionRow>, StoreError> {
    // BLOBs compare bytewise: the primary key's order.
    let after: &[u8] = after.map_or(&[], |hash| hash.as_bytes());
    conn.prepare_cached(&format!("{SELECT} WHERE HASH > ?1 ORDER BY HASH LIMIT ?2"))
        .and_then(|mut s| {
            s.query_map(rusqlite::params![after, clamp(limit)], tx_row)?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(in_table(table::TRANSACTION))
}

pub(super) fn total(conn: &Connection) -> Result<u64, StoreError> {
    conn.query_row("SELECT COUNT(*) FROM ENCRYPTED_TRANSACTION", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(count)
    .map_err(from_sqlite)
}
