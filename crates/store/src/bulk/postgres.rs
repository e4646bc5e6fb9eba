//! [`BulkRead`] and [`BulkWrite`] over a PostgreSQL database, on one connection.
//!
//! Pages are read by key (`WHERE key > $1 ORDER BY key LIMIT n`, text keys in byte order with
//! `COLLATE "C"`, as SQLite and Rust order them) and written as one `INSERT … SELECT FROM
//! UNNEST(arrays) ON CONFLICT DO NOTHING` per page: one round trip for a thousand rows.

use async_trait::async_trait;
use tokio::sync::Mutex;
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use super::{with_meaning, BulkRead, BulkWrite, Checkpoint, Kind, Row, Table, Value};
use crate::postgres::error::from_pg;
use crate::{PostgresOptions, PostgresStore, StoreError};

/// The copies' checkpoints, in the destination.
const CHECKPOINTS: &str = "CREATE TABLE IF NOT EXISTS CLOISTER_MIGRATION (SOURCE VARCHAR(2048) NOT NULL, TABLE_NAME VARCHAR(64) NOT NULL, LAST_KEY BYTEA NOT NULL, ROWS BIGINT NOT NULL, DONE BOOLEAN NOT NULL, PRIMARY KEY (SOURCE, TABLE_NAME))";

/// A PostgreSQL database opened for whole-table work.
#[derive(Debug)]
pub struct PostgresBulk {
    client: Mutex<Client>,
}

impl PostgresBulk {
    /// Connects for reading only: the session refuses every write.
    pub async fn read_only(options: &PostgresOptions) -> Result<Self, StoreError> {
        let client = PostgresStore::connect_single(options).await?;
        client
            .batch_execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            .await
            .map_err(|e| from_pg(&e))?;
        Ok(Self {
            client: Mutex::new(client),
        })
    }

    /// Connects to copy into, creating Tessera's and Cloister's schema first (as a node with
    /// `autoCreateTables` would), and the checkpoint table.
    pub async fn for_writing(options: &PostgresOptions) -> Result<Self, StoreError> {
        let creating = PostgresOptions {
            auto_create_tables: true,
            ..options.clone()
        };
        drop(PostgresStore::connect(&creating).await?);
        let client = PostgresStore::connect_single(options).await?;
        client
            .batch_execute(CHECKPOINTS)
            .await
            .map_err(|e| from_pg(&e))?;
        Ok(Self {
            client: Mutex::new(client),
        })
    }
}

/// How a column of `kind` is read: integers of any numeric type as BIGINT.
fn selected(name: &str, kind: Kind, present: bool) -> String {
    match (present, kind) {
        (true, Kind::Int) => format!("{name}::BIGINT"),
        (true, _) => name.to_owned(),
        (false, kind) => format!("NULL::{}", sql_type(kind)),
    }
}

fn sql_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Bytes => "BYTEA",
        Kind::Int => "BIGINT",
        Kind::Text => "TEXT",
    }
}

/// The key column as ordered: text in byte order, whatever the database's collation.
fn ordered(name: &str, kind: Kind) -> String {
    match kind {
        Kind::Text => format!("{name} COLLATE \"C\""),
        _ => name.to_owned(),
    }
}

fn parameter(value: &Value) -> Box<dyn ToSql + Sync + Send> {
    match value {
        Value::Null => Box::new(Option::<i64>::None),
        Value::Int(n) => Box::new(*n),
        Value::Text(text) => Box::new(text.clone()),
        Value::Bytes(bytes) => Box::new(bytes.clone()),
    }
}

