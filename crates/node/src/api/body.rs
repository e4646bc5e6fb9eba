//! The JSON bodies of the Q2T, ThirdParty and P2P APIs, with Tessera's member names, and their
//! conversions from and to the transaction manager's types. `null` is accepted wherever
//! GoQuorum may send a nil slice.

use std::collections::BTreeMap;

use cloister_core::b64;
use cloister_core::digest::{SecurityHash, TxHash};
use cloister_core::keys::PublicKey;
use cloister_core::nacl::Nonce;
use cloister_core::payload::{EncodedPayload, PrivacyMode};
use cloister_core::privacy_group::PrivacyGroup;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::input;
use crate::transaction::receive::Received;
use crate::transaction::Sent;

/// The body of `/send`, `/sendsignedtx` and `/encodedpayload/create`. One model for the three
/// (each call reads the members it has; unknown members are ignored anyway), so their shared
/// members are parsed and checked in one place. Not flattened: serde's flatten would lose the
/// JSON path in error messages.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendRequest {
    /// Base64 plaintext (`/send`, required, non-empty).
    #[serde(default)]
    pub payload: Option<String>,
    /// Base64 sender key (`/send`).
    #[serde(default)]
    pub from: Option<String>,
    /// Base64 raw transaction hash (`/sendsignedtx`, required).
    #[serde(default)]
    pub hash: Option<String>,
    /// Base64 recipient keys.
    #[serde(default)]
    pub to: Option<Vec<String>>,
    /// Privacy flag 0–3.
    #[serde(default)]
    pub privacy_flag: Option<i64>,
    /// Base64 affected transaction hashes.
    #[serde(default)]
    pub affected_contract_transactions: Option<Vec<String>>,
    /// Opaque execution hash string (PSV).
    #[serde(default)]
    pub exec_hash: Option<String>,
    /// Base64 privacy group id.
    #[serde(default)]
    pub privacy_group_id: Option<String>,
    /// Base64 mandatory recipient keys (read with the 4.0 media type only).
    #[serde(default)]
    pub mandatory_recipients: Option<Vec<String>>,
}

/// `/send` and `/sendsignedtx` response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendResponse {
    /// Base64 transaction hash.
    pub key: String,
    /// Local parties (2.1+ only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_parties: Option<Vec<String>>,
    /// Sender key (2.1+ only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_key: Option<String>,
}

/// `GET /transaction/{hash}` and `/encodedpayload/decrypt` response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiveResponse {
    /// Base64 plaintext.
    pub payload: String,
    /// Privacy flag.
    pub privacy_flag: u8,
    /// Base64 affected transaction hashes.
    pub affected_contract_transactions: Vec<String>,
    /// The execution hash string as sent (`""` when none).
    pub exec_hash: String,
    /// Local parties (2.1+ only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_parties: Option<Vec<String>>,
    /// Sender key (2.1+ only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_key: Option<String>,
    /// Base64 privacy group id, when the transaction has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privacy_group_id: Option<String>,
}

/// `/storeraw` request.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreRawRequest {
    /// Base64 plaintext (required, non-empty).
    #[serde(default)]
    pub payload: Option<String>,
    /// Base64 sender key.
    #[serde(default)]
    pub from: Option<String>,
}

/// A `{"key": …}` body (`/storeraw` response, `/delete` request).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct KeyBody {
    /// Base64 hash.
    #[serde(default)]
    pub key: Option<String>,
}

/// An encoded payload in JSON (`/encodedpayload/create` response, `/decrypt` request).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayloadJson {
    /// Base64 sender key.
    #[serde(default)]
    pub sender_key: String,
    /// Base64 cipher text.
    #[serde(default)]
    pub cipher_text: String,
    /// Base64 cipher-text nonce.
    #[serde(default)]
    pub cipher_text_nonce: String,
    /// Base64 recipient boxes.
    #[serde(default)]
    pub recipient_boxes: Option<Vec<String>>,
    /// Base64 recipient nonce.
    #[serde(default)]
    pub recipient_nonce: String,
    /// Base64 recipient keys.
    #[serde(default)]
    pub recipient_keys: Option<Vec<String>>,
    /// Privacy flag.
    #[serde(default)]
    pub privacy_mode: Option<i64>,
    /// Base64 affected hash → base64 security hash.
    #[serde(default)]
    pub affected_contract_transactions: Option<BTreeMap<String, String>>,
    /// Base64 execution hash bytes.
    #[serde(default)]
    pub exec_hash: Option<String>,
}

/// One key in `/keys` and `/partyinfo/keys`.
#[derive(Debug, Serialize)]
pub struct KeyEntry {
    /// Base64 public key.
    pub key: String,
}

/// `/keys` and `/partyinfo/keys` response.
#[derive(Debug, Serialize)]
pub struct KeysResponse {
    /// The keys.
    pub keys: Vec<KeyEntry>,
}

/// `GET /partyinfo` response (member order: url, peers, keys).
#[derive(Debug, Serialize)]
pub struct PartyInfoResponse {
    /// This node's URL.
    pub url: String,
    /// Known peers.
    pub peers: Vec<UrlEntry>,
    /// Every known key with its node.
    pub keys: Vec<KeyUrlEntry>,
}

/// `{"url": …}`.
#[derive(Debug, Serialize)]
pub struct UrlEntry {
    /// A URL.
    pub url: String,
}

/// `{"key": …, "url": …}`.
#[derive(Debug, Serialize)]
pub struct KeyUrlEntry {
    /// Base64 key.
    pub key: String,
    /// Its node's URL.
    pub url: String,
}

