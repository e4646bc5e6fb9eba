//! Tessera's key files.
//!
//! - `.pub`: the bare base64 public key (written without a newline; a trailing newline or
//!   surrounding whitespace is tolerated on read).
//! - `.key`: JSON, either `{"type":"unlocked","data":{"bytes":"<base64>"}}` or
//!   `{"type":"argon2sbox","data":{"aopts":{…},"snonce":…,"asalt":…,"sbox":…}}`, where `sbox`
//!   is the private key sealed (secretbox) under an Argon2-derived key. The same object appears
//!   inline in configs as `keys.keyData[i].config`.
//!
//! No error here ever contains key bytes or password text: JSON errors are reduced to a
//! position, and field errors name the field.

use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::argon::{ArgonError, ArgonOptions};
use super::{KeyError, Password, PrivateKey, PublicKey};
use crate::b64;
use crate::nacl::{self, Nonce};

/// Length of the salt Tessera generates (older Constellation keys use 32; any length is read).
pub const SALT_LENGTH: usize = 16;

/// Why a key file could not be read or unlocked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    /// The text is not JSON of the expected shape. Only the position is reported, because the
    /// text may contain a key.
    #[error(
        "not a Tessera key file (expected {{\"type\": \"unlocked\" or \"argon2sbox\", \"data\": {{…}}}}): {problem} at line {line}, column {column}"
    )]
    Malformed {
        /// What kind of problem (syntax, wrong shape, unexpected end).
        problem: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// A field has an invalid value.
    #[error("{0}")]
    InvalidField(#[from] KeyError),
    /// A field meant to be base64 is not, or has the wrong length.
    #[error("data.{field} {problem}")]
    InvalidLockedField {
        /// The field name inside `data`.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The key is locked and no password was supplied.
    #[error("the key is locked (argon2sbox) and no password was given for it")]
    MissingPassword,
    /// The password did not open the key.
    #[error("wrong password: the locked key could not be opened")]
    WrongPassword,
    /// The Argon2 options in `aopts` cannot be used.
    #[error(transparent)]
    Argon(#[from] ArgonError),
    /// The `.pub` file does not hold exactly one non-empty line.
    #[error("a public key file must hold exactly one base64 key on one line")]
    NotOneLine,
}

/// A parsed `.key` file (or inline `keyData[i].config`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum KeyFile {
    /// The private key in plain base64.
    #[serde(rename = "unlocked")]
    Unlocked(UnlockedData),
    /// The private key sealed under a password-derived key.
    #[serde(rename = "argon2sbox")]
    Locked(LockedData),
}

/// `data` of an `unlocked` key file.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnlockedData {
    /// Base64 private key.
    pub bytes: Zeroizing<String>,
}

/// `data` of an `argon2sbox` key file.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedData {
    /// How the sealing key was derived.
    pub aopts: ArgonOptions,
    /// Base64 24-byte secretbox nonce.
    pub snonce: String,
    /// Base64 Argon2 salt.
    pub asalt: String,
    /// Base64 sealed private key (48 bytes).
    pub sbox: String,
    /// A password stored inline (a legacy feature of inline config key data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unlocked(_) => f.write_str("KeyFile::Unlocked(<redacted>)"),
            Self::Locked(data) => f
                .debug_struct("KeyFile::Locked")
                .field("aopts", &data.aopts)
                .finish_non_exhaustive(),
        }
    }
}

impl KeyFile {
    /// Parses key-file JSON (any whitespace, any member order, trailing newline included).
    pub fn parse(json: &[u8]) -> Result<Self, KeyFileError> {
        serde_json::from_slice(json).map_err(|e| malformed(&e))
    }

    /// Whether a password is needed to use this key.
    pub fn is_locked(&self) -> bool {
        matches!(self, Self::Locked(_))
    }

    /// The password stored inline in the key data, if any (legacy inline config form).
    pub fn inline_password(&self) -> Option<Password> {
        match self {
            Self::Locked(LockedData {
                password: Some(p), ..
            }) => Some(Password::new(p.as_str())),
            _ => None,
        }
    }

