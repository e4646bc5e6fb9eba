//! Group commit: concurrent transaction inserts share one statement, so one commit (and, with
//! a synchronous standby, one WAL flush on the standby) serves them all.
//!
//! Each commit on a primary with `synchronous_standby_names` waits for the standby's flush, and
//! costs the primary, the walsender and the standby a wake-up each. SQLite's writer folds
//! concurrent writes into one transaction; this does the same here. There is no added delay:
//! a worker takes whatever inserts are queued when it is free (up to [`MAX_BATCH`]), so under
//! light load a batch is one insert, and under heavy load batches grow while the previous one
//! commits.
//!
//! Rows are inserted in key order, then in hash order (`ORDER BY` in each insert), so two
//! batches in flight at once (two workers, or two replicas) take their unique-index locks in one
//! order and cannot deadlock on each other (they did, unordered: 40P01 under the conformance
//! check of racing keyed inserts).
//!
//! A batch is **one statement** (rows passed as arrays to `UNNEST`), as the single inserts
//! are: PostgreSQL runs it as one transaction and commits it without waiting on this client,
//! so no lock outlives it even if this replica freezes right after sending it. A batch never
//! holds two inserts of the same hash or idempotency key, so each outcome is its own. Only the
//! common outcome (the row, and the key, were new) is read from the batch; any other insert
//! finishes on the single-insert path, which reads back what was in the way.

use std::collections::HashSet;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot, Mutex};

use super::connect::LastFailure;
use super::session::{checkout, Session};
use crate::rows::{IdempotencyRow, TransactionRow};
use crate::StoreError;

/// The most inserts one statement carries.
const MAX_BATCH: usize = 64;

/// Payloads larger than this are inserted alone: copying them into the queue would cost more
/// than the commit they would share.
pub(super) const MAX_BATCHED_PAYLOAD: usize = 64 * 1024;

/// How many batches may be in flight at once (each on its own pooled connection).
const WORKERS: usize = 2;

/// Queued inserts waiting for a worker.
const QUEUE: usize = 1024;

/// New rows, and the keys recorded with them, as one statement.
const INSERT_ONCE: &str = "\
WITH input AS (\
    SELECT * FROM UNNEST($1::TEXT[], $2::BYTEA[], $3::BYTEA[], $4::BIGINT[], $5::BYTEA[], $6::TEXT[], $7::BIGINT[]) \
    AS i(key, fingerprint, hash, recorded_at, payload, codec, stored_at)), \
recorded AS (\
    INSERT INTO CLOISTER_IDEMPOTENCY (IDEMPOTENCY_KEY, FINGERPRINT, HASH, TIMESTAMP) \
    SELECT key, fingerprint, hash, recorded_at FROM input ORDER BY key \
    ON CONFLICT (IDEMPOTENCY_KEY) DO NOTHING RETURNING IDEMPOTENCY_KEY), \
stored AS (\
    INSERT INTO ENCRYPTED_TRANSACTION (HASH, ENCODED_PAYLOAD, PAYLOAD_CODEC, TIMESTAMP) \
    SELECT hash, payload, codec, stored_at FROM input \
    WHERE key IN (SELECT IDEMPOTENCY_KEY FROM recorded) ORDER BY hash \
    ON CONFLICT (HASH) DO NOTHING RETURNING HASH) \
SELECT (SELECT array_agg(IDEMPOTENCY_KEY) FROM recorded), (SELECT array_agg(HASH) FROM stored)";

/// New rows, as one statement.
const INSERT: &str = "\
INSERT INTO ENCRYPTED_TRANSACTION (HASH, ENCODED_PAYLOAD, PAYLOAD_CODEC, TIMESTAMP) \
SELECT * FROM UNNEST($1::BYTEA[], $2::BYTEA[], $3::TEXT[], $4::BIGINT[]) AS i(hash, payload, codec, stored_at) \
ORDER BY hash ON CONFLICT (HASH) DO NOTHING RETURNING HASH";

/// What a batched insert found: whether its row (and key) went in, as the single-insert path
/// counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Counts {
    /// Whether the idempotency key was recorded (always true without one).
    pub(super) recorded: bool,
    /// Whether the row was stored.
    pub(super) stored: bool,
}

/// One insert waiting for its batch.
struct Job {
    row: TransactionRow,
    record: Option<IdempotencyRow>,
    reply: oneshot::Sender<Result<Option<Counts>, StoreError>>,
}

/// The queue and its workers. Dropping it ends the workers once the queue is empty.
#[derive(Debug)]
pub(super) struct GroupCommit {
    queue: mpsc::Sender<Job>,
}

/// What a worker needs to check out connections as the store does.
#[derive(Clone)]
pub(super) struct Checkout {
    pub(super) pool: Pool,
    pub(super) budget: Duration,
    pub(super) timeout: Duration,
    pub(super) last_failure: LastFailure,
}

impl Checkout {
    async fn session(&self) -> Result<Session, StoreError> {
        checkout(&self.pool, self.budget, self.timeout, &self.last_failure).await
    }
}

