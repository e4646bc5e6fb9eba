//! The `EncodedPayload`: what a private transaction is on the wire and in the store.
//!
//! [`EncodedPayload`] is the logical model (Tessera's class of the same name); [`legacy`] and
//! [`cbor`] are its two wire codecs, and [`PayloadCodec`] picks between them the way Tessera
//! negotiates with a peer.

pub mod cbor;
mod codec;
pub mod legacy;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

pub use codec::PayloadCodec;

use crate::binary::BinaryError;
use crate::digest::{SecurityHash, TxHash};
use crate::keys::{KeyError, PublicKey};
use crate::nacl::Nonce;
use crate::privacy_group::PrivacyGroupId;

/// Tessera's privacy modes, carried as a one-byte flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum PrivacyMode {
    /// Flag 0: plain private transaction.
    #[default]
    StandardPrivate,
    /// Flag 1: party protection (enhanced privacy).
    PartyProtection,
    /// Flag 2: mandatory recipients.
    MandatoryRecipients,
    /// Flag 3: private state validation (carries an `execHash`).
    PrivateStateValidation,
}

impl PrivacyMode {
    /// The wire flag.
    pub const fn flag(self) -> u8 {
        match self {
            Self::StandardPrivate => 0,
            Self::PartyProtection => 1,
            Self::MandatoryRecipients => 2,
            Self::PrivateStateValidation => 3,
        }
    }

    /// The mode for a wire flag; like Tessera, an unknown flag means standard private.
    pub const fn from_flag(flag: u64) -> Self {
        match flag {
            1 => Self::PartyProtection,
            2 => Self::MandatoryRecipients,
            3 => Self::PrivateStateValidation,
            _ => Self::StandardPrivate,
        }
    }

    /// Whether the mode is one of the enhanced-privacy modes (party protection or PSV).
    pub const fn is_enhanced(self) -> bool {
        matches!(self, Self::PartyProtection | Self::PrivateStateValidation)
    }
}

/// An encrypted private transaction with everything a party needs to decrypt its copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPayload {
    /// The sender's public key.
    pub sender_key: PublicKey,
    /// `tag ‖ ciphertext` of the transaction under the payload's master key.
    pub cipher_text: Vec<u8>,
    /// Nonce of `cipher_text`.
    pub cipher_text_nonce: Nonce,
    /// The master key sealed for each recipient (48 bytes each), index-aligned with
    /// `recipient_keys` when keys are present.
    pub recipient_boxes: Vec<Vec<u8>>,
    /// The single nonce shared by all recipient boxes.
    pub recipient_nonce: Nonce,
    /// The recipients; empty in very old payloads.
    pub recipient_keys: Vec<PublicKey>,
    /// The privacy mode.
    pub privacy_mode: PrivacyMode,
    /// Affected contract transactions and their security hashes.
    pub affected_contract_transactions: BTreeMap<TxHash, SecurityHash>,
    /// The execution hash; non-empty exactly when the mode is private state validation.
    pub exec_hash: Vec<u8>,
    /// Mandatory recipients; non-empty exactly when the mode is mandatory recipients.
    pub mandatory_recipients: BTreeSet<PublicKey>,
    /// The privacy group the transaction was sent to, if any.
    pub privacy_group_id: Option<PrivacyGroupId>,
}