    /// Recovers the private key, using `password` for a locked key.
    pub fn unlock(&self, password: Option<&Password>) -> Result<PrivateKey, KeyFileError> {
        match self {
            Self::Unlocked(data) => Ok(PrivateKey::from_base64(&data.bytes, "data.bytes")?),
            Self::Locked(data) => data.unlock(password.ok_or(KeyFileError::MissingPassword)?),
        }
    }

    /// An `unlocked` key file for `private`.
    pub fn unlocked(private: &PrivateKey) -> Self {
        Self::Unlocked(UnlockedData {
            bytes: private.to_base64(),
        })
    }

    /// An `argon2sbox` key file: `private` sealed under Argon2(`password`, fresh 16-byte salt).
    pub fn lock(
        private: &PrivateKey,
        password: &Password,
        aopts: ArgonOptions,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Self, KeyFileError> {
        let mut salt = [0u8; SALT_LENGTH];
        rng.fill_bytes(&mut salt);
        let nonce = Nonce::generate(rng);
        let key = aopts.derive_key(password, &salt)?;
        let sbox = nacl::seal(private.as_bytes(), &nonce, &key);
        Ok(Self::Locked(LockedData {
            aopts,
            snonce: b64::encode(nonce),
            asalt: b64::encode(salt),
            sbox: b64::encode(sbox),
            password: None,
        }))
    }

    /// The JSON text of the file, pretty-printed like Tessera's output. Wiped on drop because an
    /// unlocked file holds the key in clear.
    pub fn to_json(&self) -> Zeroizing<String> {
        Zeroizing::new(
            serde_json::to_string_pretty(self).expect("key files always serialize to JSON"),
        )
    }
}

impl LockedData {
    fn unlock(&self, password: &Password) -> Result<PrivateKey, KeyFileError> {
        let field = |field, text: &str| {
            b64::decode(text).map_err(|_| KeyFileError::InvalidLockedField {
                field,
                problem: "is not base64",
            })
        };
        let nonce = Nonce::from_slice(&field("snonce", &self.snonce)?).ok_or(
            KeyFileError::InvalidLockedField {
                field: "snonce",
                problem: "must be 24 bytes",
            },
        )?;
        let salt = field("asalt", &self.asalt)?;
        let sbox = field("sbox", &self.sbox)?;
        let key = self.aopts.derive_key(password, &salt)?;
        let opened = Zeroizing::new(
            nacl::open(&sbox, &nonce, &key).map_err(|_| KeyFileError::WrongPassword)?,
        );
        Ok(PrivateKey::from_slice(&opened, "the unlocked private key")?)
    }
}

/// Parses a `.pub` file: one base64 key, surrounding whitespace (a trailing newline) ignored.
pub fn parse_public_key_file(text: &str) -> Result<PublicKey, KeyFileError> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.lines().count() != 1 {
        return Err(KeyFileError::NotOneLine);
    }
    Ok(PublicKey::from_base64(trimmed, "the public key")?)
}

/// The text of a `.pub` file: the bare base64 key, no newline, as Tessera writes it.
pub fn public_key_file_text(public: &PublicKey) -> String {
    public.to_base64()
}