/// A privacy group in responses.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivacyGroupResponse {
    /// Base64 id.
    pub privacy_group_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// LEGACY, PANTHEON or RESIDENT.
    #[serde(rename = "type")]
    pub group_type: String,
    /// Base64 member keys.
    pub members: Vec<String>,
}

/// `/createPrivacyGroup`, `/findPrivacyGroup`, `/retrievePrivacyGroup` and
/// `/deletePrivacyGroup` requests (each uses the members it needs).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivacyGroupRequest {
    /// Base64 member keys.
    #[serde(default)]
    pub addresses: Option<Vec<String>>,
    /// Base64 key of the member acting.
    #[serde(default)]
    pub from: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Base64 seed.
    #[serde(default)]
    pub seed: Option<String>,
    /// Base64 group id.
    #[serde(default)]
    pub privacy_group_id: Option<String>,
}

fn base64_keys(keys: &[PublicKey]) -> Vec<String> {
    keys.iter().map(PublicKey::to_base64).collect()
}

impl SendResponse {
    /// What a send answers; `tenant` (2.1+ media types) adds the managed parties and sender.
    pub fn new(sent: &Sent, tenant: bool) -> Self {
        Self {
            key: sent.hash.to_base64(),
            managed_parties: tenant.then(|| base64_keys(&sent.managed_parties)),
            sender_key: tenant.then(|| sent.sender.to_base64()),
        }
    }
}

impl ReceiveResponse {
    /// What a read answers; `tenant` (2.1+ media types) adds the managed parties and sender.
    pub fn new(received: &Received, tenant: bool) -> Self {
        Self {
            payload: b64::encode(&received.payload),
            privacy_flag: received.privacy_mode.flag(),
            affected_contract_transactions: received
                .affected
                .iter()
                .map(TxHash::to_base64)
                .collect(),
            exec_hash: String::from_utf8_lossy(&received.exec_hash).into_owned(),
            managed_parties: tenant.then(|| base64_keys(&received.managed_parties)),
            sender_key: tenant.then(|| received.sender.to_base64()),
            privacy_group_id: received.privacy_group_id.as_ref().map(|g| g.to_base64()),
        }
    }
}

impl From<&EncodedPayload> for PayloadJson {
    fn from(payload: &EncodedPayload) -> Self {
        Self {
            sender_key: payload.sender_key.to_base64(),
            cipher_text: b64::encode(&payload.cipher_text),
            cipher_text_nonce: b64::encode(payload.cipher_text_nonce),
            recipient_boxes: Some(payload.recipient_boxes.iter().map(b64::encode).collect()),
            recipient_nonce: b64::encode(payload.recipient_nonce),
            recipient_keys: Some(base64_keys(&payload.recipient_keys)),
            privacy_mode: Some(payload.privacy_mode.flag().into()),
            affected_contract_transactions: Some(
                payload
                    .affected_contract_transactions
                    .iter()
                    .map(|(tx, security)| (tx.to_base64(), b64::encode(&security.0)))
                    .collect(),
            ),
            exec_hash: Some(b64::encode(&payload.exec_hash)),
        }
    }
}

impl TryFrom<&PayloadJson> for EncodedPayload {
    type Error = ApiError;

    /// Errors name the member that is not valid.
    fn try_from(json: &PayloadJson) -> Result<Self, ApiError> {
        let nonce = |text: &str, field: &str| {
            Nonce::from_slice(&input::bytes(text, field)?)
                .ok_or_else(|| ApiError::bad_request(format!("{field} must be 24 bytes")))
        };
        let affected = json
            .affected_contract_transactions
            .iter()
            .flatten()
            .map(|(tx, security)| {
                let field = "affectedContractTransactions";
                Ok((
                    TxHash::new(input::bytes(tx, field)?),
                    SecurityHash(input::bytes(security, field)?),
                ))
            })
            .collect::<Result<_, ApiError>>()?;
        let boxes = json.recipient_boxes.iter().flatten().enumerate();
        Ok(Self {
            sender_key: input::key(&json.sender_key, "senderKey")?,
            cipher_text: input::bytes(&json.cipher_text, "cipherText")?,
            cipher_text_nonce: nonce(&json.cipher_text_nonce, "cipherTextNonce")?,
            recipient_boxes: boxes
                .map(|(i, b)| input::bytes(b, &format!("recipientBoxes[{i}]")))
                .collect::<Result<_, _>>()?,
            recipient_nonce: nonce(&json.recipient_nonce, "recipientNonce")?,
            recipient_keys: input::keys(json.recipient_keys.as_deref(), "recipientKeys")?,
            privacy_mode: PrivacyMode::from_flag(
                json.privacy_mode
                    .and_then(|f| u64::try_from(f).ok())
                    .unwrap_or(0),
            ),
            affected_contract_transactions: affected,
            exec_hash: input::bytes(json.exec_hash.as_deref().unwrap_or_default(), "execHash")?,
            mandatory_recipients: Default::default(),
            privacy_group_id: None,
        })
    }
}

impl From<&PrivacyGroup> for PrivacyGroupResponse {
    fn from(group: &PrivacyGroup) -> Self {
        Self {
            privacy_group_id: group.id.to_base64(),
            name: group.name.clone(),
            description: group.description.clone(),
            group_type: group.group_type.name().into(),
            members: base64_keys(&group.members),
        }
    }
}

impl FromIterator<PublicKey> for KeysResponse {
    fn from_iter<I: IntoIterator<Item = PublicKey>>(keys: I) -> Self {
        Self {
            keys: keys
                .into_iter()
                .map(|key| KeyEntry {
                    key: key.to_base64(),
                })
                .collect(),
        }
    }
}
