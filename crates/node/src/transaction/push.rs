//! Payloads pushed by peers (`/push`): validated, then merged into the store.
//!
//! Several replicas may receive pushes for the same hash at once (a sender's retry, or one box
//! per local recipient key), so merging is a compare-and-swap loop on the stored bytes: read,
//! merge, replace-if-unchanged, repeat on a lost race. A pushed payload's boxes are checked
//! first (one sealed key each, at most one per recipient), the merge works with sets, and
//! decoding and merging run off the async workers: what a push costs grows with its size,
//! once.

use std::collections::HashSet;
use std::sync::Arc;

use cloister_core::digest::TxHash;
use cloister_core::enclave::AffectedTransaction;
use cloister_core::keys::PublicKey;
use cloister_core::payload::{EncodedPayload, PayloadCodec, PrivacyMode};
use cloister_store::InsertOutcome;

use super::{privacy, TransactionError, TransactionManager};

/// How many lost compare-and-swap races a merge tolerates before giving up (each lost race
/// means another writer made progress, so this bound is never hit in practice).
const MAX_MERGE_ATTEMPTS: usize = 64;

impl TransactionManager {
    /// Validates and stores a pushed payload; returns its hash. Payloads that break the
    /// enhanced-privacy consistency rules are not stored but still acknowledged, as Tessera
    /// does.
    pub async fn store_pushed(&self, payload: EncodedPayload) -> Result<TxHash, TransactionError> {
        payload
            .check_boxes()
            .map_err(|error| TransactionError::BadRequest(error.to_string()))?;
        if self.rules.recovery_mode && payload.privacy_mode != PrivacyMode::StandardPrivate {
            return Err(TransactionError::PrivacyViolation(
                "Transactions with enhanced privacy are not accepted during recovery mode".into(),
            ));
        }
        self.store_payload(payload).await
    }

    /// Validates and stores a payload received from a peer (pushed, or recovered), with
    /// Tessera's receive-side rules.
    pub(super) async fn store_payload(
        &self,
        mut payload: EncodedPayload,
    ) -> Result<TxHash, TransactionError> {
        let hash = self.rules.digest.digest(&payload.cipher_text);
        if payload.privacy_mode != PrivacyMode::StandardPrivate {
            if !self.rules.privacy_enhancements {
                return Err(TransactionError::PrivacyViolation(
                    privacy::NOT_ENABLED.into(),
                ));
            }
            if !self.check_pushed_privacy(&hash, &mut payload).await? {
                tracing::warn!(%hash, "pushed payload fails the affected-transaction checks; not stored");
                return Ok(hash);
            }
        }
        self.add_own_box(&mut payload)?;
        self.merge(&hash, payload).await?;
        Ok(hash)
    }

    /// A payload this node sent that comes back from a recipient (recovery, resend) carries
    /// only that recipient's box. The sender can open it, so it re-creates its own box, without
    /// which it could not read its own transaction.
    fn add_own_box(&self, payload: &mut EncodedPayload) -> Result<(), TransactionError> {
        let sender = payload.sender_key;
        let listed = payload.recipient_keys.contains(&sender);
        if !self.enclave.holds(&sender) || listed || payload.recipient_keys.is_empty() {
            return Ok(());
        }
        let own_box = self.enclave.create_recipient_box(payload, &sender)?;
        payload.recipient_keys.push(sender);
        payload.recipient_boxes.push(own_box);
        Ok(())
    }

    /// Tessera's receiving-side enhanced-privacy checks. Returns `false` when the payload must
    /// be dropped silently; drops invalid security hashes of party-protection payloads.
    async fn check_pushed_privacy(
        &self,
        hash: &TxHash,
        payload: &mut EncodedPayload,
    ) -> Result<bool, TransactionError> {
        let mut present = Vec::new();
        for affected in payload.affected_contract_transactions.keys() {
            if let Some(stored) = self.load(affected).await? {
                present.push(AffectedTransaction {
                    hash: affected.clone(),
                    payload: stored,
                });
            }
        }
        let psv = payload.privacy_mode == PrivacyMode::PrivateStateValidation;
        if psv {
            let all_present = present.len() == payload.affected_contract_transactions.len();
            let consistent = present.iter().all(|tx| {
                let same_recipients = tx
                    .payload
                    .recipient_keys
                    .iter()
                    .collect::<std::collections::BTreeSet<_>>()
                    == payload.recipient_keys.iter().collect();
                same_recipients && tx.payload.recipient_keys.contains(&payload.sender_key)
            });
            if !all_present || !consistent {
                return Ok(false);
            }
        }
        let invalid = self.enclave.find_invalid_security_hashes(payload, &present);
        if invalid.is_empty() {
            return Ok(true);
        }
        if psv {
            let list: Vec<String> = invalid.iter().map(ToString::to_string).collect();
            return Err(TransactionError::PrivacyViolation(format!(
                "Invalid security hashes identified for PSC TX {hash}. Invalid ACOTHs: {}",
                list.join(",")
            )));
        }
        payload
            .affected_contract_transactions
            .retain(|tx, _| !invalid.contains(tx));
        Ok(true)
    }

