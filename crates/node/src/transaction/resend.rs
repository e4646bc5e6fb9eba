//! Sending stored transactions again to a party that lost them: `/resend` (legacy) and
//! `/resendBatch` (recovery, published with `/pushBatch`).

use cloister_core::b64;
use cloister_core::digest::TxHash;
use cloister_core::keys::PublicKey;
use cloister_core::payload::{EncodedPayload, PayloadCodec, PrivacyMode};
use cloister_core::resend::PushBatchRequest;
use cloister_protocol::{media, path};

use super::{TransactionError, TransactionManager};

/// Rows read per store page while resending everything.
const PAGE: u64 = 1_000;

impl TransactionManager {
    /// INDIVIDUAL resend: the LEGACY encoding of `requester`'s copy of one transaction.
    pub async fn resend_individual(
        &self,
        requester: &PublicKey,
        hash: &TxHash,
    ) -> Result<Vec<u8>, TransactionError> {
        let payload = self.load_existing(hash).await?;
        if payload.privacy_mode != PrivacyMode::StandardPrivate {
            return Err(TransactionError::PrivacyViolation(
                "Cannot resend enhanced privacy transaction in legacy resend".into(),
            ));
        }
        let copy = if payload.sender_key == *requester {
            payload
        } else {
            payload.for_recipient(requester).map_err(|_| {
                TransactionError::BadRequest(format!(
                    "Recipient {requester} is not a recipient of transaction {hash}"
                ))
            })?
        };
        Ok(PayloadCodec::Legacy.encode(&copy))
    }

    /// ALL resend: pushes every stored transaction involving `requester` to the node holding
    /// it. Returns how many were pushed.
    pub async fn resend_all(&self, requester: &PublicKey) -> Result<u64, TransactionError> {
        let node = self.node_of(requester).await?;
        let (mut offset, mut pushed) = (0, 0);
        loop {
            let rows = self.store.list_transactions(offset, PAGE).await?;
            if rows.is_empty() {
                return Ok(pushed);
            }
            offset += rows.len() as u64;
            for row in rows {
                let payload = row.codec.decode(&row.encoded_payload)?;
                let ours = self.enclave.holds(&payload.sender_key);
                let copy = if payload.sender_key == *requester {
                    payload
                } else if ours && payload.recipient_keys.contains(requester) {
                    payload.for_recipient(requester)?
                } else {
                    continue;
                };
                self.peers
                    .push(&node.url, &node.versions, &copy)
                    .await
                    .map_err(|error| TransactionError::from_peer(&node.url, error))?;
                pushed += 1;
            }
        }
    }
}

impl TransactionManager {
    /// Serves `/resendBatch`: every stored transaction `requester` is party to, as one payload
    /// per box, published to the requester's node in `/pushBatch` batches of `batch_size`.
    /// Returns how many payloads were published.
    pub async fn resend_batch(
        &self,
        requester: &PublicKey,
        batch_size: usize,
    ) -> Result<u64, TransactionError> {
        if self.enclave.holds(requester) {
            return Ok(0);
        }
        let node = self.node_of(requester).await?;
        let (mut offset, mut published, mut batch) = (0, 0, Vec::new());
        loop {
            let rows = self.store.list_transactions(offset, PAGE).await?;
            if rows.is_empty() {
                break;
            }
            offset += rows.len() as u64;
            for row in rows {
                let payload = row.codec.decode(&row.encoded_payload)?;
                batch.extend(self.copies_for(&payload, requester)?);
                if batch.len() >= batch_size {
                    published += self
                        .publish_batch(&node.url, std::mem::take(&mut batch))
                        .await?;
                }
            }
        }
        if !batch.is_empty() {
            published += self.publish_batch(&node.url, batch).await?;
        }
        Ok(published)
    }

    /// The copies of `payload` that belong to `requester`: its own box when it is a recipient
    /// of a transaction this node sent, or every box when it is the sender (it can open all).
    fn copies_for(
        &self,
        payload: &EncodedPayload,
        requester: &PublicKey,
    ) -> Result<Vec<EncodedPayload>, TransactionError> {
        if payload.sender_key == *requester {
            let keys = payload
                .recipient_keys
                .iter()
                .take(payload.recipient_boxes.len());
            return keys.map(|key| Ok(payload.for_recipient(key)?)).collect();
        }
        if self.enclave.holds(&payload.sender_key) && payload.recipient_keys.contains(requester) {
            return Ok(vec![payload.for_recipient(requester)?]);
        }
        Ok(Vec::new())
    }

    async fn publish_batch(
        &self,
        url: &str,
        payloads: Vec<EncodedPayload>,
    ) -> Result<u64, TransactionError> {
        let count = payloads.len() as u64;
        let body = PushBatchRequest {
            encoded_payloads: payloads
                .iter()
                .map(|p| b64::encode(PayloadCodec::Legacy.encode(p)))
                .collect(),
        };
        let json = serde_json::to_vec(&body).expect("batch bodies always serialize");
        self.peers
            .post(url, path::PUSH_BATCH, media::JSON, json)
            .await
            .map_err(|error| TransactionError::from_peer(url, error))?;
        Ok(count)
    }
}
