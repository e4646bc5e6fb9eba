//! Cloister's idempotency records on PostgreSQL (see
//! [`crate::Store::insert_transaction_once`]).

use cloister_core::digest::TxHash;
use tokio_postgres::Row;

use super::error::corrupt;
use super::group_commit::Counts;
use super::session::Session;
use super::{transactions, PostgresStore, INSERT_ATTEMPTS};
use crate::rows::{IdempotencyRow, InsertOutcome, OnceOutcome, TransactionRow};
use crate::schema::table;
use crate::StoreError;

const SELECT: &str =
    "SELECT IDEMPOTENCY_KEY, FINGERPRINT, HASH, TIMESTAMP FROM CLOISTER_IDEMPOTENCY \
                      WHERE IDEMPOTENCY_KEY = $1";

fn record_row(row: &Row) -> Result<IdempotencyRow, StoreError> {
    Ok(IdempotencyRow {
        key: row.try_get(0).map_err(corrupt(table::IDEMPOTENCY))?,
        fingerprint: row.try_get(1).map_err(corrupt(table::IDEMPOTENCY))?,
        hash: TxHash::new(
            row.try_get::<_, Vec<u8>>(2)
                .map_err(corrupt(table::IDEMPOTENCY))?,
        ),
        timestamp: row.try_get(3).map_err(corrupt(table::IDEMPOTENCY))?,
    })
}

pub(super) async fn get(
    store: &PostgresStore,
    key: &str,
) -> Result<Option<IdempotencyRow>, StoreError> {
    store.one(SELECT, &[&key], record_row).await
}

/// Records the key and inserts the row in one statement: PostgreSQL runs it as one transaction
/// and commits it without waiting on this client, so no lock outlives the statement even if
/// this replica freezes right after sending it (a multi-statement transaction would leave its
/// twin blocked on the key until the frozen connection died).
const RECORD_AND_INSERT: &str = "\
WITH recorded AS (\
    INSERT INTO CLOISTER_IDEMPOTENCY (IDEMPOTENCY_KEY, FINGERPRINT, HASH, TIMESTAMP) \
    VALUES ($1, $2, $3, $4) ON CONFLICT (IDEMPOTENCY_KEY) DO NOTHING RETURNING 1), \
stored AS (\
    INSERT INTO ENCRYPTED_TRANSACTION (HASH, ENCODED_PAYLOAD, PAYLOAD_CODEC, TIMESTAMP) \
    SELECT $3, $5, $6, $7::BIGINT WHERE EXISTS (SELECT 1 FROM recorded) \
    ON CONFLICT (HASH) DO NOTHING RETURNING 1) \
SELECT (SELECT COUNT(*) FROM recorded), (SELECT COUNT(*) FROM stored)";

/// `batched`: what a group-commit batch already did for this insert (its first attempt).
pub(super) async fn insert_once(
    store: &PostgresStore,
    row: &TransactionRow,
    record: &IdempotencyRow,
    mut batched: Option<Counts>,
) -> Result<OnceOutcome, StoreError> {
    if batched.is_some_and(|c| c.recorded && c.stored) {
        return Ok(OnceOutcome::Recorded(InsertOutcome::Inserted));
    }
    let mut session = store.session().await?;
    // A record or row that conflicted can be deleted before it is read back (its write was
    // undone): then the statement runs again.
    for _ in 0..INSERT_ATTEMPTS {
        let counts = match batched.take() {
            Some(counts) => counts,
            None => record_and_insert(&mut session, row, record).await?,
        };
        if !counts.recorded {
            let found = session.query(SELECT, &[&record.key]).await?;
            if let Some(existing) = found.first() {
                return Ok(OnceOutcome::Repeated(record_row(existing)?));
            }
            continue;
        }
        if counts.stored {
            return Ok(OnceOutcome::Recorded(InsertOutcome::Inserted));
        }
        let found = session
            .query(
                &format!("{} WHERE HASH = $1", transactions::SELECT),
                &[&row.hash.as_bytes()],
            )
            .await?;
        if let Some(existing) = found.first() {
            return Ok(OnceOutcome::Recorded(InsertOutcome::AlreadyPresent(
                transactions::tx_row(existing)?,
            )));
        }
        // The conflicting row vanished: our record names nothing; take it back and go again.
        session
            .execute(
                "DELETE FROM CLOISTER_IDEMPOTENCY WHERE IDEMPOTENCY_KEY = $1",
                &[&record.key],
            )
            .await?;
    }
    Err(StoreError::Backend(
        "idempotent insert kept conflicting with rows that vanished".into(),
    ))
}

/// One attempt of [`RECORD_AND_INSERT`]: whether the key was recorded and the row stored.
async fn record_and_insert(
    session: &mut Session,
    row: &TransactionRow,
    record: &IdempotencyRow,
) -> Result<Counts, StoreError> {
    let counts = session
        .query(
            RECORD_AND_INSERT,
            &[
                &record.key,
                &record.fingerprint,
                &row.hash.as_bytes(),
                &record.timestamp,
                &row.encoded_payload,
                &row.codec.name(),
                &row.timestamp,
            ],
        )
        .await?;
    let count = |i| counts.first().map(|r| r.try_get::<_, i64>(i)).transpose();
    Ok(Counts {
        recorded: count(0).map_err(corrupt(table::IDEMPOTENCY))?.unwrap_or(0) > 0,
        stored: count(1).map_err(corrupt(table::IDEMPOTENCY))?.unwrap_or(0) > 0,
    })
}

pub(super) async fn delete(store: &PostgresStore, key: &str) -> Result<bool, StoreError> {
    let sql = "DELETE FROM CLOISTER_IDEMPOTENCY WHERE IDEMPOTENCY_KEY = $1";
    store.deleted(sql, &[&key]).await
}

pub(super) async fn expire(store: &PostgresStore, before: i64) -> Result<u64, StoreError> {
    store
        .execute(
            "DELETE FROM CLOISTER_IDEMPOTENCY WHERE TIMESTAMP < $1",
            &[&before],
        )
        .await
}
