//! Tessera's `ENCRYPTED_RAW_TRANSACTION` on PostgreSQL (see
//! [`crate::Store::insert_raw_transaction`] and its siblings).

use cloister_core::digest::TxHash;
use tokio_postgres::Row;

use super::error::corrupt;
use super::{timestamp, PostgresStore};
use crate::rows::{InsertOutcome, RawTransactionRow};
use crate::schema::table;
use crate::StoreError;

const SELECT: &str = "SELECT HASH, ENCRYPTED_PAYLOAD, ENCRYPTED_KEY, NONCE, SENDER, TIMESTAMP::BIGINT FROM ENCRYPTED_RAW_TRANSACTION";

fn raw_row(row: &Row) -> Result<RawTransactionRow, StoreError> {
    let get = |i| {
        row.try_get::<_, Vec<u8>>(i)
            .map_err(corrupt(table::RAW_TRANSACTION))
    };
    Ok(RawTransactionRow {
        hash: TxHash::new(get(0)?),
        encrypted_payload: get(1)?,
        encrypted_key: get(2)?,
        nonce: get(3)?,
        sender: get(4)?,
        timestamp: timestamp(row, 5, table::RAW_TRANSACTION)?,
    })
}

pub(super) async fn insert(
    store: &PostgresStore,
    row: &RawTransactionRow,
) -> Result<InsertOutcome<RawTransactionRow>, StoreError> {
    store
        .insert_if_absent(
            "INSERT INTO ENCRYPTED_RAW_TRANSACTION \
             (HASH, ENCRYPTED_PAYLOAD, ENCRYPTED_KEY, NONCE, SENDER, TIMESTAMP) \
             VALUES ($1, $2, $3, $4, $5, $6::BIGINT) ON CONFLICT (HASH) DO NOTHING",
            &[
                &row.hash.as_bytes(),
                &row.encrypted_payload,
                &row.encrypted_key,
                &row.nonce,
                &row.sender,
                &row.timestamp,
            ],
            SELECT,
            &row.hash,
            raw_row,
        )
        .await
}

pub(super) async fn get(
    store: &PostgresStore,
    hash: &TxHash,
) -> Result<Option<RawTransactionRow>, StoreError> {
    let sql = format!("{SELECT} WHERE HASH = $1");
    store.lookup(&sql, &[&hash.as_bytes()], raw_row).await
}

pub(super) async fn delete(store: &PostgresStore, hash: &TxHash) -> Result<bool, StoreError> {
    let sql = "DELETE FROM ENCRYPTED_RAW_TRANSACTION WHERE HASH = $1";
    store.deleted(sql, &[&hash.as_bytes()]).await
}
