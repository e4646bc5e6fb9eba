use super::{cbor, legacy, EncodedPayload, PayloadCopy, PayloadError};
use cloister_protocol::version;

/// The two wire encodings of an [`EncodedPayload`], named as in the `PAYLOAD_CODEC` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadCodec {
    /// Length-prefixed binary, understood by every peer (API `v1`).
    Legacy,
    /// CBOR map, for peers advertising API `5.0`.
    Cbor,
}

impl PayloadCodec {
    /// The codec new rows are stored with (Tessera's `EncodedPayloadCodec.current()`).
    pub const CURRENT: Self = Self::Cbor;

    /// The name stored in the `PAYLOAD_CODEC` column.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Legacy => "LEGACY",
            Self::Cbor => "CBOR",
        }
    }

    /// The codec named by a `PAYLOAD_CODEC` value; NULL (rows from older Tessera) is LEGACY.
    pub fn from_column(name: Option<&str>) -> Option<Self> {
        match name {
            None | Some("LEGACY") => Some(Self::Legacy),
            Some("CBOR") => Some(Self::Cbor),
            Some(_) => None,
        }
    }

    /// The API version a peer must advertise to receive this codec.
    pub const fn minimum_api_version(self) -> &'static str {
        match self {
            Self::Legacy => version::V1,
            Self::Cbor => version::V5_0,
        }
    }

    /// The best codec a peer advertising `versions` understands: CBOR if it lists `5.0`,
    /// otherwise LEGACY.
    pub fn preferred_for<S: AsRef<str>>(versions: &[S]) -> Self {
        let advertises = |codec: Self| {
            versions
                .iter()
                .any(|v| v.as_ref() == codec.minimum_api_version())
        };
        if advertises(Self::Cbor) {
            Self::Cbor
        } else {
            Self::Legacy
        }
    }

    /// Encodes a payload.
    pub fn encode(self, payload: &EncodedPayload) -> Vec<u8> {
        self.encode_copy(&payload.copy_all())
    }

    /// Encodes a copy, straight from the whole payload's fields.
    pub fn encode_copy(self, copy: &PayloadCopy<'_>) -> Vec<u8> {
        match self {
            Self::Legacy => legacy::encode(copy),
            Self::Cbor => cbor::encode(copy),
        }
    }

    /// Decodes a payload, checking Tessera's invariants.
    pub fn decode(self, bytes: &[u8]) -> Result<EncodedPayload, PayloadError> {
        match self {
            Self::Legacy => legacy::decode(bytes),
            Self::Cbor => cbor::decode(bytes),
        }
    }
}
