//! Cloister's discovery tables on PostgreSQL (see [`crate::Store::record_peer`] and its
//! siblings).

use cloister_core::keys::PublicKey;
use tokio_postgres::Row;

use super::error::corrupt;
use super::{bad, rows, PostgresStore};
use crate::rows::{PeerKeyRow, PeerRow};
use crate::schema::{join_versions, split_versions, table};
use crate::StoreError;

fn peer_row(row: &Row) -> Result<PeerRow, StoreError> {
    Ok(PeerRow {
        url: row.try_get(0).map_err(corrupt(table::PEER))?,
        versions: split_versions(row.try_get(1).map_err(corrupt(table::PEER))?),
    })
}

fn peer_key_row(row: &Row) -> Result<PeerKeyRow, StoreError> {
    let key: &[u8] = row.try_get(0).map_err(corrupt(table::PEER_KEY))?;
    Ok(PeerKeyRow {
        key: PublicKey::from_slice(key, "PUBLIC_KEY")
            .map_err(|e| bad(table::PEER_KEY, &e.to_string()))?,
        url: row.try_get(1).map_err(corrupt(table::PEER_KEY))?,
    })
}

pub(super) async fn add_parties(
    store: &PostgresStore,
    urls: &[String],
    max_total: usize,
) -> Result<usize, StoreError> {
    let max_total = i64::try_from(max_total).unwrap_or(i64::MAX);
    // The room left is read in the statement's own snapshot, so one call never overshoots.
    let added = store
        .execute(
            "INSERT INTO CLOISTER_PARTY (URL) \
             SELECT DISTINCT u FROM UNNEST($1::VARCHAR[]) AS u \
             WHERE NOT EXISTS (SELECT 1 FROM CLOISTER_PARTY p WHERE p.URL = u) \
             LIMIT GREATEST(0, $2 - (SELECT COUNT(*) FROM CLOISTER_PARTY)) \
             ON CONFLICT (URL) DO NOTHING",
            &[&urls, &max_total],
        )
        .await?;
    Ok(usize::try_from(added).unwrap_or(usize::MAX))
}

pub(super) async fn remove_party(store: &PostgresStore, url: &str) -> Result<bool, StoreError> {
    let removed = store
        .execute("DELETE FROM CLOISTER_PARTY WHERE URL = $1", &[&url])
        .await?;
    Ok(removed == 1)
}

pub(super) async fn list_parties(store: &PostgresStore) -> Result<Vec<String>, StoreError> {
    let found = store
        .query("SELECT URL FROM CLOISTER_PARTY ORDER BY URL", &[])
        .await?;
    found
        .iter()
        .map(|r| r.try_get(0).map_err(corrupt(table::PARTY)))
        .collect()
}

pub(super) async fn record_peer(
    store: &PostgresStore,
    peer: &PeerRow,
    keys: &[PublicKey],
    now: i64,
) -> Result<(), StoreError> {
    let mut keys: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes().as_slice()).collect();
    // One order for every writer, so two replicas recording overlapping key sets lock the key
    // rows in the same order and cannot deadlock.
    keys.sort_unstable();
    let mut session = store.session().await?;
    session.begin().await?;
    // The peer row first: its lock makes concurrent records of one peer take turns.
    session
        .execute(
            "INSERT INTO CLOISTER_PEER (URL, VERSIONS, TIMESTAMP) VALUES ($1, $2, $3) \
             ON CONFLICT (URL) DO UPDATE SET VERSIONS = EXCLUDED.VERSIONS, TIMESTAMP = EXCLUDED.TIMESTAMP",
            &[&peer.url, &join_versions(&peer.versions), &now],
        )
        .await?;
    session
        .execute(
            "INSERT INTO CLOISTER_PEER_KEY (PUBLIC_KEY, URL) SELECT k, $2 FROM UNNEST($1::BYTEA[]) AS k \
             ON CONFLICT (PUBLIC_KEY) DO UPDATE SET URL = EXCLUDED.URL",
            &[&keys, &peer.url],
        )
        .await?;
    session.commit().await
}

pub(super) async fn forget_peer(store: &PostgresStore, url: &str) -> Result<(), StoreError> {
    let mut session = store.session().await?;
    session.begin().await?;
    session
        .execute("DELETE FROM CLOISTER_PEER_KEY WHERE URL = $1", &[&url])
        .await?;
    session
        .execute("DELETE FROM CLOISTER_PEER WHERE URL = $1", &[&url])
        .await?;
    session.commit().await
}

pub(super) async fn list_peers(store: &PostgresStore) -> Result<Vec<PeerRow>, StoreError> {
    let found = store
        .query("SELECT URL, VERSIONS FROM CLOISTER_PEER ORDER BY URL", &[])
        .await?;
    rows(&found, peer_row)
}

pub(super) async fn peer_for_key(
    store: &PostgresStore,
    key: &PublicKey,
) -> Result<Option<PeerRow>, StoreError> {
    let found = store
        .query(
            "SELECT p.URL, p.VERSIONS FROM CLOISTER_PEER_KEY k JOIN CLOISTER_PEER p ON p.URL = k.URL \
             WHERE k.PUBLIC_KEY = $1",
            &[&key.as_bytes().as_slice()],
        )
        .await?;
    found.first().map(peer_row).transpose()
}

pub(super) async fn list_peer_keys(store: &PostgresStore) -> Result<Vec<PeerKeyRow>, StoreError> {
    let found = store
        .query(
            "SELECT PUBLIC_KEY, URL FROM CLOISTER_PEER_KEY ORDER BY PUBLIC_KEY",
            &[],
        )
        .await?;
    rows(&found, peer_key_row)
}
