//! Base64 as Tessera speaks it: RFC 4648 standard alphabet, always padded on output,
//! padding optional on input (Java's `Base64.getDecoder()`), anything outside the alphabet
//! (whitespace, URL-safe `-`/`_`) rejected.

use base64::engine::{general_purpose::GeneralPurpose, DecodePaddingMode, GeneralPurposeConfig};
use base64::Engine as _;

const LENIENT_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes `bytes` as padded standard base64.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    LENIENT_PADDING.encode(bytes)
}

/// Decodes standard base64, with or without padding.
///
/// The error deliberately carries no part of the input: base64 strings in Cloister are often
/// private keys.
pub fn decode(text: &str) -> Result<Vec<u8>, InvalidBase64> {
    LENIENT_PADDING.decode(text).map_err(|_| InvalidBase64)
}

/// The input was not standard base64. Says nothing about the input, which may be secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not valid standard base64")]
pub struct InvalidBase64;

/// Gives a newtype over `Vec<u8>` (a hash, an id) its constructor, its bytes, its base64 form
/// and a `Debug` that shows that form (`Name(…)`), as APIs and logs name it.
macro_rules! base64_bytes {
    ($name:ident) => {
        impl $name {
            /// Wraps the bytes.
            pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
                Self(bytes.into())
            }

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }

            /// The padded base64 form GoQuorum, peers and APIs see.
            pub fn to_base64(&self) -> String {
                $crate::b64::encode(&self.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.to_base64())
            }
        }
    };
}
pub(crate) use base64_bytes;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_is_optional_on_input_and_always_written() {
        assert_eq!(decode("YQ==").unwrap(), b"a");
        assert_eq!(decode("YQ").unwrap(), b"a");
        assert_eq!(encode(b"a"), "YQ==");
    }

    #[test]
    fn url_safe_and_whitespace_are_rejected() {
        assert!(decode("-_8=").is_err());
        assert!(decode("YQ==\n").is_err());
        assert!(decode("Y Q==").is_err());
    }
}
