//! Tessera's PostgreSQL schema (`ddls/create-table/postgresql-ddl.sql`), made idempotent.
//!
//! Types are Tessera's (`BYTEA`, `TIMESTAMP DECIMAL(19)` on the main tables, `BIGINT` on the
//! staging tables, staging hashes as `VARCHAR(255)`, `PAYLOAD_CODEC` nullable), names are
//! unquoted as Hibernate writes them (so PostgreSQL folds them to lower case, as in a Tessera
//! database), so a database created by Tessera can be adopted and one created here handed back.
//! Statements read numbers with `::BIGINT` casts, so they work on either numeric type.

use super::session::Session;
use crate::schema::{cloister_tables, index_names, CLOISTER_TABLES, INDEXES, REQUIRED};
use crate::StoreError;

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS ENCRYPTED_TRANSACTION (ENCODED_PAYLOAD BYTEA NOT NULL, PAYLOAD_CODEC VARCHAR(50), HASH BYTEA NOT NULL, TIMESTAMP DECIMAL(19), PRIMARY KEY (HASH));
CREATE TABLE IF NOT EXISTS ENCRYPTED_RAW_TRANSACTION (ENCRYPTED_KEY BYTEA NOT NULL, ENCRYPTED_PAYLOAD BYTEA NOT NULL, NONCE BYTEA NOT NULL, SENDER BYTEA NOT NULL, TIMESTAMP DECIMAL(19), HASH BYTEA NOT NULL, PRIMARY KEY (HASH));
CREATE TABLE IF NOT EXISTS PRIVACY_GROUP (ID BYTEA NOT NULL, LOOKUP_ID BYTEA NOT NULL, DATA BYTEA NOT NULL, TIMESTAMP DECIMAL(19), PRIMARY KEY (ID));
CREATE TABLE IF NOT EXISTS ST_TRANSACTION (ID BIGINT NOT NULL CONSTRAINT ST_TRANSACTION_PKEY PRIMARY KEY, PAYLOAD_CODEC VARCHAR(50), HASH VARCHAR(255) NOT NULL, PAYLOAD BYTEA, PRIVACY_MODE INTEGER, TIMESTAMP BIGINT, VALIDATION_STAGE BIGINT);
CREATE TABLE IF NOT EXISTS ST_AFFECTED_TRANSACTION (ID BIGINT NOT NULL CONSTRAINT ST_AFFECTED_TRANSACTION_PKEY PRIMARY KEY, AFFECTED_HASH VARCHAR(255) NOT NULL, TXN_ID BIGINT NOT NULL CONSTRAINT FK_ST_AFFECTED_TRANSACTION_TXN_ID REFERENCES ST_TRANSACTION);
";

/// Columns Tessera's migrations (`ddls/add-codec`, `ddls/add-timestamp`) added to older
/// databases; added the same way (nullable) when `autoCreateTables` is on.
const MIGRATIONS: &str = "
ALTER TABLE ENCRYPTED_TRANSACTION ADD COLUMN IF NOT EXISTS PAYLOAD_CODEC VARCHAR(50);
ALTER TABLE ST_TRANSACTION ADD COLUMN IF NOT EXISTS PAYLOAD_CODEC VARCHAR(50);
ALTER TABLE ENCRYPTED_TRANSACTION ADD COLUMN IF NOT EXISTS TIMESTAMP DECIMAL(19);
ALTER TABLE ENCRYPTED_RAW_TRANSACTION ADD COLUMN IF NOT EXISTS TIMESTAMP DECIMAL(19);
";

/// An arbitrary constant naming the advisory lock that serialises schema creation: replicas
/// starting together would otherwise race on `CREATE TABLE IF NOT EXISTS` (which can fail
/// with a unique violation in the catalog when two run at once).
const SCHEMA_LOCK: i64 = 0x436c_6f69_7374_6572; // "Cloister"

/// Creates what is missing (Tessera's tables when `auto_create`, Cloister's whenever absent),
/// then checks every table and column the store uses, so a wrong database fails at start
/// instead of on the first request. Nothing is written, and no lock taken, when nothing is
/// missing: a store opened on a standby (target `any`) starts, and a replica starting beside
/// others under load (a rolling restart) does not make their writes deadlock with its DDL
/// (`ALTER TABLE … IF NOT EXISTS` and `CREATE INDEX IF NOT EXISTS` lock the table first).
pub(super) async fn prepare(session: &mut Session, auto_create: bool) -> Result<(), StoreError> {
    let mut present = catalog(session).await?;
    let indexes = indexes(session).await?;
    let ours = cloister_tables("BYTEA", "BIGINT");
    let lacks_index = |ddl: &str| index_names(ddl).any(|name| !indexes.contains(&name));
    let ours_missing = lacks_index(&ours)
        || CLOISTER_TABLES
            .iter()
            .any(|table| !present.iter().any(|(t, _)| t == table));
    let tessera_missing = auto_create && (lacks_index(INDEXES) || !has_required(&present));
    if tessera_missing || ours_missing {
        session.begin().await?;
        session
            .execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
            .await?;
        if tessera_missing {
            session.batch(TABLES).await?;
            session.batch(MIGRATIONS).await?;
            session.batch(INDEXES).await?;
        }
        session.batch(&ours).await?;
        session.commit().await?;
        present = catalog(session).await?;
    }
    for (table, required) in REQUIRED {
        let columns: Vec<&str> = present
            .iter()
            .filter(|(t, _)| t == table)
            .map(|(_, c)| c.as_str())
            .collect();
        if columns.is_empty() {
            return Err(StoreError::Schema(format!(
                "table {table} does not exist (create it with Tessera's DDL or set autoCreateTables)"
            )));
        }
        if let Some(missing) = required.iter().find(|c| !columns.contains(c)) {
            return Err(StoreError::Schema(format!(
                "table {table} has no column {missing} (an older Tessera schema: apply Tessera's migrations or set autoCreateTables)"
            )));
        }
    }
    Ok(())
}

/// Whether every table has the columns the store uses.
fn has_required(present: &[(String, String)]) -> bool {
    REQUIRED.iter().all(|(table, required)| {
        required
            .iter()
            .all(|column| present.iter().any(|(t, c)| t == table && c == column))
    })
}

/// The indexes of the current schema, upper-cased.
async fn indexes(session: &mut Session) -> Result<Vec<String>, StoreError> {
    let rows = session
        .query(
            "SELECT upper(indexname::text) FROM pg_indexes WHERE schemaname = current_schema()",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(|e| StoreError::Backend(format!("reading the catalog: {e}")))
}

/// Every (table, column) of the current schema, upper-cased.
async fn catalog(session: &mut Session) -> Result<Vec<(String, String)>, StoreError> {
    let rows = session
        .query(
            "SELECT upper(table_name::text), upper(column_name::text) FROM information_schema.columns \
             WHERE table_schema = current_schema()",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(|e| StoreError::Backend(format!("reading the catalog: {e}")))
}
