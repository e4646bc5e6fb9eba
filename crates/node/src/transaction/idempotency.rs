//! Exactly-once writes across replicas: a write sent with an `Idempotency-Key` header (the
//! proxy adds one to every Q2T write, and keeps it on retries) is recorded in the shared store
//! in the same transaction as the row it creates. A repeat of the key, on any replica, gets the
//! first outcome (the same hash) instead of a second transaction, and the first transaction is
//! pushed to its recipients again, since its first replica may have died before pushing
//! (pushes merge, so a second one changes nothing where the first arrived).
//!
//! The key is not looked up before encrypting: repeats are rare, and the insert that records
//! the key is what decides (one round trip to the store on the common path, and no window in
//! which two replicas both see the key as new).

use cloister_core::digest::{PayloadDigest, TxHash};
use cloister_store::IdempotencyRow;

use super::{Sent, TransactionError, TransactionManager};

/// The longest key accepted (the column is `VARCHAR(255)`).
pub const MAX_KEY_LENGTH: usize = 255;

/// An idempotency key and the fingerprint of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    key: String,
    fingerprint: Vec<u8>,
}

/// Why an `Idempotency-Key` header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} visible ASCII characters")]
pub struct InvalidKey;

impl Idempotency {
    /// A key for a request whose identifying parts (path, body, recipient headers) are
    /// `parts`: a repeat of the key must come with the same parts.
    pub fn new(key: &str, parts: &[&[u8]]) -> Result<Self, InvalidKey> {
        let valid =
            (1..=MAX_KEY_LENGTH).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            return Err(InvalidKey);
        }
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        let mut joined = Vec::new();
        for part in parts {
            joined.extend_from_slice(&(part.len() as u64).to_be_bytes());
            joined.extend_from_slice(part);
        }
        Ok(Self {
            key: key.to_owned(),
            fingerprint: PayloadDigest::Sha3_512.digest(&joined).as_bytes().to_vec(),
        })
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The record of this key for the transaction `hash`, stamped now.
    pub(super) fn record(&self, hash: &TxHash) -> IdempotencyRow {
        IdempotencyRow {
            key: self.key.clone(),
            fingerprint: self.fingerprint.clone(),
            hash: hash.clone(),
            timestamp: cloister_store::now_millis(),
        }
    }
}

impl TransactionManager {
    /// Answers a repeat of a recorded key.
    pub(super) async fn repeat(
        &self,
        idempotency: &Idempotency,
        record: IdempotencyRow,
    ) -> Result<Option<Sent>, TransactionError> {
        if record.fingerprint != idempotency.fingerprint {
            return Err(TransactionError::IdempotencyKeyReused);
        }
        let Some(payload) = self.load(&record.hash).await? else {
            // The first attempt's push failed and its row was removed after its record was
            // written: the record names nothing, so the request starts afresh.
            self.store.delete_idempotency(&record.key).await?;
            return Ok(None);
        };
        self.push_stored(&payload).await?;
        Ok(Some(self.sent(record.hash, &payload)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        assert!(Idempotency::new("0b7f-uuid", &[b"body"]).is_ok());
        for bad in ["", "has space", "tab\t", "ünïcode", &"k".repeat(256)] {
            assert_eq!(Idempotency::new(bad, &[]), Err(InvalidKey), "{bad:?}");
        }
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        let key = |parts: &[&[u8]]| Idempotency::new("k", parts).unwrap().fingerprint;
        assert_eq!(key(&[b"/send", b"x"]), key(&[b"/send", b"x"]));
        assert_ne!(key(&[b"/send", b"x"]), key(&[b"/send", b"y"]));
        assert_ne!(key(&[b"ab", b"c"]), key(&[b"a", b"bc"]));
    }
}
