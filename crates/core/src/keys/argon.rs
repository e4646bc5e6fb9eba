//! Argon2 as Tessera's locked keys use it: version 0x13, 32-byte output, options from the file.

use serde::{Deserialize, Serialize};

use super::Password;
use crate::nacl::{SymmetricKey, SYMMETRIC_KEY_LENGTH};

/// Memory cost above which a key file is refused (4 GiB), so a corrupted or hostile `aopts`
/// cannot make the process allocate without bound. Tessera's own default is 1 GiB.
pub const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;

/// The Argon2 flavour, as spelled in a key file's `aopts.variant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ArgonVariant {
    /// Argon2i.
    #[serde(rename = "i")]
    I,
    /// Argon2d.
    #[serde(rename = "d")]
    D,
    /// Argon2id, Tessera's config default when `variant` is absent.
    #[serde(rename = "id")]
    #[default]
    Id,
}

/// The `aopts` object of a locked key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgonOptions {
    /// The Argon2 variant (absent → `id`).
    #[serde(default)]
    pub variant: ArgonVariant,
    /// Memory cost in KiB.
    pub memory: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism.
    pub parallelism: u32,
}

impl Default for ArgonOptions {
    /// The options Cloister's keygen uses when none are given: the values of Tessera's
    /// documentation samples (argon2id, 1 GiB, 10 passes, 4 lanes).
    fn default() -> Self {
        Self {
            variant: ArgonVariant::Id,
            memory: 1_048_576,
            iterations: 10,
            parallelism: 4,
        }
    }
}

#[cfg(test)]
impl ArgonOptions {
    /// Argon2id at almost its cheapest, for tests that lock and unlock keys many times.
    pub(crate) const CHEAP: Self = Self {
        variant: ArgonVariant::Id,
        memory: 64,
        iterations: 1,
        parallelism: 1,
    };
}

/// Options Argon2 itself rejects, or a memory cost above [`MAX_MEMORY_KIB`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgonError {
    /// The parameters are outside what Argon2 allows.
    #[error("invalid argon2 options: {0}")]
    InvalidOptions(String),
    /// The memory cost is larger than Cloister is willing to allocate.
    #[error("aopts.memory {memory} KiB exceeds the limit of {MAX_MEMORY_KIB} KiB")]
    MemoryTooLarge {
        /// The requested memory in KiB.
        memory: u32,
    },
}

impl ArgonOptions {
    /// Derives the 32-byte secretbox key from `password` and `salt`.
    pub fn derive_key(&self, password: &Password, salt: &[u8]) -> Result<SymmetricKey, ArgonError> {
        if self.memory > MAX_MEMORY_KIB {
            return Err(ArgonError::MemoryTooLarge {
                memory: self.memory,
            });
        }
        let params = argon2::Params::new(
            self.memory,
            self.iterations,
            self.parallelism,
            Some(SYMMETRIC_KEY_LENGTH),
        )
        .map_err(|e| ArgonError::InvalidOptions(e.to_string()))?;
        let algorithm = match self.variant {
            ArgonVariant::I => argon2::Algorithm::Argon2i,
            ArgonVariant::D => argon2::Algorithm::Argon2d,
            ArgonVariant::Id => argon2::Algorithm::Argon2id,
        };
        let mut out = zeroize::Zeroizing::new([0u8; SYMMETRIC_KEY_LENGTH]);
        argon2::Argon2::new(algorithm, argon2::Version::V0x13, params)
            .hash_password_into(password.as_bytes(), salt, out.as_mut())
            .map_err(|e| ArgonError::InvalidOptions(e.to_string()))?;
        Ok(SymmetricKey::from_bytes(*out))
    }
}
