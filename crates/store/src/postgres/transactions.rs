//! Tessera's `ENCRYPTED_TRANSACTION` on PostgreSQL (see [`crate::Store::insert_transaction`] and
//! its siblings).

use cloister_core::digest::TxHash;
use cloister_core::payload::PayloadCodec;
use tokio_postgres::Row;

use super::error::corrupt;
use super::{clamp, codec, count, rows, timestamp, PostgresStore};
use crate::rows::{InsertOutcome, TransactionRow};
use crate::schema::table;
use crate::StoreError;

/// Shared with [`super::idempotency`], whose one statement inserts into this table too and reads
/// back the row it found in the way.
pub(super) const SELECT: &str =
    "SELECT HASH, ENCODED_PAYLOAD, PAYLOAD_CODEC, TIMESTAMP::BIGINT FROM ENCRYPTED_TRANSACTION";

pub(super) fn tx_row(row: &Row) -> Result<TransactionRow, StoreError> {
    Ok(TransactionRow {
        hash: TxHash::new(
            row.try_get::<_, Vec<u8>>(0)
                .map_err(corrupt(table::TRANSACTION))?,
        ),
        encoded_payload: row.try_get(1).map_err(corrupt(table::TRANSACTION))?,
        codec: codec(row, 2, table::TRANSACTION)?,
        timestamp: timestamp(row, 3, table::TRANSACTION)?,
    })
}

pub(super) async fn insert(
    store: &PostgresStore,
    row: &TransactionRow,
) -> Result<InsertOutcome<TransactionRow>, StoreError> {
    store
        .insert_if_absent(
            "INSERT INTO ENCRYPTED_TRANSACTION (HASH, ENCODED_PAYLOAD, PAYLOAD_CODEC, TIMESTAMP) \
             VALUES ($1, $2, $3, $4::BIGINT) ON CONFLICT (HASH) DO NOTHING",
            &[
                &row.hash.as_bytes(),
                &row.encoded_payload,
                &row.codec.name(),
                &row.timestamp,
            ],
            SELECT,
            &row.hash,
            tx_row,
        )
        .await
}

pub(super) async fn replace(
    store: &PostgresStore,
    hash: &TxHash,
    expected_payload: &[u8],
    new_payload: &[u8],
    new_codec: PayloadCodec,
) -> Result<bool, StoreError> {
    let changed = store
        .execute(
            "UPDATE ENCRYPTED_TRANSACTION SET ENCODED_PAYLOAD = $1, PAYLOAD_CODEC = $2 \
             WHERE HASH = $3 AND ENCODED_PAYLOAD = $4",
            &[
                &new_payload,
                &new_codec.name(),
                &hash.as_bytes(),
                &expected_payload,
            ],
        )
        .await?;
    Ok(changed == 1)
}

pub(super) async fn get(
    store: &PostgresStore,
    hash: &TxHash,
) -> Result<Option<TransactionRow>, StoreError> {
    let sql = format!("{SELECT} WHERE HASH = $1");
    store.lookup(&sql, &[&hash.as_bytes()], tx_row).await
}

pub(super) async fn delete(store: &PostgresStore, hash: &TxHash) -> Result<bool, StoreError> {
    let sql = "DELETE FROM ENCRYPTED_TRANSACTION WHERE HASH = $1";
    store.deleted(sql, &[&hash.as_bytes()]).await
}

pub(super) async fn scan(
    store: &PostgresStore,
    after: Option<&TxHash>,
    limit: u64,
) -> Result<Vec<TransactionRow>, StoreError> {
    // BYTEA compares bytewise: the primary key's order ('' is below every hash).
    let after: &[u8] = after.map_or(&[], |hash| hash.as_bytes());
    let found = store
        .query(
            &format!("{SELECT} WHERE HASH > $1 ORDER BY HASH LIMIT $2"),
            &[&after, &clamp(limit)],
        )
        .await?;
    rows(&found, tx_row)
}

pub(super) async fn total(store: &PostgresStore) -> Result<u64, StoreError> {
    let found = store
        .query("SELECT COUNT(*) FROM ENCRYPTED_TRANSACTION", &[])
        .await?;
    count(found.first(), 0)
}
