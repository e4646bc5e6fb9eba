//! The `keys` section: key pairs (inline, as key-file objects, or as file paths) and their
//! passwords. [`crate::keys::source::resolve`] turns it into key pairs.
//!
//! Key vaults (Azure, HashiCorp, AWS) are recognised only so that a config using them is
//! refused with a clear message instead of a confusing "no key" error.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Secret;
use crate::keys::argon::ArgonOptions;
use crate::keys::file::{KeyFile, LockedData, UnlockedData};

/// The `keys` section (`KeyConfiguration` in Tessera).
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KeyConfiguration {
    /// `passwordFile`: one password per line, line *i* for `keyData[i]`.
    pub password_file: Option<PathBuf>,
    /// `passwords`: the same, inline (Tessera no longer allows this; Cloister does).
    pub passwords: Vec<Secret>,
    /// `keyData`: the key pairs.
    pub key_data: Vec<KeyData>,
    /// `keyVaultConfigs`: key vault connections; not supported, kept only to warn about.
    pub key_vault_configs: Vec<serde_json::Value>,
    /// `azureKeyVaultConfig` (deprecated form); not supported.
    pub azure_key_vault_config: Option<serde_json::Value>,
    /// `hashicorpKeyVaultConfig` (deprecated form); not supported.
    pub hashicorp_key_vault_config: Option<serde_json::Value>,
}

impl fmt::Debug for KeyConfiguration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyConfiguration")
            .field("password_file", &self.password_file)
            .field(
                "passwords",
                &format_args!("<{} redacted>", self.passwords.len()),
            )
            .field("key_data", &self.key_data)
            .finish_non_exhaustive()
    }
}

/// One `keyData` entry. Tessera has one class with every member optional; which members are
/// present decides the form, see [`KeyData::form`].
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KeyData {
    /// `config`: a key-file object inline (`{"type": …, "data": {…}}`).
    #[serde(deserialize_with = "inline_key_file")]
    pub config: Option<KeyFile>,
    /// `privateKey`: the base64 private key inline.
    pub private_key: Option<Secret>,
    /// `publicKey`: the base64 public key (with `privateKey` or `config`).
    pub public_key: Option<String>,
    /// `privateKeyPath`: a `.key` file.
    pub private_key_path: Option<PathBuf>,
    /// `publicKeyPath`: a `.pub` file.
    pub public_key_path: Option<PathBuf>,
    /// `azureVaultPublicKeyId`.
    pub azure_vault_public_key_id: Option<serde_json::Value>,
    /// `azureVaultPrivateKeyId`.
    pub azure_vault_private_key_id: Option<serde_json::Value>,
    /// `azureVaultPublicKeyVersion`.
    pub azure_vault_public_key_version: Option<serde_json::Value>,
    /// `azureVaultPrivateKeyVersion`.
    pub azure_vault_private_key_version: Option<serde_json::Value>,
    /// `hashicorpVaultPublicKeyId`.
    pub hashicorp_vault_public_key_id: Option<serde_json::Value>,
    /// `hashicorpVaultPrivateKeyId`.
    pub hashicorp_vault_private_key_id: Option<serde_json::Value>,
    /// `hashicorpVaultSecretEngineName`.
    pub hashicorp_vault_secret_engine_name: Option<serde_json::Value>,
    /// `hashicorpVaultSecretName`.
    pub hashicorp_vault_secret_name: Option<serde_json::Value>,
    /// `hashicorpVaultSecretVersion`.
    pub hashicorp_vault_secret_version: Option<serde_json::Value>,
    /// `awsSecretsManagerPublicKeyId`.
    pub aws_secrets_manager_public_key_id: Option<serde_json::Value>,
    /// `awsSecretsManagerPrivateKeyId`.
    pub aws_secrets_manager_private_key_id: Option<serde_json::Value>,
}

impl fmt::Debug for KeyData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyData")
            .field("config", &self.config)
            .field(
                "private_key",
                &self.private_key.as_ref().map(|_| "<redacted>"),
            )
            .field("public_key", &self.public_key)
            .field("private_key_path", &self.private_key_path)
            .field("public_key_path", &self.public_key_path)
            .field("vault", &self.vault_member())
            .finish()
    }
}

/// The recognised forms of a `keyData` entry.
#[derive(Debug, Clone, Copy)]
pub enum KeyDataForm<'a> {
    /// `{privateKey, publicKey}`.
    Inline {
        /// Base64 private key.
        private_key: &'a Secret,
        /// Base64 public key.
        public_key: &'a str,
    },
    /// `{config, publicKey}`.
    InlineConfig {
        /// The key-file object.
        config: &'a KeyFile,
        /// Base64 public key.
        public_key: &'a str,
    },
    /// `{privateKeyPath, publicKeyPath}`.
    Files {
        /// The `.key` file.
        private_key_path: &'a Path,
        /// The `.pub` file.
        public_key_path: &'a Path,
    },
}

/// A `keyData` entry Cloister cannot use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyDataFormError {
    /// The entry refers to a key vault.
    #[error("key vaults are not supported by Cloister (found {member})")]
    Vault {
        /// The first vault member found.
        member: &'static str,
    },
    /// No recognised form, or members of several forms mixed.
    #[error(
        "expected exactly one of {{privateKey, publicKey}}, {{config, publicKey}} or {{privateKeyPath, publicKeyPath}}"
    )]
    NotOneForm,
}

