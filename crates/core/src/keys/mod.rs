//! X25519 key pairs and Tessera's key files.
//!
//! - [`PublicKey`] and [`PrivateKey`]: 32-byte NaCl keys; private keys are zeroized on drop and
//!   never printed.
//! - [`file`]: the `.pub` file (bare base64) and the `.key` JSON (`unlocked` or `argon2sbox`).
//! - [`argon`]: the Argon2 options of a locked key and the key derivation.
//! - [`source`]: how a config's `keys` section (files, inline data, passwords) becomes key pairs.

pub mod argon;
pub mod file;
pub mod source;

mod password;
pub use password::Password;

use std::fmt;

use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::b64;

/// Length in bytes of an X25519 public or private key.
pub const KEY_LENGTH: usize = 32;

/// Why key bytes or key text were rejected. Never carries any key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text was not base64.
    #[error("{what} is not valid base64")]
    InvalidBase64 {
        /// Which key it was meant to be.
        what: &'static str,
    },
    /// The bytes were not a 32-byte key.
    #[error("{what} must be {KEY_LENGTH} bytes, found {actual}")]
    WrongLength {
        /// Which key it was meant to be.
        what: &'static str,
        /// How many bytes there were.
        actual: usize,
    },
}

/// The constructors both key types share: from exactly 32 bytes, as an array or a slice.
macro_rules! key_from_bytes {
    ($key:ident) => {
        impl $key {
            /// Wraps 32 key bytes.
            pub const fn from_bytes(bytes: [u8; KEY_LENGTH]) -> Self {
                Self(bytes)
            }

            /// Takes a key from a slice that must be exactly 32 bytes; `what` names it in the
            /// error.
            pub fn from_slice(bytes: &[u8], what: &'static str) -> Result<Self, KeyError> {
                let bytes = bytes.try_into().map_err(|_| KeyError::WrongLength {
                    what,
                    actual: bytes.len(),
                })?;
                Ok(Self(bytes))
            }
        }
    };
}

/// An X25519 public key: how parties are named everywhere in Tessera.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey([u8; KEY_LENGTH]);

key_from_bytes!(PublicKey);

impl PublicKey {
    /// Parses base64 key text; `what` names the key in the error.
    pub fn from_base64(text: &str, what: &'static str) -> Result<Self, KeyError> {
        let bytes = b64::decode(text).map_err(|_| KeyError::InvalidBase64 { what })?;
        Self::from_slice(&bytes, what)
    }

    /// The raw key bytes.
    pub const fn as_bytes(&self) -> &[u8; KEY_LENGTH] {
        &self.0
    }

    /// The padded base64 form used in files, configs and APIs.
    pub fn to_base64(&self) -> String {
        b64::encode(self.0)
    }
}

impl AsRef<[u8]> for PublicKey {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// An X25519 private key. Zeroized on drop; `Debug` never shows it; deliberately not
/// comparable, so no code path compares secrets in variable time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PrivateKey([u8; KEY_LENGTH]);

key_from_bytes!(PrivateKey);

impl PrivateKey {
    /// Parses base64 key text; `what` names the key in the error (never the text).
    pub fn from_base64(text: &str, what: &'static str) -> Result<Self, KeyError> {
        let bytes = zeroize::Zeroizing::new(
            b64::decode(text).map_err(|_| KeyError::InvalidBase64 { what })?,
        );
        Self::from_slice(&bytes, what)
    }

    /// A fresh random key.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut bytes = [0u8; KEY_LENGTH];
        rng.fill_bytes(&mut bytes);
        let key = Self(bytes);
        bytes.zeroize();
        key
    }

    /// The raw key bytes. Handle with care: copies are not zeroized for you.
    pub const fn as_bytes(&self) -> &[u8; KEY_LENGTH] {
        &self.0
    }

    /// The base64 form written into `unlocked` key files, wrapped so it is wiped after use.
    pub fn to_base64(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(b64::encode(self.0))
    }

    /// The matching public key (X25519 base-point multiplication).
    pub fn public_key(&self) -> PublicKey {
        let secret = x25519_dalek::StaticSecret::from(self.0);
        PublicKey(*x25519_dalek::PublicKey::from(&secret).as_bytes())
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

/// A public key with its private key.
#[derive(Clone)]
pub struct KeyPair {
    public: PublicKey,
    private: PrivateKey,
}

impl KeyPair {
    /// Pairs a private key with its derived public key.
    pub fn from_private(private: PrivateKey) -> Self {
        Self {
            public: private.public_key(),
            private,
        }
    }

    /// Pairs keys read separately (from a `.pub` and a `.key` file), checking that they match.
    pub fn new(public: PublicKey, private: PrivateKey) -> Result<Self, KeyPairMismatch> {
        if private.public_key() != public {
            return Err(KeyPairMismatch { public });
        }
        Ok(Self { public, private })
    }

    /// A fresh random key pair.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        Self::from_private(PrivateKey::generate(rng))
    }

    /// The public half.
    pub const fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The private half.
    pub const fn private(&self) -> &PrivateKey {
        &self.private
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// A private key whose public key is not the one it was configured with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the private key does not belong to public key {public}")]
pub struct KeyPairMismatch {
    /// The configured public key.
    pub public: PublicKey,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_is_derived_as_nacl_does() {
        let private =
            PrivateKey::from_base64("yAWAJjwPqUtNVlqGjSrBmr1/iIkghuOh1803Yzx9jLM=", "k").unwrap();
        assert_eq!(
            private.public_key().to_base64(),
            "/+UuD63zItL1EbjxkKUljMgG8Z1w0AJ8pNOR4iq2yQc="
        );
        let private =
            PrivateKey::from_base64("Wl+xSyXVuuqzpvznOS7dOobhcn4C5auxkFRi7yLtgtA=", "k").unwrap();
        assert_eq!(
            private.public_key().to_base64(),
            "BULeR8JyUWhiuuCMU/HLA0Q5pzkYT+cHII3ZKBey3Bo="
        );
    }

    #[test]
    fn private_keys_never_print() {
        let private = PrivateKey::from_bytes([7; 32]);
        assert_eq!(format!("{private:?}"), "PrivateKey(<redacted>)");
        let pair = KeyPair::from_private(private);
        assert!(!format!("{pair:?}").contains(&*pair.private().to_base64()));
    }

    #[test]
    fn wrong_lengths_are_named_errors() {
        assert_eq!(
            PublicKey::from_base64("AAAA", "peer key"),
            Err(KeyError::WrongLength {
                what: "peer key",
                actual: 3
            })
        );
        assert_eq!(
            PrivateKey::from_base64("not base64!", "key").unwrap_err(),
            KeyError::InvalidBase64 { what: "key" }
        );
    }

    #[test]
    fn mismatched_pairs_are_rejected() {
        let a = PrivateKey::from_bytes([1; 32]);
        let b = PrivateKey::from_bytes([2; 32]).public_key();
        assert!(KeyPair::new(b, a).is_err());
    }
}
