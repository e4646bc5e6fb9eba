//! The receiving side of recovery (`--recover`): payloads arriving with `/pushBatch` are staged,
//! ordered so every transaction comes after those it affects, then stored with the normal
//! receive rules.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use cloister_core::b64;
use cloister_core::payload::{PayloadCodec, PrivacyMode};
use cloister_store::{NewStagedTransaction, StagedTransaction};
use futures_util::{stream, StreamExt, TryStreamExt};

use super::{TransactionError, TransactionManager};

/// Staged rows read per page while syncing.
const PAGE: u64 = 1_000;

/// Rows staged, or stored, side by side.
const CONCURRENCY: usize = 64;

/// How a recovery ended; the process exit code is [`Outcome::exit_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Every recovered transaction was stored.
    Success,
    /// Some were stored, some were not.
    PartialSuccess,
    /// None could be stored (or nothing could be requested).
    Failure,
}

impl Outcome {
    /// Tessera's exit codes: 0, 1, 2.
    pub const fn exit_code(self) -> i32 {
        match self {
            Self::Success => 0,
            Self::PartialSuccess => 1,
            Self::Failure => 2,
        }
    }
}

/// How far a recovery has come, for its progress lines: transactions received from peers
/// (staged) and then stored or refused.
#[derive(Debug, Default)]
pub struct Progress {
    received: AtomicU64,
    stored: AtomicU64,
    failed: AtomicU64,
}

/// A reading of [`Progress`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Transactions received and staged.
    pub received: u64,
    /// Transactions stored.
    pub stored: u64,
    /// Transactions refused by the receive rules.
    pub failed: u64,
}

impl Progress {
    /// The counts now.
    pub fn counts(&self) -> Counts {
        Counts {
            received: self.received.load(Ordering::Relaxed),
            stored: self.stored.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}

impl TransactionManager {
    /// How far recovery has come.
    pub fn recovery_progress(&self) -> Counts {
        self.recovery.counts()
    }

    /// Stages the base64 LEGACY payloads of one `/pushBatch`. Only accepted in recovery mode.
    pub async fn stage_batch(&self, encoded: &[String]) -> Result<(), TransactionError> {
        if !self.rules.recovery_mode {
            return Err(TransactionError::Unavailable(
                "/pushBatch is only served in recovery mode",
            ));
        }
        let mut batch = Vec::with_capacity(encoded.len());
        for (index, text) in encoded.iter().enumerate() {
            let bytes = b64::decode(text).map_err(|_| {
                TransactionError::BadRequest(format!(
                    "encodedPayloads[{index}] is not valid base64"
                ))
            })?;
            let payload = PayloadCodec::Legacy.decode(&bytes).map_err(|e| {
                TransactionError::BadRequest(format!("encodedPayloads[{index}]: {e}"))
            })?;
            let staged = NewStagedTransaction {
                hash: self.rules.digest.digest(&payload.cipher_text),
                payload: bytes,
                codec: PayloadCodec::Legacy,
                privacy_mode: payload.privacy_mode,
                timestamp: cloister_store::now_millis(),
                affected: payload
                    .affected_contract_transactions
                    .keys()
                    .cloned()
                    .collect(),
            };
            batch.push(staged);
        }
        // Staged side by side, so the store commits them together (SQLite's writer and
        // PostgreSQL's pool take concurrent writes in one go); the staging pass orders them.
        stream::iter(batch.iter().map(Ok))
            .try_for_each_concurrent(CONCURRENCY, |staged| async move {
                self.store.stage_transaction(staged).await?;
                self.recovery.received.fetch_add(1, Ordering::Relaxed);
                Ok::<_, TransactionError>(())
            })
            .await
    }

    /// Stores one staged row with the normal receive rules; whether it was stored.
    async fn store_staged(&self, row: &StagedTransaction) -> bool {
        let result = match row.codec.decode(&row.payload) {
            Ok(payload) => self.store_payload(payload).await.map(drop),
            Err(error) => Err(error.into()),
        };
        match result {
            Ok(()) => {
                self.recovery.stored.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(error) => {
                self.recovery.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(hash = %row.hash, %error, "recovered transaction not stored");
                false
            }
        }
    }

    /// Orders the staged transactions and stores each version with the normal receive rules
    /// (for PSV only the first version of a hash), then empties the staging tables.
    pub async fn sync_staged(&self) -> Result<Outcome, TransactionError> {
        let counts = self.store.run_staging_pass().await?;
        let (mut stored, mut failed) = (0u64, 0u64);
        let mut psv_done = BTreeSet::new();
        // Stage by stage, in order: rows of one stage depend on none of each other (the pass put
        // every dependency in an earlier stage), so each page is stored side by side.
        for stage in self.store.staged_stages().await? {
            let mut after_id = i64::MIN;
            loop {
                let rows = self.store.scan_staged(stage, after_id, PAGE).await?;
                let Some(last) = rows.last().map(|row| row.id) else {
                    break;
                };
                after_id = last;
                let rows: Vec<_> = rows
                    .into_iter()
                    .filter(|row| {
                        row.privacy_mode != PrivacyMode::PrivateStateValidation
                            || psv_done.insert(row.hash.clone())
                    })
                    .collect();
                let outcomes: Vec<bool> = stream::iter(&rows)
                    .map(|row| self.store_staged(row))
                    .buffered(CONCURRENCY)
                    .collect()
                    .await;
                let done = outcomes.iter().filter(|&&ok| ok).count() as u64;
                stored += done;
                failed += outcomes.len() as u64 - done;
            }
        }
        self.store.clear_staging().await?;
        tracing::info!(
            staged = counts.total,
            stored,
            failed,
            "recovery sync finished"
        );
        Ok(match (stored, failed) {
            (_, 0) => Outcome::Success,
            (0, _) => Outcome::Failure,
            _ => Outcome::PartialSuccess,
        })
    }
}
