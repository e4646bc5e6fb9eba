//! Every computed vector of tessera-internals.md §7.2, reproduced byte for byte.
//!
//! Inputs: sender A, recipient B, master key 0x20..0x3f, cipher-text nonce 0x00..0x17,
//! recipient nonce 0x64..0x7b, plaintext "hello tessera".

#![allow(clippy::unwrap_used)]

use cloister_core::digest::PayloadDigest;
use cloister_core::enclave::{Enclave, PayloadSecrets, PrivacyMetadata};
use cloister_core::keys::{KeyPair, PrivateKey, PublicKey};
use cloister_core::nacl::{self, Nonce, SymmetricKey};
use cloister_core::partyinfo::PartyInfo;
use cloister_core::payload::{EncodedPayload, PayloadCodec, PrivacyMode};
use cloister_core::privacy_group::{self, id::java_hash_code};

const A_PRIVATE: &str = "yAWAJjwPqUtNVlqGjSrBmr1/iIkghuOh1803Yzx9jLM=";
const B_PRIVATE: &str = "Wl+xSyXVuuqzpvznOS7dOobhcn4C5auxkFRi7yLtgtA=";
const PLAINTEXT: &[u8] = b"hello tessera";

const CIPHER_TEXT: &str = "bb85d2d57442db4766870c5d942186acc47e65966b0cca00f02a1ef3d5";
const SHARED_AB: &str = "12094b40705c7a042ff16c10cad08d477e0478c6a800bb4a7ec453bb865cd057";
const SHARED_AA: &str = "f3a3ddda9aa61f1a6f3f05827b9aa838d92498a1a5242983903d259286f5e323";
const BOX_B: &str = "d6153034893a86c30540293b7783ec7f2198fbca448e1b4e793541e7f4c953976a257a567499cc999f6d9ba095fd1b79";
const BOX_A: &str = "19a339e90f7bfecb6577262ce3cb75fc57f8b0fb130870b0049a0e1af33597efe14a9bc278098277721eadd7c5118d3c";
const HASH_SHA3: &str =
    "9TR5PEAK+g4PBCnxTqoaSWCqs301PctR7XVBocQw0feJ+zSTiuvUKL8P2/BAKxDPejTP7QOoE7/D3YUppPPqqQ==";
const HASH_ORION: &str = "6hZq9Hf0+oWl2Kr4LG5r5KusYlptqGwIx8ti0ZRLy0M=";
const LEGACY_FOR_B: &str = "0000000000000020ffe52e0fadf322d2f511b8f190a5258cc806f19d70d0027ca4d391e22ab6c907000000000000001dbb85d2d57442db4766870c5d942186acc47e65966b0cca00f02a1ef3d50000000000000018000102030405060708090a0b0c0d0e0f101112131415161700000000000000010000000000000030d6153034893a86c30540293b7783ec7f2198fbca448e1b4e793541e7f4c953976a257a567499cc999f6d9ba095fd1b7900000000000000186465666768696a6b6c6d6e6f707172737475767778797a7b000000000000000100000000000000200542de47c272516862bae08c53f1cb034439a739184fe707208dd92817b2dc1a0000000000000001000000000000000000";
const CBOR_FOR_B: &str = "ab6673656e6465725820ffe52e0fadf322d2f511b8f190a5258cc806f19d70d0027ca4d391e22ab6c9076a63697068657254657874581dbb85d2d57442db4766870c5d942186acc47e65966b0cca00f02a1ef3d5656e6f6e63655818000102030405060708090a0b0c0d0e0f10111213141516176e726563697069656e744e6f6e636558186465666768696a6b6c6d6e6f707172737475767778797a7b6e726563697069656e74426f786573815830d6153034893a86c30540293b7783ec7f2198fbca448e1b4e793541e7f4c953976a257a567499cc999f6d9ba095fd1b796a726563697069656e74738158200542de47c272516862bae08c53f1cb034439a739184fe707208dd92817b2dc1a6b70726976616379466c616700686166666563746564a0686578656348617368406c6d616e6461746f7279466f72806e7072697661637947726f7570496440";
const PARTY_INFO: &str = "0000000000000016687474703a2f2f3132372e302e302e313a393030312f00000000000000010000000000000020ffe52e0fadf322d2f511b8f190a5258cc806f19d70d0027ca4d391e22ab6c9070000000000000016687474703a2f2f3132372e302e302e313a393030312f00000000000000020000000000000016687474703a2f2f3132372e302e302e313a393030312f0000000000000016687474703a2f2f3132372e302e302e313a393030322f";

fn pair(private: &str) -> KeyPair {
    KeyPair::from_private(PrivateKey::from_base64(private, "test key").unwrap())
}

