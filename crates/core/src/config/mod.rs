//! The Tessera JSON config model, its parsing and its validation.
//!
//! Cloister reads Tessera's config file unchanged. The pieces:
//!
//! - [`Config`] and its sections: a serde model of the whole file, lenient the way Tessera is
//!   (unknown keys are ignored with a warning; see [`Config::parse`]).
//! - [`server`]: `serverConfigs[]`, and the typed listen address and advertised URL of each
//!   server ([`Config::servers`]).
//! - [`keys`]: the `keys` section; [`crate::keys::source`] turns it into key pairs.
//! - [`ssl`]: `serverConfigs[].sslConfig`, Tessera's TLS rules and store passwords
//!   ([`Config::validate_tls`]).
//! - [`jdbc`]: the `jdbc` section and how `jdbc.url` maps to a Cloister store ([`StoreTarget`]).
//! - [`Config::validate`]: every rule Cloister checks before starting, each issue named by its
//!   JSON path.
//!
//! A config holds secrets (private keys, key passwords, the database password), so no error,
//! warning or `Debug` output here ever repeats a string value from the input.

use std::collections::BTreeMap;

use serde::Deserialize;
use zeroize::Zeroizing;

/// Defines an enum read from one of several case-insensitive spellings, as Tessera's enums
/// accept. Unknown spellings fail with serde's `unknown_variant`, whose message the parser
/// reduces to the list of accepted spellings (never the value).
macro_rules! spelled_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident => [$first:literal $(, $more:literal)*],)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// The spellings shown in error messages: the canonical one of each value.
            pub const SPELLINGS: &'static [&'static str] = &[$($first,)+];

            /// The canonical spelling, as Tessera writes it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $first,)+
                }
            }

            /// Reads any accepted spelling, ignoring ASCII case.
            pub fn from_spelling(text: &str) -> Option<Self> {
                $(
                    if text.eq_ignore_ascii_case($first)
                        $(|| text.eq_ignore_ascii_case($more))*
                    {
                        return Some(Self::$variant);
                    }
                )+
                None
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Spelling;
                impl serde::de::Visitor<'_> for Spelling {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("a string")
                    }
                    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<$name, E> {
                        $name::from_spelling(text)
                            .ok_or_else(|| E::unknown_variant(text, $name::SPELLINGS))
                    }
                }
                deserializer.deserialize_str(Spelling)
            }
        }
    };
}

pub mod jdbc;
pub mod keys;
pub mod overrides;
mod parse;
pub mod server;
pub mod ssl;
mod validate;

pub use jdbc::{Jdbc, PostgresTarget, SqlitePath, StoreTarget, TargetServer};
pub use keys::{KeyConfiguration, KeyData, KeyDataForm};
pub use overrides::{apply_overrides, Override, OverrideError};
pub use parse::{ConfigError, Loaded};
pub use server::{AppType, Server, ServerConfig};
pub use ssl::{SslConfig, SslConfigInvalid, SslEnvironment, SslSide, TrustMode};
pub use validate::ConfigIssue;

/// The whole Tessera config file (`Config` in Tessera). Every member is optional here so that
/// a missing one is reported by [`Config::validate`], with all other problems, rather than
/// stopping the parse.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Config {
    /// `version`: written by Tessera's config tools, ignored on read. Kept as any JSON value so
    /// that an unexpected type is not an error.
    pub version: Option<serde_json::Value>,
    /// `useWhiteList`: only the hosts of configured `peer` URLs may call the P2P API.
    pub use_white_list: bool,
    /// `jdbc`: the database (required).
    pub jdbc: Option<Jdbc>,
    /// `serverConfigs`: the HTTP servers (at least one; a P2P server is required).
    pub server_configs: Vec<ServerConfig>,
    /// `peer`: bootstrap peers.
    pub peer: Vec<Peer>,
    /// `keys`: this node's key pairs and their passwords.
    pub keys: Option<KeyConfiguration>,
    /// `alwaysSendTo`: base64 public keys added as recipients of every transaction.
    pub always_send_to: Vec<String>,
    /// `disablePeerDiscovery`: only configured peers are contacted and accepted.
    pub disable_peer_discovery: bool,
    /// `bootstrapNode`: this node only serves discovery.
    pub bootstrap_node: bool,
    /// `features`: feature toggles.
    pub features: Features,
    /// `encryptor`: the payload encryptor (NaCl when absent).
    pub encryptor: Option<Encryptor>,
    /// `mode`: `tessera` (default) or `orion` (Besu client mode). Kept as text so that an
    /// unknown mode is a validation issue; read it with [`Config::client_mode`].
    pub mode: Option<String>,
    /// `residentGroups`: multiple-private-state resident groups.
    pub resident_groups: Vec<ResidentGroup>,
    /// `unixSocketFile`: the Q2T unix socket path of pre-0.8 configs (a plain path, no
    /// `unix:` prefix). Cloister still honours it as a Q2T server.
    pub unix_socket_file: Option<String>,
}

