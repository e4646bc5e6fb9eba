//! [`BulkRead`] and [`BulkWrite`] over an SQLite file.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension, ToSql};

use super::{with_meaning, BulkRead, BulkWrite, Checkpoint, Kind, Row, Table, Value};
use crate::sqlite::error::from_sqlite;
use crate::{SqliteOptions, SqliteStore, StoreError};

/// The copies' checkpoints, in the destination.
const CHECKPOINTS: &str = "CREATE TABLE IF NOT EXISTS CLOISTER_MIGRATION (SOURCE VARCHAR(2048) NOT NULL, TABLE_NAME VARCHAR(64) NOT NULL, LAST_KEY BLOB NOT NULL, ROWS NUMBER(19) NOT NULL, DONE NUMBER(1) NOT NULL, PRIMARY KEY (SOURCE, TABLE_NAME))";

/// An SQLite database opened for whole-table work.
#[derive(Debug, Clone)]
pub struct SqliteBulk {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteBulk {
    /// Opens `path` read-only: SQLite refuses every write on this connection. A missing file
    /// is an error, never created.
    pub fn read_only(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        Ok(Self::from(conn))
    }

    /// Opens `path` to copy into, creating it and Tessera's and Cloister's schema first (as a
    /// node with `autoCreateTables` would), and the checkpoint table.
    pub fn for_writing(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteOptions {
            auto_create_tables: true,
            ..SqliteOptions::default()
        };
        drop(SqliteStore::open(path, &options)?);
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(from_sqlite)?;
        conn.busy_timeout(options.busy_timeout)
            .map_err(from_sqlite)?;
        conn.execute_batch(CHECKPOINTS).map_err(from_sqlite)?;
        Ok(Self::from(conn))
    }

    /// Runs `work` on the connection off the async runtime.
    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().map_err(|_| {
                StoreError::Backend("the SQLite connection's lock is poisoned".into())
            })?;
            work(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("SQLite task: {e}")))?
    }
}

impl From<Connection> for SqliteBulk {
    fn from(conn: Connection) -> Self {
        Self {
            conn: Arc::new(Mutex::new(conn)),
        }
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Self::Null => ValueRef::Null,
            Self::Int(n) => ValueRef::Integer(*n),
            Self::Text(text) => ValueRef::Text(text.as_bytes()),
            Self::Bytes(bytes) => ValueRef::Blob(bytes),
        }))
    }
}

/// The value of column `index` of `row`, as `kind` holds it.
fn value(
    table: &'static str,
    kind: Kind,
    row: &rusqlite::Row<'_>,
    index: usize,
) -> Result<Value, StoreError> {
    let raw = row.get_ref(index).map_err(from_sqlite)?;
    Ok(match (kind, raw) {
        (_, ValueRef::Null) => Value::Null,
        (Kind::Int, ValueRef::Integer(n)) => Value::Int(n),
        (Kind::Text, ValueRef::Text(text)) => Value::Text(
            String::from_utf8(text.to_vec()).map_err(|_| corrupt(table, index, "not UTF-8"))?,
        ),
        (Kind::Bytes, ValueRef::Blob(bytes)) => Value::Bytes(bytes.to_vec()),
        (_, other) => {
            return Err(corrupt(
                table,
                index,
                &format!("holds {:?}, not {kind:?}", other.data_type()),
            ))
        }
    })
}

fn corrupt(table: &'static str, index: usize, why: &str) -> StoreError {
    StoreError::Corrupt {
        table,
        reason: format!("column {}: {why}", index + 1),
    }
}

#[async_trait]
impl BulkRead for SqliteBulk {
    async fn columns(&self, table: &str) -> Result<Option<Vec<String>>, StoreError> {
        let sql = format!("SELECT name FROM pragma_table_info('{table}')");
        self.with(move |conn| {
            let mut statement = conn.prepare(&sql).map_err(from_sqlite)?;
            let names = statement
                .query_map([], |row| row.get::<_, String>(0))
                .map_err(from_sqlite)?
                .map(|name| name.map(|n| n.to_uppercase()).map_err(from_sqlite))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((!names.is_empty()).then_some(names))
        })
        .await
    }

