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
mod error;
mod idempotency;
mod options;
mod schema;
mod session;

use std::time::Duration;

use async_trait::async_trait;
use cloister_core::b64;
use cloister_core::config::TargetServer;
use cloister_core::digest::TxHash;
use cloister_core::keys::PublicKey;
use cloister_core::payload::{PayloadCodec, PrivacyMode};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::Row;

pub use self::options::{PostgresOptions, DEFAULT_CONNECT_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT};

use self::connect::{HostWalker, LastFailure};
use self::error::corrupt;
use self::session::{checkout, Session};
use crate::rows::{
    IdempotencyRow, InsertOutcome, NewStagedTransaction, OnceOutcome, PeerKeyRow, PeerRow,
    PrivacyGroupRow, RawTransactionRow, StagedTransaction, StagingCounts, TransactionRow,
};
use crate::schema::table;
use crate::{Store, StoreError, StoreHealth};

/// A [`Store`] over a PostgreSQL database, possibly behind several hosts.
pub struct PostgresStore {
    pool: Pool,
    options: PostgresOptions,
    last_failure: LastFailure,
    /// How long a checkout may take: walking every host once, plus waiting for a free
    /// connection.
    checkout_budget: Duration,
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
        let walker = HostWalker::new(options, last_failure.clone());
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
        let store = Self {
            pool,
            options: options.clone(),
            last_failure,
            checkout_budget,
        };
        let mut session = store.session().await?;
        schema::prepare(&mut session, options.auto_create_tables).await?;
        drop(session);
        Ok(store)
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &PostgresOptions {
        &self.options
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
}

const INSERT_TX: &str =
    "INSERT INTO ENCRYPTED_TRANSACTION (HASH, ENCODED_PAYLOAD, PAYLOAD_CODEC, TIMESTAMP) \
                         VALUES ($1, $2, $3, $4::BIGINT) ON CONFLICT (HASH) DO NOTHING";
const SELECT_TX: &str =
    "SELECT HASH, ENCODED_PAYLOAD, PAYLOAD_CODEC, TIMESTAMP::BIGINT FROM ENCRYPTED_TRANSACTION";
const SELECT_RAW: &str = "SELECT HASH, ENCRYPTED_PAYLOAD, ENCRYPTED_KEY, NONCE, SENDER, TIMESTAMP::BIGINT FROM ENCRYPTED_RAW_TRANSACTION";
const SELECT_GROUP: &str = "SELECT ID, LOOKUP_ID, DATA, TIMESTAMP::BIGINT FROM PRIVACY_GROUP";

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

fn tx_row(row: &Row) -> Result<TransactionRow, StoreError> {
    Ok(TransactionRow {
        hash: TxHash::new(
            row.try_get::<_, Vec<u8>>(0)
                .map_err(corrupt(table::TRANSACTION))?,
        ),
        encoded_payload: row.try_get(1).map_err(corrupt(table::TRANSACTION))?,
        codec: codec(row, 2, table::TRANSACTION)?,
        timestamp: timestamp(row, 3, table::TRANSACTION)?,
    })
}

fn raw_row(row: &Row) -> Result<RawTransactionRow, StoreError> {
    let get = |i| {
        row.try_get::<_, Vec<u8>>(i)
            .map_err(corrupt(table::RAW_TRANSACTION))
    };
    Ok(RawTransactionRow {
        hash: TxHash::new(get(0)?),
        encrypted_payload: get(1)?,
        encrypted_key: get(2)?,
        nonce: get(3)?,
        sender: get(4)?,
        timestamp: timestamp(row, 5, table::RAW_TRANSACTION)?,
    })
}

fn group_row(row: &Row) -> Result<PrivacyGroupRow, StoreError> {
    let get = |i| {
        row.try_get::<_, Vec<u8>>(i)
            .map_err(corrupt(table::PRIVACY_GROUP))
    };
    Ok(PrivacyGroupRow {
        id: get(0)?,
        lookup_id: get(1)?,
        data: get(2)?,
        timestamp: timestamp(row, 3, table::PRIVACY_GROUP)?,
    })
}

fn staged_row(row: &Row) -> Result<StagedTransaction, StoreError> {
    let hash: String = row.try_get(1).map_err(corrupt(table::STAGED_TRANSACTION))?;
    let hash =
        b64::decode(&hash).map_err(|_| bad(table::STAGED_TRANSACTION, "HASH is not base64"))?;
    let privacy_mode = match row
        .try_get::<_, Option<i64>>(4)
        .map_err(corrupt(table::STAGED_TRANSACTION))?
    {
        None => PrivacyMode::StandardPrivate,
        Some(flag @ 0..=3) => PrivacyMode::from_flag(flag.unsigned_abs()),
        Some(_) => return Err(bad(table::STAGED_TRANSACTION, "PRIVACY_MODE is not 0-3")),
    };
    Ok(StagedTransaction {
        id: row.try_get(0).map_err(corrupt(table::STAGED_TRANSACTION))?,
        hash: TxHash::new(hash),
        payload: row
            .try_get::<_, Option<Vec<u8>>>(2)
            .map_err(corrupt(table::STAGED_TRANSACTION))?
            .ok_or_else(|| bad(table::STAGED_TRANSACTION, "PAYLOAD is NULL"))?,
        codec: codec(row, 3, table::STAGED_TRANSACTION)?,
        privacy_mode,
        timestamp: timestamp(row, 5, table::STAGED_TRANSACTION)?,
        validation_stage: row.try_get(6).map_err(corrupt(table::STAGED_TRANSACTION))?,
    })
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
        self.insert_if_absent(
            INSERT_TX,
            &[
                &row.hash.as_bytes(),
                &row.encoded_payload,
                &row.codec.name(),
                &row.timestamp,
            ],
            SELECT_TX,
            &row.hash,
            tx_row,
        )
        .await
    }

