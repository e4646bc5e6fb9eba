//! The enclave: Tessera's NaCl payload operations over the node's key pairs.
//!
//! Encrypting a payload (Tessera's `EnclaveImpl.encryptPayload`): a random master key seals the
//! message (secretbox, random nonce); for each recipient the master key is sealed under
//! `beforenm(recipient, sender)` with one `recipientNonce` shared by all boxes. Decrypting picks
//! the right box and "other party" as Tessera does, so payloads of every age open.

mod shared_keys;

use std::collections::BTreeSet;

use rand_core::{CryptoRng, OsRng, RngCore};

use crate::digest::{security_hash, PayloadDigest, TxHash};
use crate::keys::{KeyPair, PublicKey};
use crate::nacl::{self, NaclError, Nonce, SymmetricKey};
use crate::payload::{EncodedPayload, PrivacyMode};
use crate::privacy_group::PrivacyGroupId;
use shared_keys::SharedKeyCache;

/// Why an enclave operation failed. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnclaveError {
    /// An enclave needs at least one key pair.
    #[error("no key pairs configured")]
    NoKeys,
    /// The key is not one of this node's keys.
    #[error("{0} is not a key held by this node")]
    UnknownKey(PublicKey),
    /// The key has no box in the payload.
    #[error("{0} is not a recipient of this payload")]
    NotARecipient(PublicKey),
    /// Authenticated decryption failed or a public key is unusable.
    #[error(transparent)]
    Nacl(#[from] NaclError),
    /// The configured encryptor is not NaCl.
    #[error("encryptor type {0} is not supported; Cloister implements only NACL")]
    UnsupportedEncryptor(String),
}

/// The random values one payload is encrypted with. Exposed so tests can reproduce vectors;
/// production code lets [`Enclave::encrypt_payload`] draw them.
pub struct PayloadSecrets {
    /// Seals the message.
    pub master_key: SymmetricKey,
    /// Nonce of the cipher text.
    pub cipher_text_nonce: Nonce,
    /// Nonce shared by every recipient box.
    pub recipient_nonce: Nonce,
}

impl PayloadSecrets {
    /// Fresh random secrets.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        Self {
            master_key: SymmetricKey::generate(rng),
            cipher_text_nonce: Nonce::generate(rng),
            recipient_nonce: Nonce::generate(rng),
        }
    }
}

/// A transaction another node sent us that the new one affects, for its security hash.
#[derive(Debug, Clone)]
pub struct AffectedTransaction {
    /// Its transaction hash.
    pub hash: TxHash,
    /// Its stored payload.
    pub payload: EncodedPayload,
}

/// The privacy settings of a new payload, copied into it as given.
#[derive(Debug, Clone, Default)]
pub struct PrivacyMetadata {
    /// The privacy mode.
    pub privacy_mode: PrivacyMode,
    /// Affected contract transactions; each gets a security hash.
    pub affected_contract_transactions: Vec<AffectedTransaction>,
    /// Execution hash (private state validation only).
    pub exec_hash: Vec<u8>,
    /// Mandatory recipients (mandatory-recipients mode only).
    pub mandatory_recipients: BTreeSet<PublicKey>,
    /// The privacy group sent to, if any.
    pub privacy_group_id: Option<PrivacyGroupId>,
}

/// A raw (pre-stored) transaction from `/storeraw`: sealed for its sender only.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RawTransaction {
    /// The message sealed under a random master key.
    pub encrypted_payload: Vec<u8>,
    /// The master key sealed under `beforenm(sender, sender)`, with the same nonce.
    pub encrypted_key: Vec<u8>,
    /// The nonce of both boxes.
    pub nonce: Nonce,
    /// The sender's public key.
    pub sender: PublicKey,
}

impl RawTransaction {
    /// Its hash: the digest of the encrypted payload.
    pub fn hash(&self, digest: PayloadDigest) -> TxHash {
        digest.digest(&self.encrypted_payload)
    }
}

