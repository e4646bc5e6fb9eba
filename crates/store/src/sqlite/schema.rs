//! Tessera's SQLite schema (`ddls/create-table/sqlite-ddl.sql`), made idempotent.
//!
//! Table and column names, types (`BLOB`, `NUMBER(19)`, `VARCHAR`) and the foreign key are
//! Tessera's, so a database created by Tessera can be adopted and one created here can be
//! handed back. `IF NOT EXISTS` everywhere: several replicas may start at once on one file.

use crate::schema::{cloister_tables, table, INDEXES, REQUIRED};
use rusqlite::Connection;

use super::error::from_sqlite;
use crate::StoreError;

/// The tables, as Tessera's newest SQLite DDL creates them.
const TABLES: &str = "
CREATE TABLE IF NOT EXISTS ENCRYPTED_TRANSACTION (ENCODED_PAYLOAD BLOB NOT NULL, PAYLOAD_CODEC VARCHAR(50) NOT NULL, TIMESTAMP NUMBER(19), HASH BLOB NOT NULL, PRIMARY KEY (HASH));
CREATE TABLE IF NOT EXISTS ENCRYPTED_RAW_TRANSACTION (ENCRYPTED_KEY BLOB NOT NULL, ENCRYPTED_PAYLOAD BLOB NOT NULL, NONCE BLOB NOT NULL, SENDER BLOB NOT NULL, TIMESTAMP NUMBER(19), HASH BLOB NOT NULL, PRIMARY KEY (HASH));
CREATE TABLE IF NOT EXISTS PRIVACY_GROUP (ID BLOB NOT NULL, LOOKUP_ID BLOB NOT NULL, DATA BLOB NOT NULL, TIMESTAMP NUMBER(19), PRIMARY KEY (ID));
CREATE TABLE IF NOT EXISTS ST_TRANSACTION (ID NUMBER(19) NOT NULL PRIMARY KEY, PAYLOAD_CODEC VARCHAR(50) NOT NULL, HASH VARCHAR NOT NULL, PAYLOAD BLOB, PRIVACY_MODE NUMBER(10), TIMESTAMP NUMBER(19), VALIDATION_STAGE NUMBER(19));
CREATE TABLE IF NOT EXISTS ST_AFFECTED_TRANSACTION (ID NUMBER(19) NOT NULL PRIMARY KEY, AFFECTED_HASH VARCHAR NOT NULL, TXN_ID NUMBER(19) NOT NULL, CONSTRAINT FK_ST_AFFECTED_TRANSACTION_TXN_ID FOREIGN KEY (TXN_ID) REFERENCES ST_TRANSACTION (ID));
";

/// Columns that Tessera's own migrations (`ddls/add-codec`, `ddls/add-timestamp`) added to
/// older databases. With `autoCreateTables` a database from before them is brought forward the
/// same way, nullable, so old rows keep their NULLs (read as LEGACY and 0).
const MIGRATED: &[(&str, &str, &str)] = &[
    (table::TRANSACTION, "PAYLOAD_CODEC", "VARCHAR(50)"),
    (table::STAGED_TRANSACTION, "PAYLOAD_CODEC", "VARCHAR(50)"),
    (table::TRANSACTION, "TIMESTAMP", "NUMBER(19)"),
    (table::RAW_TRANSACTION, "TIMESTAMP", "NUMBER(19)"),
];

/// Creates what is missing (Tessera's tables when `auto_create`, Cloister's always), then checks
/// that every table and column the store uses is there, so a wrong file fails at start instead
/// of on the first request.
pub(super) fn prepare(conn: &Connection, auto_create: bool) -> Result<(), StoreError> {
    if auto_create {
        conn.execute_batch(TABLES).map_err(from_sqlite)?;
        for (table, column, ty) in MIGRATED {
            if !columns(conn, table)?.iter().any(|c| c == column) {
                tracing::info!(
                    table,
                    column,
                    "adding column missing from an older Tessera schema"
                );
                conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {ty}"))
                    .map_err(from_sqlite)?;
            }
        }
        conn.execute_batch(INDEXES).map_err(from_sqlite)?;
    }
    conn.execute_batch(&cloister_tables("BLOB", "NUMBER(19)"))
        .map_err(from_sqlite)?;
    for (table, required) in REQUIRED {
        let present = columns(conn, table)?;
        if present.is_empty() {
            return Err(StoreError::Schema(format!(
                "table {table} does not exist (create it with Tessera's DDL or set autoCreateTables)"
            )));
        }
        if let Some(missing) = required.iter().find(|c| !present.iter().any(|p| p == *c)) {
            return Err(StoreError::Schema(format!(
                "table {table} has no column {missing} (an older Tessera schema: apply Tessera's migrations or set autoCreateTables)"
            )));
        }
    }
    Ok(())
}

/// The column names of `table`, upper-cased; empty if the table does not exist.
fn columns(conn: &Connection, table: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_info(?1)")
        .map_err(from_sqlite)?;
    let names = stmt
        .query_map([table], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(from_sqlite)?;
    Ok(names.into_iter().map(|n| n.to_ascii_uppercase()).collect())
}
