//! Sending stored transactions again to a party that lost them: `/resend` (legacy) and
//! `/resendBatch` (recovery, published with `/pushBatch`).
//!
//! A peer can ask for this, so what it costs is bounded: stored rows are read a small page at a
//! time, by key (each page an index range, so a resend is linear in the store's size), each copy is encoded straight from the stored payload (no per-recipient copy of the
//! cipher text), a `/pushBatch` delivery is sent as soon as it reaches `maxResendBatchBytes`,
//! and at most `maxConcurrentResends` resends run at once.

use cloister_core::b64;
use cloister_core::digest::TxHash;
use cloister_core::keys::PublicKey;
use cloister_core::payload::{
    EncodedPayload, PayloadCodec, PayloadCopy, PayloadError, PrivacyMode,
};
use cloister_core::resend::PushBatchRequest;
use cloister_protocol::{media, path};
use cloister_store::TransactionRow;
use tokio::sync::mpsc;

use super::{TransactionError, TransactionManager};

/// Rows read per store page while resending: small, since a row can be a whole contract's
/// state and a page is held in memory while it is sent.
const PAGE: u64 = 32;

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
            payload.copy_all()
        } else {
            payload.copy_for(requester).map_err(|_| {
                TransactionError::BadRequest(format!(
                    "Recipient {requester} is not a recipient of transaction {hash}"
                ))
            })?
        };
        Ok(PayloadCodec::Legacy.encode_copy(&copy))
    }

    /// ALL resend: pushes every stored transaction involving `requester` to the node holding
    /// it. Returns how many were pushed.
    pub async fn resend_all(&self, requester: &PublicKey) -> Result<u64, TransactionError> {
        let _turn = self.resend_turn().await;
        let node = self.node_of(requester).await?;
        let (mut after, mut pushed) = (None, 0);
        loop {
            let rows = self.store.scan_transactions(after.as_ref(), PAGE).await?;
            let Some(last) = rows.last().map(|row| row.hash.clone()) else {
                return Ok(pushed);
            };
            after = Some(last);
            for row in rows {
                let payload = row.codec.decode(&row.encoded_payload)?;
                let ours = self.enclave.holds(&payload.sender_key);
                let copy = if payload.sender_key == *requester {
                    payload.copy_all()
                } else if ours && payload.recipient_keys.contains(requester) {
                    payload.copy_for(requester)?
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

    /// Serves `/resendBatch`: every stored transaction `requester` is party to, as one payload
    /// per box, published to the requester's node in `/pushBatch` deliveries of at most
    /// `batch_size` payloads and about `maxResendBatchBytes`. Returns how many were published.
    pub async fn resend_batch(
        &self,
        requester: &PublicKey,
        batch_size: usize,
    ) -> Result<u64, TransactionError> {
        if self.enclave.holds(requester) {
            return Ok(0);
        }
        let _turn = self.resend_turn().await;
        let node = self.node_of(requester).await?;
        let mut batch = Batch::new(batch_size, self.network.limits().max_resend_batch_bytes);
        let (mut after, mut published) = (None, 0);
        loop {
            let rows = self.store.scan_transactions(after.as_ref(), PAGE).await?;
            let Some(last) = rows.last().map(|row| row.hash.clone()) else {
                break;
            };
            after = Some(last);
            for row in rows {
                let mut copies = self.encoded_copies(row, *requester);
                while let Some(encoded) = copies.recv().await {
                    if batch.add(encoded?) {
                        published += self.publish_batch(&node.url, batch.take()).await?;
                    }
                }
            }
        }
        if !batch.is_empty() {
            published += self.publish_batch(&node.url, batch.take()).await?;
        }
        Ok(published)
    }

    /// The copies of `row`'s payload that belong to `requester`, base64 LEGACY, decoded and
    /// encoded off the async workers and handed over one or two at a time, so a payload with
    /// hundreds of boxes is never held as hundreds of encoded copies.
    fn encoded_copies(
        &self,
        row: TransactionRow,
        requester: PublicKey,
    ) -> mpsc::Receiver<Result<String, TransactionError>> {
        let (copies, received) = mpsc::channel(2);
        let enclave = self.enclave.clone();
        tokio::task::spawn_blocking(move || {
            let payload = match row.codec.decode(&row.encoded_payload) {
                Ok(payload) => payload,
                Err(error) => {
                    let _ = copies.blocking_send(Err(error.into()));
                    return;
                }
            };
            let ours = enclave.holds(&payload.sender_key);
            for copy in copies_for(&payload, &requester, ours) {
                let encoded = copy.map(|c| b64::encode(PayloadCodec::Legacy.encode_copy(&c)));
                if copies.blocking_send(encoded.map_err(Into::into)).is_err() {
                    return;
                }
            }
        });
        received
    }

    async fn publish_batch(
        &self,
        url: &str,
        encoded_payloads: Vec<String>,
    ) -> Result<u64, TransactionError> {
        let count = encoded_payloads.len() as u64;
        let body = PushBatchRequest { encoded_payloads };
        let json = serde_json::to_vec(&body).expect("batch bodies always serialize");
        self.peers
            .post(url, path::PUSH_BATCH, media::JSON, json.into())
            .await
            .map_err(|error| TransactionError::from_peer(url, error))?;
        Ok(count)
    }
}

/// The copies of `payload` that belong to `requester`: its own box when it is a recipient of a
/// transaction this node sent (`ours`), or every box when it is the sender (it can open all).
fn copies_for<'a>(
    payload: &'a EncodedPayload,
    requester: &PublicKey,
    ours: bool,
) -> Vec<Result<PayloadCopy<'a>, PayloadError>> {
    if payload.sender_key == *requester {
        let keys = payload
            .recipient_keys
            .iter()
            .take(payload.recipient_boxes.len());
        return keys.map(|key| payload.copy_for(key)).collect();
    }
    if ours && payload.recipient_keys.contains(requester) {
        return vec![payload.copy_for(requester)];
    }
    Vec::new()
}

/// One `/pushBatch` delivery being filled: base64 LEGACY payloads, counted and measured.
struct Batch {
    payloads: Vec<String>,
    bytes: usize,
    max_payloads: usize,
    max_bytes: usize,
}

impl Batch {
    fn new(max_payloads: usize, max_bytes: usize) -> Self {
        Self {
            payloads: Vec::new(),
            bytes: 0,
            max_payloads: max_payloads.max(1),
            max_bytes,
        }
    }

    /// Adds an encoded copy; whether the batch is full and must be sent now.
    fn add(&mut self, encoded: String) -> bool {
        self.bytes += encoded.len();
        self.payloads.push(encoded);
        self.payloads.len() >= self.max_payloads || self.bytes >= self.max_bytes
    }

    fn is_empty(&self) -> bool {
        self.payloads.is_empty()
    }

    fn take(&mut self) -> Vec<String> {
        self.bytes = 0;
        std::mem::take(&mut self.payloads)
    }
}
