//! The LEGACY binary codec (API `v1`), including the shorter forms older peers send.
//!
//! Layout: `FIELD(sender) FIELD(cipherText) FIELD(nonce) ARRAY(boxes) FIELD(recipientNonce)
//! ARRAY(recipientKeys) FIELD([flag]) affected-map [FIELD(execHash)] [ARRAY(mandatory)]
//! [FIELD(privacyGroupId)]`, where the affected map is `count` then `FIELD(txHash)
//! FIELD(securityHash)` per entry. Boxes come before the recipient nonce, keys after it.

use super::{nonce, EncodedPayload, PayloadError, PrivacyMode};
use crate::binary::{Reader, Writer};
use crate::digest::{SecurityHash, TxHash};
use crate::keys::PublicKey;
use crate::privacy_group::PrivacyGroupId;

/// Encodes `payload` in the current (API `4.0`) LEGACY layout.
pub fn encode(payload: &EncodedPayload) -> Vec<u8> {
    let mut out = Writer::new();
    out.field(payload.sender_key.as_bytes())
        .field(&payload.cipher_text)
        .field(payload.cipher_text_nonce.as_ref())
        .array(&payload.recipient_boxes)
        .field(payload.recipient_nonce.as_ref())
        .array(&payload.recipient_keys)
        .field(&[payload.privacy_mode.flag()])
        .length(payload.affected_contract_transactions.len());
    for (tx_hash, security_hash) in &payload.affected_contract_transactions {
        out.field(tx_hash.as_bytes()).field(&security_hash.0);
    }
    if !payload.exec_hash.is_empty() {
        out.field(&payload.exec_hash);
    }
    if payload.privacy_mode == PrivacyMode::MandatoryRecipients {
        out.array(&payload.mandatory_recipients);
    }
    if let Some(group) = &payload.privacy_group_id {
        out.field(group.as_bytes());
    }
    out.finish()
}

/// Decodes a LEGACY payload, accepting every older layout Tessera accepts: a payload may end
/// after the recipient nonce (no keys) or after the recipient keys (standard private).
/// Bytes after the last recognised section are ignored, as Tessera does.
pub fn decode(bytes: &[u8]) -> Result<EncodedPayload, PayloadError> {
    let mut input = Reader::new(bytes);
    let sender_key = PublicKey::from_slice(input.field("sender")?, "sender")?;
    let cipher_text = input.field("cipherText")?.to_vec();
    let cipher_text_nonce = nonce("cipherTextNonce", input.field("cipherTextNonce")?)?;
    let recipient_boxes = to_vecs(input.array("recipientBoxes")?);
    let recipient_nonce = nonce("recipientNonce", input.field("recipientNonce")?)?;
    let mut payload = EncodedPayload {
        sender_key,
        cipher_text,
        cipher_text_nonce,
        recipient_boxes,
        recipient_nonce,
        recipient_keys: Vec::new(),
        privacy_mode: PrivacyMode::StandardPrivate,
        affected_contract_transactions: Default::default(),
        exec_hash: Vec::new(),
        mandatory_recipients: Default::default(),
        privacy_group_id: None,
    };
    if input.is_empty() {
        return Ok(payload);
    }
    payload.recipient_keys = keys(input.array("recipientKeys")?, "recipientKeys")?;
    if input.is_empty() {
        return Ok(payload);
    }
    decode_privacy_sections(&mut input, &mut payload)?;
    payload.validate()?;
    Ok(payload)
}

fn decode_privacy_sections(
    input: &mut Reader<'_>,
    payload: &mut EncodedPayload,
) -> Result<(), PayloadError> {
    let flag = input.field("privacyFlag")?;
    let flag = *flag.first().ok_or(PayloadError::EmptyPrivacyFlag)?;
    payload.privacy_mode = PrivacyMode::from_flag(flag.into());
    let affected = input.length("affectedContractTransactions")?;
    for _ in 0..affected {
        let tx_hash = TxHash::new(input.field("affectedContractTransactions")?);
        let security_hash = SecurityHash(input.field("affectedContractTransactions")?.to_vec());
        payload
            .affected_contract_transactions
            .insert(tx_hash, security_hash);
    }
    if !input.is_empty() && payload.privacy_mode == PrivacyMode::PrivateStateValidation {
        payload.exec_hash = input.field("execHash")?.to_vec();
    }
    if !input.is_empty() && payload.privacy_mode == PrivacyMode::MandatoryRecipients {
        let mandatory = keys(input.array("mandatoryRecipients")?, "mandatoryRecipients")?;
        payload.mandatory_recipients = mandatory.into_iter().collect();
    }
    if !input.is_empty() {
        let group = input.field("privacyGroupId")?;
        payload.privacy_group_id = (!group.is_empty()).then(|| PrivacyGroupId::new(group));
    }
    Ok(())
}

fn to_vecs(items: Vec<&[u8]>) -> Vec<Vec<u8>> {
    items.into_iter().map(<[u8]>::to_vec).collect()
}

fn keys(items: Vec<&[u8]>, what: &'static str) -> Result<Vec<PublicKey>, PayloadError> {
    items
        .into_iter()
        .map(|bytes| PublicKey::from_slice(bytes, what).map_err(PayloadError::from))
        .collect()
}
