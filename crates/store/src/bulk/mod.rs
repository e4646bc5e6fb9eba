//! Whole tables, page by page: what `cloister migrate` reads from a source database and writes
//! into a destination, for both backends.
//!
//! - [`catalogue`]: the tables and their columns, as every backend holds them.
//! - [`BulkRead`]: a table's rows in primary-key order, a page at a time after a key (so a copy
//!   resumes where it stopped, and memory is one page whatever the table's size).
//! - [`BulkWrite`]: a page inserted where absent (so a page copied twice changes nothing),
//!   together with the copy's [`Checkpoint`], in one transaction.
//! - [`TableDigest`]: a digest of a table's rows that does not depend on their order, so a
//!   source and a destination are compared however each orders its keys.
//!
//! A source is opened read-only ([`SqliteBulk::read_only`], [`PostgresBulk::read_only`]): the
//! database refuses any write, whatever a bug here would try.

pub mod catalogue;
mod postgres;
mod sqlite;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

pub use self::catalogue::{Column, Kind, Table, TABLES};
pub use self::postgres::PostgresBulk;
pub use self::sqlite::SqliteBulk;
use crate::StoreError;

/// One column value, as every backend can hold it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A character string.
    Text(String),
    /// A byte string.
    Bytes(Vec<u8>),
}

impl Value {
    /// The bytes this value takes in a row, for rates in MB/s.
    pub fn size(&self) -> usize {
        match self {
            Self::Null => 0,
            Self::Int(_) => 8,
            Self::Text(text) => text.len(),
            Self::Bytes(bytes) => bytes.len(),
        }
    }

    /// A self-delimiting encoding: a tag, then the content (a length before strings), so that
    /// no two different rows encode alike.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut string = |tag: u8, bytes: &[u8]| {
            out.push(tag);
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(bytes);
        };
        match self {
            Self::Null => out.push(0),
            Self::Int(n) => {
                out.push(1);
                out.extend_from_slice(&n.to_le_bytes());
            }
            Self::Text(text) => string(2, text.as_bytes()),
            Self::Bytes(bytes) => string(3, bytes),
        }
    }

    /// Reads back what [`Value::encode`] wrote at the start of `input`, with the rest.
    pub fn decode(input: &[u8]) -> Option<(Self, &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let int = |rest: &[u8]| -> Option<(u64, usize)> {
            Some((u64::from_le_bytes(rest.get(..8)?.try_into().ok()?), 8))
        };
        match tag {
            0 => Some((Self::Null, rest)),
            1 => {
                let (n, used) = int(rest)?;
                Some((Self::Int(n as i64), &rest[used..]))
            }
            2 | 3 => {
                let (len, used) = int(rest)?;
                let end = used.checked_add(usize::try_from(len).ok()?)?;
                let content = rest.get(used..end)?;
                let value = if tag == 2 {
                    Self::Text(String::from_utf8(content.to_vec()).ok()?)
                } else {
                    Self::Bytes(content.to_vec())
                };
                Some((value, &rest[end..]))
            }
            _ => None,
        }
    }
}

/// One row: its values in the order of its table's [`Table::columns`].
pub type Row = Vec<Value>;

/// How far a copy of one table from one source has come, kept in the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The key of the last row copied.
    pub last_key: Value,
    /// Rows read from the source so far.
    pub rows: u64,
    /// Whether the copy reached the end of the table (a later run starts afresh).
    pub done: bool,
}

/// Reading whole tables.
#[async_trait]
pub trait BulkRead: Send + Sync {
    /// The columns `table` has here (upper-case names), or `None` when it does not exist.
    async fn columns(&self, table: &str) -> Result<Option<Vec<String>>, StoreError>;

    /// How many rows `table` holds.
    async fn count(&self, table: &Table) -> Result<u64, StoreError>;

    /// Up to `limit` rows of `table` whose key is greater than `after` (all, when `None`), in
    /// key order. `present` says, per column of the table, whether this database has it; an
    /// absent column reads as NULL. A NULL with a meaning ([`Column::null_means`]) reads as
    /// that meaning.
    async fn page(
        &self,
        table: &Table,
        present: &[bool],
        after: Option<&Value>,
        limit: usize,
    ) -> Result<Vec<Row>, StoreError>;
}

/// Writing whole tables.
#[async_trait]
pub trait BulkWrite: BulkRead {
    /// The checkpoint of the copy of `table` from `source`, if one was recorded.
    async fn checkpoint(&self, source: &str, table: &str)
        -> Result<Option<Checkpoint>, StoreError>;

