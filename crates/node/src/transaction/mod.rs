//! The transaction manager: Tessera's `TransactionManagerImpl`, over the enclave, the shared
//! store and the peers.
//!
//! Every piece of request state lives in the store, so any replica can serve any request:
//! - [`send`]: `/send`, `/sendsignedtx`, `/storeraw`, `/encodedpayload/create`;
//! - [`idempotency`]: exactly-once `/send` and `/sendsignedtx` across replicas;
//! - [`receive`]: `/transaction/{hash}` and the calls that read one stored transaction;
//! - [`push`]: payloads pushed by peers, merged into the store with compare-and-swap;
//! - [`resend`]: `/resend` (ALL and INDIVIDUAL) and `/resendBatch`;
//! - [`recovery`]: staging `/pushBatch` payloads and storing them in dependency order;
//! - [`privacy_groups`]: creating, finding and deleting privacy groups;
//! - [`privacy`]: the enhanced-privacy rules (party protection, PSV, mandatory recipients).

mod error;
pub mod idempotency;
pub mod privacy;
pub mod privacy_groups;
pub mod push;
pub mod receive;
pub mod recovery;
pub mod resend;
pub mod send;

use std::collections::BTreeSet;
use std::sync::Arc;

use cloister_core::digest::{PayloadDigest, TxHash};
use cloister_core::enclave::Enclave;
use cloister_core::keys::PublicKey;
use cloister_core::payload::{EncodedPayload, PayloadCodec, PrivacyMode};
use cloister_core::privacy_group::PrivacyGroupId;
use cloister_store::{Store, TransactionRow};
use tokio::sync::{Semaphore, SemaphorePermit};

pub use error::TransactionError;

use crate::discovery::{Network, PeerNode};
use crate::peer_client::PeerClient;

/// The privacy settings a client asks for on `/send` or `/sendsignedtx`.
#[derive(Debug, Clone, Default)]
pub struct PrivacyRequest {
    /// The privacy mode.
    pub mode: PrivacyMode,
    /// Affected contract transactions (must be stored locally).
    pub affected: Vec<TxHash>,
    /// Execution hash (PSV), stored as the bytes of the string the client sent.
    pub exec_hash: Vec<u8>,
    /// Mandatory recipients (mandatory-recipients mode).
    pub mandatory_recipients: BTreeSet<PublicKey>,
    /// Send to the members of this privacy group instead of `to`.
    pub privacy_group_id: Option<PrivacyGroupId>,
}

/// The outcome of a send: what GoQuorum reads back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The transaction hash.
    pub hash: TxHash,
    /// The sender and every recipient held by this node.
    pub managed_parties: Vec<PublicKey>,
    /// The sender.
    pub sender: PublicKey,
}

/// What the transaction manager is configured with.
#[derive(Debug, Clone, Copy)]
pub struct TransactionRules {
    /// Transaction-hash digest.
    pub digest: PayloadDigest,
    /// `features.enablePrivacyEnhancements`.
    pub privacy_enhancements: bool,
    /// The node runs in recovery mode.
    pub recovery_mode: bool,
}

/// The transaction manager. Cheap to share: hold it in an `Arc`.
pub struct TransactionManager {
    enclave: Arc<Enclave>,
    store: Arc<dyn Store>,
    network: Arc<Network>,
    peers: PeerClient,
    forwarding_keys: Vec<PublicKey>,
    rules: TransactionRules,
    /// Turns for resends (`maxConcurrentResends`): a peer's resend reads the whole store.
    resends: Semaphore,
    /// What this node's own recovery (`--recover`) has received and stored so far.
    recovery: recovery::Progress,
}

impl TransactionManager {
    /// A manager over these parts.
    pub fn new(
        enclave: Arc<Enclave>,
        store: Arc<dyn Store>,
        network: Arc<Network>,
        peers: PeerClient,
        forwarding_keys: Vec<PublicKey>,
        rules: TransactionRules,
    ) -> Self {
        let resends = Semaphore::new(network.limits().max_concurrent_resends.max(1));
        Self {
            enclave,
            store,
            network,
            peers,
            forwarding_keys,
            rules,
            resends,
            recovery: recovery::Progress::default(),
        }
    }

    /// Waits for a turn to resend (see `maxConcurrentResends`).
    async fn resend_turn(&self) -> Option<SemaphorePermit<'_>> {
        // The semaphore is never closed; `None` would only mean running without a turn.
        self.resends.acquire().await.ok()
    }

    /// The enclave (for handlers that list keys).
    pub fn enclave(&self) -> &Enclave {
        &self.enclave
    }

    /// The store (for health checks).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The transaction-hash digest in use.
    pub fn digest(&self) -> PayloadDigest {
        self.rules.digest
    }

    /// Loads and decodes a stored transaction; `Ok(None)` only if the store lacks it.
    async fn load(&self, hash: &TxHash) -> Result<Option<EncodedPayload>, TransactionError> {
        match self.store.get_transaction(hash).await? {
            Some(row) => Ok(Some(row.codec.decode(&row.encoded_payload)?)),
            None => Ok(None),
        }
    }

    /// Loads a stored transaction that must exist.
    async fn load_existing(&self, hash: &TxHash) -> Result<EncodedPayload, TransactionError> {
        self.load(hash)
            .await?
            .ok_or_else(|| TransactionError::NotFound(hash.clone()))
    }

    /// The row a new payload is stored as (current codec, now).
    fn new_row(hash: TxHash, payload: &EncodedPayload) -> TransactionRow {
        TransactionRow {
            hash,
            encoded_payload: PayloadCodec::CURRENT.encode(payload),
            codec: PayloadCodec::CURRENT,
            timestamp: cloister_store::now_millis(),
        }
    }

    /// The node holding `key`, which must be known.
    async fn node_of(&self, key: &PublicKey) -> Result<PeerNode, TransactionError> {
        self.network
            .node_for_key(key)
            .await?
            .ok_or(TransactionError::RecipientNotFound(*key))
    }

    /// Local keys among `keys`, in order.
    fn managed(&self, keys: &[PublicKey]) -> Vec<PublicKey> {
        keys.iter()
            .filter(|key| self.enclave.holds(key))
            .copied()
            .collect()
    }
}

/// `keys` without repeats, first occurrence kept (Tessera's recipient-list rule).
fn distinct(keys: impl IntoIterator<Item = PublicKey>) -> Vec<PublicKey> {
    let mut seen = BTreeSet::new();
    keys.into_iter().filter(|key| seen.insert(*key)).collect()
}
