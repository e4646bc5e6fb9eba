//! One checked-out connection with a deadline on every statement and a rule for giving it
//! back: only a connection known to be healthy and idle returns to the pool.
//!
//! A connection is discarded (`Object::take`) when a statement timed out (the server may be
//! hung, and the connection would hang the next caller too), when it failed fatally (see
//! [`is_fatal`]), when anything failed inside an explicit transaction, and when the session
//! is dropped mid-statement or mid-transaction (the caller was cancelled): in each case its
//! state is unknown, and a fresh connection is cheap next to a wrong answer.

use std::time::Duration;

use deadpool_postgres::{Object, Pool, PoolError, TimeoutType};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::connect::LastFailure;
use super::error::{describe, from_pg, is_fatal};
use crate::StoreError;

/// Statement parameters.
pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// A pooled connection in use.
pub(super) struct Session {
    object: Option<Object>,
    timeout: Duration,
    /// Set while a statement runs or a transaction is open: if the session is dropped now,
    /// the connection's state is unknown.
    busy: bool,
    in_transaction: bool,
}

/// Takes a connection from `pool` (creating one by walking the hosts if none is idle).
pub(super) async fn checkout(
    pool: &Pool,
    budget: Duration,
    timeout: Duration,
    last_failure: &LastFailure,
) -> Result<Session, StoreError> {
    let unavailable = |why: String| {
        let hosts = last_failure
            .get()
            .map(|f| format!(" ({f})"))
            .unwrap_or_default();
        StoreError::Unavailable(format!("{why}{hosts}"))
    };
    let object = match tokio::time::timeout(budget, pool.get()).await {
        Ok(Ok(object)) => object,
        Ok(Err(PoolError::Backend(error))) => {
            // The walker's per-host summary says more than its last error alone.
            let why = last_failure.get().unwrap_or_else(|| describe(&error));
            return Err(StoreError::Unavailable(format!(
                "no usable PostgreSQL host: {why}"
            )));
        }
        Ok(Err(PoolError::Timeout(TimeoutType::Wait))) => {
            return Err(StoreError::Unavailable(format!(
                "every pooled PostgreSQL connection stayed busy for {timeout:?}"
            )))
        }
        Ok(Err(PoolError::Timeout(_))) | Err(_) => {
            return Err(unavailable(format!(
                "no PostgreSQL host gave a usable connection within {budget:?}"
            )))
        }
        Ok(Err(other)) => return Err(StoreError::Unavailable(format!("PostgreSQL pool: {other}"))),
    };
    Ok(Session {
        object: Some(object),
        timeout,
        busy: false,
        in_transaction: false,
    })
}

impl Session {
    /// Runs a statement and returns its rows.
    pub(super) async fn query(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, StoreError> {
        self.busy = true;
        let object = self.object()?;
        let outcome = tokio::time::timeout(self.timeout, async {
            let statement = object.prepare_cached(sql).await?;
            object.query(&statement, params).await
        })
        .await;
        self.settle(outcome)
    }

    /// Runs a statement and returns how many rows it changed.
    pub(super) async fn execute(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<u64, StoreError> {
        self.busy = true;
        let object = self.object()?;
        let outcome = tokio::time::timeout(self.timeout, async {
            let statement = object.prepare_cached(sql).await?;
            object.execute(&statement, params).await
        })
        .await;
        self.settle(outcome)
    }

    /// Runs statements with the simple protocol; several statements in one call commit or
    /// fail together (PostgreSQL runs them as one implicit transaction).
    pub(super) async fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.busy = true;
        let object = self.object()?;
        let outcome = tokio::time::timeout(self.timeout, object.batch_execute(sql)).await;
        self.settle(outcome)
    }

    /// Opens a transaction; until [`Session::commit`] any failure discards the connection.
    pub(super) async fn begin(&mut self) -> Result<(), StoreError> {
        self.batch("BEGIN").await?;
        self.in_transaction = true;
        self.busy = true;
        Ok(())
    }

    /// Commits the open transaction (waiting, with synchronous replication, for the standby).
    pub(super) async fn commit(&mut self) -> Result<(), StoreError> {
        self.batch("COMMIT").await?;
        self.in_transaction = false;
        self.busy = false;
        Ok(())
    }

    fn object(&self) -> Result<&Object, StoreError> {
        self.object.as_ref().ok_or_else(|| {
            StoreError::Unavailable("the PostgreSQL connection was discarded".into())
        })
    }

    /// Decides the connection's fate after a statement.
    fn settle<T>(
        &mut self,
        outcome: Result<Result<T, tokio_postgres::Error>, tokio::time::error::Elapsed>,
    ) -> Result<T, StoreError> {
        match outcome {
            Ok(Ok(value)) => {
                self.busy = self.in_transaction;
                Ok(value)
            }
            Ok(Err(error)) => {
                let mapped = from_pg(&error);
                if is_fatal(&error) || self.in_transaction {
                    self.discard(&mapped);
                } else {
                    self.busy = false;
                }
                Err(mapped)
            }
            Err(_) => {
                let error = StoreError::Unavailable(format!(
                    "PostgreSQL did not answer within {:?}",
                    self.timeout
                ));
                self.discard(&error);
                Err(error)
            }
        }
    }

    fn discard(&mut self, why: &StoreError) {
        if let Some(object) = self.object.take() {
            tracing::warn!(error = %why, "discarding a PostgreSQL connection");
            // Out of the pool for good; dropping the client aborts its connection task.
            drop(Object::take(object));
        }
        self.busy = false;
        self.in_transaction = false;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.busy {
            if let Some(object) = self.object.take() {
                drop(Object::take(object));
            }
        }
    }
}