    async fn count(&self, table: &Table) -> Result<u64, StoreError> {
        let sql = format!("SELECT COUNT(*) FROM {}", table.name);
        self.with(move |conn| {
            let n: i64 = conn
                .query_row(&sql, [], |row| row.get(0))
                .map_err(from_sqlite)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn page(
        &self,
        table: &Table,
        present: &[bool],
        after: Option<&Value>,
        limit: usize,
    ) -> Result<Vec<Row>, StoreError> {
        let sql = super::page_statement(
            table,
            |c, here| {
                if here {
                    c.name.to_owned()
                } else {
                    "NULL".to_owned()
                }
            },
            present,
            table.key().name,
            after.map(|_| "?1"),
            limit,
        );
        let after = after.cloned();
        let (name, columns) = (table.name, table.columns);
        self.with(move |conn| {
            let mut statement = conn.prepare_cached(&sql).map_err(from_sqlite)?;
            let params: Vec<&dyn ToSql> = after.iter().map(|a| a as &dyn ToSql).collect();
            let mut rows = statement.query(params.as_slice()).map_err(from_sqlite)?;
            let mut page = Vec::new();
            while let Some(row) = rows.next().map_err(from_sqlite)? {
                let values = columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| Ok(with_meaning(c, value(name, c.kind, row, i)?)))
                    .collect::<Result<Row, StoreError>>()?;
                page.push(values);
            }
            Ok(page)
        })
        .await
    }
}

#[async_trait]
impl BulkWrite for SqliteBulk {
    async fn checkpoint(
        &self,
        source: &str,
        table: &str,
    ) -> Result<Option<Checkpoint>, StoreError> {
        let (source, table) = (source.to_owned(), table.to_owned());
        self.with(move |conn| {
            conn.query_row(
                "SELECT LAST_KEY, ROWS, DONE FROM CLOISTER_MIGRATION WHERE SOURCE = ?1 AND TABLE_NAME = ?2",
                [&source, &table],
                |row| Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, i64>(1)?, row.get::<_, i64>(2)?)),
            )
            .optional()
            .map_err(from_sqlite)?
            .map(|(key, rows, done)| super::checkpoint_from(&key, rows, done != 0))
            .transpose()
        })
        .await
    }

    async fn write(
        &self,
        source: &str,
        table: &Table,
        rows: Vec<Row>,
        checkpoint: &Checkpoint,
    ) -> Result<u64, StoreError> {
        let names = table.columns.iter().map(|c| c.name).collect::<Vec<_>>();
        let marks = vec!["?"; names.len()].join(", ");
        let insert = format!(
            "INSERT OR IGNORE INTO {} ({}) VALUES ({marks})",
            table.name,
            names.join(", ")
        );
        let (source, name, checkpoint) = (source.to_owned(), table.name, checkpoint.clone());
        self.with(move |conn| {
            let tx = conn.transaction().map_err(from_sqlite)?;
            let mut inserted = 0u64;
            {
                let mut statement = tx.prepare_cached(&insert).map_err(from_sqlite)?;
                for row in &rows {
                    let params: Vec<&dyn ToSql> = row.iter().map(|v| v as &dyn ToSql).collect();
                    inserted += statement.execute(params.as_slice()).map_err(from_sqlite)? as u64;
                }
            }
            let mut key = Vec::new();
            checkpoint.last_key.encode(&mut key);
            tx.execute(
                "INSERT OR REPLACE INTO CLOISTER_MIGRATION (SOURCE, TABLE_NAME, LAST_KEY, ROWS, DONE) VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![source, name, key, checkpoint.rows as i64, i64::from(checkpoint.done)],
            )
            .map_err(from_sqlite)?;
            tx.commit().map_err(from_sqlite)?;
            Ok(inserted)
        })
        .await
    }
}