    /// Inserts the payload, or merges its box into the stored copy.
    pub(super) async fn merge(
        &self,
        hash: &TxHash,
        incoming: EncodedPayload,
    ) -> Result<(), TransactionError> {
        let row = Self::new_row(hash.clone(), &incoming);
        let incoming = Arc::new(incoming);
        for _ in 0..MAX_MERGE_ATTEMPTS {
            let existing = match self.store.insert_transaction(&row).await? {
                InsertOutcome::Inserted => return Ok(()),
                InsertOutcome::AlreadyPresent(existing) => Arc::new(existing),
            };
            let (stored, pushed) = (existing.clone(), incoming.clone());
            let merge = move || -> Result<Option<Vec<u8>>, TransactionError> {
                let current = stored.codec.decode(&stored.encoded_payload)?;
                Ok(merged(&current, &pushed)?.map(|merged| stored.codec.encode(&merged)))
            };
            let Some(new_bytes) = tokio::task::spawn_blocking(merge)
                .await
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()))?
            else {
                return Ok(());
            };
            if self
                .store
                .replace_transaction(hash, &existing.encoded_payload, &new_bytes, existing.codec)
                .await?
            {
                return Ok(());
            }
        }
        Err(TransactionError::Store(cloister_store::StoreError::Busy(
            format!("could not merge {hash} after {MAX_MERGE_ATTEMPTS} attempts"),
        )))
    }
}

/// Tessera's merge rule: the same transaction (every field but the boxes and keys equal); a box
/// already present changes nothing; otherwise the new boxes go first, in their order, together
/// with their keys (boxes are index-aligned with the first keys; for PSV the key moves to the
/// front). `None` when nothing changes. Linear: boxes and keys are looked up in sets.
pub fn merged(
    stored: &EncodedPayload,
    incoming: &EncodedPayload,
) -> Result<Option<EncodedPayload>, TransactionError> {
    let same = stored.cipher_text == incoming.cipher_text
        && stored.cipher_text_nonce == incoming.cipher_text_nonce
        && stored.sender_key == incoming.sender_key
        && stored.recipient_nonce == incoming.recipient_nonce
        && stored.privacy_mode == incoming.privacy_mode
        && stored.exec_hash == incoming.exec_hash
        && stored.affected_contract_transactions == incoming.affected_contract_transactions;
    if !same {
        return Err(TransactionError::ConflictingPayload);
    }
    let mut seen: HashSet<&[u8]> = stored.recipient_boxes.iter().map(Vec::as_slice).collect();
    let (mut new_boxes, mut new_keys) = (Vec::new(), Vec::new());
    for (index, new_box) in incoming.recipient_boxes.iter().enumerate() {
        if !seen.insert(new_box.as_slice()) {
            continue;
        }
        new_boxes.push(new_box.clone());
        new_keys.extend(incoming.recipient_keys.get(index).copied());
    }
    if new_boxes.is_empty() {
        return Ok(None);
    }
    let moved: HashSet<&PublicKey> = new_keys.iter().collect();
    let kept_keys = stored
        .recipient_keys
        .iter()
        .filter(|key| !moved.contains(key));
    let recipient_keys = new_keys.iter().chain(kept_keys).copied().collect();
    new_boxes.extend(stored.recipient_boxes.iter().cloned());
    Ok(Some(EncodedPayload {
        recipient_boxes: new_boxes,
        recipient_keys,
        ..stored.clone()
    }))
}

/// The codec a pushed body is in: CBOR when the caller advertises `5.0`.
pub fn push_codec(versions: &[String]) -> PayloadCodec {
    PayloadCodec::preferred_for(versions)
}

#[cfg(test)]
mod tests {
    use cloister_core::nacl::Nonce;

    use super::*;

    fn copy(key: u8, boxes: &[u8]) -> EncodedPayload {
        EncodedPayload {
            sender_key: PublicKey::from_bytes([1; 32]),
            cipher_text: vec![9; 20],
            cipher_text_nonce: Nonce([2; 24]),
            recipient_boxes: boxes.iter().map(|b| vec![*b; 48]).collect(),
            recipient_nonce: Nonce([3; 24]),
            recipient_keys: vec![PublicKey::from_bytes([key; 32])],
            privacy_mode: PrivacyMode::StandardPrivate,
            affected_contract_transactions: Default::default(),
            exec_hash: Vec::new(),
            mandatory_recipients: Default::default(),
            privacy_group_id: None,
        }
    }

    #[test]
    fn a_new_box_goes_first_with_its_key_and_a_known_one_changes_nothing() {
        let stored = copy(10, &[10]);
        let merged = merged(&stored, &copy(11, &[11])).unwrap().unwrap();
        assert_eq!(
            merged.recipient_keys,
            [
                PublicKey::from_bytes([11; 32]),
                PublicKey::from_bytes([10; 32])
            ]
        );
        assert_eq!(merged.recipient_boxes, [vec![11; 48], vec![10; 48]]);
        assert_eq!(super::merged(&merged, &copy(11, &[11])).unwrap(), None);
    }

    #[test]
    fn several_new_pairs_stay_aligned() {
        let stored = copy(10, &[10]);
        let mut incoming = copy(11, &[11, 12]);
        incoming
            .recipient_keys
            .push(PublicKey::from_bytes([12; 32]));
        let merged = merged(&stored, &incoming).unwrap().unwrap();
        let keys: Vec<u8> = merged
            .recipient_keys
            .iter()
            .map(|k| k.as_bytes()[0])
            .collect();
        let boxes: Vec<u8> = merged.recipient_boxes.iter().map(|b| b[0]).collect();
        assert_eq!(keys, boxes);
    }

    #[test]
    fn a_different_transaction_under_the_same_hash_is_a_conflict() {
        let mut other = copy(11, &[11]);
        other.recipient_nonce = Nonce([4; 24]);
        assert!(matches!(
            merged(&copy(10, &[10]), &other),
            Err(TransactionError::ConflictingPayload)
        ));
    }
}
