//! The CBOR codec (API `5.0`): one map of exactly these 11 text keys, written in this order
//! with definite lengths. Decoding accepts the keys in any order and definite or indefinite
//! maps, arrays and byte strings.

use minicbor::data::Type;
use minicbor::{Decoder, Encoder};

use super::{nonce, EncodedPayload, PayloadCopy, PayloadError, PrivacyMode};
use crate::b64;
use crate::digest::{SecurityHash, TxHash};
use crate::keys::PublicKey;
use crate::privacy_group::PrivacyGroupId;

const SENDER: &str = "sender";
const CIPHER_TEXT: &str = "cipherText";
const NONCE: &str = "nonce";
const RECIPIENT_NONCE: &str = "recipientNonce";
const RECIPIENT_BOXES: &str = "recipientBoxes";
const RECIPIENTS: &str = "recipients";
const PRIVACY_FLAG: &str = "privacyFlag";
const AFFECTED: &str = "affected";
const EXEC_HASH: &str = "execHash";
const MANDATORY_FOR: &str = "mandatoryFor";
const PRIVACY_GROUP_ID: &str = "privacyGroupId";
/// Tessera's decoder stops at an unknown key, so exactly these are sent.
const FIELD_COUNT: u64 = 11;

/// Encodes `payload` as Tessera's CBOR map.
pub(crate) fn encode(parts: &PayloadCopy<'_>) -> Vec<u8> {
    let mut out = Encoder::new(Vec::with_capacity(parts.encoded_len_hint()));
    write(&mut out, parts).expect("writing CBOR to a Vec cannot fail");
    out.into_writer()
}

/// [`encode`] as the bytes before the cipher text and the bytes after it.
pub(crate) fn encode_around_cipher_text(parts: &PayloadCopy<'_>) -> (Vec<u8>, Vec<u8>) {
    let length = parts.payload.cipher_text.len();
    let mut head = Encoder::new(Vec::new());
    write_head(&mut head, parts).expect("writing CBOR to a Vec cannot fail");
    let mut head = head.into_writer();
    head.extend_from_slice(&byte_string_header(length));
    let mut tail = Encoder::new(Vec::with_capacity(
        parts.encoded_len_hint().saturating_sub(length),
    ));
    write_tail(&mut tail, parts).expect("writing CBOR to a Vec cannot fail");
    (head, tail.into_writer())
}

/// The header of a definite-length CBOR byte string (major type 2) of `length` bytes, in the
/// shortest form, as minicbor writes it.
fn byte_string_header(length: usize) -> Vec<u8> {
    const BYTES: u8 = 0x40;
    let length = length as u64;
    match length {
        0..=23 => vec![BYTES | length as u8],
        24..=0xff => vec![BYTES | 24, length as u8],
        0x100..=0xffff => [&[BYTES | 25][..], &(length as u16).to_be_bytes()].concat(),
        0x1_0000..=0xffff_ffff => [&[BYTES | 26][..], &(length as u32).to_be_bytes()].concat(),
        _ => [&[BYTES | 27][..], &length.to_be_bytes()].concat(),
    }
}

type Written = Result<(), minicbor::encode::Error<std::convert::Infallible>>;

fn write(out: &mut Encoder<Vec<u8>>, parts: &PayloadCopy<'_>) -> Written {
    write_head(out, parts)?;
    out.bytes(&parts.payload.cipher_text)?;
    write_tail(out, parts)
}

/// The map header, the sender, and the cipher text's key.
fn write_head(out: &mut Encoder<Vec<u8>>, parts: &PayloadCopy<'_>) -> Written {
    out.map(FIELD_COUNT)?;
    out.str(SENDER)?
        .bytes(parts.payload.sender_key.as_bytes())?;
    out.str(CIPHER_TEXT)?;
    Ok(())
}

/// Every field after the cipher text.
fn write_tail(out: &mut Encoder<Vec<u8>>, parts: &PayloadCopy<'_>) -> Written {
    let payload = parts.payload;
    out.str(NONCE)?.bytes(payload.cipher_text_nonce.as_ref())?;
    out.str(RECIPIENT_NONCE)?
        .bytes(payload.recipient_nonce.as_ref())?;
    out.str(RECIPIENT_BOXES)?.array(parts.boxes.len() as u64)?;
    for recipient_box in &parts.boxes {
        out.bytes(recipient_box)?;
    }
    out.str(RECIPIENTS)?.array(parts.keys.len() as u64)?;
    for key in parts.keys.iter() {
        out.bytes(key.as_bytes())?;
    }
    out.str(PRIVACY_FLAG)?.u8(payload.privacy_mode.flag())?;
    out.str(AFFECTED)?
        .map(payload.affected_contract_transactions.len() as u64)?;
    for (tx_hash, security_hash) in &payload.affected_contract_transactions {
        out.str(&tx_hash.to_base64())?.bytes(&security_hash.0)?;
    }
    out.str(EXEC_HASH)?.bytes(&payload.exec_hash)?;
    out.str(MANDATORY_FOR)?
        .array(payload.mandatory_recipients.len() as u64)?;
    for key in &payload.mandatory_recipients {
        out.bytes(key.as_bytes())?;
    }
    let group = payload
        .privacy_group_id
        .as_ref()
        .map_or(&[][..], |id| id.as_bytes());
    out.str(PRIVACY_GROUP_ID)?.bytes(group)?;
    Ok(())
}

