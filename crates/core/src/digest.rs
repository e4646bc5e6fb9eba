//! Hashes: the transaction hash that names a payload everywhere, and the security hash that
//! binds a transaction to the affected contract transactions it depends on.

use sha2::Sha512_256;
use sha3::{Digest, Sha3_512};

use crate::b64;
use crate::nacl::SymmetricKey;

/// A transaction hash: 64 bytes (SHA3-512 of the cipher text) or 32 bytes in orion mode.
/// Base64 in APIs, raw bytes in the database.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxHash(Vec<u8>);

b64::base64_bytes!(TxHash);

impl AsRef<[u8]> for TxHash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Display for TxHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_base64())
    }
}

/// The 64-byte SHA3-512 hash tying a transaction to an affected contract transaction.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct SecurityHash(pub Vec<u8>);

impl AsRef<[u8]> for SecurityHash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Which digest names payloads: Tessera's default, or SHA-512/256 in orion (Besu) mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PayloadDigest {
    /// SHA3-512 → 64 bytes.
    #[default]
    Sha3_512,
    /// SHA-512/256 → 32 bytes (`mode = "orion"`).
    Sha512_256,
}

impl PayloadDigest {
    /// The transaction hash of a payload's cipher text (or of a raw payload's encrypted bytes).
    pub fn digest(self, cipher_text: &[u8]) -> TxHash {
        match self {
            Self::Sha3_512 => TxHash(Sha3_512::digest(cipher_text).to_vec()),
            Self::Sha512_256 => TxHash(Sha512_256::digest(cipher_text).to_vec()),
        }
    }
}

/// SHA3-512(new cipher text ‖ affected cipher text ‖ affected master key): proves the sender
/// could decrypt the affected transaction when it created the new one.
pub fn security_hash(
    cipher_text: &[u8],
    affected_cipher_text: &[u8],
    affected_master_key: &SymmetricKey,
) -> SecurityHash {
    let mut hasher = Sha3_512::new();
    hasher.update(cipher_text);
    hasher.update(affected_cipher_text);
    hasher.update(affected_master_key.as_bytes());
    SecurityHash(hasher.finalize().to_vec())
}
