//! How SQLite's failures map onto [`StoreError`]: the line between "cannot answer" and "bad
//! data" is drawn here, once.

use rusqlite::ErrorCode;

use crate::schema::table::DATABASE;
use crate::StoreError;

/// Maps an error from a statement that does not read a particular table's rows.
pub(crate) fn from_sqlite(error: rusqlite::Error) -> StoreError {
    in_table(DATABASE)(error)
}

/// Maps an error from reading rows of `table`: a value of the wrong type is a corrupt row of
/// that table.
pub(super) fn in_table(table: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |error| match error {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let text = message.unwrap_or_else(|| failure.to_string());
            match failure.code {
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => StoreError::Busy(text),
                ErrorCode::CannotOpen
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::PermissionDenied
                | ErrorCode::ReadOnly
                | ErrorCode::OutOfMemory
                | ErrorCode::FileLockingProtocolFailed
                | ErrorCode::NoLargeFileSupport
                | ErrorCode::OperationInterrupted => StoreError::Unavailable(text),
                ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => StoreError::Corrupt {
                    table: DATABASE,
                    reason: text,
                },
                _ if text.contains("no such table") || text.contains("no such column") => {
                    StoreError::Schema(text)
                }
                _ => StoreError::Backend(text),
            }
        }
        rusqlite::Error::InvalidColumnType(_, column, ty) => StoreError::Corrupt {
            table,
            reason: format!("column {column} holds a value of type {ty}"),
        },
        rusqlite::Error::FromSqlConversionFailure(index, _, cause) => StoreError::Corrupt {
            table,
            reason: format!("column {index}: {cause}"),
        },
        rusqlite::Error::IntegralValueOutOfRange(index, _) => StoreError::Corrupt {
            table,
            reason: format!("column {index}: integer out of range"),
        },
        other => StoreError::Backend(other.to_string()),
    }
}