impl GroupCommit {
    /// Starts the workers (on the current tokio runtime).
    pub(super) fn start(checkout: Checkout) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let jobs = std::sync::Arc::new(Mutex::new(jobs));
        for _ in 0..WORKERS {
            let (jobs, checkout) = (jobs.clone(), checkout.clone());
            tokio::spawn(async move {
                while let Some(batch) = next_batch(&jobs).await {
                    run(&checkout, batch).await;
                }
            });
        }
        Self { queue }
    }

    /// Inserts `row` (recording `record` with it, when given) in the next batch; what went in,
    /// or `None` when it could not share a batch and nothing was done.
    pub(super) async fn insert(
        &self,
        row: &TransactionRow,
        record: Option<&IdempotencyRow>,
    ) -> Result<Option<Counts>, StoreError> {
        let (reply, outcome) = oneshot::channel();
        let job = Job {
            row: row.clone(),
            record: record.cloned(),
            reply,
        };
        let stopped = || StoreError::Backend("the group-commit workers stopped".into());
        self.queue.send(job).await.map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

/// Waits for one job, then takes every other queued job that can share its statement: the
/// same kind (with or without a key), no hash or key twice. The first job that cannot share
/// it is answered "not batched" and takes the single-insert path (so a repeated hash, which
/// is rare, never waits for a later batch).
async fn next_batch(jobs: &Mutex<mpsc::Receiver<Job>>) -> Option<Vec<Job>> {
    let mut jobs = jobs.lock().await;
    let first = jobs.recv().await?;
    let keyed = first.record.is_some();
    let mut hashes = HashSet::from([first.row.hash.clone()]);
    let mut keys: HashSet<String> = first.record.iter().map(|r| r.key.clone()).collect();
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        let Ok(job) = jobs.try_recv() else { break };
        let fits = job.record.is_some() == keyed
            && !hashes.contains(&job.row.hash)
            && job.record.as_ref().is_none_or(|r| !keys.contains(&r.key));
        if !fits {
            let _ = job.reply.send(Ok(None));
            break;
        }
        hashes.insert(job.row.hash.clone());
        keys.extend(job.record.iter().map(|r| r.key.clone()));
        batch.push(job);
    }
    Some(batch)
}

/// Runs one batch and answers each job.
async fn run(checkout: &Checkout, batch: Vec<Job>) {
    match execute(checkout, &batch).await {
        Ok(counts) => {
            for (job, counts) in batch.into_iter().zip(counts) {
                let _ = job.reply.send(Ok(Some(counts)));
            }
        }
        Err(error) => {
            for job in batch {
                let _ = job.reply.send(Err(error.clone()));
            }
        }
    }
}

/// The batch as one statement; each job's counts, in order.
async fn execute(checkout: &Checkout, batch: &[Job]) -> Result<Vec<Counts>, StoreError> {
    let mut session = checkout.session().await?;
    let hashes: Vec<&[u8]> = batch.iter().map(|j| j.row.hash.as_bytes()).collect();
    let payloads: Vec<&[u8]> = batch
        .iter()
        .map(|j| j.row.encoded_payload.as_slice())
        .collect();
    let codecs: Vec<&str> = batch.iter().map(|j| j.row.codec.name()).collect();
    let stored_at: Vec<i64> = batch.iter().map(|j| j.row.timestamp).collect();
    let records: Vec<&IdempotencyRow> = batch.iter().filter_map(|j| j.record.as_ref()).collect();
    if records.is_empty() {
        let rows = session
            .query(INSERT, &[&hashes, &payloads, &codecs, &stored_at])
            .await?;
        let stored: HashSet<Vec<u8>> = rows.iter().map(|r| r.get::<_, Vec<u8>>(0)).collect();
        return Ok(hashes
            .iter()
            .map(|h| Counts {
                recorded: true,
                stored: stored.contains(*h),
            })
            .collect());
    }
    let keys: Vec<&str> = records.iter().map(|r| r.key.as_str()).collect();
    let fingerprints: Vec<&[u8]> = records.iter().map(|r| r.fingerprint.as_slice()).collect();
    let recorded_at: Vec<i64> = records.iter().map(|r| r.timestamp).collect();
    let rows = session
        .query(
            INSERT_ONCE,
            &[
                &keys,
                &fingerprints,
                &hashes,
                &recorded_at,
                &payloads,
                &codecs,
                &stored_at,
            ],
        )
        .await?;
    let row = rows.first();
    let recorded: HashSet<String> = row
        .and_then(|r| r.get::<_, Option<Vec<String>>>(0))
        .unwrap_or_default()
        .into_iter()
        .collect();
    let stored: HashSet<Vec<u8>> = row
        .and_then(|r| r.get::<_, Option<Vec<Vec<u8>>>>(1))
        .unwrap_or_default()
        .into_iter()
        .collect();
    Ok(keys
        .iter()
        .zip(&hashes)
        .map(|(key, hash)| Counts {
            recorded: recorded.contains(*key),
            stored: stored.contains(*hash),
        })
        .collect())
}