impl KeyData {
    /// Which form this entry has; an error if it is a vault reference or not exactly one form.
    pub fn form(&self) -> Result<KeyDataForm<'_>, KeyDataFormError> {
        if let Some(member) = self.vault_member() {
            return Err(KeyDataFormError::Vault { member });
        }
        let public = self.public_key.as_deref();
        match (
            &self.private_key,
            &self.config,
            public,
            self.private_key_path.as_deref(),
            self.public_key_path.as_deref(),
        ) {
            (Some(private_key), None, Some(public_key), None, None) => Ok(KeyDataForm::Inline {
                private_key,
                public_key,
            }),
            (None, Some(config), Some(public_key), None, None) => {
                Ok(KeyDataForm::InlineConfig { config, public_key })
            }
            (None, None, None, Some(private_key_path), Some(public_key_path)) => {
                Ok(KeyDataForm::Files {
                    private_key_path,
                    public_key_path,
                })
            }
            _ => Err(KeyDataFormError::NotOneForm),
        }
    }

    /// The JSON name of the first key-vault member present, if any.
    fn vault_member(&self) -> Option<&'static str> {
        [
            ("azureVaultPublicKeyId", &self.azure_vault_public_key_id),
            ("azureVaultPrivateKeyId", &self.azure_vault_private_key_id),
            (
                "azureVaultPublicKeyVersion",
                &self.azure_vault_public_key_version,
            ),
            (
                "azureVaultPrivateKeyVersion",
                &self.azure_vault_private_key_version,
            ),
            (
                "hashicorpVaultPublicKeyId",
                &self.hashicorp_vault_public_key_id,
            ),
            (
                "hashicorpVaultPrivateKeyId",
                &self.hashicorp_vault_private_key_id,
            ),
            (
                "hashicorpVaultSecretEngineName",
                &self.hashicorp_vault_secret_engine_name,
            ),
            (
                "hashicorpVaultSecretName",
                &self.hashicorp_vault_secret_name,
            ),
            (
                "hashicorpVaultSecretVersion",
                &self.hashicorp_vault_secret_version,
            ),
            (
                "awsSecretsManagerPublicKeyId",
                &self.aws_secrets_manager_public_key_id,
            ),
            (
                "awsSecretsManagerPrivateKeyId",
                &self.aws_secrets_manager_private_key_id,
            ),
        ]
        .into_iter()
        .find(|(_, value)| value.is_some())
        .map(|(name, _)| name)
    }
}

impl KeyConfiguration {
    /// The JSON names of the key-vault sections present (which Cloister ignores).
    pub fn vault_sections(&self) -> Vec<&'static str> {
        let mut sections = Vec::new();
        if !self.key_vault_configs.is_empty() {
            sections.push("keyVaultConfigs");
        }
        if self.azure_key_vault_config.is_some() {
            sections.push("azureKeyVaultConfig");
        }
        if self.hashicorp_key_vault_config.is_some() {
            sections.push("hashicorpKeyVaultConfig");
        }
        sections
    }
}

/// `KeyFile`'s own (adjacently tagged) deserializer buffers `data`, which loses the JSON path
/// of errors inside it and hides unknown keys from the warning collector. Inline key files are
/// therefore read through this plain mirror, then converted.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKeyFile {
    #[serde(rename = "type")]
    kind: Option<RawKeyFileType>,
    data: Option<RawKeyFileData>,
}

#[derive(Deserialize)]
enum RawKeyFileType {
    #[serde(rename = "unlocked")]
    Unlocked,
    #[serde(rename = "argon2sbox")]
    Locked,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKeyFileData {
    bytes: Option<Secret>,
    aopts: Option<ArgonOptions>,
    snonce: Option<String>,
    asalt: Option<String>,
    sbox: Option<String>,
    password: Option<Secret>,
}

fn inline_key_file<'de, D>(deserializer: D) -> Result<Option<KeyFile>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    let Some(raw) = Option::<RawKeyFile>::deserialize(deserializer)? else {
        return Ok(None);
    };
    // Dotted names: the parser appends a missing member's name to the path of the error.
    let kind = raw.kind.ok_or_else(|| D::Error::missing_field("type"))?;
    let data = raw.data.ok_or_else(|| D::Error::missing_field("data"))?;
    Ok(Some(match kind {
        RawKeyFileType::Unlocked => KeyFile::Unlocked(UnlockedData {
            bytes: data
                .bytes
                .ok_or_else(|| D::Error::missing_field("data.bytes"))?,
        }),
        RawKeyFileType::Locked => KeyFile::Locked(LockedData {
            aopts: data
                .aopts
                .ok_or_else(|| D::Error::missing_field("data.aopts"))?,
            snonce: data
                .snonce
                .ok_or_else(|| D::Error::missing_field("data.snonce"))?,
            asalt: data
                .asalt
                .ok_or_else(|| D::Error::missing_field("data.asalt"))?,
            sbox: data
                .sbox
                .ok_or_else(|| D::Error::missing_field("data.sbox"))?,
            password: data.password,
        }),
    }))
}
