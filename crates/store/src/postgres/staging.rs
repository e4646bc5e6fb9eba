//! Tessera's staging tables, `ST_TRANSACTION` and `ST_AFFECTED_TRANSACTION`, on PostgreSQL (see
//! [`crate::Store::stage_transaction`] and its siblings).

use cloister_core::b64;
use cloister_core::digest::TxHash;
use cloister_core::payload::PrivacyMode;
use tokio_postgres::Row;

use super::error::corrupt;
use super::{bad, clamp, codec, count, rows, timestamp, PostgresStore};
use crate::rows::{NewStagedTransaction, StagedTransaction, StagingCounts};
use crate::schema::table;
use crate::StoreError;

fn staged_row(row: &Row) -> Result<StagedTransaction, StoreError> {
    let hash: String = row.try_get(1).map_err(corrupt(table::STAGED_TRANSACTION))?;
    let hash =
        b64::decode(&hash).map_err(|_| bad(table::STAGED_TRANSACTION, "HASH is not base64"))?;
    let privacy_mode = match row
        .try_get::<_, Option<i64>>(4)
        .map_err(corrupt(table::STAGED_TRANSACTION))?
    {
        None => PrivacyMode::StandardPrivate,
        Some(flag @ 0..=3) => PrivacyMode::from_flag(flag.unsigned_abs()),
        Some(_) => return Err(bad(table::STAGED_TRANSACTION, "PRIVACY_MODE is not 0-3")),
    };
    Ok(StagedTransaction {
        id: row.try_get(0).map_err(corrupt(table::STAGED_TRANSACTION))?,
        hash: TxHash::new(hash),
        payload: row
            .try_get::<_, Option<Vec<u8>>>(2)
            .map_err(corrupt(table::STAGED_TRANSACTION))?
            .ok_or_else(|| bad(table::STAGED_TRANSACTION, "PAYLOAD is NULL"))?,
        codec: codec(row, 3, table::STAGED_TRANSACTION)?,
        privacy_mode,
        timestamp: timestamp(row, 5, table::STAGED_TRANSACTION)?,
        validation_stage: row.try_get(6).map_err(corrupt(table::STAGED_TRANSACTION))?,
    })
}

pub(super) async fn stage(
    store: &PostgresStore,
    tx: &NewStagedTransaction,
) -> Result<bool, StoreError> {
    let hash = tx.hash.to_base64();
    let affected: Vec<String> = tx.affected.iter().map(TxHash::to_base64).collect();
    let mut session = store.session().await?;
    session.begin().await?;
    // Ids are MAX(ID) + 1, as Tessera's tables have no sequence: the lock makes concurrent
    // stagers (replicas) take turns, and makes the duplicate check below race-free. Reads
    // are not blocked.
    session
        .batch("LOCK TABLE ST_TRANSACTION, ST_AFFECTED_TRANSACTION IN EXCLUSIVE MODE")
        .await?;
    let known = session
        .query(
            "SELECT 1 FROM ST_TRANSACTION WHERE HASH = $1 AND PAYLOAD = $2",
            &[&hash, &tx.payload],
        )
        .await?;
    if !known.is_empty() {
        session.commit().await?;
        return Ok(false);
    }
    let ids = session
        .query(
            "SELECT (SELECT COALESCE(MAX(ID), 0) + 1 FROM ST_TRANSACTION)::BIGINT, \
                    (SELECT COALESCE(MAX(ID), 0) + 1 FROM ST_AFFECTED_TRANSACTION)::BIGINT",
            &[],
        )
        .await?;
    let ids = ids
        .first()
        .ok_or_else(|| StoreError::Backend("MAX(ID) returned no row".into()))?;
    let id: i64 = ids.try_get(0).map_err(corrupt(table::STAGED_TRANSACTION))?;
    let first_affected: i64 = ids
        .try_get(1)
        .map_err(corrupt(table::AFFECTED_TRANSACTION))?;
    session
        .execute(
            "INSERT INTO ST_TRANSACTION (ID, HASH, PAYLOAD, PAYLOAD_CODEC, PRIVACY_MODE, TIMESTAMP, VALIDATION_STAGE) \
             VALUES ($1::BIGINT, $2, $3, $4, $5::BIGINT, $6::BIGINT, NULL)",
            &[
                &id,
                &hash,
                &tx.payload,
                &tx.codec.name(),
                &i64::from(tx.privacy_mode.flag()),
                &tx.timestamp,
            ],
        )
        .await?;
    if !affected.is_empty() {
        // One statement for all affected hashes, ids consecutive in list order.
        session
            .execute(
                "INSERT INTO ST_AFFECTED_TRANSACTION (ID, AFFECTED_HASH, TXN_ID) \
                 SELECT $1::BIGINT + ord - 1, h, $3::BIGINT FROM unnest($2::VARCHAR[]) WITH ORDINALITY AS a(h, ord)",
                &[&first_affected, &affected, &id],
            )
            .await?;
    }
    session.commit().await?;
    Ok(true)
}

