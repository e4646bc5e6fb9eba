//! A cache of `beforenm` shared keys, one per (remote public key, local key pair).
//!
//! An X25519 multiplication costs far more than sealing a 32-byte master key, so a node that
//! talks to the same parties again and again should compute each shared key once.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::keys::{KeyPair, PublicKey};
use crate::nacl::{self, NaclError, SymmetricKey};

/// Entries kept before the cache is emptied. Payloads pushed by peers carry arbitrary sender
/// keys, so an unbounded cache would let a peer grow memory at will.
const CAPACITY: usize = 16_384;

/// Thread-safe cache of shared keys.
#[derive(Default)]
pub(crate) struct SharedKeyCache {
    keys: RwLock<HashMap<(PublicKey, PublicKey), SymmetricKey>>,
}

impl SharedKeyCache {
    /// `beforenm(other, local.private)`, computed once per pair.
    pub(crate) fn get(
        &self,
        other: &PublicKey,
        local: &KeyPair,
    ) -> Result<SymmetricKey, NaclError> {
        let id = (*other, *local.public());
        if let Some(key) = self.keys.read().unwrap_or_else(|e| e.into_inner()).get(&id) {
            return Ok(key.clone());
        }
        let key = nacl::shared_key(other, local.private())?;
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        if keys.len() >= CAPACITY {
            keys.clear();
        }
        keys.insert(id, key.clone());
        Ok(key)
    }
}