/// Decodes a CBOR payload. Unknown keys are skipped (Tessera would silently stop reading at
/// one); the four cryptographic fields are required, the rest default to empty.
pub fn decode(bytes: &[u8]) -> Result<EncodedPayload, PayloadError> {
    let mut input = Decoder::new(bytes);
    let mut fields = Fields::default();
    let len = input.map().map_err(cbor)?;
    for_each_item(&mut input, len, |input| fields.read_entry(input))?;
    fields.into_payload()
}

#[derive(Default)]
struct Fields {
    sender: Option<Vec<u8>>,
    cipher_text: Option<Vec<u8>>,
    nonce: Option<Vec<u8>>,
    recipient_nonce: Option<Vec<u8>>,
    recipient_boxes: Vec<Vec<u8>>,
    recipients: Vec<Vec<u8>>,
    privacy_flag: u64,
    affected: Vec<(String, Vec<u8>)>,
    exec_hash: Vec<u8>,
    mandatory_for: Vec<Vec<u8>>,
    privacy_group_id: Vec<u8>,
}

impl Fields {
    fn read_entry(&mut self, input: &mut Decoder<'_>) -> Result<(), PayloadError> {
        let key = text(input)?;
        match key.as_str() {
            SENDER => self.sender = Some(bytes(input)?),
            CIPHER_TEXT => self.cipher_text = Some(bytes(input)?),
            NONCE => self.nonce = Some(bytes(input)?),
            RECIPIENT_NONCE => self.recipient_nonce = Some(bytes(input)?),
            RECIPIENT_BOXES => self.recipient_boxes = byte_array(input)?,
            RECIPIENTS => self.recipients = byte_array(input)?,
            PRIVACY_FLAG => self.privacy_flag = input.u64().map_err(cbor)?,
            AFFECTED => self.affected = affected(input)?,
            EXEC_HASH => self.exec_hash = bytes(input)?,
            MANDATORY_FOR => self.mandatory_for = byte_array(input)?,
            PRIVACY_GROUP_ID => self.privacy_group_id = bytes(input)?,
            _ => input.skip().map_err(cbor)?,
        }
        Ok(())
    }

    fn into_payload(self) -> Result<EncodedPayload, PayloadError> {
        let required = |value: Option<Vec<u8>>, name| value.ok_or(PayloadError::MissingField(name));
        let keys = |items: Vec<Vec<u8>>, what| {
            items
                .iter()
                .map(|key| PublicKey::from_slice(key, what).map_err(PayloadError::from))
                .collect::<Result<Vec<_>, _>>()
        };
        let affected = self
            .affected
            .into_iter()
            .map(|(hash, security)| {
                let hash = b64::decode(&hash).map_err(|_| PayloadError::AffectedHashNotBase64)?;
                Ok((TxHash::new(hash), SecurityHash(security)))
            })
            .collect::<Result<_, PayloadError>>()?;
        let payload = EncodedPayload {
            sender_key: PublicKey::from_slice(&required(self.sender, SENDER)?, SENDER)?,
            cipher_text: required(self.cipher_text, CIPHER_TEXT)?,
            cipher_text_nonce: nonce(NONCE, &required(self.nonce, NONCE)?)?,
            recipient_boxes: self.recipient_boxes,
            recipient_nonce: nonce(
                RECIPIENT_NONCE,
                &required(self.recipient_nonce, RECIPIENT_NONCE)?,
            )?,
            recipient_keys: keys(self.recipients, RECIPIENTS)?,
            privacy_mode: PrivacyMode::from_flag(self.privacy_flag),
            affected_contract_transactions: affected,
            exec_hash: self.exec_hash,
            mandatory_recipients: keys(self.mandatory_for, MANDATORY_FOR)?
                .into_iter()
                .collect(),
            privacy_group_id: (!self.privacy_group_id.is_empty())
                .then(|| PrivacyGroupId::new(self.privacy_group_id)),
        };
        payload.validate()?;
        Ok(payload)
    }
}

