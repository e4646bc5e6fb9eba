//! The `EncodedPayload`: what a private transaction is on the wire and in the store.
//!
//! [`EncodedPayload`] is the logical model (Tessera's class of the same name); [`legacy`] and
//! [`cbor`] are its two wire codecs, and [`PayloadCodec`] picks between them the way Tessera
//! negotiates with a peer.

pub mod cbor;
mod codec;
pub mod legacy;

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
    pub fn for_recipient(&self, recipient: &PublicKey) -> Result<Self, PayloadError> {
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
            keys
        } else {
            vec![*recipient]
        };
        Ok(Self {
            recipient_boxes: vec![self.recipient_boxes[index].clone()],
            recipient_keys,
            ..self.clone()
        })
    }
}

fn nonce(field: &'static str, bytes: &[u8]) -> Result<Nonce, PayloadError> {
    Nonce::from_slice(bytes).ok_or(PayloadError::NonceLength {
        field,
        actual: bytes.len(),
    })
}
