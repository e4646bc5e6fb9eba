//! Tessera's `PRIVACY_GROUP` on SQLite (see [`crate::Store::upsert_privacy_group`] and its
//! siblings).

use rusqlite::{params, Connection, Row};

use super::error::in_table;
use super::{execute, one, timestamp};
use crate::rows::PrivacyGroupRow;
use crate::schema::table;
use crate::StoreError;

const SELECT: &str = "SELECT ID, LOOKUP_ID, DATA, TIMESTAMP FROM PRIVACY_GROUP";

fn group_row(row: &Row<'_>) -> rusqlite::Result<PrivacyGroupRow> {
    Ok(PrivacyGroupRow {
        id: row.get(0)?,
        lookup_id: row.get(1)?,
        data: row.get(2)?,
        timestamp: timestamp(row, 3)?,
    })
}

pub(super) fn upsert(conn: &Connection, row: &PrivacyGroupRow) -> Result<(), StoreError> {
    execute(
        conn,
        "INSERT INTO PRIVACY_GROUP (ID, LOOKUP_ID, DATA, TIMESTAMP) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (ID) DO UPDATE SET LOOKUP_ID = excluded.LOOKUP_ID, DATA = excluded.DATA",
        params![row.id, row.lookup_id, row.data, row.timestamp],
    )
    .map(drop)
}

pub(super) fn get(conn: &Connection, id: &[u8]) -> Result<Option<PrivacyGroupRow>, StoreError> {
    let sql = format!("{SELECT} WHERE ID = ?1");
    one(conn, &sql, [id], group_row, table::PRIVACY_GROUP)
}

pub(super) fn find(
    conn: &Connection,
    lookup_id: &[u8],
) -> Result<Vec<PrivacyGroupRow>, StoreError> {
    conn.prepare_cached(&format!("{SELECT} WHERE LOOKUP_ID = ?1 ORDER BY ID"))
        .and_then(|mut s| {
            s.query_map([lookup_id], group_row)?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(in_table(table::PRIVACY_GROUP))
}

pub(super) fn list(conn: &Connection) -> Result<Vec<PrivacyGroupRow>, StoreError> {
    conn.prepare_cached(&format!("{SELECT} ORDER BY ID"))
        .and_then(|mut s| s.query_map([], group_row)?.collect::<Result<Vec<_>, _>>())
        .map_err(in_table(table::PRIVACY_GROUP))
}
