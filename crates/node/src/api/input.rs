//! Turning request text into typed values, with 400s that name the field. Nothing here echoes
//! a value back (it may be a key or a payload).

use cloister_core::b64;
use cloister_core::digest::TxHash;
use cloister_core::keys::PublicKey;
use percent_encoding::percent_decode_str;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Parses a JSON body; errors name the JSON path (`to[1]: invalid type …`).
pub fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let problem = match inner.classify() {
            serde_json::error::Category::Data => "missing or of the wrong type",
            serde_json::error::Category::Eof => "unexpected end of JSON",
            _ => "not valid JSON",
        };
        if path == "." || path.is_empty() {
            ApiError::bad_request(format!(
                "Invalid request body: {problem} (line {}, column {})",
                inner.line(),
                inner.column()
            ))
        } else {
            ApiError::bad_request(format!("Invalid request body: {path} is {problem}"))
        }
    })
}

/// Base64 bytes of a named field.
pub fn bytes(text: &str, field: &str) -> Result<Vec<u8>, ApiError> {
    b64::decode(text).map_err(|_| ApiError::bad_request(format!("{field} is not valid base64")))
}

/// A base64 public key of a named field.
pub fn key(text: &str, field: &str) -> Result<PublicKey, ApiError> {
    let bytes = bytes(text, field)?;
    PublicKey::from_slice(&bytes, "key")
        .map_err(|_| ApiError::bad_request(format!("{field} is not a 32-byte public key")))
}

/// An optional base64 key; absent or empty means none (Tessera treats `""` as absent).
pub fn optional_key(text: Option<&str>, field: &str) -> Result<Option<PublicKey>, ApiError> {
    text.filter(|t| !t.is_empty())
        .map(|t| key(t, field))
        .transpose()
}

/// A list of base64 keys; `null` or absent is empty.
pub fn keys(texts: Option<&[String]>, field: &str) -> Result<Vec<PublicKey>, ApiError> {
    texts
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, text)| key(text, &format!("{field}[{i}]")))
        .collect()
}

/// A comma-separated header of base64 keys (`c11n-to`); absent or empty is none.
pub fn key_list_header(value: Option<&str>, field: &str) -> Result<Vec<PublicKey>, ApiError> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| key(t, field))
        .collect()
}

/// A list of base64 transaction hashes; `null` or absent is empty.
pub fn hashes(texts: Option<&[String]>, field: &str) -> Result<Vec<TxHash>, ApiError> {
    texts
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, text)| bytes(text, &format!("{field}[{i}]")).map(TxHash::new))
        .collect()
}

/// A transaction hash taken from a path segment. The router hands over the segment still
/// percent-encoded, so `%2F` stays inside the segment; `+` and `=` may come literally
/// (GoQuorum's `url.PathEscape`) or encoded (Tessera's clients).
pub fn path_hash(segment: &str) -> Result<TxHash, ApiError> {
    let decoded = percent_decode_str(segment)
        .decode_utf8()
        .map_err(|_| ApiError::bad_request("transaction hash is not valid base64"))?;
    bytes(&decoded, "transaction hash").map(TxHash::new)
}

/// The value of `name` in a raw query string, percent-decoded, with `+` kept as `+` (a base64
/// character) rather than turned into a space.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| percent_decode_str(value).decode_utf8_lossy().into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_hashes_accept_goquorum_and_tessera_escaping() {
        let hash = TxHash::new(vec![0xfb, 0xff, 0xfe, 0xfb]);
        let b64 = hash.to_base64();
        assert_eq!(b64, "+//++w==");
        for segment in ["+%2F%2F++w==", "%2B%2F%2F%2B%2Bw%3D%3D", "+%2F%2F++w"] {
            assert_eq!(path_hash(segment).unwrap(), hash, "{segment}");
        }
        assert!(path_hash("not*base64").is_err());
    }

    #[test]
    fn query_values_keep_plus_signs() {
        assert_eq!(
            query_param(Some("isRaw=false&to=a+b%2F="), "to").as_deref(),
            Some("a+b/=")
        );
        assert_eq!(query_param(Some("isRaw=false"), "to"), None);
        assert_eq!(query_param(None, "to"), None);
    }

    #[test]
    fn json_errors_name_the_path_without_echoing_values() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Body {
            to: Vec<String>,
        }
        let error = json::<Body>(br#"{"to": ["a", 5]}"#).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Invalid request body: to[1] is missing or of the wrong type"
        );
        assert!(json::<Body>(b"not json")
            .unwrap_err()
            .to_string()
            .contains("not valid JSON"));
    }
}
