//! Creating transactions: `/send`, `/sendsignedtx`, `/storeraw`, `/encodedpayload/create`.

use std::sync::Arc;

use bytes::Bytes;
use cloister_core::digest::TxHash;
use cloister_core::enclave::{AffectedTransaction, PrivacyMetadata, RawTransaction};
use cloister_core::keys::PublicKey;
use cloister_core::nacl::Nonce;
use cloister_core::payload::EncodedPayload;
use cloister_store::{InsertOutcome, OnceOutcome, RawTransactionRow, StoreError};
use futures_util::future::try_join_all;

use super::idempotency::Idempotency;
use super::{distinct, privacy, PrivacyRequest, Sent, TransactionError, TransactionManager};
use crate::discovery::PeerNode;

/// A `/send` (or `/sendraw`) request.
#[derive(Debug, Clone, Default)]
pub struct SendRequest {
    /// The plaintext.
    pub payload: Vec<u8>,
    /// The sender; the node's default key when absent.
    pub from: Option<PublicKey>,
    /// Explicit recipients.
    pub to: Vec<PublicKey>,
    /// Privacy settings.
    pub privacy: PrivacyRequest,
}

/// A `/sendsignedtx` request.
#[derive(Debug, Clone)]
pub struct SendSignedRequest {
    /// Hash of the raw transaction stored with `/storeraw`.
    pub hash: TxHash,
    /// Explicit recipients.
    pub to: Vec<PublicKey>,
    /// Privacy settings.
    pub privacy: PrivacyRequest,
}

impl TransactionManager {
    /// Encrypts, stores and pushes a new transaction; returns once every remote recipient has it
    /// and the row is durable. A repeat of a recorded `idempotency` key returns the first
    /// outcome instead.
    pub async fn send(
        &self,
        request: SendRequest,
        idempotency: Option<&Idempotency>,
    ) -> Result<Sent, TransactionError> {
        let (payload, recipients) = self.encrypt(request).await?;
        let hash = self.rules.digest.digest(&payload.cipher_text);
        self.distribute(hash, payload, &recipients, idempotency)
            .await
    }

    /// Encrypts without storing or pushing (`/encodedpayload/create`).
    pub async fn encrypt_only(
        &self,
        request: SendRequest,
    ) -> Result<EncodedPayload, TransactionError> {
        Ok(self.encrypt(request).await?.0)
    }

    /// Seals a payload for its sender only and stores it (`/storeraw`).
    pub async fn store_raw(
        &self,
        payload: &[u8],
        from: Option<PublicKey>,
    ) -> Result<TxHash, TransactionError> {
        let sender = self.sender(from)?;
        let raw = self.enclave.encrypt_raw_payload(payload, &sender)?;
        let hash = raw.hash(self.rules.digest);
        let row = RawTransactionRow {
            hash: hash.clone(),
            encrypted_payload: raw.encrypted_payload,
            encrypted_key: raw.encrypted_key,
            nonce: raw.nonce.0.to_vec(),
            sender: sender.as_bytes().to_vec(),
            timestamp: cloister_store::now_millis(),
        };
        self.store.insert_raw_transaction(&row).await?;
        Ok(hash)
    }

    /// Turns a stored raw transaction into a private transaction for `to` under the raw hash.
    /// A repeat of a completed call (with or without an idempotency key) returns the stored
    /// outcome instead of failing.
    pub async fn send_signed(
        &self,
        request: SendSignedRequest,
        idempotency: Option<&Idempotency>,
    ) -> Result<Sent, TransactionError> {
        let raw = self.load_raw(&request.hash).await?;
        let to = self.group_or(&request.privacy, request.to).await?;
        let recipients = distinct(
            to.into_iter()
                .chain(self.forwarding_keys.iter().copied())
                .chain([raw.sender]),
        );
        let metadata = self.check_privacy(&request.privacy, &recipients).await?;
        let payload = self
            .enclave
            .encrypt_payload_from_raw(&raw, &recipients, metadata)?;
        self.distribute(request.hash, payload, &recipients, idempotency)
            .await
    }