/// Runs `item` once per element of a container whose header gave `len` (`None` = indefinite,
/// ended by a break byte). A definite count only drives the loop, so a huge declared count
/// fails when the input runs out instead of allocating.
fn for_each_item<'b>(
    input: &mut Decoder<'b>,
    len: Option<u64>,
    mut item: impl FnMut(&mut Decoder<'b>) -> Result<(), PayloadError>,
) -> Result<(), PayloadError> {
    match len {
        Some(n) => (0..n).try_for_each(|_| item(input)),
        None => loop {
            if input.datatype().map_err(cbor)? == Type::Break {
                input.set_position(input.position() + 1);
                return Ok(());
            }
            item(input)?;
        },
    }
}

fn bytes(input: &mut Decoder<'_>) -> Result<Vec<u8>, PayloadError> {
    if input.datatype().map_err(cbor)? == Type::BytesIndef {
        let mut out = Vec::new();
        for chunk in input.bytes_iter().map_err(cbor)? {
            out.extend_from_slice(chunk.map_err(cbor)?);
        }
        return Ok(out);
    }
    Ok(input.bytes().map_err(cbor)?.to_vec())
}

fn text(input: &mut Decoder<'_>) -> Result<String, PayloadError> {
    if input.datatype().map_err(cbor)? == Type::StringIndef {
        let mut out = String::new();
        for chunk in input.str_iter().map_err(cbor)? {
            out.push_str(chunk.map_err(cbor)?);
        }
        return Ok(out);
    }
    Ok(input.str().map_err(cbor)?.to_owned())
}

fn byte_array(input: &mut Decoder<'_>) -> Result<Vec<Vec<u8>>, PayloadError> {
    let len = input.array().map_err(cbor)?;
    let mut items = Vec::new();
    for_each_item(input, len, |input| {
        items.push(bytes(input)?);
        Ok(())
    })?;
    Ok(items)
}

fn affected(input: &mut Decoder<'_>) -> Result<Vec<(String, Vec<u8>)>, PayloadError> {
    let len = input.map().map_err(cbor)?;
    let mut entries = Vec::new();
    for_each_item(input, len, |input| {
        entries.push((text(input)?, bytes(input)?));
        Ok(())
    })?;
    Ok(entries)
}

fn cbor(error: minicbor::decode::Error) -> PayloadError {
    PayloadError::Cbor(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nacl::Nonce;

    #[test]
    fn tesseras_invalid_sample_is_rejected() {
        // From Tessera's CBOREncoderTest: {"sender": []} — an array where bytes belong.
        let bytes = crate::b64::decode("oWZzZW5kZXKA").unwrap();
        assert!(matches!(decode(&bytes), Err(PayloadError::Cbor(_))));
    }

    #[test]
    fn missing_required_members_are_named() {
        let mut out = Encoder::new(Vec::new());
        out.map(1)
            .unwrap()
            .str(SENDER)
            .unwrap()
            .bytes(&[1; 32])
            .unwrap();
        assert_eq!(
            decode(&out.into_writer()),
            Err(PayloadError::MissingField(CIPHER_TEXT))
        );
    }

    #[test]
    fn unknown_members_are_skipped() {
        let payload = EncodedPayload {
            sender_key: PublicKey::from_bytes([1; 32]),
            cipher_text: vec![2; 20],
            cipher_text_nonce: Nonce([3; 24]),
            recipient_boxes: vec![vec![4; 48]],
            recipient_nonce: Nonce([5; 24]),
            recipient_keys: vec![PublicKey::from_bytes([6; 32])],
            privacy_mode: PrivacyMode::StandardPrivate,
            affected_contract_transactions: Default::default(),
            exec_hash: Vec::new(),
            mandatory_recipients: Default::default(),
            privacy_group_id: None,
        };
        let mut bytes = encode(&payload.copy_all());
        bytes[0] = 0xac; // 12 entries
        let mut extra = Encoder::new(Vec::new());
        extra
            .str("future")
            .unwrap()
            .array(2)
            .unwrap()
            .u8(1)
            .unwrap()
            .map(0)
            .unwrap();
        bytes.extend(extra.into_writer());
        assert_eq!(decode(&bytes).unwrap(), payload);
    }

    #[test]
    fn a_huge_declared_count_fails_without_allocating() {
        // map with 2^63 entries, then nothing.
        let bytes = [0xbb, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert!(decode(&bytes).is_err());
        // a byte string claiming 2^32 bytes.
        let mut out = Encoder::new(Vec::new());
        out.map(1).unwrap().str(SENDER).unwrap();
        let mut bytes = out.into_writer();
        bytes.extend([0x5a, 0xff, 0xff, 0xff, 0xff, 0x00]);
        assert!(decode(&bytes).is_err());
    }
}
