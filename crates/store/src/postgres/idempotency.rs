//! Cloister's idempotency records on PostgreSQL (see
//! [`crate::Store::insert_transaction_once`]).

use cloister_core::digest::TxHash;
use tokio_postgres::Row;

use super::error::corrupt;
use super::{tx_row, PostgresStore, INSERT_TX, SELECT_TX};
use crate::rows::{IdempotencyRow, InsertOutcome, OnceOutcome, TransactionRow};
use crate::StoreError;

const TABLE: &str = "CLOISTER_IDEMPOTENCY";
const SELECT: &str =
    "SELECT IDEMPOTENCY_KEY, FINGERPRINT, HASH, TIMESTAMP FROM CLOISTER_IDEMPOTENCY \
                      WHERE IDEMPOTENCY_KEY = $1";

fn record_row(row: &Row) -> Result<IdempotencyRow, StoreError> {
    Ok(IdempotencyRow {
        key: row.try_get(0).map_err(corrupt(TABLE))?,
        fingerprint: row.try_get(1).map_err(corrupt(TABLE))?,
        hash: TxHash::new(row.try_get::<_, Vec<u8>>(2).map_err(corrupt(TABLE))?),
        timestamp: row.try_get(3).map_err(corrupt(TABLE))?,
    })
}

pub(super) async fn get(
    store: &PostgresStore,
    key: &str,
) -> Result<Option<IdempotencyRow>, StoreError> {
    let found = store.query(SELECT, &[&key]).await?;
    found.first().map(record_row).transpose()
}

pub(super) async fn insert_once(
    store: &PostgresStore,
    row: &TransactionRow,
    record: &IdempotencyRow,
) -> Result<OnceOutcome, StoreError> {
    let mut session = store.session().await?;
    session.begin().await?;
    // A concurrent recorder of the same key makes this wait for its commit, then conflict:
    // exactly one replica records, and the others read what it recorded.
    let recorded = session
        .execute(
            "INSERT INTO CLOISTER_IDEMPOTENCY (IDEMPOTENCY_KEY, FINGERPRINT, HASH, TIMESTAMP) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (IDEMPOTENCY_KEY) DO NOTHING",
            &[
                &record.key,
                &record.fingerprint,
                &record.hash.as_bytes(),
                &record.timestamp,
            ],
        )
        .await?;
    if recorded == 0 {
        let found = session.query(SELECT, &[&record.key]).await?;
        session.commit().await?;
        let existing = found.first().map(record_row).transpose()?;
        return existing.map(OnceOutcome::Repeated).ok_or_else(|| {
            StoreError::Backend("idempotency insert conflicted with no row".into())
        });
    }
    let inserted = session
        .execute(
            INSERT_TX,
            &[
                &row.hash.as_bytes(),
                &row.encoded_payload,
                &row.codec.name(),
                &row.timestamp,
            ],
        )
        .await?;
    let outcome = if inserted == 1 {
        InsertOutcome::Inserted
    } else {
        let found = session
            .query(
                &format!("{SELECT_TX} WHERE HASH = $1"),
                &[&row.hash.as_bytes()],
            )
            .await?;
        let existing = found
            .first()
            .ok_or_else(|| StoreError::Backend("insert conflicted with no row".into()))?;
        InsertOutcome::AlreadyPresent(tx_row(existing)?)
    };
    session.commit().await?;
    Ok(OnceOutcome::Recorded(outcome))
}

pub(super) async fn delete(store: &PostgresStore, key: &str) -> Result<bool, StoreError> {
    let deleted = store
        .execute(
            "DELETE FROM CLOISTER_IDEMPOTENCY WHERE IDEMPOTENCY_KEY = $1",
            &[&key],
        )
        .await?;
    Ok(deleted == 1)
}

pub(super) async fn expire(store: &PostgresStore, before: i64) -> Result<u64, StoreError> {
    store
        .execute(
            "DELETE FROM CLOISTER_IDEMPOTENCY WHERE TIMESTAMP < $1",
            &[&before],
        )
        .await
}