    pub(super) async fn load_raw(&self, hash: &TxHash) -> Result<RawTransaction, TransactionError> {
        let row = self
            .store
            .get_raw_transaction(hash)
            .await?
            .ok_or_else(|| TransactionError::RawTransactionNotFound(hash.clone()))?;
        let corrupt = |what| {
            TransactionError::BadRequest(format!("stored raw transaction has an invalid {what}"))
        };
        Ok(RawTransaction {
            encrypted_payload: row.encrypted_payload,
            encrypted_key: row.encrypted_key,
            nonce: Nonce::from_slice(&row.nonce).ok_or_else(|| corrupt("nonce"))?,
            sender: PublicKey::from_slice(&row.sender, "raw sender")
                .map_err(|_| corrupt("sender"))?,
        })
    }

    async fn encrypt(
        &self,
        request: SendRequest,
    ) -> Result<(EncodedPayload, Vec<PublicKey>), TransactionError> {
        let sender = self.sender(request.from)?;
        let to = self.group_or(&request.privacy, request.to).await?;
        let recipients = distinct(
            to.into_iter()
                .chain([sender])
                .chain(self.forwarding_keys.iter().copied()),
        );
        let metadata = self.check_privacy(&request.privacy, &recipients).await?;
        let payload =
            self.enclave
                .encrypt_payload(&request.payload, &sender, &recipients, metadata)?;
        Ok((payload, recipients))
    }

    fn sender(&self, from: Option<PublicKey>) -> Result<PublicKey, TransactionError> {
        let sender = from.unwrap_or(*self.enclave.default_public_key());
        if !self.enclave.holds(&sender) {
            return Err(TransactionError::UnknownSender(sender));
        }
        Ok(sender)
    }

    /// The members of the requested privacy group, or `to` when there is none.
    async fn group_or(
        &self,
        privacy: &PrivacyRequest,
        to: Vec<PublicKey>,
    ) -> Result<Vec<PublicKey>, TransactionError> {
        let Some(id) = &privacy.privacy_group_id else {
            return Ok(to);
        };
        Ok(self.retrieve_privacy_group(id).await?.members)
    }

    /// Loads the affected transactions and applies the enhanced-privacy rules.
    async fn check_privacy(
        &self,
        request: &PrivacyRequest,
        recipients: &[PublicKey],
    ) -> Result<PrivacyMetadata, TransactionError> {
        let mut affected = Vec::with_capacity(request.affected.len());
        for hash in &request.affected {
            let payload = self.load(hash).await?.ok_or_else(|| {
                TransactionError::PrivacyViolation(format!(
                    "Unable to find affectedContractTransaction {hash}"
                ))
            })?;
            affected.push(AffectedTransaction {
                hash: hash.clone(),
                payload,
            });
        }
        privacy::check_send(
            request,
            recipients,
            &affected,
            self.rules.privacy_enhancements,
        )?;
        Ok(PrivacyMetadata {
            privacy_mode: request.mode,
            affected_contract_transactions: affected,
            exec_hash: request.exec_hash.clone(),
            mandatory_recipients: request.mandatory_recipients.clone(),
            privacy_group_id: request.privacy_group_id.clone(),
        })
    }

    /// Stores the payload (with its idempotency record, if any), then pushes each remote
    /// recipient its copy. If a push fails the new row (and record) is removed again (Tessera
    /// rolls its transaction back), so an error leaves nothing behind locally; recipients
    /// already reached keep their copy, as with Tessera. When the hash was stored already (a
    /// repeated `/sendsignedtx`), the stored transaction is pushed again and its outcome
    /// returned.
    async fn distribute(
        &self,
        hash: TxHash,
        payload: EncodedPayload,
        recipients: &[PublicKey],
        idempotency: Option<&Idempotency>,
    ) -> Result<Sent, TransactionError> {
        // Resolved before anything is stored: an unknown recipient must leave no row.
        let targets = self.push_targets(&payload, recipients).await?;
        let row = Self::new_row(hash.clone(), &payload);
        let outcome = match idempotency {
            None => self.store.insert_transaction(&row).await?,
            Some(idempotency) => match self
                .store
                .insert_transaction_once(&row, &idempotency.record(&hash))
                .await?
            {
                OnceOutcome::Recorded(outcome) => outcome,
                // Another replica recorded this key first (a retry raced the original).
                OnceOutcome::Repeated(record) => {
                    return match self.repeat(idempotency, record).await? {
                        Some(sent) => Ok(sent),
                        None => Err(TransactionError::Store(StoreError::Busy(
                            "a concurrent request with the same idempotency key was undone; retry"
                                .into(),
                        ))),
                    };
                }
            },
        };
        // Stored: the encoded row is as large as the payload and not needed for the push.
        drop(row);
        if let InsertOutcome::AlreadyPresent(existing) = outcome {
            let stored = existing.codec.decode(&existing.encoded_payload)?;
            self.push_stored(&stored).await?;
            return Ok(self.sent(hash, &stored));
        }
        let payload = Arc::new(payload);
        if let Err(error) = self
            .push(&payload, shared_cipher_text(&payload), &targets)
            .await
        {
            self.undo(&hash, idempotency).await;
            return Err(error);
        }
        Ok(self.sent(hash, &payload))
    }

