//! Cloister's discovery tables on SQLite (see [`crate::Store::record_peer`] and its siblings).

use cloister_core::keys::PublicKey;
use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::error::{from_sqlite, in_table};
use super::{bad, execute};
use crate::rows::{PeerKeyRow, PeerRow};
use crate::schema::{join_versions, split_versions, table};
use crate::StoreError;

fn peer_row(row: &Row<'_>) -> rusqlite::Result<PeerRow> {
    Ok(PeerRow {
        url: row.get(0)?,
        versions: split_versions(&row.get::<_, String>(1)?),
    })
}

fn peer_key_row(row: &Row<'_>) -> rusqlite::Result<PeerKeyRow> {
    let key: Vec<u8> = row.get(0)?;
    Ok(PeerKeyRow {
        key: PublicKey::from_slice(&key, "PUBLIC_KEY")
            .map_err(|e| bad(0, Type::Blob, e.to_string()))?,
        url: row.get(1)?,
    })
}

pub(super) fn add_parties(
    conn: &Connection,
    urls: &[String],
    max_total: usize,
) -> Result<usize, StoreError> {
    let max_total = i64::try_from(max_total).unwrap_or(i64::MAX);
    let mut added = 0;
    for url in urls {
        // The WHERE also settles SQLite's INSERT … SELECT … ON CONFLICT parsing ambiguity.
        added += execute(
            conn,
            "INSERT INTO CLOISTER_PARTY (URL) SELECT ?1 \
             WHERE (SELECT COUNT(*) FROM CLOISTER_PARTY) < ?2 ON CONFLICT (URL) DO NOTHING",
            params![url, max_total],
        )?;
    }
    Ok(added)
}

pub(super) fn remove_party(conn: &Connection, url: &str) -> Result<bool, StoreError> {
    Ok(execute(conn, "DELETE FROM CLOISTER_PARTY WHERE URL = ?1", [url])? == 1)
}

pub(super) fn list_parties(conn: &Connection) -> Result<Vec<String>, StoreError> {
    conn.prepare_cached("SELECT URL FROM CLOISTER_PARTY ORDER BY URL")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(from_sqlite)
}

pub(super) fn record_peer(
    conn: &Connection,
    peer: &PeerRow,
    keys: &[PublicKey],
    now: i64,
) -> Result<(), StoreError> {
    execute(
        conn,
        "INSERT INTO CLOISTER_PEER (URL, VERSIONS, TIMESTAMP) VALUES (?1, ?2, ?3) \
         ON CONFLICT (URL) DO UPDATE SET VERSIONS = excluded.VERSIONS, TIMESTAMP = excluded.TIMESTAMP",
        params![peer.url, join_versions(&peer.versions), now],
    )?;
    for key in keys {
        execute(
            conn,
            "INSERT INTO CLOISTER_PEER_KEY (PUBLIC_KEY, URL) VALUES (?1, ?2) \
             ON CONFLICT (PUBLIC_KEY) DO UPDATE SET URL = excluded.URL",
            params![key.as_bytes().as_slice(), peer.url],
        )?;
    }
    Ok(())
}

pub(super) fn forget_peer(conn: &Connection, url: &str) -> Result<(), StoreError> {
    execute(conn, "DELETE FROM CLOISTER_PEER_KEY WHERE URL = ?1", [url])?;
    execute(conn, "DELETE FROM CLOISTER_PEER WHERE URL = ?1", [url])?;
    Ok(())
}

pub(super) fn list_peers(conn: &Connection) -> Result<Vec<PeerRow>, StoreError> {
    conn.prepare_cached("SELECT URL, VERSIONS FROM CLOISTER_PEER ORDER BY URL")
        .and_then(|mut s| s.query_map([], peer_row)?.collect())
        .map_err(in_table(table::PEER))
}

pub(super) fn peer_for_key(
    conn: &Connection,
    key: &PublicKey,
) -> Result<Option<PeerRow>, StoreError> {
    conn.prepare_cached(
        "SELECT p.URL, p.VERSIONS FROM CLOISTER_PEER_KEY k JOIN CLOISTER_PEER p ON p.URL = k.URL \
         WHERE k.PUBLIC_KEY = ?1",
    )
    .and_then(|mut s| {
        s.query_row([key.as_bytes().as_slice()], peer_row)
            .optional()
    })
    .map_err(in_table(table::PEER))
}

pub(super) fn list_peer_keys(conn: &Connection) -> Result<Vec<PeerKeyRow>, StoreError> {
    conn.prepare_cached("SELECT PUBLIC_KEY, URL FROM CLOISTER_PEER_KEY ORDER BY PUBLIC_KEY")
        .and_then(|mut s| s.query_map([], peer_key_row)?.collect())
        .map_err(in_table(table::PEER_KEY))
}