    async fn replace_transaction(
        &self,
        hash: &TxHash,
        expected_payload: &[u8],
        new_payload: &[u8],
        new_codec: PayloadCodec,
    ) -> Result<bool, StoreError> {
        let changed = self
            .execute(
                "UPDATE ENCRYPTED_TRANSACTION SET ENCODED_PAYLOAD = $1, PAYLOAD_CODEC = $2 \
                 WHERE HASH = $3 AND ENCODED_PAYLOAD = $4",
                &[
                    &new_payload,
                    &new_codec.name(),
                    &hash.as_bytes(),
                    &expected_payload,
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn get_transaction(&self, hash: &TxHash) -> Result<Option<TransactionRow>, StoreError> {
        let found = self
            .query(&format!("{SELECT_TX} WHERE HASH = $1"), &[&hash.as_bytes()])
            .await?;
        found.first().map(tx_row).transpose()
    }

    async fn delete_transaction(&self, hash: &TxHash) -> Result<bool, StoreError> {
        let deleted = self
            .execute(
                "DELETE FROM ENCRYPTED_TRANSACTION WHERE HASH = $1",
                &[&hash.as_bytes()],
            )
            .await?;
        Ok(deleted == 1)
    }

    async fn list_transactions(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<TransactionRow>, StoreError> {
        // NULL timestamps first, as SQLite sorts them (and as they read: 0); BYTEA compares
        // bytewise.
        let found = self
            .query(
                &format!("{SELECT_TX} ORDER BY TIMESTAMP ASC NULLS FIRST, HASH LIMIT $1 OFFSET $2"),
                &[&clamp(limit), &clamp(offset)],
            )
            .await?;
        rows(&found, tx_row)
    }

    async fn count_transactions(&self) -> Result<u64, StoreError> {
        let found = self
            .query("SELECT COUNT(*) FROM ENCRYPTED_TRANSACTION", &[])
            .await?;
        count(found.first(), 0)
    }

    async fn insert_raw_transaction(
        &self,
        row: &RawTransactionRow,
    ) -> Result<InsertOutcome<RawTransactionRow>, StoreError> {
        self.insert_if_absent(
            "INSERT INTO ENCRYPTED_RAW_TRANSACTION \
             (HASH, ENCRYPTED_PAYLOAD, ENCRYPTED_KEY, NONCE, SENDER, TIMESTAMP) \
             VALUES ($1, $2, $3, $4, $5, $6::BIGINT) ON CONFLICT (HASH) DO NOTHING",
            &[
                &row.hash.as_bytes(),
                &row.encrypted_payload,
                &row.encrypted_key,
                &row.nonce,
                &row.sender,
                &row.timestamp,
            ],
            SELECT_RAW,
            &row.hash,
            raw_row,
        )
        .await
    }

    async fn get_raw_transaction(
        &self,
        hash: &TxHash,
    ) -> Result<Option<RawTransactionRow>, StoreError> {
        let found = self
            .query(
                &format!("{SELECT_RAW} WHERE HASH = $1"),
                &[&hash.as_bytes()],
            )
            .await?;
        found.first().map(raw_row).transpose()
    }

    async fn delete_raw_transaction(&self, hash: &TxHash) -> Result<bool, StoreError> {
        let deleted = self
            .execute(
                "DELETE FROM ENCRYPTED_RAW_TRANSACTION WHERE HASH = $1",
                &[&hash.as_bytes()],
            )
            .await?;
        Ok(deleted == 1)
    }

    async fn upsert_privacy_group(&self, row: &PrivacyGroupRow) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO PRIVACY_GROUP (ID, LOOKUP_ID, DATA, TIMESTAMP) VALUES ($1, $2, $3, $4::BIGINT) \
             ON CONFLICT (ID) DO UPDATE SET LOOKUP_ID = EXCLUDED.LOOKUP_ID, DATA = EXCLUDED.DATA",
            &[&row.id, &row.lookup_id, &row.data, &row.timestamp],
        )
        .await
        .map(drop)
    }

    async fn get_privacy_group(&self, id: &[u8]) -> Result<Option<PrivacyGroupRow>, StoreError> {
        let found = self
            .query(&format!("{SELECT_GROUP} WHERE ID = $1"), &[&id])
            .await?;
        found.first().map(group_row).transpose()
    }

    async fn find_privacy_groups(
        &self,
        lookup_id: &[u8],
    ) -> Result<Vec<PrivacyGroupRow>, StoreError> {
        let found = self
            .query(
                &format!("{SELECT_GROUP} WHERE LOOKUP_ID = $1 ORDER BY ID"),
                &[&lookup_id],
            )
            .await?;
        rows(&found, group_row)
    }

    async fn list_privacy_groups(&self) -> Result<Vec<PrivacyGroupRow>, StoreError> {
        let found = self
            .query(&format!("{SELECT_GROUP} ORDER BY ID"), &[])
            .await?;
        rows(&found, group_row)
    }

    async fn stage_transaction(&self, tx: &NewStagedTransaction) -> Result<bool, StoreError> {
        let hash = tx.hash.to_base64();
        let affected: Vec<String> = tx.affected.iter().map(TxHash::to_base64).collect();
        let mut session = self.session().await?;
        session.begin().await?;
        // Ids are MAX(ID) + 1, as Tessera's tables have no sequence: the lock makes concurrent
        // stagers (replicas) take turns, and makes the duplicate check below race-free. Reads
        // are not blocked.
        session
            .batch("LOCK TABLE ST_TRANSACTION, ST_AFFECTED_TRANSACTION IN EXCLUSIVE MODE")
            .await?;
        let known = session
            .query(
                "SELECT 1 FROM ST_TRANSACTION WHERE HASH = $1 AND PAYLOAD = $2",
                &[&hash, &tx.payload],
            )
            .await?;
        if !known.is_empty() {
            session.commit().await?;
            return Ok(false);
        }
        let ids = session
            .query(
                "SELECT (SELECT COALESCE(MAX(ID), 0) + 1 FROM ST_TRANSACTION)::BIGINT, \
                        (SELECT COALESCE(MAX(ID), 0) + 1 FROM ST_AFFECTED_TRANSACTION)::BIGINT",
                &[],
            )
            .await?;
        let ids = ids
            .first()
            .ok_or_else(|| StoreError::Backend("MAX(ID) returned no row".into()))?;
        let id: i64 = ids.try_get(0).map_err(corrupt(table::STAGED_TRANSACTION))?;
        let first_affected: i64 = ids
            .try_get(1)
            .map_err(corrupt(table::AFFECTED_TRANSACTION))?;
        session
            .execute(
                "INSERT INTO ST_TRANSACTION (ID, HASH, PAYLOAD, PAYLOAD_CODEC, PRIVACY_MODE, TIMESTAMP, VALIDATION_STAGE) \
                 VALUES ($1::BIGINT, $2, $3, $4, $5::BIGINT, $6::BIGINT, NULL)",
                &[
                    &id,
                    &hash,
                    &tx.payload,
                    &tx.codec.name(),
                    &i64::from(tx.privacy_mode.flag()),
                    &tx.timestamp,
                ],
            )
            .await?;
        if !affected.is_empty() {
            // One statement for all affected hashes, ids consecutive in list order.
            session
                .execute(
                    "INSERT INTO ST_AFFECTED_TRANSACTION (ID, AFFECTED_HASH, TXN_ID) \
                     SELECT $1::BIGINT + ord - 1, h, $3::BIGINT FROM unnest($2::VARCHAR[]) WITH ORDINALITY AS a(h, ord)",
                    &[&first_affected, &affected, &id],
                )
                .await?;
        }
        session.commit().await?;
        Ok(true)
    }

    async fn assign_validation_stage(&self, stage: i64) -> Result<u64, StoreError> {
        // Ready: unstaged, and no affected hash of any version of this hash names a staging
        // row that is still unstaged. One statement: its subqueries see the table as it was
        // before the update, so rows staged in this round do not free their dependants in the
        // same round.
        self.execute(
            "UPDATE ST_TRANSACTION st SET VALIDATION_STAGE = $1::BIGINT WHERE st.VALIDATION_STAGE IS NULL \
             AND NOT EXISTS (SELECT 1 FROM ST_TRANSACTION src \
               JOIN ST_AFFECTED_TRANSACTION act ON act.TXN_ID = src.ID \
               WHERE src.HASH = st.HASH AND EXISTS (SELECT 1 FROM ST_TRANSACTION dep \
                 WHERE dep.HASH = act.AFFECTED_HASH AND dep.VALIDATION_STAGE IS NULL))",
            &[&stage],
        )
        .await
    }

    async fn staging_counts(&self) -> Result<StagingCounts, StoreError> {
        let found = self
            .query(
                "SELECT COUNT(*), COUNT(VALIDATION_STAGE) FROM ST_TRANSACTION",
                &[],
            )
            .await?;
        Ok(StagingCounts {
            total: count(found.first(), 0)?,
            staged: count(found.first(), 1)?,
        })
    }

    async fn list_staged(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<StagedTransaction>, StoreError> {
        // COLLATE "C": the base64 text compared bytewise, as SQLite does, whatever the
        // database's default collation.
        let found = self
            .query(
                "SELECT ID::BIGINT, HASH, PAYLOAD, PAYLOAD_CODEC, PRIVACY_MODE::BIGINT, TIMESTAMP::BIGINT, VALIDATION_STAGE::BIGINT \
                 FROM ST_TRANSACTION ORDER BY VALIDATION_STAGE ASC NULLS LAST, HASH COLLATE \"C\", ID \
                 LIMIT $1 OFFSET $2",
                &[&clamp(limit), &clamp(offset)],
            )
            .await?;
        rows(&found, staged_row)
    }

    async fn clear_staging(&self) -> Result<(), StoreError> {
        // Two statements in one simple-protocol batch run as one implicit transaction.
        self.session()
            .await?
            .batch("DELETE FROM ST_AFFECTED_TRANSACTION; DELETE FROM ST_TRANSACTION;")
            .await
    }

    async fn add_parties(&self, urls: &[String]) -> Result<(), StoreError> {
        discovery::add_parties(self, urls).await
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
        idempotency::insert_once(self, row, record).await
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
            let found = session.query("SELECT pg_is_in_recovery()", &[]).await?;
            let in_recovery: bool = found
                .first()
                .ok_or_else(|| StoreError::Backend("pg_is_in_recovery() returned no row".into()))?
                .try_get(0)
                .map_err(corrupt(table::DATABASE))?;
            if !in_recovery {
                // Assigning a transaction id makes the commit write WAL, so it waits for the
                // synchronous standby like any write: a primary that cannot commit (standby
                // gone, disk stuck) is reported, not just one that cannot be reached.
                session.query("SELECT txid_current()", &[]).await?;
            }
            Ok::<_, StoreError>(in_recovery)
        };
        match probe.await {
            Ok(in_recovery) => {
                let writable_needed = self.options.target == TargetServer::Primary;
                StoreHealth {
                    reachable: !(in_recovery && writable_needed),
                    role: if in_recovery {
                        "postgresql-standby"
                    } else {
                        "postgresql-primary"
                    }
                    .into(),
                    detail: (in_recovery && writable_needed)
                        .then(|| "connected to a standby, which cannot accept writes".into()),
                }
            }
            Err(error) => StoreHealth {
                reachable: false,
                role: "postgresql".into(),
                detail: Some(error.to_string()),
            },
        }
    }
}
