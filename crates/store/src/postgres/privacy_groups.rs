//! Tessera's `PRIVACY_GROUP` on PostgreSQL (see [`crate::Store::upsert_privacy_group`] and its
//! siblings).

use tokio_postgres::Row;

use super::error::corrupt;
use super::{rows, timestamp, PostgresStore};
use crate::rows::PrivacyGroupRow;
use crate::schema::table;
use crate::StoreError;

const SELECT: &str = "SELECT ID, LOOKUP_ID, DATA, TIMESTAMP::BIGINT FROM PRIVACY_GROUP";

fn group_row(row: &Row) -> Result<PrivacyGroupRow, StoreError> {
    let get = |i| {
        row.try_get::<_, Vec<u8>>(i)
            .map_err(corrupt(table::PRIVACY_GROUP))
    };
    Ok(PrivacyGroupRow {
        id: get(0)?,
        lookup_id: get(1)?,
        data: get(2)?,
        timestamp: timestamp(row, 3, table::PRIVACY_GROUP)?,
    })
}

pub(super) async fn upsert(store: &PostgresStore, row: &PrivacyGroupRow) -> Result<(), StoreError> {
    store
        .execute(
            "INSERT INTO PRIVACY_GROUP (ID, LOOKUP_ID, DATA, TIMESTAMP) VALUES ($1, $2, $3, $4::BIGINT) \
             ON CONFLICT (ID) DO UPDATE SET LOOKUP_ID = EXCLUDED.LOOKUP_ID, DATA = EXCLUDED.DATA",
            &[&row.id, &row.lookup_id, &row.data, &row.timestamp],
        )
        .await
        .map(drop)
}

pub(super) async fn get(
    store: &PostgresStore,
    id: &[u8],
) -> Result<Option<PrivacyGroupRow>, StoreError> {
    let sql = format!("{SELECT} WHERE ID = $1");
    store.lookup(&sql, &[&id], group_row).await
}

pub(super) async fn find(
    store: &PostgresStore,
    lookup_id: &[u8],
) -> Result<Vec<PrivacyGroupRow>, StoreError> {
    let found = store
        .query(
            &format!("{SELECT} WHERE LOOKUP_ID = $1 ORDER BY ID"),
            &[&lookup_id],
        )
        .await?;
    rows(&found, group_row)
}

pub(super) async fn list(store: &PostgresStore) -> Result<Vec<PrivacyGroupRow>, StoreError> {
    let found = store.query(&format!("{SELECT} ORDER BY ID"), &[]).await?;
    rows(&found, group_row)
}
