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

    /// [`PayloadCodec::encode_copy`] in two parts, the bytes before the cipher text and the
    /// bytes after it, so that each recipient's copy can be sent around one shared cipher
    /// text instead of holding a copy of its own: `head ‖ cipher text ‖ tail` is exactly
    /// what `encode_copy` writes.
    pub fn encode_copy_around_cipher_text(self, copy: &PayloadCopy<'_>) -> (Vec<u8>, Vec<u8>) {
        match self {
            Self::Legacy => legacy::encode_around_cipher_text(copy),
            Self::Cbor => cbor::encode_around_cipher_text(copy),
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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::digest::{SecurityHash, TxHash};
    use crate::keys::PublicKey;
    use crate::nacl::Nonce;
    use crate::payload::{EncodedPayload, PrivacyMode};

    fn payload(cipher_text_len: usize) -> EncodedPayload {
        let key = |b| PublicKey::from_bytes([b; 32]);
        EncodedPayload {
            sender_key: key(1),
            cipher_text: (0..cipher_text_len).map(|i| i as u8).collect(),
            cipher_text_nonce: Nonce([2; 24]),
            recipient_boxes: vec![vec![5; 48], vec![6; 48]],
            recipient_nonce: Nonce([3; 24]),
            recipient_keys: vec![key(5), key(6)],
            privacy_mode: PrivacyMode::MandatoryRecipients,
            affected_contract_transactions: BTreeMap::from([(
                TxHash::new(vec![7; 64]),
                SecurityHash(vec![8; 64]),
            )]),
            exec_hash: Vec::new(),
            mandatory_recipients: BTreeSet::from([key(6)]),
            privacy_group_id: None,
        }
    }

    #[test]
    fn the_parts_around_the_cipher_text_are_the_encoding() {
        // Every CBOR length form (1, 2, 3 and 5 header bytes) and its boundaries.
        for length in [0, 1, 23, 24, 255, 256, 65_535, 65_536, 70_000] {
            let whole = payload(length);
            let one = PublicKey::from_bytes([6; 32]);
            for codec in [PayloadCodec::Legacy, PayloadCodec::Cbor] {
                for copy in [whole.copy_all(), whole.copy_for(&one).unwrap()] {
                    let (head, tail) = codec.encode_copy_around_cipher_text(&copy);
                    let joined = [&head[..], &whole.cipher_text, &tail].concat();
                    assert_eq!(
                        joined,
                        codec.encode_copy(&copy),
                        "{codec:?}, {length} bytes"
                    );
                    assert_eq!(codec.decode(&joined), Ok(copy.to_payload()));
                }
            }
        }
    }
}
