//! The HA backend: Tessera's PostgreSQL schema over a pool of tokio-postgres connections that
//! fails over between hosts by itself.
//!
//! - Failover ([`connect`]): new connections walk the host list with a timeout around each
//!   whole attempt and, for a primary target, accept only a server that allows writes.
//! - Stale connections ([`session`]): every statement has a deadline; a connection that missed
//!   it or failed fatally (closed, shutting down, read-only) is dropped, never pooled again, so
//!   the next call walks the hosts afresh and finds the new primary.
//! - Durability: every write commits before it returns; with the primary's
//!   `synchronous_standby_names` set, a commit returns only once the standby has flushed it.
//! - Idempotence: writes are `ON CONFLICT` inserts or compare-and-swap updates, so retrying
//!   one whose outcome was lost in a failover is safe.

mod connect;
mod discovery;
pub(crate) mod error;
mod group_commit;
mod idempotency;
mod options;
mod privacy_groups;
mod raw_transactions;
mod schema;
mod session;
mod staging;
mod tls;
mod transactions;

use std::time::Duration;

use async_trait::async_trait;
use cloister_core::config::TargetServer;
use cloister_core::digest::TxHash;
use cloister_core::keys::PublicKey;
use cloister_core::payload::PayloadCodec;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::Row;

pub use self::options::{PostgresOptions, DEFAULT_CONNECT_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT};
pub use self::tls::TlsSetupError;

use self::connect::{HostWalker, LastFailure};
use self::error::corrupt;
use self::group_commit::{Checkout, Counts, GroupCommit, MAX_BATCHED_PAYLOAD};
use self::session::{checkout, Session};
use crate::rows::{
    IdempotencyRow, InsertOutcome, NewStagedTransaction, OnceOutcome, PeerKeyRow, PeerRow,
    PrivacyGroupRow, RawTransactionRow, StagedTransaction, StagingCounts, TransactionRow,
};
use crate::schema::table;
use crate::{Store, StoreError, StoreHealth, StoreProblem, StoreRole};

/// What `/health` asks a PostgreSQL server: whether it is a standby, how it names itself
/// (`inet_server_addr()` is NULL over a unix socket), and how many standbys it waits for at
/// commit. A user without `pg_read_all_stats` (or `pg_monitor`) sees no `sync_state`, so for
/// it the count is NULL (unknown), never a false 0.
const HEALTH_QUERY: &str = "SELECT pg_is_in_recovery(), \
    host(inet_server_addr()) || ':' || inet_server_port(), \
    CASE WHEN pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER') THEN \
      (SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')) END";

/// What proves that a connection is still on the primary before it answers "not found" (see
/// [`PostgresStore::lookup`]): a transactional message in the WAL, which any user may write
/// and no decoder reads, makes the statement's implicit commit wait, with
/// `synchronous_standby_names` set, for the standby. (A transaction id alone would not: a
/// commit that wrote nothing else skips the wait.)
const ABSENCE_PROOF: &str = "SELECT pg_logical_emit_message(true, 'cloister', 'absence')";

/// A [`Store`] over a PostgreSQL database, possibly behind several hosts.
pub struct PostgresStore {
    pool: Pool,
    options: PostgresOptions,
    last_failure: LastFailure,
    /// How long a checkout may take: walking every host once, plus waiting for a free
    /// connection.
    checkout_budget: Duration,
    /// Concurrent transaction inserts, committed together.
    group_commit: GroupCommit,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("hosts", &self.options.hosts)
            .field("database", &self.options.database)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects (to the first acceptable host), creates the schema if asked, and checks it.
    pub async fn connect(options: &PostgresOptions) -> Result<Self, StoreError> {
        if options.hosts.is_empty() {
            return Err(StoreError::Backend("no PostgreSQL host given".into()));
        }
        let last_failure = LastFailure::default();
        // Certificate and key files are read here, before any connection: one that cannot be
        // used stops the start with its parameter's name.
        let walker = HostWalker::new(options, last_failure.clone())
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let manager = Manager::from_connect(
            walker.config(),
            walker,
            ManagerConfig {
                // Checks only `is_closed()`: free. Connections that are open but useless
                // (hung server, demoted primary) are caught by the statement deadline and by
                // SQLSTATE 25006, and discarded there.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let walk = options.connect_timeout * u32::try_from(options.hosts.len()).unwrap_or(u32::MAX);
        let checkout_budget = walk + options.statement_timeout;
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.statement_timeout))
            .create_timeout(Some(walk + Duration::from_millis(500)))
            .recycle_timeout(Some(options.statement_timeout))
            .build()
            .map_err(|e| StoreError::Backend(format!("PostgreSQL pool: {e}")))?;
        let group_commit = GroupCommit::start(Checkout {
            pool: pool.clone(),
            budget: checkout_budget,
            timeout: options.statement_timeout,
            last_failure: last_failure.clone(),
        });
        let store = Self {
            pool,
            options: options.clone(),
            last_failure,
            checkout_budget,
            group_commit,
        };
        let mut session = store.session().await?;
        schema::prepare(&mut session, options.auto_create_tables).await?;
        drop(session);
        Ok(store)
    }

