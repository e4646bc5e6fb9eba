/// Why a store operation failed.
///
/// The split matters to the HTTP layer: none of these may become a 404. "Not found" is never an
/// error here; it is `Ok(None)` from a `get_*` method. [`StoreError::is_transient`] tells whether
/// retrying the same call (on this or another replica) may succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database cannot be used right now: it cannot be opened, an I/O operation failed,
    /// the disk is full, the connection was lost or the backend has shut down.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The database stayed locked by another writer for longer than the busy timeout.
    #[error("store busy: {0}")]
    Busy(String),
    /// A stored row cannot be read back as what the schema promises (wrong column type, unknown
    /// `PAYLOAD_CODEC`, bad base64 in a staging hash, damaged database file).
    #[error("corrupt data in {table}: {reason}")]
    Corrupt {
        /// The table (or `database` for file-level damage).
        table: &'static str,
        /// What was wrong; never contains payload bytes.
        reason: String,
    },
    /// The schema is missing or does not match Tessera's (tables not created and
    /// `autoCreateTables` off, a column missing).
    #[error("store schema: {0}")]
    Schema(String),
    /// Any other backend failure (a constraint the operation did not expect, a bad statement):
    /// a bug on our side or a database changed behind our back.
    #[error("store error: {0}")]
    Backend(String),
}

impl StoreError {
    /// Whether trying again later (or on another replica) may succeed: unavailable and busy.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Busy(_))
    }
}
