//! Tessera's staging tables, `ST_TRANSACTION` and `ST_AFFECTED_TRANSACTION`, on SQLite (see
//! [`crate::Store::stage_transaction`] and its siblings).

use cloister_core::b64;
use cloister_core::digest::TxHash;
use cloister_core::payload::PrivacyMode;
use rusqlite::types::Type;
use rusqlite::{params, Connection, Row};

use super::error::{from_sqlite, in_table};
use super::{bad, clamp, codec, count, execute, timestamp};
use crate::rows::{NewStagedTransaction, StagedTransaction, StagingCounts};
use crate::schema::table;
use crate::StoreError;

fn staged_row(row: &Row<'_>) -> rusqlite::Result<StagedTransaction> {
    let hash: String = row.get(1)?;
    let hash = b64::decode(&hash).map_err(|_| bad(1, Type::Text, "HASH is not base64"))?;
    let privacy_mode = match row.get::<_, Option<i64>>(4)? {
        None => PrivacyMode::StandardPrivate,
        Some(flag @ 0..=3) => PrivacyMode::from_flag(flag.unsigned_abs()),
        Some(_) => return Err(bad(4, Type::Integer, "PRIVACY_MODE is not 0-3")),
    };
    Ok(StagedTransaction {
        id: row.get(0)?,
        hash: TxHash::new(hash),
        payload: row
            .get::<_, Option<Vec<u8>>>(2)?
            .ok_or_else(|| bad(2, Type::Null, "PAYLOAD is NULL"))?,
        codec: codec(row, 3)?,
        privacy_mode,
        timestamp: timestamp(row, 5)?,
        validation_stage: row.get(6)?,
    })
}

pub(super) fn stage(conn: &Connection, tx: &NewStagedTransaction) -> Result<bool, StoreError> {
    let hash = tx.hash.to_base64();
    let known = conn
        .prepare_cached("SELECT 1 FROM ST_TRANSACTION WHERE HASH = ?1 AND PAYLOAD = ?2")
        .and_then(|mut s| s.exists(params![hash, tx.payload]))
        .map_err(from_sqlite)?;
    if known {
        return Ok(false);
    }
    // Ids come from the table itself: the writer holds SQLite's write lock, so no other
    // process can take the same one in between.
    let next_id = |name: &str| {
        conn.query_row(
            &format!("SELECT COALESCE(MAX(ID), 0) + 1 FROM {name}"),
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(from_sqlite)
    };
    let id = next_id(table::STAGED_TRANSACTION)?;
    execute(
        conn,
        "INSERT INTO ST_TRANSACTION (ID, HASH, PAYLOAD, PAYLOAD_CODEC, PRIVACY_MODE, TIMESTAMP, VALIDATION_STAGE) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)",
        params![id, hash, tx.payload, tx.codec.name(), tx.privacy_mode.flag(), tx.timestamp],
    )?;
    let first = next_id(table::AFFECTED_TRANSACTION)?;
    for (affected_id, affected) in (first..).zip(&tx.affected) {
        execute(
            conn,
            "INSERT INTO ST_AFFECTED_TRANSACTION (ID, AFFECTED_HASH, TXN_ID) VALUES (?1, ?2, ?3)",
            params![affected_id, affected.to_base64(), id],
        )?;
    }
    Ok(true)
}

pub(super) fn assign_validation_stage(conn: &Connection, stage: i64) -> Result<u64, StoreError> {
    // Ready: unstaged, and no affected hash of any version of this hash names a staging row
    // that is still unstaged. The ids are read before any is updated, so rows staged in this
    // round do not free their dependants in the same round.
    let ready = conn
        .prepare_cached(
            "SELECT st.ID FROM ST_TRANSACTION st WHERE st.VALIDATION_STAGE IS NULL \
             AND NOT EXISTS (SELECT 1 FROM ST_TRANSACTION src \
               JOIN ST_AFFECTED_TRANSACTION act ON act.TXN_ID = src.ID \
               WHERE src.HASH = st.HASH AND EXISTS (SELECT 1 FROM ST_TRANSACTION dep \
                 WHERE dep.HASH = act.AFFECTED_HASH AND dep.VALIDATION_STAGE IS NULL))",
        )
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, i64>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(in_table(table::STAGED_TRANSACTION))?;
    for id in &ready {
        execute(
            conn,
            "UPDATE ST_TRANSACTION SET VALIDATION_STAGE = ?1 WHERE ID = ?2",
            params![stage, id],
        )?;
    }
    Ok(ready.len() as u64)
}

pub(super) fn counts(conn: &Connection) -> Result<StagingCounts, StoreError> {
    conn.query_row(
        "SELECT COUNT(*), COUNT(VALIDATION_STAGE) FROM ST_TRANSACTION",
        [],
        |r| {
            Ok(StagingCounts {
                total: count(r.get(0)?),
                staged: count(r.get(1)?),
            })
        },
    )
    .map_err(from_sqlite)
}

pub(super) fn stages(conn: &Connection) -> Result<Vec<Option<i64>>, StoreError> {
    conn.prepare_cached(
        "SELECT DISTINCT VALIDATION_STAGE FROM ST_TRANSACTION \
         ORDER BY VALIDATION_STAGE IS NULL, VALIDATION_STAGE",
    )
    .and_then(|mut s| {
        s.query_map([], |r| r.get(0))?
            .collect::<Result<Vec<_>, _>>()
    })
    .map_err(in_table(table::STAGED_TRANSACTION))
}

pub(super) fn scan(
    conn: &Connection,
    stage: Option<i64>,
    after_id: i64,
    limit: u64,
) -> Result<Vec<StagedTransaction>, StoreError> {
    // `IS` matches NULL as `=` matches a value, so one statement serves both.
    conn.prepare_cached(
        "SELECT ID, HASH, PAYLOAD, PAYLOAD_CODEC, PRIVACY_MODE, TIMESTAMP, VALIDATION_STAGE \
         FROM ST_TRANSACTION WHERE VALIDATION_STAGE IS ?1 AND ID > ?2 ORDER BY ID LIMIT ?3",
    )
    .and_then(|mut s| {
        s.query_map(params![stage, after_id, clamp(limit)], staged_row)?
            .collect::<Result<Vec<_>, _>>()
    })
    .map_err(in_table(table::STAGED_TRANSACTION))
}

pub(super) fn clear(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("DELETE FROM ST_AFFECTED_TRANSACTION; DELETE FROM ST_TRANSACTION;")
        .map_err(from_sqlite)
}
