//! Privacy groups: the record pushed with `/pushPrivacyGroup` and stored in `PRIVACY_GROUP`,
//! and Tessera's bit-exact group ids ([`id`]).
//!
//! Record layout: `FIELD(name) FIELD(description) ARRAY(members) FIELD(seed) FIELD(type)
//! FIELD(state)`. The id is not transmitted: the receiver recomputes it from the type.

pub mod id;

use crate::b64;
use crate::binary::{BinaryError, Reader, Writer};
use crate::keys::{KeyError, PublicKey};

pub use id::{generate_id, lookup_id};

/// A privacy group id: 32 bytes (Keccak-256) for LEGACY and PANTHEON groups, the UTF-8 name
/// for RESIDENT groups.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PrivacyGroupId(Vec<u8>);

b64::base64_bytes!(PrivacyGroupId);

/// How a group's id is derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupType {
    /// id = generateId(members).
    Legacy,
    /// id = generateId(members, seed) (Besu/Pantheon groups).
    Pantheon,
    /// id = the name's UTF-8 bytes (multiple private states).
    Resident,
}

/// Whether a group is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// In use.
    Active,
    /// Deleted.
    Deleted,
}

macro_rules! wire_names {
    ($type:ty { $($variant:ident = $name:literal),+ }) => {
        impl $type {
            /// The name written on the wire.
            pub const fn name(self) -> &'static str {
                match self { $(Self::$variant => $name),+ }
            }

            fn from_name(name: &[u8]) -> Option<Self> {
                match name { $(n if n == $name.as_bytes() => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

wire_names!(GroupType { Legacy = "LEGACY", Pantheon = "PANTHEON", Resident = "RESIDENT" });
wire_names!(GroupState { Active = "ACTIVE", Deleted = "DELETED" });

/// A privacy group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivacyGroup {
    /// The id, derived from the other fields per [`GroupType`].
    pub id: PrivacyGroupId,
    /// Display name.
    pub name: String,
    /// Free-text description.
    pub description: String,
    /// Member public keys.
    pub members: Vec<PublicKey>,
    /// Seed bytes (PANTHEON groups).
    pub seed: Vec<u8>,
    /// How the id is derived.
    pub group_type: GroupType,
    /// Active or deleted.
    pub state: GroupState,
}

/// Why a privacy-group record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrivacyGroupError {
    /// The framing is broken.
    #[error("invalid privacy group record: {0}")]
    Binary(#[from] BinaryError),
    /// A member is not a 32-byte key.
    #[error("invalid privacy group record: {0}")]
    Member(#[from] KeyError),
    /// A text field is not UTF-8.
    #[error("invalid privacy group record: {0} is not UTF-8")]
    NotUtf8(&'static str),
    /// The type is not LEGACY, PANTHEON or RESIDENT.
    #[error("invalid privacy group record: unknown type")]
    UnknownType,
    /// The state is not ACTIVE or DELETED.
    #[error("invalid privacy group record: unknown state")]
    UnknownState,
}

impl PrivacyGroup {
    /// Builds a group, deriving its id from its type, members, seed and name.
    pub fn new(
        name: String,
        description: String,
        members: Vec<PublicKey>,
        seed: Vec<u8>,
        group_type: GroupType,
        state: GroupState,
    ) -> Self {
        let id = match group_type {
            GroupType::Legacy => generate_id(&members, None),
            GroupType::Pantheon => generate_id(&members, Some(&seed)),
            GroupType::Resident => PrivacyGroupId::new(name.as_bytes()),
        };
        Self {
            id,
            name,
            description,
            members,
            seed,
            group_type,
            state,
        }
    }

    /// The record's wire and storage encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Writer::new();
        out.field(self.name.as_bytes())
            .field(self.description.as_bytes())
            .array(&self.members)
            .field(&self.seed)
            .field(self.group_type.name().as_bytes())
            .field(self.state.name().as_bytes());
        out.finish()
    }

    /// Decodes a record and recomputes its id.
    pub fn decode(bytes: &[u8]) -> Result<Self, PrivacyGroupError> {
        let mut input = Reader::new(bytes);
        let text = |bytes: &[u8], what| {
            String::from_utf8(bytes.to_vec()).map_err(|_| PrivacyGroupError::NotUtf8(what))
        };
        let name = text(input.field("name")?, "name")?;
        let description = text(input.field("description")?, "description")?;
        let members = input
            .array("members")?
            .into_iter()
            .map(|key| PublicKey::from_slice(key, "privacy group member"))
            .collect::<Result<Vec<_>, _>>()?;
        let seed = input.field("seed")?.to_vec();
        let group_type =
            GroupType::from_name(input.field("type")?).ok_or(PrivacyGroupError::UnknownType)?;
        let state =
            GroupState::from_name(input.field("state")?).ok_or(PrivacyGroupError::UnknownState)?;
        Ok(Self::new(
            name,
            description,
            members,
            seed,
            group_type,
            state,
        ))
    }
}
