//! How PostgreSQL's failures map onto [`StoreError`], and which of them make a connection
//! unfit for reuse. "Cannot answer" (connection lost, timeout, no writable primary) is always
//! [`StoreError::Unavailable`], so it can never turn into "not found".

use tokio_postgres::error::SqlState;

use crate::schema::table::DATABASE;
use crate::StoreError;

/// Whether `error` means the connection must be discarded instead of going back to the pool:
/// it is closed or broken (no SQLSTATE: I/O, protocol), the server is shutting down or
/// starting (57P01/57P02/57P03), the link failed (class 08), or the session is read-only
/// (25006: a primary demoted to standby keeps refusing writes on every pooled connection
/// until they are dropped).
pub(super) fn is_fatal(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.code() {
        None => true,
        Some(code) => {
            *code == SqlState::READ_ONLY_SQL_TRANSACTION
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
                || code.code().starts_with("08")
        }
    }
}

/// The whole story of an error: tokio-postgres' `Display` says only "db error" or "error
/// connecting to server", with the server's message and the I/O cause in its sources.
pub(super) fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Maps an error from running a statement.
pub(crate) fn from_pg(error: &tokio_postgres::Error) -> StoreError {
    let text = describe(error);
    let Some(code) = error.code() else {
        return StoreError::Unavailable(format!("PostgreSQL connection failed: {text}"));
    };
    let class = &code.code()[..2];
    if *code == SqlState::READ_ONLY_SQL_TRANSACTION {
        return StoreError::Unavailable(format!(
            "no writable PostgreSQL primary (the server is read-only): {text}"
        ));
    }
    if *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::LOCK_NOT_AVAILABLE
    {
        return StoreError::Busy(text);
    }
    if *code == SqlState::UNDEFINED_TABLE || *code == SqlState::UNDEFINED_COLUMN {
        return StoreError::Schema(text);
    }
    if *code == SqlState::DATA_CORRUPTED || *code == SqlState::INDEX_CORRUPTED {
        return StoreError::Corrupt {
            table: DATABASE,
            reason: text,
        };
    }
    match class {
        // Connection exceptions, operator intervention (shutdown, cancel), insufficient
        // resources (disk full, too many connections), system errors (I/O).
        "08" | "57" | "53" | "58" => StoreError::Unavailable(text),
        _ => StoreError::Backend(text),
    }
}

/// Maps an error from reading a column of a row of `table`: the row is not what the schema
/// promises.
pub(super) fn corrupt(table: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |error| StoreError::Corrupt {
        table,
        reason: error.to_string(),
    }
}