    /// Inserts each of `rows` whose key is absent and records `checkpoint`, in one
    /// transaction; returns how many rows were inserted.
    async fn write(
        &self,
        source: &str,
        table: &Table,
        rows: Vec<Row>,
        checkpoint: &Checkpoint,
    ) -> Result<u64, StoreError>;
}

/// The statement reading one page of `table`: each column as `column` spells it (given whether
/// this database has it), rows whose `key` (as the backend orders it) is greater than
/// `placeholder` when there is one, in key order, at most `limit`.
pub(crate) fn page_statement(
    table: &Table,
    column: impl Fn(&Column, bool) -> String,
    present: &[bool],
    key: &str,
    placeholder: Option<&str>,
    limit: usize,
) -> String {
    let select = table
        .columns
        .iter()
        .zip(present)
        .map(|(c, &here)| column(c, here))
        .collect::<Vec<_>>()
        .join(", ");
    let filter = placeholder
        .map(|p| format!("WHERE {key} > {p} "))
        .unwrap_or_default();
    format!(
        "SELECT {select} FROM {} {filter}ORDER BY {key} LIMIT {limit}",
        table.name
    )
}

/// A checkpoint as stored: the last key [encoded](Value::encode).
pub(crate) fn checkpoint_from(key: &[u8], rows: i64, done: bool) -> Result<Checkpoint, StoreError> {
    match Value::decode(key) {
        Some((last_key, [])) => Ok(Checkpoint {
            last_key,
            rows: u64::try_from(rows).unwrap_or(0),
            done,
        }),
        _ => Err(StoreError::Corrupt {
            table: "CLOISTER_MIGRATION",
            reason: "a checkpoint's LAST_KEY does not decode".into(),
        }),
    }
}

/// A digest of a table's rows that does not depend on their order: the sum, modulo 2^256, of
/// each row's SHA-256. Keys are unique, so no row is counted twice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableDigest {
    sum: [u64; 4],
    rows: u64,
}

impl TableDigest {
    /// Adds one row.
    pub fn add(&mut self, row: &Row) {
        let mut encoded = Vec::new();
        for value in row {
            value.encode(&mut encoded);
        }
        let hash = Sha256::digest(&encoded);
        let mut carry = 0u128;
        for (lane, chunk) in self.sum.iter_mut().zip(hash.chunks_exact(8)) {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            let total = u128::from(*lane) + u128::from(word) + carry;
            *lane = total as u64;
            carry = total >> 64;
        }
        self.rows += 1;
    }

    /// Rows added.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The digest, hex (64 digits).
    pub fn to_hex(&self) -> String {
        self.sum
            .iter()
            .rev()
            .map(|lane| format!("{lane:016x}"))
            .collect()
    }
}

/// A value read from a column, with the column's meaning of NULL applied (every reader applies it, so digests compare meanings, not spellings).
pub fn with_meaning(column: &Column, value: Value) -> Value {
    match (value, column.null_means) {
        (Value::Null, Some(meaning)) => Value::Text(meaning.to_owned()),
        (value, _) => value,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn values_encode_and_decode_back() {
        let values = [
            Value::Null,
            Value::Int(-7),
            Value::Text("é,\"x".into()),
            Value::Bytes(vec![0, 255, 3]),
        ];
        let mut encoded = Vec::new();
        for value in &values {
            value.encode(&mut encoded);
        }
        let mut rest = &encoded[..];
        for value in &values {
            let (decoded, tail) = Value::decode(rest).unwrap();
            assert_eq!(&decoded, value);
            rest = tail;
        }
        assert!(rest.is_empty());
        assert_eq!(Value::decode(&[2, 9, 0, 0, 0, 0, 0, 0, 0, b'x']), None);
    }

    #[test]
    fn a_digest_ignores_order_but_not_content() {
        let rows = [
            vec![Value::Int(1), Value::Text("a".into())],
            vec![Value::Int(2), Value::Null],
        ];
        let (mut forward, mut backward) = (TableDigest::default(), TableDigest::default());
        rows.iter().for_each(|r| forward.add(r));
        rows.iter().rev().for_each(|r| backward.add(r));
        assert_eq!(forward, backward);
        let mut changed = TableDigest::default();
        changed.add(&rows[0]);
        changed.add(&vec![Value::Int(2), Value::Text(String::new())]);
        assert_ne!(forward, changed);
        assert_eq!(forward.rows(), 2);
    }
}