/// The node's key pairs and the operations that use them.
pub struct Enclave {
    keys: Vec<KeyPair>,
    shared_keys: SharedKeyCache,
}

impl Enclave {
    /// An enclave over `keys`; the first is the default sender.
    pub fn new(keys: Vec<KeyPair>) -> Result<Self, EnclaveError> {
        if keys.is_empty() {
            return Err(EnclaveError::NoKeys);
        }
        Ok(Self {
            keys,
            shared_keys: SharedKeyCache::default(),
        })
    }

    /// The key used when a request names no sender.
    pub fn default_public_key(&self) -> &PublicKey {
        self.keys[0].public()
    }

    /// Every public key this node holds, in configuration order.
    pub fn public_keys(&self) -> impl Iterator<Item = &PublicKey> {
        self.keys.iter().map(KeyPair::public)
    }

    /// Whether this node holds `key`.
    pub fn holds(&self, key: &PublicKey) -> bool {
        self.keys.iter().any(|pair| pair.public() == key)
    }

    /// Encrypts `message` from `sender` (a local key) for `recipients` (the final list; the
    /// sender should be among them to be able to read its own transaction).
    pub fn encrypt_payload(
        &self,
        message: &[u8],
        sender: &PublicKey,
        recipients: &[PublicKey],
        privacy: PrivacyMetadata,
    ) -> Result<EncodedPayload, EnclaveError> {
        let secrets = PayloadSecrets::generate(&mut OsRng);
        self.encrypt_payload_with_secrets(secrets, message, sender, recipients, privacy)
    }

    /// [`Self::encrypt_payload`] with given secrets (deterministic, for test vectors).
    pub fn encrypt_payload_with_secrets(
        &self,
        secrets: PayloadSecrets,
        message: &[u8],
        sender: &PublicKey,
        recipients: &[PublicKey],
        privacy: PrivacyMetadata,
    ) -> Result<EncodedPayload, EnclaveError> {
        let cipher_text = nacl::seal(message, &secrets.cipher_text_nonce, &secrets.master_key);
        self.seal_for_recipients(secrets, cipher_text, sender, recipients, privacy)
    }

    /// Seals `message` for its sender only, for `/storeraw`.
    pub fn encrypt_raw_payload(
        &self,
        message: &[u8],
        sender: &PublicKey,
    ) -> Result<RawTransaction, EnclaveError> {
        let pair = self.key_pair(sender)?;
        let master_key = SymmetricKey::generate(&mut OsRng);
        let nonce = Nonce::generate(&mut OsRng);
        let self_key = self.shared_keys.get(sender, pair)?;
        Ok(RawTransaction {
            encrypted_payload: nacl::seal(message, &nonce, &master_key),
            encrypted_key: nacl::seal(master_key.as_bytes(), &nonce, &self_key),
            nonce,
            sender: *sender,
        })
    }

    /// Turns a raw transaction into a payload for `recipients`, reusing its cipher text and
    /// nonce (so its hash is the raw transaction's hash) with fresh recipient boxes.
    pub fn encrypt_payload_from_raw(
        &self,
        raw: &RawTransaction,
        recipients: &[PublicKey],
        privacy: PrivacyMetadata,
    ) -> Result<EncodedPayload, EnclaveError> {
        let secrets = PayloadSecrets {
            master_key: self.raw_master_key(raw)?,
            cipher_text_nonce: raw.nonce,
            recipient_nonce: Nonce::generate(&mut OsRng),
        };
        self.seal_for_recipients(
            secrets,
            raw.encrypted_payload.clone(),
            &raw.sender,
            recipients,
            privacy,
        )
    }

    /// Opens a raw transaction.
    pub fn unencrypt_raw_payload(&self, raw: &RawTransaction) -> Result<Vec<u8>, EnclaveError> {
        let master_key = self.raw_master_key(raw)?;
        Ok(nacl::open(&raw.encrypted_payload, &raw.nonce, &master_key)?)
    }