    /// One connection outside any pool, to the first acceptable host, for whole-table work
    /// ([`crate::bulk`]); it ends when the client is dropped.
    pub(crate) async fn connect_single(
        options: &PostgresOptions,
    ) -> Result<tokio_postgres::Client, StoreError> {
        let last_failure = LastFailure::default();
        let walker = HostWalker::new(options, last_failure.clone())
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        match walker.walk().await {
            Ok((client, _task)) => Ok(client),
            Err(error) => Err(StoreError::Unavailable(format!(
                "no usable PostgreSQL host: {}",
                last_failure
                    .get()
                    .unwrap_or_else(|| error::describe(&error))
            ))),
        }
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &PostgresOptions {
        &self.options
    }

    /// `row` (and `record`) inserted in a group-commit batch, unless its payload is too big
    /// to be worth queueing; what the batch did, or `None` when it did nothing.
    async fn batched(
        &self,
        row: &TransactionRow,
        record: Option<&IdempotencyRow>,
    ) -> Result<Option<Counts>, StoreError> {
        if row.encoded_payload.len() > MAX_BATCHED_PAYLOAD {
            return Ok(None);
        }
        self.group_commit.insert(row, record).await
    }

    async fn session(&self) -> Result<Session, StoreError> {
        checkout(
            &self.pool,
            self.checkout_budget,
            self.options.statement_timeout,
            &self.last_failure,
        )
        .await
    }

    async fn query(&self, sql: &str, params: session::Params<'_>) -> Result<Vec<Row>, StoreError> {
        self.session().await?.query(sql, params).await
    }

    async fn execute(&self, sql: &str, params: session::Params<'_>) -> Result<u64, StoreError> {
        self.session().await?.execute(sql, params).await
    }

    /// The first row `sql` selects, mapped by `map`; `None` when there is none.
    async fn one<T>(
        &self,
        sql: &str,
        params: session::Params<'_>,
        map: fn(&Row) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        self.query(sql, params).await?.first().map(map).transpose()
    }

    /// The row `sql` selects by its key, mapped by `map`, for an answer a client acts on
    /// ("not found" is a 404). On a store that fails over, `None` is answered only once the
    /// same connection has committed past the synchronous standby ([`ABSENCE_PROOF`]): a primary deposed
    /// while hung or cut off still answers reads when it wakes, from before every write its
    /// successor acknowledged, until its failover manager demotes it; but it can no longer
    /// commit, since its synchronous standby now follows the new primary. So a stale "not
    /// found" becomes "store unavailable" (a 503 that clients retry), never a false 404.
    async fn lookup<T>(
        &self,
        sql: &str,
        params: session::Params<'_>,
        map: fn(&Row) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut session = self.session().await?;
        if let Some(row) = session.query(sql, params).await?.first() {
            return map(row).map(Some);
        }
        if self.fails_over() {
            session.batch(ABSENCE_PROOF).await?;
        }
        Ok(None)
    }

    /// Whether the store may move to another host: more than one host, and only a primary
    /// accepted (a store reading standbys on purpose accepts their lag).
    fn fails_over(&self) -> bool {
        self.options.hosts.len() > 1 && self.options.target == TargetServer::Primary
    }

    /// Runs a `DELETE` of one row by key; whether there was one.
    async fn deleted(&self, sql: &str, params: session::Params<'_>) -> Result<bool, StoreError> {
        Ok(self.execute(sql, params).await? == 1)
    }
}

fn bad(table: &'static str, reason: &str) -> StoreError {
    StoreError::Corrupt {
        table,
        reason: reason.into(),
    }
}

fn codec(row: &Row, index: usize, table: &'static str) -> Result<PayloadCodec, StoreError> {
    let name: Option<String> = row.try_get(index).map_err(corrupt(table))?;
    PayloadCodec::from_column(name.as_deref()).ok_or_else(|| bad(table, "unknown PAYLOAD_CODEC"))
}

/// A NULL `TIMESTAMP` (rows from before Tessera added the column) reads as 0.
fn timestamp(row: &Row, index: usize, table: &'static str) -> Result<i64, StoreError> {
    Ok(row
        .try_get::<_, Option<i64>>(index)
        .map_err(corrupt(table))?
        .unwrap_or(0))
}

fn rows<T>(rows: &[Row], decode: fn(&Row) -> Result<T, StoreError>) -> Result<Vec<T>, StoreError> {
    rows.iter().map(decode).collect()
}

/// PostgreSQL takes signed 64-bit limits; larger ones mean "everything" anyway.
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn count(row: Option<&Row>, index: usize) -> Result<u64, StoreError> {
    let n: i64 = row
        .ok_or_else(|| StoreError::Backend("COUNT returned no row".into()))?
        .try_get(index)
        .map_err(corrupt(table::DATABASE))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Inserts-if-absent can find the conflicting row deleted before they read it back (a
/// concurrent delete); they try again this many times before calling it a backend failure.
const INSERT_ATTEMPTS: usize = 3;

impl PostgresStore {
    /// Runs `insert` (an `INSERT … ON CONFLICT (HASH) DO NOTHING`); on a conflict, reads the
    /// row that won with `select` and hands it back unchanged.
    async fn insert_if_absent<T>(
        &self,
        insert: &str,
        params: session::Params<'_>,
        select: &str,
        hash: &TxHash,
        decode: fn(&Row) -> Result<T, StoreError>,
    ) -> Result<InsertOutcome<T>, StoreError> {
        let mut session = self.session().await?;
        for _ in 0..INSERT_ATTEMPTS {
            // ON CONFLICT waits for a concurrent inserter of the same hash to finish, so a
            // conflict here means the other row is committed and the next statement sees it.
            if session.execute(insert, params).await? == 1 {
                return Ok(InsertOutcome::Inserted);
            }
            let found = session
                .query(&format!("{select} WHERE HASH = $1"), &[&hash.as_bytes()])
                .await?;
            if let Some(existing) = found.first() {
                return Ok(InsertOutcome::AlreadyPresent(decode(existing)?));
            }
        }
        Err(StoreError::Backend(
            "insert kept conflicting with a row that vanished".into(),
        ))
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn insert_transaction(
        &self,
        row: &TransactionRow,
    ) -> Result<InsertOutcome<TransactionRow>, StoreError> {
        if self.batched(row, None).await?.is_some_and(|c| c.stored) {
            return Ok(InsertOutcome::Inserted);
        }
        // Not batched, or something was in the way: the single insert reads it back.
        transactions::insert(self, row).await
    }

    async fn replace_transaction(
        &self,
        hash: &TxHash,
        expected_payload: &[u8],
        new_payload: &[u8],
        new_codec: PayloadCodec,
    ) -> Result<bool, StoreError> {
        transactions::replace(self, hash, expected_payload, new_payload, new_codec).await
    }

    async fn get_transaction(&self, hash: &TxHash) -> Result<Option<TransactionRow>, StoreError> {
        transactions::get(self, hash).await
    }

    async fn delete_transaction(&self, hash: &TxHash) -> Result<bool, StoreError> {
        transactions::delete(self, hash).await
    }

    async fn scan_transactions(
        &self,
        after: Option<&TxHash>,
        limit: u64,
    ) -> Result<Vec<TransactionRow>, StoreError> {
        transactions::scan(self, after, limit).await
    }

    async fn count_transactions(&self) -> Result<u64, StoreError> {
        transactions::total(self).await
    }

    async fn insert_raw_transaction(
        &self,
        row: &RawTransactionRow,
    ) -> Result<InsertOutcome<RawTransactionRow>, StoreError> {
        raw_transactions::insert(self, row).await
    }

    async fn get_raw_transaction(
        &self,
        hash: &TxHash,
    ) -> Result<Option<RawTransactionRow>, StoreError> {
        raw_transactions::get(self, hash).await
    }

    async fn delete_raw_transaction(&self, hash: &TxHash) -> Result<bool, StoreError> {
        raw_transactions::delete(self, hash).await
    }

    async fn upsert_privacy_group(&self, row: &PrivacyGroupRow) -> Result<(), StoreError> {
        privacy_groups::upsert(self, row).await
    }

    async fn get_privacy_group(&self, id: &[u8]) -> Result<Option<PrivacyGroupRow>, StoreError> {
        privacy_groups::get(self, id).await
    }

    async fn find_privacy_groups(
        &self,
        lookup_id: &[u8],
    ) -> Result<Vec<PrivacyGroupRow>, StoreError> {
        privacy_groups::find(self, lookup_id).await
    }

    async fn list_privacy_groups(&self) -> Result<Vec<PrivacyGroupRow>, StoreError> {
        privacy_groups::list(self).await
    }

    async fn stage_transaction(&self, tx: &NewStagedTransaction) -> Result<bool, StoreError> {
        staging::stage(self, tx).await
    }

    async fn assign_validation_stage(&self, stage: i64) -> Result<u64, StoreError> {
        staging::assign_validation_stage(self, stage).await
    }

    async fn staging_counts(&self) -> Result<StagingCounts, StoreError> {
        staging::counts(self).await
    }

    async fn staged_stages(&self) -> Result<Vec<Option<i64>>, StoreError> {
        staging::stages(self).await
    }

    async fn scan_staged(
        &self,
        stage: Option<i64>,
        after_id: i64,
        limit: u64,
    ) -> Result<Vec<StagedTransaction>, StoreError> {
        staging::scan(self, stage, after_id, limit).await
    }

    async fn clear_staging(&self) -> Result<(), StoreError> {
        staging::clear(self).await
    }

    async fn add_parties(&self, urls: &[String], max_total: usize) -> Result<usize, StoreError> {
        discovery::add_parties(self, urls, max_total).await
    }

    async fn remove_party(&self, url: &str) -> Result<bool, StoreError> {
        discovery::remove_party(self, url).await
    }

    async fn list_parties(&self) -> Result<Vec<String>, StoreError> {
        discovery::list_parties(self).await
    }

    async fn record_peer(&self, peer: &PeerRow, keys: &[PublicKey]) -> Result<(), StoreError> {
        discovery::record_peer(self, peer, keys, crate::now_millis()).await
    }

    async fn forget_peer(&self, url: &str) -> Result<(), StoreError> {
        discovery::forget_peer(self, url).await
    }

    async fn list_peers(&self) -> Result<Vec<PeerRow>, StoreError> {
        discovery::list_peers(self).await
    }

    async fn peer_for_key(&self, key: &PublicKey) -> Result<Option<PeerRow>, StoreError> {
        discovery::peer_for_key(self, key).await
    }

    async fn list_peer_keys(&self) -> Result<Vec<PeerKeyRow>, StoreError> {
        discovery::list_peer_keys(self).await
    }

    async fn insert_transaction_once(
        &self,
        row: &TransactionRow,
        record: &IdempotencyRow,
    ) -> Result<OnceOutcome, StoreError> {
        let batched = self.batched(row, Some(record)).await?;
        idempotency::insert_once(self, row, record, batched).await
    }

    async fn get_idempotency(&self, key: &str) -> Result<Option<IdempotencyRow>, StoreError> {
        idempotency::get(self, key).await
    }

    async fn delete_idempotency(&self, key: &str) -> Result<bool, StoreError> {
        idempotency::delete(self, key).await
    }

    async fn expire_idempotency(&self, before: i64) -> Result<u64, StoreError> {
        idempotency::expire(self, before).await
    }

    async fn health(&self) -> StoreHealth {
        let probe = async {
            let mut session = self.session().await?;
            let found = session.query(HEALTH_QUERY, &[]).await?;
            let row = found
                .first()
                .ok_or_else(|| StoreError::Backend("the health query returned no row".into()))?;
            let in_recovery: bool = row.try_get(0).map_err(corrupt(table::DATABASE))?;
            let server: Option<String> = row.try_get(1).map_err(corrupt(table::DATABASE))?;
            let synchronous: Option<i64> = row.try_get(2).map_err(corrupt(table::DATABASE))?;
            if !in_recovery {
                // Assigning a transaction id makes the commit write WAL, so it waits for the
                // synchronous standby like any write: a primary that cannot commit (standby
                // gone, disk stuck) is reported, not just one that cannot be reached.
                session.query("SELECT txid_current()", &[]).await?;
            }
            let synchronous = synchronous
                .filter(|_| !in_recovery)
                .map(|count| u32::try_from(count).unwrap_or(u32::MAX));
            Ok::<_, StoreError>((in_recovery, server, synchronous))
        };
        match probe.await {
            Ok((in_recovery, server, synchronous_standbys)) => {
                let writable_needed = self.options.target == TargetServer::Primary;
                StoreHealth {
                    role: if in_recovery {
                        StoreRole::PostgresqlStandby
                    } else {
                        StoreRole::PostgresqlPrimary
                    },
                    problem: (in_recovery && writable_needed)
                        .then_some(StoreProblem::ReadOnlyStandby),
                    server,
                    synchronous_standbys,
                }
            }
            Err(error) => StoreHealth {
                role: StoreRole::Postgresql,
                problem: Some(error.into()),
                server: None,
                synchronous_standbys: None,
            },
        }
    }
}
