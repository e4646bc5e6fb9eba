use cloister_core::digest::TxHash;
use cloister_core::enclave::EnclaveError;
use cloister_core::keys::PublicKey;
use cloister_core::payload::PayloadError;
use cloister_store::StoreError;

use crate::peer_client::PeerError;

/// Why a transaction-manager operation failed. The HTTP layer maps each variant to Tessera's
/// status code and text body in one place (`api::error`).
#[derive(Debug, thiserror::Error)]
pub enum TransactionError {
    /// No transaction with this hash is stored.
    #[error("Message with hash {0} was not found")]
    NotFound(TxHash),
    /// No raw transaction with this hash is stored (read with `isRaw=true`).
    #[error("Raw Message with hash {0} was not found")]
    RawNotFound(TxHash),
    /// `/sendsignedtx` names a raw transaction that is not stored.
    #[error("Raw Transaction with hash {0} was not found")]
    RawTransactionNotFound(TxHash),
    /// The sender key is not held by this node.
    #[error("Key {0} not found")]
    UnknownSender(PublicKey),
    /// No known node holds a recipient key.
    #[error("Recipient not found for key: {0}")]
    RecipientNotFound(PublicKey),
    /// The privacy group is unknown or deleted.
    #[error("Privacy group Id[{0}] not found")]
    PrivacyGroupNotFound(String),
    /// The request is malformed (names the field).
    #[error("{0}")]
    BadRequest(String),
    /// A privacy rule forbids the operation (Tessera's PrivacyViolationException and friends).
    #[error("{0}")]
    PrivacyViolation(String),
    /// Nothing local can decrypt the transaction.
    #[error("No suitable recipient keys found to decrypt payload for : {0}")]
    NoSuitableKey(TxHash),
    /// The transaction exists but is not a mandatory-recipients transaction.
    #[error("Operation invalid. Transaction found is not a mandatory recipients privacy type")]
    NotMandatoryRecipients,
    /// A pushed payload conflicts with the stored transaction of the same hash.
    #[error("Invalid existing transaction")]
    ConflictingPayload,
    /// An idempotency key came back with a different request than the one it recorded.
    #[error("the Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    /// A recipient's node could not be reached.
    #[error("Node {url} is offline: {source}")]
    PeerUnreachable {
        /// The recipient node.
        url: String,
        /// What happened.
        source: PeerError,
    },
    /// The TLS handshake with a recipient's node failed: it is up, but one side does not
    /// trust the other's certificate (untrusted, fingerprint changed, expired…).
    #[error("Node {url} refused or was refused TLS: {source}")]
    PeerTls {
        /// The recipient node.
        url: String,
        /// The reason, from the handshake.
        source: PeerError,
    },
    /// A recipient's node refused the payload.
    #[error("Unable to push payload to recipient url {url}")]
    PushRejected {
        /// The recipient node.
        url: String,
    },
    /// The store cannot answer; never a 404.
    #[error("store unavailable: {0}")]
    Store(#[from] StoreError),
    /// A stored or received payload does not decode.
    #[error("{0}")]
    Payload(#[from] PayloadError),
    /// An enclave operation failed.
    #[error("{0}")]
    Enclave(#[from] EnclaveError),
    /// The operation is not available in this mode (recovery).
    #[error("{0}")]
    Unavailable(&'static str),
}

impl TransactionError {
    /// A failed call to the peer at `url`: refused (a non-success status), a failed TLS
    /// handshake, or unreachable.
    pub fn from_peer(url: &str, error: PeerError) -> Self {
        match error {
            PeerError::Status { .. } => Self::PushRejected {
                url: url.to_owned(),
            },
            source @ PeerError::Tls { .. } => Self::PeerTls {
                url: url.to_owned(),
                source,
            },
            source => Self::PeerUnreachable {
                url: url.to_owned(),
                source,
            },
        }
    }
}
