//! `cloister migrate`: copies a Tessera database into SQLite or PostgreSQL.
//!
//! The source is any store Tessera or Cloister writes: H2 ([`h2`], Tessera's default, read with
//! H2's own tooling), SQLite or PostgreSQL, opened read-only. The destination gets Tessera's
//! and Cloister's schema if it lacks them. Every table of the
//! [catalogue](cloister_store::bulk::TABLES) is copied a page at a time in key order:
//!
//! - **Idempotent**: a row whose key is already there is left alone, so running twice (or
//!   into a database that already holds some of the rows) changes nothing that is there.
//! - **Resumable**: each page commits together with a checkpoint (the last key copied) in the
//!   destination; an interrupted run's successor starts after that key. A table whose copy
//!   finished is copied afresh by a later run, which inserts only what is new.
//! - **Verified**: at the end each table's rows are counted and digested on both sides
//!   ([`cloister_store::bulk::TableDigest`]); the report says whether they agree.

pub mod h2;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cloister_core::config::jdbc::redacted_url;
use cloister_core::config::{SqlitePath, StoreTarget};
use cloister_store::bulk::{
    BulkRead, BulkWrite, Checkpoint, PostgresBulk, SqliteBulk, Table, TableDigest, TABLES,
};
use cloister_store::{PostgresOptions, StoreError};

pub use h2::{H2Error, H2Source};

/// Rows per page unless told otherwise.
pub const DEFAULT_BATCH_ROWS: usize = 1000;

/// Why a migration stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// A URL that names no database Cloister can open this way.
    #[error("{url}: {reason}")]
    Url {
        /// The URL, without credentials.
        url: String,
        /// Why.
        reason: String,
    },
    /// The source is not a Tessera (or Cloister) database.
    #[error("{url} is not a Tessera database: {reason}")]
    NotTessera {
        /// The URL, without credentials.
        url: String,
        /// What is missing.
        reason: String,
    },
    /// Reading the H2 source.
    #[error(transparent)]
    H2(#[from] H2Error),
    /// A database operation.
    #[error("{side}: {source}")]
    Store {
        /// `source` or `destination`.
        side: &'static str,
        /// What failed.
        source: StoreError,
    },
}

/// Where the rows come from or go to, as a JDBC URL names it.
#[derive(Debug)]
pub enum Location {
    /// `jdbc:h2:…` (a source only).
    H2(String),
    /// `jdbc:sqlite:FILE`.
    Sqlite(PathBuf),
    /// `jdbc:postgresql://…` or `postgresql://…`.
    Postgres(Box<PostgresOptions>),
}

/// `url` as messages and checkpoints name it: without its password.
pub fn redacted(url: &str) -> String {
    if is_h2(url) {
        h2::redacted(url)
    } else {
        redacted_url(url)
    }
}

fn is_h2(url: &str) -> bool {
    url.trim()
        .get(..8)
        .is_some_and(|p| p.eq_ignore_ascii_case("jdbc:h2:"))
}

impl Location {
    /// Parses a JDBC URL (credentials in the URL, as `jdbc.url` takes them).
    pub fn parse(url: &str) -> Result<Self, MigrateError> {
        let refused = |reason: String| MigrateError::Url {
            url: redacted_url(url),
            reason,
        };
        if is_h2(url) {
            return Ok(Self::H2(url.trim().to_owned()));
        }
        match StoreTarget::parse(url, None, None).map_err(|e| refused(e.to_string()))? {
            StoreTarget::Sqlite {
                path: SqlitePath::File(path),
                ..
            } => Ok(Self::Sqlite(path)),
            StoreTarget::Sqlite { .. } => Err(refused(
                "an in-memory database holds nothing to copy".into(),
            )),
            target => PostgresOptions::from_target(&target, false)
                .map(|options| Self::Postgres(Box::new(options)))
                .map_err(|e| refused(e.to_string())),
        }
    }

    /// Opens it read-only, as a source.
    pub async fn open_source(&self) -> Result<Box<dyn BulkRead>, MigrateError> {
        let side = |source| MigrateError::Store {
            side: "source",
            source,
        };
        Ok(match self {
            Self::H2(url) => {
                let url = url.clone();
                let source = tokio::task::spawn_blocking(move || H2Source::export(&url))
                    .await
                    .map_err(|e| side(StoreError::Backend(e.to_string())))??;
                Box::new(source)
            }
            Self::Sqlite(path) => Box::new(SqliteBulk::read_only(path).map_err(side)?),
            Self::Postgres(options) => {
                Box::new(PostgresBulk::read_only(options).await.map_err(side)?)
            }
        })
    }