    /// Decrypts `payload` as the local key `my_key`.
    pub fn unencrypt_transaction(
        &self,
        payload: &EncodedPayload,
        my_key: &PublicKey,
    ) -> Result<Vec<u8>, EnclaveError> {
        let master_key = self.master_key(payload, my_key)?;
        Ok(nacl::open(
            &payload.cipher_text,
            &payload.cipher_text_nonce,
            &master_key,
        )?)
    }

    /// A box of `payload`'s master key for a new recipient (only the sender can make one).
    pub fn create_recipient_box(
        &self,
        payload: &EncodedPayload,
        recipient: &PublicKey,
    ) -> Result<Vec<u8>, EnclaveError> {
        let master_key = self.master_key(payload, &payload.sender_key)?;
        let shared = self
            .shared_keys
            .get(recipient, self.key_pair(&payload.sender_key)?)?;
        Ok(nacl::seal(
            master_key.as_bytes(),
            &payload.recipient_nonce,
            &shared,
        ))
    }

    /// The affected transactions whose security hash in `payload` does not verify.
    pub fn find_invalid_security_hashes(
        &self,
        payload: &EncodedPayload,
        affected: &[AffectedTransaction],
    ) -> BTreeSet<TxHash> {
        affected
            .iter()
            .filter(|tx| {
                let claimed = payload.affected_contract_transactions.get(&tx.hash);
                let actual = self
                    .affected_master_key(&tx.payload)
                    .map(|key| security_hash(&payload.cipher_text, &tx.payload.cipher_text, &key));
                match (claimed, actual) {
                    (Some(claimed), Ok(actual)) => *claimed != actual,
                    _ => true,
                }
            })
            .map(|tx| tx.hash.clone())
            .collect()
    }

    fn seal_for_recipients(
        &self,
        secrets: PayloadSecrets,
        cipher_text: Vec<u8>,
        sender: &PublicKey,
        recipients: &[PublicKey],
        privacy: PrivacyMetadata,
    ) -> Result<EncodedPayload, EnclaveError> {
        let pair = self.key_pair(sender)?;
        let recipient_boxes = recipients
            .iter()
            .map(|recipient| {
                let shared = self.shared_keys.get(recipient, pair)?;
                Ok(nacl::seal(
                    secrets.master_key.as_bytes(),
                    &secrets.recipient_nonce,
                    &shared,
                ))
            })
            .collect::<Result<Vec<_>, EnclaveError>>()?;
        let affected_contract_transactions = privacy
            .affected_contract_transactions
            .iter()
            .map(|tx| {
                let key = self.affected_master_key(&tx.payload)?;
                Ok((
                    tx.hash.clone(),
                    security_hash(&cipher_text, &tx.payload.cipher_text, &key),
                ))
            })
            .collect::<Result<_, EnclaveError>>()?;
        Ok(EncodedPayload {
            sender_key: *sender,
            cipher_text,
            cipher_text_nonce: secrets.cipher_text_nonce,
            recipient_boxes,
            recipient_nonce: secrets.recipient_nonce,
            recipient_keys: recipients.to_vec(),
            privacy_mode: privacy.privacy_mode,
            affected_contract_transactions,
            exec_hash: privacy.exec_hash,
            mandatory_recipients: privacy.mandatory_recipients,
            privacy_group_id: privacy.privacy_group_id,
        })
    }