/// Why bytes could not be decoded into an [`EncodedPayload`], or a payload is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The LEGACY framing is broken.
    #[error("invalid LEGACY payload: {0}")]
    Binary(#[from] BinaryError),
    /// The CBOR is malformed or has the wrong shape.
    #[error("invalid CBOR payload: {0}")]
    Cbor(String),
    /// A required CBOR member is absent.
    #[error("invalid CBOR payload: missing `{0}`")]
    MissingField(&'static str),
    /// A key field has the wrong length.
    #[error("invalid payload: {0}")]
    Key(#[from] KeyError),
    /// A nonce is not 24 bytes.
    #[error("invalid payload: {field} must be 24 bytes, found {actual}")]
    NonceLength {
        /// Which nonce.
        field: &'static str,
        /// Its length.
        actual: usize,
    },
    /// The privacy flag field is empty.
    #[error("invalid payload: empty privacy flag")]
    EmptyPrivacyFlag,
    /// An affected-transaction key in CBOR is not base64.
    #[error("invalid CBOR payload: affected transaction hash is not base64")]
    AffectedHashNotBase64,
    /// `execHash` is present without private state validation, or missing with it.
    #[error("invalid payload: execHash must be present exactly when the privacy mode is private state validation")]
    ExecHashMismatch,
    /// Mandatory recipients are present without the mode, or missing with it.
    #[error("invalid payload: mandatory recipients must be present exactly when the privacy mode is mandatory recipients")]
    MandatoryRecipientsMismatch,
    /// The key asked for is not a recipient of this payload.
    #[error("{0} is not a recipient of this payload")]
    NotARecipient(PublicKey),
    /// A recipient box is not one sealed master key.
    #[error("invalid payload: a recipient box must be 48 bytes, found {0}")]
    BoxLength(usize),
    /// More boxes than recipients.
    #[error("invalid payload: {boxes} recipient boxes for {keys} recipient keys")]
    TooManyBoxes {
        /// Boxes in the payload.
        boxes: usize,
        /// Keys in the payload.
        keys: usize,
    },
    /// A recipient key is listed twice.
    #[error("invalid payload: a recipient key is listed twice")]
    RepeatedRecipient,
}

impl EncodedPayload {
    /// Checks the builder invariants Tessera enforces on every payload it decodes.
    pub fn validate(&self) -> Result<(), PayloadError> {
        let psv = self.privacy_mode == PrivacyMode::PrivateStateValidation;
        if psv == self.exec_hash.is_empty() {
            return Err(PayloadError::ExecHashMismatch);
        }
        let mr = self.privacy_mode == PrivacyMode::MandatoryRecipients;
        if mr == self.mandatory_recipients.is_empty() {
            return Err(PayloadError::MandatoryRecipientsMismatch);
        }
        Ok(())
    }

    /// The copy pushed to one recipient: only its box, and only its key (for private state
    /// validation: every key, with the recipient's moved to the front).
    pub fn copy_for(&self, recipient: &PublicKey) -> Result<PayloadCopy<'_>, PayloadError> {
        let index = self
            .recipient_keys
            .iter()
            .position(|key| key == recipient)
            .filter(|&index| index < self.recipient_boxes.len())
            .ok_or(PayloadError::NotARecipient(*recipient))?;
        let recipient_keys = if self.privacy_mode == PrivacyMode::PrivateStateValidation {
            let mut keys = self.recipient_keys.clone();
            let key = keys.remove(index);
            keys.insert(0, key);
            Cow::Owned(keys)
        } else {
            Cow::Borrowed(std::slice::from_ref(&self.recipient_keys[index]))
        };
        Ok(PayloadCopy {
            payload: self,
            boxes: vec![&self.recipient_boxes[index]],
            keys: recipient_keys,
        })
    }

    /// The whole payload as a copy: every box and key (what its sender may read).
    pub fn copy_all(&self) -> PayloadCopy<'_> {
        PayloadCopy {
            payload: self,
            boxes: self.recipient_boxes.iter().map(Vec::as_slice).collect(),
            keys: Cow::Borrowed(&self.recipient_keys),
        }
    }

    /// [`EncodedPayload::copy_for`], owned.
    pub fn for_recipient(&self, recipient: &PublicKey) -> Result<Self, PayloadError> {
        self.copy_for(recipient).map(|copy| copy.to_payload())
    }

    /// Checks what a payload received from a peer may hold: every recipient box is one sealed
    /// master key ([`RECIPIENT_BOX_LEN`] bytes), there is at most one box per recipient key (one
    /// when an old payload lists no keys), and no key is listed twice. Bounds the work a merge
    /// does with it by the number of recipients, not by what a peer chose to send.
    pub fn check_boxes(&self) -> Result<(), PayloadError> {
        if let Some(length) = self
            .recipient_boxes
            .iter()
            .map(Vec::len)
            .find(|len| *len != RECIPIENT_BOX_LEN)
        {
            return Err(PayloadError::BoxLength(length));
        }
        if self.recipient_boxes.len() > self.recipient_keys.len().max(1) {
            return Err(PayloadError::TooManyBoxes {
                boxes: self.recipient_boxes.len(),
                keys: self.recipient_keys.len(),
            });
        }
        let distinct: BTreeSet<&PublicKey> = self.recipient_keys.iter().collect();
        if distinct.len() != self.recipient_keys.len() {
            return Err(PayloadError::RepeatedRecipient);
        }
        Ok(())
    }
}

