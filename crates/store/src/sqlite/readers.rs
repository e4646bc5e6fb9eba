//! A small pool of connections for reads, used on tokio's blocking threads.
//!
//! In WAL mode readers never wait for the writer and always see the last committed state, so
//! a write acknowledged by the writer is visible to the next read on any connection.

use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::StoreError;

type Idle = Arc<Mutex<Vec<Connection>>>;

/// Idle read connections; the semaphore has one permit per connection, so a permit holder
/// always finds one.
pub(super) struct Readers {
    idle: Idle,
    permits: Arc<Semaphore>,
}

impl Readers {
    /// A pool over already-configured connections.
    pub(super) fn new(conns: Vec<Connection>) -> Self {
        let permits = Arc::new(Semaphore::new(conns.len()));
        Self {
            idle: Arc::new(Mutex::new(conns)),
            permits,
        }
    }

    /// Runs `work` on an idle connection on a blocking thread.
    pub(super) async fn read<F, T>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite read pool is closed".into()))?;
        let idle = Arc::clone(&self.idle);
        tokio::task::spawn_blocking(move || {
            let lease = Lease::take(idle)?;
            let result = work(lease.conn());
            // Connection back first, then the permit, so the next permit holder finds it.
            drop(lease);
            drop(permit);
            result
        })
        .await
        .map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
    }
}

/// A borrowed connection, given back on drop, also when `work` panics.
struct Lease {
    conn: Option<Connection>,
    idle: Idle,
}

impl Lease {
    fn take(idle: Idle) -> Result<Self, StoreError> {
        let conn = idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .ok_or_else(|| StoreError::Backend("read pool permit without a connection".into()))?;
        Ok(Self {
            conn: Some(conn),
            idle,
        })
    }

    fn conn(&self) -> &Connection {
        // Only `Drop` empties the option.
        self.conn.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
        }
    }
}
