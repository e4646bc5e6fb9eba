//! `/resend`: sending stored transactions again to a party that lost them.

use cloister_core::digest::TxHash;
use cloister_core::keys::PublicKey;
use cloister_core::payload::{PayloadCodec, PrivacyMode};

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
        let node = self
            .network
            .node_for_key(requester)
            .ok_or(TransactionError::RecipientNotFound(*requester))?;
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
                self.peers.push(&node.url, &node.versions, &copy).await?;
                pushed += 1;
            }
        }
    }
}