    /// Opens it to copy into, creating the schema.
    pub async fn open_destination(&self) -> Result<Box<dyn BulkWrite>, MigrateError> {
        let side = |source| MigrateError::Store {
            side: "destination",
            source,
        };
        Ok(match self {
            Self::H2(url) => {
                return Err(MigrateError::Url {
                    url: redacted(url),
                    reason: "H2 is a source only: migrate to SQLite or PostgreSQL".into(),
                })
            }
            Self::Sqlite(path) => Box::new(SqliteBulk::for_writing(path).map_err(side)?),
            Self::Postgres(options) => {
                Box::new(PostgresBulk::for_writing(options).await.map_err(side)?)
            }
        })
    }
}

/// How a migration runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Rows per page (and per destination transaction).
    pub batch_rows: usize,
    /// Stop after copying this many rows in this run (resumable), e.g. to migrate in slices.
    pub max_rows: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            batch_rows: DEFAULT_BATCH_ROWS,
            max_rows: None,
        }
    }
}

/// Where one table's copy stands, after each page.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The table.
    pub table: &'static str,
    /// Source rows read so far (including those of an earlier, interrupted run).
    pub rows: u64,
    /// The source's row count.
    pub total: u64,
    /// Bytes read in this run.
    pub bytes: u64,
    /// Rows read in this run.
    pub rows_this_run: u64,
    /// Since this table's copy started in this run.
    pub elapsed: Duration,
}

/// One table's outcome.
#[derive(Debug, Clone)]
pub struct TableReport {
    /// The table.
    pub table: &'static str,
    /// Rows read from the source in this run.
    pub read: u64,
    /// Rows inserted into the destination in this run.
    pub inserted: u64,
    /// Bytes read in this run.
    pub bytes: u64,
    /// Where this run started: the rows an interrupted run had already copied.
    pub resumed_at: Option<u64>,
    /// Whether the copy reached the end of the table.
    pub complete: bool,
    /// How long the copy took.
    pub elapsed: Duration,
}