    /// Recovers the master key as `my_key`, choosing box and other party as Tessera does.
    fn master_key(
        &self,
        payload: &EncodedPayload,
        my_key: &PublicKey,
    ) -> Result<SymmetricKey, EnclaveError> {
        let pair = self.key_pair(my_key)?;
        let sender = &payload.sender_key;
        let keys = &payload.recipient_keys;
        let index_of_mine = || {
            keys.iter()
                .position(|key| key == my_key)
                .ok_or(EnclaveError::NotARecipient(*my_key))
        };
        let (index, other) = if payload.privacy_mode == PrivacyMode::PrivateStateValidation {
            (index_of_mine()?, sender)
        } else if keys.is_empty() {
            (0, sender)
        } else if !keys.contains(sender) && self.holds(sender) && my_key == sender {
            // A very old payload of ours that does not list us: open the first recipient's box.
            (0, &keys[0])
        } else {
            (index_of_mine()?, sender)
        };
        let recipient_box = payload
            .recipient_boxes
            .get(index)
            .ok_or(EnclaveError::NotARecipient(*my_key))?;
        self.open_box(recipient_box, &payload.recipient_nonce, other, pair)
    }

    /// The master key of an affected transaction, recovered as Tessera does for security hashes.
    fn affected_master_key(&self, payload: &EncodedPayload) -> Result<SymmetricKey, EnclaveError> {
        let first_box = payload
            .recipient_boxes
            .first()
            .ok_or(EnclaveError::NotARecipient(payload.sender_key))?;
        if let Ok(pair) = self.key_pair(&payload.sender_key) {
            let other = payload
                .recipient_keys
                .first()
                .unwrap_or(&payload.sender_key);
            return self.open_box(first_box, &payload.recipient_nonce, other, pair);
        }
        self.keys
            .iter()
            .find_map(|pair| {
                self.open_box(
                    first_box,
                    &payload.recipient_nonce,
                    &payload.sender_key,
                    pair,
                )
                .ok()
            })
            .ok_or(EnclaveError::Nacl(NaclError::Unauthentic))
    }

    fn open_box(
        &self,
        recipient_box: &[u8],
        nonce: &Nonce,
        other: &PublicKey,
        pair: &KeyPair,
    ) -> Result<SymmetricKey, EnclaveError> {
        let shared = self.shared_keys.get(other, pair)?;
        let opened = zeroize::Zeroizing::new(nacl::open(recipient_box, nonce, &shared)?);
        SymmetricKey::from_slice(&opened).ok_or(EnclaveError::Nacl(NaclError::Unauthentic))
    }

    fn raw_master_key(&self, raw: &RawTransaction) -> Result<SymmetricKey, EnclaveError> {
        let pair = self.key_pair(&raw.sender)?;
        self.open_box(&raw.encrypted_key, &raw.nonce, &raw.sender, pair)
    }

    fn key_pair(&self, key: &PublicKey) -> Result<&KeyPair, EnclaveError> {
        self.keys
            .iter()
            .find(|pair| pair.public() == key)
            .ok_or(EnclaveError::UnknownKey(*key))
    }
}