/// The length of a recipient box: a 32-byte master key sealed with NaCl's box (16-byte tag).
pub const RECIPIENT_BOX_LEN: usize = 48;

/// A copy of a payload as sent to one party, borrowed from the whole payload: its fields with
/// the boxes and keys that party gets (one recipient's, or every one for its sender).
/// [`PayloadCodec::encode_copy`] writes it; building it copies no byte of the cipher text.
#[derive(Debug, Clone)]
pub struct PayloadCopy<'a> {
    pub(crate) payload: &'a EncodedPayload,
    pub(crate) boxes: Vec<&'a [u8]>,
    pub(crate) keys: Cow<'a, [PublicKey]>,
}

impl PayloadCopy<'_> {
    /// About how many bytes either codec writes for this copy (at least as many, for the
    /// usual fields): every variable-length field plus room for names and length prefixes.
    pub(crate) fn encoded_len_hint(&self) -> usize {
        /// Names, length prefixes, nonces, flag, sender: what does not grow with the payload.
        const FIXED: usize = 512;
        /// A length prefix (LEGACY's 8 bytes) plus a CBOR text key or header.
        const PER_ITEM: usize = 24;
        let payload = self.payload;
        let items = |count: usize, each: usize| count * (each + PER_ITEM);
        FIXED
            + payload.cipher_text.len()
            + payload.exec_hash.len()
            + self.boxes.iter().map(|b| b.len() + PER_ITEM).sum::<usize>()
            + items(self.keys.len(), 32)
            + items(payload.mandatory_recipients.len(), 32)
            + payload
                .affected_contract_transactions
                .iter()
                .map(|(hash, security)| {
                    // CBOR writes the hash as base64 text.
                    hash.as_bytes().len() * 4 / 3 + security.0.len() + 2 * PER_ITEM
                })
                .sum::<usize>()
    }

    /// The copy as a payload of its own.
    pub fn to_payload(&self) -> EncodedPayload {
        EncodedPayload {
            recipient_boxes: self.boxes.iter().map(|b| b.to_vec()).collect(),
            recipient_keys: self.keys.to_vec(),
            ..self.payload.clone()
        }
    }
}

fn nonce(field: &'static str, bytes: &[u8]) -> Result<Nonce, PayloadError> {
    Nonce::from_slice(bytes).ok_or(PayloadError::NonceLength {
        field,
        actual: bytes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(boxes: Vec<Vec<u8>>, keys: Vec<PublicKey>) -> EncodedPayload {
        EncodedPayload {
            sender_key: PublicKey::from_bytes([1; 32]),
            cipher_text: vec![9; 20],
            cipher_text_nonce: Nonce([2; 24]),
            recipient_boxes: boxes,
            recipient_nonce: Nonce([3; 24]),
            recipient_keys: keys,
            privacy_mode: PrivacyMode::StandardPrivate,
            affected_contract_transactions: BTreeMap::new(),
            exec_hash: Vec::new(),
            mandatory_recipients: BTreeSet::new(),
            privacy_group_id: None,
        }
    }

    #[test]
    fn boxes_are_one_sealed_key_each_and_at_most_one_per_recipient() {
        let key = |b| PublicKey::from_bytes([b; 32]);
        let sealed = vec![0u8; RECIPIENT_BOX_LEN];
        assert_eq!(
            payload(vec![sealed.clone()], vec![key(5)]).check_boxes(),
            Ok(())
        );
        assert_eq!(
            payload(vec![sealed.clone()], vec![]).check_boxes(),
            Ok(()),
            "old payloads list no keys"
        );
        assert_eq!(
            payload(vec![vec![0; 47]], vec![key(5)]).check_boxes(),
            Err(PayloadError::BoxLength(47))
        );
        assert_eq!(
            payload(vec![sealed.clone(); 3], vec![key(5), key(6)]).check_boxes(),
            Err(PayloadError::TooManyBoxes { boxes: 3, keys: 2 })
        );
        assert_eq!(
            payload(vec![sealed; 2], vec![key(5), key(5)]).check_boxes(),
            Err(PayloadError::RepeatedRecipient)
        );
    }
}