/// A page as one array parameter per column (moved, not copied), each of its column's kind.
fn column_arrays(table: &Table, rows: Vec<Row>) -> Vec<Box<dyn ToSql + Sync + Send>> {
    let mut columns: Vec<Vec<Value>> = table
        .columns
        .iter()
        .map(|_| Vec::with_capacity(rows.len()))
        .collect();
    for row in rows {
        for (column, value) in columns.iter_mut().zip(row) {
            column.push(value);
        }
    }
    table
        .columns
        .iter()
        .zip(columns)
        .map(|(column, values)| -> Box<dyn ToSql + Sync + Send> {
            let cells = values.into_iter();
            match column.kind {
                Kind::Int => Box::new(
                    cells
                        .map(|v| if let Value::Int(n) = v { Some(n) } else { None })
                        .collect::<Vec<_>>(),
                ),
                Kind::Text => Box::new(
                    cells
                        .map(|v| {
                            if let Value::Text(t) = v {
                                Some(t)
                            } else {
                                None
                            }
                        })
                        .collect::<Vec<_>>(),
                ),
                Kind::Bytes => Box::new(
                    cells
                        .map(|v| {
                            if let Value::Bytes(b) = v {
                                Some(b)
                            } else {
                                None
                            }
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        })
        .collect()
}

fn value(row: &tokio_postgres::Row, index: usize, kind: Kind) -> Result<Value, StoreError> {
    let read = |e: tokio_postgres::Error| from_pg(&e);
    Ok(match kind {
        Kind::Int => row
            .try_get::<_, Option<i64>>(index)
            .map_err(read)?
            .map(Value::Int),
        Kind::Text => row
            .try_get::<_, Option<String>>(index)
            .map_err(read)?
            .map(Value::Text),
        Kind::Bytes => row
            .try_get::<_, Option<Vec<u8>>>(index)
            .map_err(read)?
            .map(Value::Bytes),
    }
    .unwrap_or(Value::Null))
}

#[async_trait]
impl BulkRead for PostgresBulk {
    async fn columns(&self, table: &str) -> Result<Option<Vec<String>>, StoreError> {
        let client = self.client.lock().await;
        let rows = client
            .query(
                "SELECT upper(column_name::TEXT) FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = lower($1)",
                &[&table],
            )
            .await
            .map_err(|e| from_pg(&e))?;
        let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        Ok((!names.is_empty()).then_some(names))
    }

    async fn count(&self, table: &Table) -> Result<u64, StoreError> {
        let client = self.client.lock().await;
        let row = client
            .query_one(&format!("SELECT COUNT(*) FROM {}", table.name), &[])
            .await
            .map_err(|e| from_pg(&e))?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
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
            |c, here| selected(c.name, c.kind, here),
            present,
            &ordered(table.key().name, table.key().kind),
            after.map(|_| "$1"),
            limit,
        );
        let after = after.map(parameter);
        let params: Vec<&(dyn ToSql + Sync)> = after
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let client = self.client.lock().await;
        let rows = client.query(&sql, &params).await.map_err(|e| from_pg(&e))?;
        rows.iter()
            .map(|row| {
                table
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| Ok(with_meaning(c, value(row, i, c.kind)?)))
                    .collect()
            })
            .collect()
    }
}

#[async_trait]
impl BulkWrite for PostgresBulk {
    async fn checkpoint(
        &self,
        source: &str,
        table: &str,
    ) -> Result<Option<Checkpoint>, StoreError> {
        let client = self.client.lock().await;
        let row = client
            .query_opt(
                "SELECT LAST_KEY, ROWS, DONE FROM CLOISTER_MIGRATION WHERE SOURCE = $1 AND TABLE_NAME = $2",
                &[&source, &table],
            )
            .await
            .map_err(|e| from_pg(&e))?;
        row.map(|row| super::checkpoint_from(row.get::<_, &[u8]>(0), row.get(1), row.get(2)))
            .transpose()
    }

    async fn write(
        &self,
        source: &str,
        table: &Table,
        rows: Vec<Row>,
        checkpoint: &Checkpoint,
    ) -> Result<u64, StoreError> {
        let names = table.columns.iter().map(|c| c.name).collect::<Vec<_>>();
        let arrays = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("${}::{}[]", i + 1, sql_type(c.kind)))
            .collect::<Vec<_>>();
        let insert = format!(
            "INSERT INTO {} ({}) SELECT * FROM UNNEST({}) ON CONFLICT DO NOTHING",
            table.name,
            names.join(", "),
            arrays.join(", ")
        );
        let columns = column_arrays(table, rows);
        let params: Vec<&(dyn ToSql + Sync)> = columns
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let mut key = Vec::new();
        checkpoint.last_key.encode(&mut key);
        let count = i64::try_from(checkpoint.rows).unwrap_or(i64::MAX);
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(|e| from_pg(&e))?;
        let inserted = tx
            .execute(&insert, &params)
            .await
            .map_err(|e| from_pg(&e))?;
        tx.execute(
            "INSERT INTO CLOISTER_MIGRATION (SOURCE, TABLE_NAME, LAST_KEY, ROWS, DONE) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (SOURCE, TABLE_NAME) DO UPDATE SET LAST_KEY = EXCLUDED.LAST_KEY, ROWS = EXCLUDED.ROWS, DONE = EXCLUDED.DONE",
            &[&source, &table.name, &key, &count, &checkpoint.done],
        )
        .await
        .map_err(|e| from_pg(&e))?;
        tx.commit().await.map_err(|e| from_pg(&e))?;
        Ok(inserted)
    }
}