impl std::fmt::Debug for Enclave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enclave")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;

    fn pair(seed: u8) -> KeyPair {
        KeyPair::from_private(PrivateKey::from_bytes([seed; 32]))
    }

    fn node(seed: u8) -> (Enclave, PublicKey) {
        let pair = pair(seed);
        let public = *pair.public();
        (Enclave::new(vec![pair]).unwrap(), public)
    }

    #[test]
    fn raw_payloads_open_for_their_sender_and_become_payloads_with_the_same_hash() {
        let (a, a_pub) = node(1);
        let (b, b_pub) = node(2);
        let raw = a.encrypt_raw_payload(b"signed tx", &a_pub).unwrap();
        assert_eq!(a.unencrypt_raw_payload(&raw).unwrap(), b"signed tx");
        let payload = a
            .encrypt_payload_from_raw(&raw, &[b_pub, a_pub], PrivacyMetadata::default())
            .unwrap();
        let digest = PayloadDigest::Sha3_512;
        assert_eq!(digest.digest(&payload.cipher_text), raw.hash(digest));
        let copy = payload.for_recipient(&b_pub).unwrap();
        assert_eq!(
            b.unencrypt_transaction(&copy, &b_pub).unwrap(),
            b"signed tx"
        );
        assert_eq!(
            a.unencrypt_transaction(&payload, &a_pub).unwrap(),
            b"signed tx"
        );
    }

    #[test]
    fn a_raw_payload_cannot_be_opened_by_another_node() {
        let (a, a_pub) = node(1);
        let raw = a.encrypt_raw_payload(b"x", &a_pub).unwrap();
        let (b, _) = node(2);
        assert_eq!(
            b.unencrypt_raw_payload(&raw),
            Err(EnclaveError::UnknownKey(a_pub))
        );
    }

    #[test]
    fn only_local_keys_can_send() {
        let (a, _) = node(1);
        let stranger = *pair(9).public();
        let err = a.encrypt_payload(b"x", &stranger, &[stranger], PrivacyMetadata::default());
        assert_eq!(err.unwrap_err(), EnclaveError::UnknownKey(stranger));
        assert_eq!(Enclave::new(vec![]).unwrap_err(), EnclaveError::NoKeys);
    }

    #[test]
    fn security_hashes_verify_for_the_real_affected_transaction_only() {
        let (a, a_pub) = node(1);
        let (b, b_pub) = node(2);
        let original = a
            .encrypt_payload(
                b"deploy",
                &a_pub,
                &[b_pub, a_pub],
                PrivacyMetadata::default(),
            )
            .unwrap();
        let original_hash = PayloadDigest::Sha3_512.digest(&original.cipher_text);
        // B received its copy of the contract creation and now sends a transaction affecting it.
        let b_copy = original.for_recipient(&b_pub).unwrap();
        let affected = AffectedTransaction {
            hash: original_hash.clone(),
            payload: b_copy,
        };
        let privacy = PrivacyMetadata {
            privacy_mode: PrivacyMode::PartyProtection,
            affected_contract_transactions: vec![affected],
            ..Default::default()
        };
        let call = b
            .encrypt_payload(b"call", &b_pub, &[a_pub, b_pub], privacy)
            .unwrap();
        assert!(call
            .affected_contract_transactions
            .contains_key(&original_hash));
        // A verifies against its own stored copy of the affected transaction.
        let at_a = [AffectedTransaction {
            hash: original_hash.clone(),
            payload: original.clone(),
        }];
        assert!(a.find_invalid_security_hashes(&call, &at_a).is_empty());
        // A forged security hash is reported.
        let mut forged = call.clone();
        forged.affected_contract_transactions.insert(
            original_hash.clone(),
            crate::digest::SecurityHash(vec![0; 64]),
        );
        assert_eq!(
            a.find_invalid_security_hashes(&forged, &at_a)
                .into_iter()
                .collect::<Vec<_>>(),
            [original_hash]
        );
    }

    #[test]
    fn the_sender_can_add_a_box_for_a_new_recipient() {
        let (a, a_pub) = node(1);
        let (c, c_pub) = node(3);
        let mut payload = a
            .encrypt_payload(b"late", &a_pub, &[a_pub], PrivacyMetadata::default())
            .unwrap();
        let new_box = a.create_recipient_box(&payload, &c_pub).unwrap();
        payload.recipient_keys.push(c_pub);
        payload.recipient_boxes.push(new_box);
        let copy = payload.for_recipient(&c_pub).unwrap();
        assert_eq!(c.unencrypt_transaction(&copy, &c_pub).unwrap(), b"late");
    }

    #[test]
    fn a_tampered_cipher_text_fails_authentication() {
        let (a, a_pub) = node(1);
        let mut payload = a
            .encrypt_payload(b"x", &a_pub, &[a_pub], PrivacyMetadata::default())
            .unwrap();
        payload.cipher_text[0] ^= 1;
        assert_eq!(
            a.unencrypt_transaction(&payload, &a_pub),
            Err(EnclaveError::Nacl(NaclError::Unauthentic))
        );
    }
}
