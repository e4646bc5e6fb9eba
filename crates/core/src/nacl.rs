//! The NaCl primitives Tessera's enclave is built from, in Tessera's byte conventions.
//!
//! - [`seal`]/[`open`]: XSalsa20-Poly1305 secretbox; the output is `tag(16) ‖ ciphertext`,
//!   exactly what jnacl returns after stripping NaCl's 16 leading zero bytes.
//! - [`shared_key`]: `crypto_box_beforenm` = HSalsa20(X25519(private, public), 0).

use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::keys::{PrivateKey, PublicKey};

/// Length of a NaCl nonce.
pub const NONCE_LENGTH: usize = 24;
/// Length of a secretbox key (a master key or a shared key).
pub const SYMMETRIC_KEY_LENGTH: usize = 32;
/// Bytes a secretbox adds to its message (the Poly1305 tag).
pub const TAG_LENGTH: usize = 16;

/// A 24-byte NaCl nonce.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Nonce(pub [u8; NONCE_LENGTH]);

impl Nonce {
    /// A fresh random nonce.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut bytes = [0u8; NONCE_LENGTH];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Takes a nonce from a slice that must be exactly 24 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }
}

impl AsRef<[u8]> for Nonce {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A 32-byte secretbox key: a payload's master key or a `beforenm` shared key.
/// Zeroized on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SymmetricKey([u8; SYMMETRIC_KEY_LENGTH]);

impl SymmetricKey {
    /// Wraps 32 key bytes.
    pub const fn from_bytes(bytes: [u8; SYMMETRIC_KEY_LENGTH]) -> Self {
        Self(bytes)
    }

    /// A fresh random key (Tessera's `createSingleKey`).
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut key = Self([0; SYMMETRIC_KEY_LENGTH]);
        rng.fill_bytes(&mut key.0);
        key
    }

    /// Takes a key from a slice that must be exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The raw key bytes.
    pub const fn as_bytes(&self) -> &[u8; SYMMETRIC_KEY_LENGTH] {
        &self.0
    }
}

impl std::fmt::Debug for SymmetricKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SymmetricKey(<redacted>)")
    }
}

/// A NaCl operation failed. Deliberately says nothing more: which part of an authenticated
/// decryption failed is not something to tell an attacker, and the inputs may be secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NaclError {
    /// The box did not authenticate under this key and nonce.
    #[error("decryption failed: the data was not encrypted for this key")]
    Unauthentic,
    /// X25519 gave the all-zero secret (a low-order public key); libsodium refuses it too.
    #[error("the public key is a low-order point and cannot be used")]
    LowOrderPublicKey,
}

/// Secretbox-encrypts `message`: returns `tag ‖ ciphertext`.
pub fn seal(message: &[u8], nonce: &Nonce, key: &SymmetricKey) -> Vec<u8> {
    XSalsa20Poly1305::new(&key.0.into())
        .encrypt(&nonce.0.into(), message)
        .expect("secretbox encryption cannot fail for in-memory messages")
}

/// Opens `tag ‖ ciphertext` made by [`seal`].
pub fn open(sealed: &[u8], nonce: &Nonce, key: &SymmetricKey) -> Result<Vec<u8>, NaclError> {
    XSalsa20Poly1305::new(&key.0.into())
        .decrypt(&nonce.0.into(), sealed)
        .map_err(|_| NaclError::Unauthentic)
}

/// `crypto_box_beforenm(public, private)`: the key both parties derive for boxes between them.
pub fn shared_key(public: &PublicKey, private: &PrivateKey) -> Result<SymmetricKey, NaclError> {
    let secret = x25519_dalek::StaticSecret::from(*private.as_bytes());
    let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(*public.as_bytes()));
    if !shared.was_contributory() {
        return Err(NaclError::LowOrderPublicKey);
    }
    let mut derived = salsa20::hsalsa::<salsa20::cipher::consts::U10>(
        shared.as_bytes().into(),
        &Default::default(),
    );
    let key = SymmetricKey(derived.into());
    derived.zeroize();
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_under_the_same_key_and_nonce() {
        let key = SymmetricKey::from_bytes([9; 32]);
        let nonce = Nonce([1; 24]);
        let sealed = seal(b"hi", &nonce, &key);
        assert_eq!(sealed.len(), 2 + TAG_LENGTH);
        assert_eq!(open(&sealed, &nonce, &key).unwrap(), b"hi");
        assert_eq!(
            open(&sealed, &Nonce([2; 24]), &key),
            Err(NaclError::Unauthentic)
        );
        assert_eq!(
            open(&sealed, &nonce, &SymmetricKey::from_bytes([8; 32])),
            Err(NaclError::Unauthentic)
        );
        assert_eq!(
            open(&sealed[..10], &nonce, &key),
            Err(NaclError::Unauthentic)
        );
    }

    #[test]
    fn low_order_public_keys_are_refused() {
        let zero = PublicKey::from_bytes([0; 32]);
        assert_eq!(
            shared_key(&zero, &PrivateKey::from_bytes([5; 32])).map(|_| ()),
            Err(NaclError::LowOrderPublicKey)
        );
    }
}
