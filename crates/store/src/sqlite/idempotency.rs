//! Cloister's idempotency records on SQLite (see [`crate::Store::insert_transaction_once`]).

use cloister_core::digest::TxHash;
use rusqlite::{params, Connection, Row};

use super::{deleted, execute, one, transactions};
use crate::rows::{IdempotencyRow, OnceOutcome, TransactionRow};
use crate::schema::table;
use crate::StoreError;

fn record_row(row: &Row<'_>) -> rusqlite::Result<IdempotencyRow> {
    Ok(IdempotencyRow {
        key: row.get(0)?,
        fingerprint: row.get(1)?,
        hash: TxHash::new(row.get::<_, Vec<u8>>(2)?),
        timestamp: row.get(3)?,
    })
}

pub(super) fn get(conn: &Connection, key: &str) -> Result<Option<IdempotencyRow>, StoreError> {
    let sql = "SELECT IDEMPOTENCY_KEY, FINGERPRINT, HASH, TIMESTAMP FROM CLOISTER_IDEMPOTENCY \
               WHERE IDEMPOTENCY_KEY = ?1";
    one(conn, sql, [key], record_row, table::IDEMPOTENCY)
}

/// Runs inside the writer's transaction, so the record and the row commit together.
pub(super) fn insert_once(
    conn: &Connection,
    row: &TransactionRow,
    record: &IdempotencyRow,
) -> Result<OnceOutcome, StoreError> {
    let recorded = execute(
        conn,
        "INSERT INTO CLOISTER_IDEMPOTENCY (IDEMPOTENCY_KEY, FINGERPRINT, HASH, TIMESTAMP) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (IDEMPOTENCY_KEY) DO NOTHING",
        params![
            record.key,
            record.fingerprint,
            record.hash.as_bytes(),
            record.timestamp
        ],
    )?;
    if recorded == 0 {
        return get(conn, &record.key)?
            .map(OnceOutcome::Repeated)
            .ok_or_else(|| {
                StoreError::Backend("idempotency insert conflicted with no row".into())
            });
    }
    transactions::insert(conn, row).map(OnceOutcome::Recorded)
}

pub(super) fn delete(conn: &Connection, key: &str) -> Result<bool, StoreError> {
    let sql = "DELETE FROM CLOISTER_IDEMPOTENCY WHERE IDEMPOTENCY_KEY = ?1";
    deleted(conn, sql, [key])
}

pub(super) fn expire(conn: &Connection, before: i64) -> Result<u64, StoreError> {
    let deleted = execute(
        conn,
        "DELETE FROM CLOISTER_IDEMPOTENCY WHERE TIMESTAMP < ?1",
        [before],
    )?;
    Ok(u64::try_from(deleted).unwrap_or(0))
}
