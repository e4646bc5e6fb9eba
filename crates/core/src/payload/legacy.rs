//! The LEGACY binary codec (API `v1`), including the shorter forms older peers send.
//!
//! Layout: `FIELD(sender) FIELD(cipherText) FIELD(nonce) ARRAY(boxes) FIELD(recipientNonce)
//! ARRAY(recipientKeys) FIELD([flag]) affected-map [FIELD(execHash)] [ARRAY(mandatory)]
//! [FIELD(privacyGroupId)]`, where the affected map is `count` then `FIELD(txHash)
//! FIELD(securityHash)` per entry. Boxes come before the recipient nonce, keys after it.

use super::{nonce, EncodedPayload, PayloadCopy, PayloadError, PrivacyMode};
use crate::binary::{Reader, Writer};
use crate::digest::{SecurityHash, TxHash};
use crate::keys::PublicKey;
use crate::privacy_group::PrivacyGroupId;

/// Encodes `payload` in the current (API `4.0`) LEGACY layout.
pub(crate) fn encode(parts: &PayloadCopy<'_>) -> Vec<u8> {
    let payload = parts.payload;
    let mut out = Writer::with_capacity(parts.encoded_len_hint());
    out.field(payload.sender_key.as_bytes())
        .field(&payload.cipher_text);
    write_tail(&mut out, parts);
    out.finish()
}

/// [`encode`] as the bytes before the cipher text and the bytes after it.
pub(crate) fn encode_around_cipher_text(parts: &PayloadCopy<'_>) -> (Vec<u8>, Vec<u8>) {
    let payload = parts.payload;
    let mut head = Writer::new();
    head.field(payload.sender_key.as_bytes())
        .length(payload.cipher_text.len());
    let mut tail = Writer::with_capacity(
        parts
            .encoded_len_hint()
            .saturating_sub(payload.cipher_text.len()),
    );
    write_tail(&mut tail, parts);
    (head.finish(), tail.finish())
}

/// Everything after the cipher text.
fn write_tail(out: &mut Writer, parts: &PayloadCopy<'_>) {
    let payload = parts.payload;
    out.field(payload.cipher_text_nonce.as_ref())
        .array(&parts.boxes)
        .field(payload.recipient_nonce.as_ref())
        .array(parts.keys.iter())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::b64;

    /// From Tessera's acceptance test PushIT: one box and an empty recipient-key array, no
    /// privacy sections (a pre-enhanced-privacy peer).
    const PUSH_IT: &str = "AAAAAAAAACDIZyOQXJmSVNNeufz5YiRjCJwDYQYGf3BkWRy0Bp3hfQAAAAAAAAATJ9Sb5lOtjzaZayBRFP9jOUDczAAAAAAAAAAYggoaH+1mIGV91rR0KkrM89Pizi0e6MYGAAAAAAAAAAEAAAAAAAAAMP+KGceAS1WXguC8E6lq4tvtBi2gJfMa0QZ6DAGBdBp3fDAdTq8tKOjstP1aNIFqvAAAAAAAAAAYM9xGQhx2/GYXetUmFZNMe9ED57Rh58MWAAAAAAAAAAA=";

    fn sample() -> EncodedPayload {
        decode(&b64::decode(PUSH_IT).unwrap()).unwrap()
    }

    #[test]
    fn tesseras_push_it_fixture_decodes() {
        let payload = sample();
        assert_eq!(payload.cipher_text.len(), 19);
        assert_eq!(payload.recipient_boxes.len(), 1);
        assert_eq!(payload.recipient_boxes[0].len(), 48);
        assert!(payload.recipient_keys.is_empty());
        assert_eq!(payload.privacy_mode, PrivacyMode::StandardPrivate);
    }

    #[test]
    fn a_payload_ending_after_the_recipient_nonce_is_a_very_old_peers() {
        let full = b64::decode(PUSH_IT).unwrap();
        let short = &full[..full.len() - 8];
        let payload = decode(short).unwrap();
        assert!(payload.recipient_keys.is_empty());
        assert_eq!(payload.cipher_text, sample().cipher_text);
    }

    #[test]
    fn recipients_without_privacy_sections_are_standard_private() {
        let mut payload = sample();
        payload.recipient_keys = vec![payload.sender_key];
        let encoded = encode(&payload.copy_all());
        // Drop the flag (9 bytes) and the empty affected map (8 bytes): the "legacy" layout.
        let legacy = &encoded[..encoded.len() - 17];
        assert_eq!(decode(legacy).unwrap(), payload);
    }

    #[test]
    fn party_protection_with_an_affected_transaction_round_trips() {
        let mut payload = sample();
        payload.privacy_mode = PrivacyMode::PartyProtection;
        payload
            .affected_contract_transactions
            .insert(TxHash::new([7; 64]), SecurityHash(vec![8; 64]));
        assert_eq!(decode(&encode(&payload.copy_all())).unwrap(), payload);
    }

    #[test]
    fn psv_without_an_exec_hash_is_rejected() {
        let mut payload = sample();
        payload.recipient_keys = vec![payload.sender_key];
        payload.privacy_mode = PrivacyMode::PrivateStateValidation;
        payload.exec_hash = vec![1];
        let encoded = encode(&payload.copy_all());
        assert_eq!(decode(&encoded).unwrap(), payload);
        // Drop FIELD(execHash) (8 + 1 bytes): a PSV payload without its exec hash.
        assert_eq!(
            decode(&encoded[..encoded.len() - 9]),
            Err(PayloadError::ExecHashMismatch)
        );
    }

    #[test]
    fn truncation_anywhere_is_an_error_or_an_older_form_never_a_panic() {
        let mut payload = sample();
        payload.recipient_keys = vec![payload.sender_key];
        payload.privacy_mode = PrivacyMode::MandatoryRecipients;
        payload.mandatory_recipients.insert(payload.sender_key);
        payload.privacy_group_id = Some(PrivacyGroupId::new([5; 32]));
        let encoded = encode(&payload.copy_all());
        for len in 0..encoded.len() {
            let _ = decode(&encoded[..len]);
        }
        assert_eq!(decode(&encoded).unwrap(), payload);
    }
}
