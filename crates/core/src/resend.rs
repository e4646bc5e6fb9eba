//! The JSON bodies of the resend and recovery calls: `/resend`, `/resendBatch`, `/pushBatch`.

use serde::{Deserialize, Serialize};

use crate::b64;
use crate::digest::TxHash;
use crate::keys::{KeyError, PublicKey};

/// `ResendRequest.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ResendType {
    /// Push every transaction involving the key to the node that holds it.
    All,
    /// Return one transaction in the response body.
    Individual,
}

/// The body of `POST /resend`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResendRequest {
    /// ALL or INDIVIDUAL.
    #[serde(rename = "type")]
    pub resend_type: ResendType,
    /// Base64 public key of the party asking.
    pub public_key: String,
    /// Base64 transaction hash (INDIVIDUAL only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Why a resend request is not acceptable. Names the JSON member.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResendRequestError {
    /// `publicKey` is not a key.
    #[error("publicKey: {0}")]
    PublicKey(KeyError),
    /// `key` is missing for an INDIVIDUAL resend.
    #[error("key: required when type is INDIVIDUAL")]
    MissingKey,
    /// `key` is not base64.
    #[error("key: not valid base64")]
    InvalidKey,
}

/// A checked `/resend` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resend {
    /// Resend everything for this key.
    All(PublicKey),
    /// Resend one transaction to this key.
    Individual(PublicKey, TxHash),
}

impl ResendRequest {
    /// Checks the request and turns it into typed values.
    pub fn validate(&self) -> Result<Resend, ResendRequestError> {
        let public_key = PublicKey::from_base64(&self.public_key, "publicKey")
            .map_err(ResendRequestError::PublicKey)?;
        match self.resend_type {
            ResendType::All => Ok(Resend::All(public_key)),
            ResendType::Individual => {
                let key = self.key.as_deref().ok_or(ResendRequestError::MissingKey)?;
                let hash = b64::decode(key).map_err(|_| ResendRequestError::InvalidKey)?;
                Ok(Resend::Individual(public_key, TxHash::new(hash)))
            }
        }
    }
}

/// The body of `POST /resendBatch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResendBatchRequest {
    /// Base64 public key of the party recovering.
    pub public_key: String,
    /// Payload sets per `/pushBatch` (clamped to 1..=10000 by the server; 100 when absent,
    /// the size Tessera's recovering nodes ask for).
    #[serde(default = "ResendBatchRequest::default_batch_size")]
    pub batch_size: i64,
}

impl ResendBatchRequest {
    /// The batch size Tessera's recovery asks for.
    pub const DEFAULT_BATCH_SIZE: i64 = 100;

    fn default_batch_size() -> i64 {
        Self::DEFAULT_BATCH_SIZE
    }

    /// Largest batch a server publishes at once.
    pub const MAX_BATCH_SIZE: i64 = 10_000;

    /// The batch size clamped to what a server accepts.
    pub fn clamped_batch_size(&self) -> usize {
        self.batch_size.clamp(1, Self::MAX_BATCH_SIZE) as usize
    }
}

/// The response of `POST /resendBatch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResendBatchResponse {
    /// Number of payload sets published.
    pub total: i64,
}

/// The body of `POST /pushBatch`: base64 LEGACY payloads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushBatchRequest {
    /// Base64 LEGACY-encoded payloads.
    pub encoded_payloads: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "BULeR8JyUWhiuuCMU/HLA0Q5pzkYT+cHII3ZKBey3Bo=";

    #[test]
    fn json_round_trips_with_tessera_member_names() {
        let json = format!(r#"{{"type":"INDIVIDUAL","publicKey":"{KEY}","key":"AAAA"}}"#);
        let request: ResendRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&request).unwrap(), json);
        assert!(
            matches!(request.validate().unwrap(), Resend::Individual(_, hash) if hash.as_bytes() == [0, 0, 0])
        );
    }

    #[test]
    fn bad_requests_name_the_member() {
        let bad_type = serde_json::from_str::<ResendRequest>(r#"{"type":"SOME","publicKey":"x"}"#);
        assert!(bad_type
            .unwrap_err()
            .to_string()
            .contains("unknown variant"));
        let missing = ResendRequest {
            resend_type: ResendType::Individual,
            public_key: KEY.into(),
            key: None,
        };
        assert_eq!(
            missing.validate().unwrap_err().to_string(),
            "key: required when type is INDIVIDUAL"
        );
        let bad_key = ResendRequest {
            resend_type: ResendType::All,
            public_key: "AAAA".into(),
            key: None,
        };
        assert!(bad_key
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("publicKey: "));
    }

    #[test]
    fn batch_sizes_are_clamped() {
        let request = |batch_size| ResendBatchRequest {
            public_key: KEY.into(),
            batch_size,
        };
        assert_eq!(request(0).clamped_batch_size(), 1);
        assert_eq!(request(50_000).clamped_batch_size(), 10_000);
    }
}