fn secrets() -> PayloadSecrets {
    let bytes = |start: u8, len: u8| (start..start + len).collect::<Vec<u8>>();
    PayloadSecrets {
        master_key: SymmetricKey::from_slice(&bytes(0x20, 32)).unwrap(),
        cipher_text_nonce: Nonce::from_slice(&bytes(0x00, 24)).unwrap(),
        recipient_nonce: Nonce::from_slice(&bytes(0x64, 24)).unwrap(),
    }
}

/// The sender's full payload, recipients [B, A].
fn sender_copy() -> (EncodedPayload, PublicKey, PublicKey) {
    let (a, b) = (pair(A_PRIVATE), pair(B_PRIVATE));
    let (a_pub, b_pub) = (*a.public(), *b.public());
    let enclave = Enclave::new(vec![a]).unwrap();
    let payload = enclave
        .encrypt_payload_with_secrets(
            secrets(),
            PLAINTEXT,
            &a_pub,
            &[b_pub, a_pub],
            PrivacyMetadata::default(),
        )
        .unwrap();
    (payload, a_pub, b_pub)
}

#[test]
fn cipher_text_and_boxes() {
    let (payload, _, _) = sender_copy();
    assert_eq!(hex::encode(&payload.cipher_text), CIPHER_TEXT);
    assert_eq!(payload.cipher_text.len(), 29);
    assert_eq!(hex::encode(&payload.recipient_boxes[0]), BOX_B);
    assert_eq!(hex::encode(&payload.recipient_boxes[1]), BOX_A);
}

#[test]
fn beforenm_both_ways_and_with_self() {
    let (a, b) = (pair(A_PRIVATE), pair(B_PRIVATE));
    let ab = nacl::shared_key(b.public(), a.private()).unwrap();
    let ba = nacl::shared_key(a.public(), b.private()).unwrap();
    let aa = nacl::shared_key(a.public(), a.private()).unwrap();
    assert_eq!(hex::encode(ab.as_bytes()), SHARED_AB);
    assert_eq!(hex::encode(ba.as_bytes()), SHARED_AB);
    assert_eq!(hex::encode(aa.as_bytes()), SHARED_AA);
}

#[test]
fn transaction_hashes() {
    let (payload, _, _) = sender_copy();
    assert_eq!(
        PayloadDigest::Sha3_512
            .digest(&payload.cipher_text)
            .to_base64(),
        HASH_SHA3
    );
    assert_eq!(
        PayloadDigest::Sha512_256
            .digest(&payload.cipher_text)
            .to_base64(),
        HASH_ORION
    );
}

#[test]
fn legacy_and_cbor_encodings_of_the_recipient_copy() {
    let (payload, _, b_pub) = sender_copy();
    let for_b = payload.for_recipient(&b_pub).unwrap();
    assert_eq!(
        hex::encode(PayloadCodec::Legacy.encode(&for_b)),
        LEGACY_FOR_B
    );
    assert_eq!(LEGACY_FOR_B.len() / 2, 270);
    assert_eq!(hex::encode(PayloadCodec::Cbor.encode(&for_b)), CBOR_FOR_B);
    assert_eq!(CBOR_FOR_B.len() / 2, 332);
    for (codec, bytes) in [
        (PayloadCodec::Legacy, LEGACY_FOR_B),
        (PayloadCodec::Cbor, CBOR_FOR_B),
    ] {
        assert_eq!(codec.decode(&hex::decode(bytes).unwrap()).unwrap(), for_b);
    }
}

#[test]
fn legacy_encoding_of_the_sender_copy() {
    let (payload, a_pub, b_pub) = sender_copy();
    let field = |bytes: &[u8]| [&(bytes.len() as u64).to_be_bytes()[..], bytes].concat();
    let boxes = [
        &2u64.to_be_bytes()[..],
        &field(&hex::decode(BOX_B).unwrap()),
        &field(&hex::decode(BOX_A).unwrap()),
    ]
    .concat();
    let keys = [
        &2u64.to_be_bytes()[..],
        &field(b_pub.as_bytes()),
        &field(a_pub.as_bytes()),
    ]
    .concat();
    let for_b = hex::decode(LEGACY_FOR_B).unwrap();
    // Sender (40) + cipherText (37) + nonce (32) = 109 bytes before the boxes array;
    // the single-box array is 8 + 56, the recipient nonce 32, the single-key array 8 + 40.
    let expected = [
        &for_b[..109],
        &boxes,
        &for_b[109 + 64..109 + 64 + 32],
        &keys,
        &for_b[109 + 64 + 32 + 48..],
    ]
    .concat();
    let encoded = PayloadCodec::Legacy.encode(&payload);
    assert_eq!(hex::encode(&encoded), hex::encode(&expected));
    assert_eq!(encoded.len(), 366);
}