pub(super) async fn assign_validation_stage(
    store: &PostgresStore,
    stage: i64,
) -> Result<u64, StoreError> {
    // Ready: unstaged, and no affected hash of any version of this hash names a staging row
    // that is still unstaged. One statement: its subqueries see the table as it was before
    // the update, so rows staged in this round do not free their dependants in the same
    // round.
    store
        .execute(
            "UPDATE ST_TRANSACTION st SET VALIDATION_STAGE = $1::BIGINT WHERE st.VALIDATION_STAGE IS NULL \
             AND NOT EXISTS (SELECT 1 FROM ST_TRANSACTION src \
               JOIN ST_AFFECTED_TRANSACTION act ON act.TXN_ID = src.ID \
               WHERE src.HASH = st.HASH AND EXISTS (SELECT 1 FROM ST_TRANSACTION dep \
                 WHERE dep.HASH = act.AFFECTED_HASH AND dep.VALIDATION_STAGE IS NULL))",
            &[&stage],
        )
        .await
}

pub(super) async fn counts(store: &PostgresStore) -> Result<StagingCounts, StoreError> {
    let found = store
        .query(
            "SELECT COUNT(*), COUNT(VALIDATION_STAGE) FROM ST_TRANSACTION",
            &[],
        )
        .await?;
    Ok(StagingCounts {
        total: count(found.first(), 0)?,
        staged: count(found.first(), 1)?,
    })
}

pub(super) async fn stages(store: &PostgresStore) -> Result<Vec<Option<i64>>, StoreError> {
    let found = store
        .query(
            "SELECT DISTINCT VALIDATION_STAGE::BIGINT FROM ST_TRANSACTION \
             ORDER BY 1 ASC NULLS LAST",
            &[],
        )
        .await?;
    found
        .iter()
        .map(|row| row.try_get(0).map_err(corrupt(table::STAGED_TRANSACTION)))
        .collect()
}

pub(super) async fn scan(
    store: &PostgresStore,
    stage: Option<i64>,
    after_id: i64,
    limit: u64,
) -> Result<Vec<StagedTransaction>, StoreError> {
    // `IS NOT DISTINCT FROM` matches NULL as `=` matches a value, so one statement serves both.
    let found = store
        .query(
            "SELECT ID::BIGINT, HASH, PAYLOAD, PAYLOAD_CODEC, PRIVACY_MODE::BIGINT, TIMESTAMP::BIGINT, VALIDATION_STAGE::BIGINT \
             FROM ST_TRANSACTION WHERE VALIDATION_STAGE IS NOT DISTINCT FROM $1 AND ID > $2 \
             ORDER BY ID LIMIT $3",
            &[&stage, &after_id, &clamp(limit)],
        )
        .await?;
    rows(&found, staged_row)
}

pub(super) async fn clear(store: &PostgresStore) -> Result<(), StoreError> {
    // Two statements in one simple-protocol batch run as one implicit transaction.
    store
        .session()
        .await?
        .batch("DELETE FROM ST_AFFECTED_TRANSACTION; DELETE FROM ST_TRANSACTION;")
        .await
}