    /// Pushes a stored transaction to its remote recipients again.
    pub(super) async fn push_stored(
        &self,
        payload: &EncodedPayload,
    ) -> Result<(), TransactionError> {
        let targets = self.push_targets(payload, &payload.recipient_keys).await?;
        // A repeat, so rare: one copy of the cipher text for every recipient is cheap enough.
        let cipher_text = Bytes::copy_from_slice(&payload.cipher_text);
        self.push(payload, cipher_text, &targets).await
    }

    /// The node of each remote recipient, checked to support what the payload uses.
    async fn push_targets(
        &self,
        payload: &EncodedPayload,
        recipients: &[PublicKey],
    ) -> Result<Vec<(PublicKey, PeerNode)>, TransactionError> {
        let remote: Vec<PublicKey> = recipients
            .iter()
            .filter(|key| !self.enclave.holds(key))
            .copied()
            .collect();
        let nodes = self.network.nodes_for_keys(&remote).await?;
        let mut targets = Vec::with_capacity(remote.len());
        for (key, node) in remote.into_iter().zip(nodes) {
            let node = node.ok_or(TransactionError::RecipientNotFound(key))?;
            privacy::check_recipient_supports(payload, &key, &node.versions)?;
            targets.push((key, node));
        }
        Ok(targets)
    }

    /// Pushes each target its copy, concurrently, every one around the same `cipher_text`
    /// (`payload`'s).
    async fn push(
        &self,
        payload: &EncodedPayload,
        cipher_text: Bytes,
        targets: &[(PublicKey, PeerNode)],
    ) -> Result<(), TransactionError> {
        let pushes = targets.iter().map(|(key, node)| {
            let cipher_text = cipher_text.clone();
            async move {
                let copy = payload.copy_for(key)?;
                self.peers
                    .push_sharing(&node.url, &node.versions, &copy, cipher_text)
                    .await
                    .map_err(|error| TransactionError::from_peer(&node.url, error))
            }
        });
        try_join_all(pushes).await.map(drop)
    }

    /// Removes a transaction whose push failed, and its idempotency record first (a record
    /// must never name a missing row for longer than it takes to delete both).
    async fn undo(&self, hash: &TxHash, idempotency: Option<&Idempotency>) {
        if let Some(idempotency) = idempotency {
            if let Err(error) = self.store.delete_idempotency(idempotency.key()).await {
                tracing::error!(%hash, %error, "could not remove the idempotency record of a failed send");
            }
        }
        if let Err(error) = self.store.delete_transaction(hash).await {
            tracing::error!(%hash, %error, "could not remove a transaction whose push failed");
        }
    }

    /// What GoQuorum reads back for the stored `payload` under `hash`.
    pub(super) fn sent(&self, hash: TxHash, payload: &EncodedPayload) -> Sent {
        Sent {
            hash,
            managed_parties: self.managed(&payload.recipient_keys),
            sender: payload.sender_key,
        }
    }
}

/// The cipher text of a payload about to be pushed, as bytes that every recipient's request
/// body shares without copying it.
fn shared_cipher_text(payload: &Arc<EncodedPayload>) -> Bytes {
    /// Owns the payload for as long as any body still holds its cipher text.
    struct CipherText(Arc<EncodedPayload>);
    impl AsRef<[u8]> for CipherText {
        fn as_ref(&self) -> &[u8] {
            &self.0.cipher_text
        }
    }
    Bytes::from_owner(CipherText(Arc::clone(payload)))
}
