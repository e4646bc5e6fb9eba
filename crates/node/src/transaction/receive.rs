//! Reading transactions: `GET /transaction/{hash}` and the calls about one stored transaction.

use cloister_core::digest::TxHash;
use cloister_core::keys::PublicKey;
use cloister_core::payload::{EncodedPayload, PrivacyMode};
use cloister_core::privacy_group::PrivacyGroupId;

use super::{TransactionError, TransactionManager};

/// A decrypted transaction, as `GET /transaction/{hash}` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The plaintext.
    pub payload: Vec<u8>,
    /// The privacy mode.
    pub privacy_mode: PrivacyMode,
    /// Hashes of the affected contract transactions.
    pub affected: Vec<TxHash>,
    /// The execution hash bytes (the string the sender gave).
    pub exec_hash: Vec<u8>,
    /// The privacy group, if any.
    pub privacy_group_id: Option<PrivacyGroupId>,
    /// This node's keys that are parties to the transaction.
    pub managed_parties: Vec<PublicKey>,
    /// The sender.
    pub sender: PublicKey,
}

impl TransactionManager {
    /// Decrypts a stored transaction as `to`, or as the first local key that can.
    /// `raw` reads the raw store (`/storeraw` payloads) instead.
    pub async fn receive(
        &self,
        hash: &TxHash,
        to: Option<PublicKey>,
        raw: bool,
    ) -> Result<Received, TransactionError> {
        if raw {
            return self.receive_raw(hash).await;
        }
        let payload = self.load_existing(hash).await?;
        self.decrypt(hash, &payload, to)
    }

    /// Decrypts a payload handed in by the client (`/encodedpayload/decrypt`).
    pub fn decrypt_payload(&self, payload: &EncodedPayload) -> Result<Received, TransactionError> {
        let hash = self.rules.digest.digest(&payload.cipher_text);
        self.decrypt(&hash, payload, None)
    }

    /// Whether the stored transaction was sent by one of this node's keys.
    pub async fn is_sender(&self, hash: &TxHash) -> Result<bool, TransactionError> {
        let payload = self.load_existing(hash).await?;
        Ok(self.enclave.holds(&payload.sender_key))
    }

    /// The recipient keys of the stored copy.
    pub async fn participants(&self, hash: &TxHash) -> Result<Vec<PublicKey>, TransactionError> {
        Ok(self.load_existing(hash).await?.recipient_keys)
    }

    /// The mandatory recipients of a mandatory-recipients transaction.
    pub async fn mandatory_recipients(
        &self,
        hash: &TxHash,
    ) -> Result<Vec<PublicKey>, TransactionError> {
        let payload = self.load_existing(hash).await?;
        if payload.privacy_mode != PrivacyMode::MandatoryRecipients {
            return Err(TransactionError::NotMandatoryRecipients);
        }
        Ok(payload.mandatory_recipients.into_iter().collect())
    }

    /// Deletes a stored transaction; `NotFound` if there is none.
    pub async fn delete(&self, hash: &TxHash) -> Result<(), TransactionError> {
        if self.store.delete_transaction(hash).await? {
            Ok(())
        } else {
            Err(TransactionError::NotFound(hash.clone()))
        }
    }

    async fn receive_raw(&self, hash: &TxHash) -> Result<Received, TransactionError> {
        let raw = self.load_raw(hash).await.map_err(|error| match error {
            TransactionError::RawTransactionNotFound(hash) => TransactionError::RawNotFound(hash),
            other => other,
        })?;
        Ok(Received {
            payload: self.enclave.unencrypt_raw_payload(&raw)?,
            privacy_mode: PrivacyMode::StandardPrivate,
            affected: Vec::new(),
            exec_hash: Vec::new(),
            privacy_group_id: None,
            managed_parties: vec![raw.sender],
            sender: raw.sender,
        })
    }

    fn decrypt(
        &self,
        hash: &TxHash,
        payload: &EncodedPayload,
        to: Option<PublicKey>,
    ) -> Result<Received, TransactionError> {
        let candidates: Vec<PublicKey> = match to {
            Some(key) => vec![key],
            None => self.enclave.public_keys().copied().collect(),
        };
        let mut opened = candidates.iter().filter_map(|key| {
            self.enclave
                .unencrypt_transaction(payload, key)
                .ok()
                .map(|p| (*key, p))
        });
        let (key, plaintext) = opened
            .next()
            .ok_or_else(|| TransactionError::NoSuitableKey(hash.clone()))?;
        let managed_parties = if payload.recipient_keys.is_empty() {
            let mut managed = vec![key];
            managed.extend(opened.map(|(key, _)| key));
            managed
        } else {
            self.managed(&payload.recipient_keys)
        };
        Ok(Received {
            payload: plaintext,
            privacy_mode: payload.privacy_mode,
            affected: payload
                .affected_contract_transactions
                .keys()
                .cloned()
                .collect(),
            exec_hash: payload.exec_hash.clone(),
            privacy_group_id: payload.privacy_group_id.clone(),
            managed_parties,
            sender: payload.sender_key,
        })
    }
}
