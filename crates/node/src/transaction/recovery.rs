//! The receiving side of recovery (`--recover`): payloads arriving with `/pushBatch` are staged,
//! ordered so every transaction comes after those it affects, then stored with the normal
//! receive rules.

use std::collections::BTreeSet;

use cloister_core::b64;
use cloister_core::payload::{PayloadCodec, PrivacyMode};
use cloister_store::NewStagedTransaction;

use super::{TransactionError, TransactionManager};

/// Staged rows read per page while syncing.
const PAGE: u64 = 1_000;

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

impl TransactionManager {
    /// Stages the base64 LEGACY payloads of one `/pushBatch`. Only accepted in recovery mode.
    pub async fn stage_batch(&self, encoded: &[String]) -> Result<(), TransactionError> {
        if !self.rules.recovery_mode {
            return Err(TransactionError::Unavailable(
                "/pushBatch is only served in recovery mode",
            ));
        }
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
            self.store.stage_transaction(&staged).await?;
        }
        Ok(())
    }

    /// Orders the staged transactions and stores each version with the normal receive rules
    /// (for PSV only the first version of a hash), then empties the staging tables.
    pub async fn sync_staged(&self) -> Result<Outcome, TransactionError> {
        let counts = self.store.run_staging_pass().await?;
        let (mut offset, mut stored, mut failed) = (0, 0u64, 0u64);
        let mut psv_done = BTreeSet::new();
        loop {
            let rows = self.store.list_staged(offset, PAGE).await?;
            if rows.is_empty() {
                break;
            }
            offset += rows.len() as u64;
            for row in rows {
                if row.privacy_mode == PrivacyMode::PrivateStateValidation
                    && !psv_done.insert(row.hash.clone())
                {
                    continue;
                }
                let result = match row.codec.decode(&row.payload) {
                    Ok(payload) => self.store_payload(payload).await.map(drop),
                    Err(error) => Err(error.into()),
                };
                match result {
                    Ok(()) => stored += 1,
                    Err(error) => {
                        failed += 1;
                        tracing::warn!(hash = %row.hash, %error, "recovered transaction not stored");
                    }
                }
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