fn malformed(error: &serde_json::Error) -> KeyFileError {
    use serde_json::error::Category;
    let problem = match error.classify() {
        Category::Io => "read error",
        Category::Syntax => "invalid JSON",
        Category::Data => "missing or mistyped member",
        Category::Eof => "unexpected end of input",
    };
    KeyFileError::Malformed {
        problem,
        line: error.line(),
        column: error.column(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::argon::ArgonVariant;

    const PRIVATE: &str = "yAWAJjwPqUtNVlqGjSrBmr1/iIkghuOh1803Yzx9jLM=";

    fn rng() -> impl RngCore + CryptoRng {
        rand_core::OsRng
    }

    #[test]
    fn unlocked_files_parse_with_any_layout() {
        let text = format!(
            "{{\n  \"data\" : {{ \"bytes\" : \"{PRIVATE}\" }},\n  \"type\" : \"unlocked\"\n}}\n"
        );
        let key = KeyFile::parse(text.as_bytes())
            .unwrap()
            .unlock(None)
            .unwrap();
        assert_eq!(
            key.public_key().to_base64(),
            "/+UuD63zItL1EbjxkKUljMgG8Z1w0AJ8pNOR4iq2yQc="
        );
    }

    #[test]
    fn locked_round_trip_for_every_variant() {
        let private = PrivateKey::from_base64(PRIVATE, "k").unwrap();
        for variant in [ArgonVariant::I, ArgonVariant::D, ArgonVariant::Id] {
            let aopts = ArgonOptions {
                variant,
                ..ArgonOptions::CHEAP
            };
            let file =
                KeyFile::lock(&private, &Password::new("pässword"), aopts, &mut rng()).unwrap();
            let reread = KeyFile::parse(file.to_json().as_bytes()).unwrap();
            let unlocked = reread.unlock(Some(&Password::new("pässword"))).unwrap();
            assert_eq!(unlocked.as_bytes(), private.as_bytes());
        }
    }

    #[test]
    fn wrong_or_missing_password_is_a_clean_error() {
        let private = PrivateKey::from_base64(PRIVATE, "k").unwrap();
        let file = KeyFile::lock(
            &private,
            &Password::new("right"),
            ArgonOptions::CHEAP,
            &mut rng(),
        )
        .unwrap();
        assert_eq!(
            file.unlock(Some(&Password::new("wrong"))).unwrap_err(),
            KeyFileError::WrongPassword
        );
        assert_eq!(
            file.unlock(None).unwrap_err(),
            KeyFileError::MissingPassword
        );
    }

    #[test]
    fn errors_never_echo_key_material() {
        let leaks = [
            format!("{{\"type\":\"unlocked\",\"data\":\"{PRIVATE}\"}}"),
            format!("{{\"type\":\"{PRIVATE}\",\"data\":{{}}}}"),
            format!(
                "{{\"type\":\"unlocked\",\"data\":{{\"bytes\":\"{}\"}}}}",
                &PRIVATE[..20]
            ),
            format!("{{\"type\":\"unlocked\",\"data\":{{\"bytes\":\"{PRIVATE}\""),
        ];
        for text in leaks {
            let message = KeyFile::parse(text.as_bytes())
                .and_then(|f| f.unlock(None).map(|_| f))
                .unwrap_err()
                .to_string();
            assert!(!message.contains(&PRIVATE[..8]), "{message}");
        }
    }

    #[test]
    fn truncated_and_wrong_length_keys_are_named() {
        let err = KeyFile::parse(b"{\"type\":\"unlocked\",\"data\":{\"bytes\":\"AAAA\"}}")
            .unwrap()
            .unlock(None)
            .unwrap_err();
        assert_eq!(err.to_string(), "data.bytes must be 32 bytes, found 3");
        assert!(matches!(
            KeyFile::parse(b"{\"type\":\"unlocked\",\"da").unwrap_err(),
            KeyFileError::Malformed {
                problem: "unexpected end of input",
                ..
            }
        ));
    }

    #[test]
    fn absent_variant_means_argon2id_and_version_is_ignored() {
        let json = br#"{"type":"argon2sbox","data":{"aopts":{"memory":64,"iterations":1,"parallelism":1,"version":"1.3"},"snonce":"","asalt":"","sbox":""}}"#;
        let KeyFile::Locked(data) = KeyFile::parse(json).unwrap() else {
            panic!("locked")
        };
        assert_eq!(data.aopts.variant, ArgonVariant::Id);
    }

    #[test]
    fn public_key_files_tolerate_a_trailing_newline_only() {
        let text = "/+UuD63zItL1EbjxkKUljMgG8Z1w0AJ8pNOR4iq2yQc=";
        assert_eq!(
            parse_public_key_file(&format!("{text}\n"))
                .unwrap()
                .to_base64(),
            text
        );
        assert_eq!(
            parse_public_key_file(&format!("{text}\n{text}")).unwrap_err(),
            KeyFileError::NotOneLine
        );
        assert_eq!(
            parse_public_key_file("\n").unwrap_err(),
            KeyFileError::NotOneLine
        );
    }
}