#[test]
fn cbor_indefinite_containers_from_older_jackson_decode_the_same() {
    let (payload, _, b_pub) = sender_copy();
    let for_b = payload.for_recipient(&b_pub).unwrap();
    let definite = hex::decode(CBOR_FOR_B).unwrap();
    let indefinite = to_indefinite(&definite);
    assert_ne!(indefinite, definite);
    assert_eq!(PayloadCodec::Cbor.decode(&indefinite).unwrap(), for_b);
}

/// Rewrites the vector as jackson-dataformat-cbor 2.7.8 writes it: `bf…ff` maps, `9f…ff`
/// arrays (the byte strings are unchanged).
fn to_indefinite(definite: &[u8]) -> Vec<u8> {
    let (boxes, recipients, affected, mandatory) = (
        "6e726563697069656e74426f786573",
        "6a726563697069656e7473",
        "686166666563746564",
        "6c6d616e6461746f7279466f72",
    );
    let mut text = hex::encode(definite);
    text = text.replacen("ab", "bf", 1);
    text = text.replace(&format!("{boxes}81"), &format!("{boxes}9f"));
    text = text.replace(&format!("{BOX_B}6a"), &format!("{BOX_B}ff6a"));
    text = text.replace(&format!("{recipients}81"), &format!("{recipients}9f"));
    text = text.replace("dc1a6b", "dc1aff6b");
    text = text.replace(&format!("{affected}a0"), &format!("{affected}bfff"));
    text = text.replace(&format!("{mandatory}80"), &format!("{mandatory}9fff"));
    text.push_str("ff");
    hex::decode(text).unwrap()
}

#[test]
fn both_parties_decrypt_and_a_stranger_cannot() {
    let (payload, a_pub, b_pub) = sender_copy();
    let sender_enclave = Enclave::new(vec![pair(A_PRIVATE)]).unwrap();
    assert_eq!(
        sender_enclave
            .unencrypt_transaction(&payload, &a_pub)
            .unwrap(),
        PLAINTEXT
    );
    let recipient_enclave = Enclave::new(vec![pair(B_PRIVATE)]).unwrap();
    let for_b = payload.for_recipient(&b_pub).unwrap();
    assert_eq!(
        recipient_enclave
            .unencrypt_transaction(&for_b, &b_pub)
            .unwrap(),
        PLAINTEXT
    );
    let stranger = KeyPair::from_private(PrivateKey::from_bytes([42; 32]));
    let stranger_pub = *stranger.public();
    let stranger_enclave = Enclave::new(vec![stranger]).unwrap();
    assert!(stranger_enclave
        .unencrypt_transaction(&payload, &stranger_pub)
        .is_err());
    assert!(stranger_enclave
        .unencrypt_transaction(&for_b, &stranger_pub)
        .is_err());
}

#[test]
fn mandatory_recipients_tail() {
    let (payload, _, b_pub) = sender_copy();
    let mut for_b = payload.for_recipient(&b_pub).unwrap();
    for_b.privacy_mode = PrivacyMode::MandatoryRecipients;
    for_b.mandatory_recipients.insert(b_pub);
    let encoded = hex::encode(PayloadCodec::Legacy.encode(&for_b));
    let tail = format!(
        "000000000000000102000000000000000000000000000000010000000000000020{}",
        hex::encode(b_pub.as_bytes())
    );
    assert!(encoded.ends_with(&tail), "{encoded}");
}

#[test]
fn privacy_group_ids() {
    let (a, b) = (pair(A_PRIVATE), pair(B_PRIVATE));
    assert_eq!(java_hash_code(a.public().as_bytes()), -734_059_459);
    assert_eq!(java_hash_code(b.public().as_bytes()), -1_288_910_597);
    let members = [*a.public(), *b.public()];
    assert_eq!(
        privacy_group::generate_id(&members, None).to_base64(),
        "54efp7RJOsCN/RKEMujz2/sJyQVtIsFol8sKhKa6a6E="
    );
    assert_eq!(
        privacy_group::lookup_id(&members).to_base64(),
        "w9HBAEb6GeO1v9XEQYzq4K0Gj0TGhZvOlY4RJXl1gQI="
    );
}

#[test]
fn party_info_bytes() {
    let a = pair(A_PRIVATE);
    let info = PartyInfo::new(
        "http://127.0.0.1:9001/",
        [(*a.public(), "http://127.0.0.1:9001/".to_owned())],
        [
            "http://127.0.0.1:9001/".to_owned(),
            "http://127.0.0.1:9002/".to_owned(),
        ],
    );
    assert_eq!(hex::encode(info.encode()), PARTY_INFO);
    assert_eq!(
        PartyInfo::decode(&hex::decode(PARTY_INFO).unwrap()).unwrap(),
        info
    );
}