/// One `peer` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Peer {
    /// The peer's P2P URL (`http(s)://host:port`).
    pub url: Option<String>,
}

/// The `features` section. Every toggle defaults to off, as in Tessera, except remote key
/// validation (see [`Features::remote_key_validation`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Features {
    /// `enableRemoteKeyValidation`: a peer's claim to hold a key is believed only once the peer
    /// proves it (decrypts a challenge sent to its URL). Absent means on in Cloister.
    pub enable_remote_key_validation: Option<bool>,
    /// `enablePrivacyEnhancements`: party protection, private state validation, mandatory
    /// recipients.
    pub enable_privacy_enhancements: bool,
    /// `enableMultiplePrivateStates`: multiple private states (resident groups).
    pub enable_multiple_private_states: bool,
}

impl Features {
    /// Whether peers must prove the keys they announce: on unless the config turns it off.
    /// Tessera's default is off, which lets any host that reaches the P2P port move another
    /// party's key to itself; Cloister's is on (docs/security.md).
    pub fn remote_key_validation(&self) -> bool {
        self.enable_remote_key_validation.unwrap_or(true)
    }
}

/// The `encryptor` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Encryptor {
    /// `type`: which encryptor (NaCl when absent).
    #[serde(rename = "type")]
    pub kind: Option<EncryptorType>,
    /// `properties`: encryptor parameters (the EC encryptor's curve, cipher, …).
    #[serde(deserialize_with = "string_map")]
    pub properties: BTreeMap<String, String>,
}

spelled_enum! {
    /// `encryptor.type`.
    pub enum EncryptorType {
        /// NaCl (X25519, XSalsa20-Poly1305): Tessera's default and the only one Cloister has.
        Nacl => ["NACL"],
        /// Elliptic-curve encryptor (secp256r1 + AES-GCM); not implemented by Cloister.
        Ec => ["EC"],
        /// A user-supplied Java encryptor; cannot exist in Cloister.
        Custom => ["CUSTOM"],
    }
}

spelled_enum! {
    /// `mode`: how the node talks to its client.
    pub enum ClientMode {
        /// GoQuorum (the default).
        Tessera => ["tessera"],
        /// Besu: privacy groups, SHA-512/256 transaction hashes.
        Orion => ["orion"],
    }
}

/// One `residentGroups` entry.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResidentGroup {
    /// `name` (required, unique).
    pub name: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `members`: base64 public keys of this node that belong to the group.
    pub members: Vec<String>,
}

impl std::fmt::Debug for ResidentGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResidentGroup")
            .field("name", &self.name)
            .field("members", &self.members.len())
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The client mode; `tessera` when `mode` is absent.
    pub fn client_mode(&self) -> Result<ClientMode, ConfigIssue> {
        match &self.mode {
            None => Ok(ClientMode::Tessera),
            Some(mode) => ClientMode::from_spelling(mode)
                .ok_or_else(|| ConfigIssue::new("mode", "must be \"tessera\" or \"orion\"")),
        }
    }

    /// The encryptor type; NaCl when `encryptor` or its `type` is absent.
    pub fn encryptor_type(&self) -> EncryptorType {
        self.encryptor
            .as_ref()
            .and_then(|e| e.kind)
            .unwrap_or(EncryptorType::Nacl)
    }

    /// The first server config of the given kind, with its index in `serverConfigs`.
    pub fn server_config(&self, app: AppType) -> Option<(usize, &ServerConfig)> {
        self.server_configs
            .iter()
            .enumerate()
            .find(|(_, s)| s.app == Some(app))
    }
}

/// Deserializes a string map whose values may also be written as JSON numbers or booleans
/// (`"partyInfoInterval": 5000`), which Tessera's string properties tolerate in practice.
pub(crate) fn string_map<'de, D>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let map = BTreeMap::<String, Scalar>::deserialize(deserializer)?;
    Ok(map.into_iter().map(|(k, v)| (k, v.0)).collect())
}

/// A JSON string, number or boolean, kept as its text.
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A secret string from the config: wiped on drop, never printed.
pub(crate) type Secret = Zeroizing<String>;

#[cfg(test)]
mod tests;
