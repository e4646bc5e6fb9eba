//! Property tests: every codec round-trips, every decoder survives arbitrary bytes, and the
//! enclave decrypts for exactly its recipients.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use cloister_core::digest::{SecurityHash, TxHash};
use cloister_core::enclave::{Enclave, PrivacyMetadata};
use cloister_core::keys::argon::{ArgonOptions, ArgonVariant};
use cloister_core::keys::file::KeyFile;
use cloister_core::keys::{KeyPair, Password, PrivateKey, PublicKey};
use cloister_core::nacl::Nonce;
use cloister_core::partyinfo::PartyInfo;
use cloister_core::payload::{EncodedPayload, PayloadCodec, PrivacyMode};
use cloister_core::privacy_group::{GroupState, GroupType, PrivacyGroup, PrivacyGroupId};
use cloister_core::resend::{ResendRequest, ResendType};
use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;

fn public_key() -> impl Strategy<Value = PublicKey> {
    any::<[u8; 32]>().prop_map(PublicKey::from_bytes)
}

fn nonce() -> impl Strategy<Value = Nonce> {
    any::<[u8; 24]>().prop_map(Nonce)
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

fn privacy() -> impl Strategy<Value = (PrivacyMode, Vec<u8>, BTreeSet<PublicKey>)> {
    prop_oneof![
        Just((PrivacyMode::StandardPrivate, vec![], BTreeSet::new())),
        Just((PrivacyMode::PartyProtection, vec![], BTreeSet::new())),
        btree_set(public_key(), 1..4).prop_map(|mr| (PrivacyMode::MandatoryRecipients, vec![], mr)),
        vec(any::<u8>(), 1..80).prop_map(|exec| (
            PrivacyMode::PrivateStateValidation,
            exec,
            BTreeSet::new()
        )),
    ]
}

prop_compose! {
    fn payload()(
        sender_key in public_key(),
        cipher_text in bytes(300),
        cipher_text_nonce in nonce(),
        recipient_boxes in vec(bytes(64), 0..5),
        recipient_nonce in nonce(),
        recipient_keys in vec(public_key(), 0..5),
        (privacy_mode, exec_hash, mandatory_recipients) in privacy(),
        affected in btree_map(bytes(70), bytes(70), 0..4),
        group in proptest::option::of(vec(any::<u8>(), 1..40)),
    ) -> EncodedPayload {
        EncodedPayload {
            sender_key,
            cipher_text,
            cipher_text_nonce,
            recipient_boxes,
            recipient_nonce,
            recipient_keys,
            privacy_mode,
            affected_contract_transactions: affected
                .into_iter()
                .map(|(hash, security)| (TxHash::new(hash), SecurityHash(security)))
                .collect::<BTreeMap<_, _>>(),
            exec_hash,
            mandatory_recipients,
            privacy_group_id: group.map(PrivacyGroupId::new),
        }
    }
}

fn url() -> impl Strategy<Value = String> {
    ("[a-z]{1,10}", 1u16.., "(/[a-z0-9]{0,6})?").prop_map(|(host, port, path)| {
        format!(
            "http://{host}:{port}{}",
            if path.is_empty() { "/" } else { &path }
        )
    })
}

proptest! {
    #[test]
    fn legacy_round_trips(payload in payload()) {
        prop_assert_eq!(PayloadCodec::Legacy.decode(&PayloadCodec::Legacy.encode(&payload)).unwrap(), payload);
    }

    #[test]
    fn cbor_round_trips(payload in payload()) {
        prop_assert_eq!(PayloadCodec::Cbor.decode(&PayloadCodec::Cbor.encode(&payload)).unwrap(), payload);
    }

    #[test]
    fn party_info_round_trips(
        own in url(),
        recipients in vec((public_key(), url()), 0..5),
        parties in vec(url(), 0..5),
    ) {
        let info = PartyInfo::new(&own, recipients, parties);
        prop_assert_eq!(PartyInfo::decode(&info.encode()).unwrap(), info);
    }

    #[test]
    fn privacy_groups_round_trip(
        name in ".{0,20}",
        description in ".{0,40}",
        members in vec(public_key(), 0..10),
        seed in bytes(80),
        group_type in prop_oneof![Just(GroupType::Legacy), Just(GroupType::Pantheon), Just(GroupType::Resident)],
        state in prop_oneof![Just(GroupState::Active), Just(GroupState::Deleted)],
    ) {
        let group = PrivacyGroup::new(name, description, members, seed, group_type, state);
        prop_assert_eq!(PrivacyGroup::decode(&group.encode()).unwrap(), group);
    }

    #[test]
    fn resend_requests_round_trip(public_key in public_key(), key in proptest::option::of(bytes(64)), all in any::<bool>()) {
        let request = ResendRequest {
            resend_type: if all { ResendType::All } else { ResendType::Individual },
            public_key: public_key.to_base64(),
            key: key.map(cloister_core::b64::encode),
        };
        let json = serde_json::to_string(&request).unwrap();
        prop_assert_eq!(serde_json::from_str::<ResendRequest>(&json).unwrap(), request);
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(input in bytes(600)) {
        let _ = PayloadCodec::Legacy.decode(&input);
        let _ = PayloadCodec::Cbor.decode(&input);
        let _ = PartyInfo::decode(&input);
        let _ = PrivacyGroup::decode(&input);
        let _ = KeyFile::parse(&input);
    }

    #[test]
    fn a_borrowed_copy_encodes_as_the_owned_one(payload in payload()) {
        for key in &payload.recipient_keys {
            let Ok(owned) = payload.for_recipient(key) else { continue };
            let borrowed = payload.copy_for(key).unwrap();
            for codec in [PayloadCodec::Legacy, PayloadCodec::Cbor] {
                prop_assert_eq!(codec.encode_copy(&borrowed), codec.encode(&owned));
            }
        }
        for codec in [PayloadCodec::Legacy, PayloadCodec::Cbor] {
            prop_assert_eq!(codec.encode_copy(&payload.copy_all()), codec.encode(&payload));
        }
    }

    #[test]
    fn decoders_never_panic_on_mutated_valid_input(payload in payload(), flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        for codec in [PayloadCodec::Legacy, PayloadCodec::Cbor] {
            let mut bytes = codec.encode(&payload);
            for (index, value) in &flips {
                let i = index.index(bytes.len());
                bytes[i] = *value;
            }
            let _ = codec.decode(&bytes);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_recipient_decrypts_and_no_one_else(
        message in bytes(2000),
        seeds in vec(any::<[u8; 32]>(), 3..7),
    ) {
        let pairs: Vec<KeyPair> = seeds.into_iter().map(|s| KeyPair::from_private(PrivateKey::from_bytes(s))).collect();
        let (sender, rest) = pairs.split_first().unwrap();
        let (outsider, recipients) = rest.split_last().unwrap();
        let mut all: Vec<PublicKey> = recipients.iter().map(|p| *p.public()).collect();
        all.push(*sender.public());
        let payload = Enclave::new(vec![sender.clone()]).unwrap()
            .encrypt_payload(&message, sender.public(), &all, PrivacyMetadata::default()).unwrap();
        for recipient in recipients {
            let copy = payload.for_recipient(recipient.public()).unwrap();
            let enclave = Enclave::new(vec![recipient.clone()]).unwrap();
            prop_assert_eq!(enclave.unencrypt_transaction(&copy, recipient.public()).unwrap(), message.clone());
            prop_assert!(enclave.unencrypt_transaction(&payload, recipient.public()).is_ok());
        }
        let stranger = Enclave::new(vec![outsider.clone()]).unwrap();
        prop_assert!(stranger.unencrypt_transaction(&payload, outsider.public()).is_err());
        let first_copy = payload.for_recipient(&all[0]).unwrap();
        prop_assert!(stranger.unencrypt_transaction(&first_copy, outsider.public()).is_err());
    }

    #[test]
    fn key_files_round_trip(seed in any::<[u8; 32]>(), password in "[ -~]{0,16}", variant in 0..3u8) {
        let private = PrivateKey::from_bytes(seed);
        let unlocked = KeyFile::unlocked(&private);
        prop_assert!(KeyFile::parse(unlocked.to_json().as_bytes()).unwrap() == unlocked);
        let variant = [ArgonVariant::I, ArgonVariant::D, ArgonVariant::Id][variant as usize];
        let aopts = ArgonOptions { variant, memory: 32, iterations: 1, parallelism: 1 };
        let password = Password::new(password);
        let locked = KeyFile::lock(&private, &password, aopts, &mut rand_core::OsRng).unwrap();
        let reread = KeyFile::parse(locked.to_json().as_bytes()).unwrap();
        prop_assert!(reread == locked);
        let unlocked = reread.unlock(Some(&password)).unwrap();
        prop_assert_eq!(unlocked.as_bytes(), private.as_bytes());
    }
}