/// A table the source has, and which of its columns it has (an older Tessera lacks some).
pub type SourceTable = (&'static Table, Vec<bool>);

/// Copies `tables` from `source` to `destination`; `source_name` identifies the source in
/// the checkpoints (its URL without credentials).
pub async fn copy(
    source: &dyn BulkRead,
    destination: &dyn BulkWrite,
    source_name: &str,
    tables: &[SourceTable],
    options: &Options,
    mut on_progress: impl FnMut(&Progress),
) -> Result<Vec<TableReport>, MigrateError> {
    let mut reports = Vec::new();
    let mut budget = options.max_rows;
    for (table, present) in tables {
        let report = copy_table(
            source,
            destination,
            source_name,
            table,
            present,
            options.batch_rows.max(1),
            &mut budget,
            &mut on_progress,
        )
        .await?;
        let stop = !report.complete;
        reports.push(report);
        if stop {
            break;
        }
    }
    Ok(reports)
}

/// The tables the source has, each with which of its columns it has; refuses a source that is
/// not Tessera's (before anything is written anywhere).
pub async fn source_tables(
    source: &dyn BulkRead,
    source_name: &str,
) -> Result<Vec<SourceTable>, MigrateError> {
    let mut tables = Vec::new();
    for table in TABLES {
        let columns = source
            .columns(table.name)
            .await
            .map_err(|source| MigrateError::Store {
                side: "source",
                source,
            })?;
        let Some(columns) = columns else {
            if table.required {
                return Err(MigrateError::NotTessera {
                    url: source_name.to_owned(),
                    reason: format!("it has no {} table", table.name),
                });
            }
            continue;
        };
        let present: Vec<bool> = table
            .columns
            .iter()
            .map(|c| columns.iter().any(|n| n == c.name))
            .collect();
        if let Some(missing) = table
            .columns
            .iter()
            .zip(&present)
            .find(|(c, &here)| !here && !c.added_later)
        {
            return Err(MigrateError::NotTessera {
                url: source_name.to_owned(),
                reason: format!("its {} table has no {} column", table.name, missing.0.name),
            });
        }
        tables.push((table, present));
    }
    Ok(tables)
}

#[allow(clippy::too_many_arguments)]
async fn copy_table(
    source: &dyn BulkRead,
    destination: &dyn BulkWrite,
    source_name: &str,
    table: &'static Table,
    present: &[bool],
    batch: usize,
    budget: &mut Option<u64>,
    on_progress: &mut impl FnMut(&Progress),
) -> Result<TableReport, MigrateError> {
    let read_side = |source| MigrateError::Store {
        side: "source",
        source,
    };
    let write_side = |source| MigrateError::Store {
        side: "destination",
        source,
    };
    let started = Instant::now();
    let total = source.count(table).await.map_err(read_side)?;
    let resume = destination
        .checkpoint(source_name, table.name)
        .await
        .map_err(write_side)?
        .filter(|c| !c.done);
    let resumed_at = resume.as_ref().map(|c| c.rows);
    let mut after = resume.as_ref().map(|c| c.last_key.clone());
    let mut rows = resumed_at.unwrap_or(0);
    let (mut read, mut inserted, mut bytes) = (0u64, 0u64, 0u64);
    loop {
        let limit = budget.map_or(batch, |left| {
            batch.min(usize::try_from(left).unwrap_or(batch))
        });
        if limit == 0 {
            break;
        }
        let page = source
            .page(table, present, after.as_ref(), limit)
            .await
            .map_err(read_side)?;
        let Some(last) = page.last().map(|row| row[0].clone()) else {
            // The end: record it, so a later run starts afresh.
            let checkpoint = Checkpoint {
                last_key: after.clone().unwrap_or(cloister_store::bulk::Value::Null),
                rows,
                done: true,
            };
            destination
                .write(source_name, table, Vec::new(), &checkpoint)
                .await
                .map_err(write_side)?;
            return Ok(TableReport {
                table: table.name,
                read,
                inserted,
                bytes,
                resumed_at,
                complete: true,
                elapsed: started.elapsed(),
            });
        };
        let count = page.len() as u64;
        bytes += page.iter().flatten().map(|v| v.size() as u64).sum::<u64>();
        rows += count;
        read += count;
        if let Some(left) = budget.as_mut() {
            *left -= count.min(*left);
        }
        let checkpoint = Checkpoint {
            last_key: last.clone(),
            rows,
            done: false,
        };
        inserted += destination
            .write(source_name, table, page, &checkpoint)
            .await
            .map_err(write_side)?;
        after = Some(last);
        on_progress(&Progress {
            table: table.name,
            rows,
            total,
            bytes,
            rows_this_run: read,
            elapsed: started.elapsed(),
        });
    }
    Ok(TableReport {
        table: table.name,
        read,
        inserted,
        bytes,
        resumed_at,
        complete: false,
        elapsed: started.elapsed(),
    })
}

/// One table compared on both sides.
#[derive(Debug, Clone)]
pub struct Verification {
    /// The table.
    pub table: &'static str,
    /// The source's rows and digest.
    pub source: TableDigest,
    /// The destination's rows and digest.
    pub destination: TableDigest,
}

impl Verification {
    /// Whether both sides hold the same rows.
    pub fn agrees(&self) -> bool {
        self.source == self.destination
    }
}

/// Counts and digests each of `tables` on both sides.
pub async fn verify(
    source: &dyn BulkRead,
    destination: &dyn BulkRead,
    tables: &[SourceTable],
    batch_rows: usize,
) -> Result<Vec<Verification>, MigrateError> {
    let mut verifications = Vec::new();
    for (table, present) in tables {
        let source_digest = digest(source, table, present, batch_rows)
            .await
            .map_err(|source| MigrateError::Store {
                side: "source",
                source,
            })?;
        let all = vec![true; table.columns.len()];
        let destination_digest =
            digest(destination, table, &all, batch_rows)
                .await
                .map_err(|source| MigrateError::Store {
                    side: "destination",
                    source,
                })?;
        verifications.push(Verification {
            table: table.name,
            source: source_digest,
            destination: destination_digest,
        });
    }
    Ok(verifications)
}

/// Every row of `table`, digested a page at a time.
pub async fn digest(
    database: &dyn BulkRead,
    table: &Table,
    present: &[bool],
    batch_rows: usize,
) -> Result<TableDigest, StoreError> {
    let mut digest = TableDigest::default();
    let mut after = None;
    loop {
        let page = database
            .page(table, present, after.as_ref(), batch_rows.max(1))
            .await?;
        let Some(last) = page.last().map(|row| row[0].clone()) else {
            return Ok(digest);
        };
        page.iter().for_each(|row| digest.add(row));
        after = Some(last);
    }
}
