//! Remote key validation (`features.enableRemoteKeyValidation`): a node claiming a key in its
//! PartyInfo must prove it holds the private key. We send it a random UUID encrypted to that key
//! (LEGACY payload, `POST /partyinfo/validate`); only a node that can decrypt it answers with the
//! same UUID.

use std::collections::BTreeSet;

use cloister_core::enclave::{Enclave, PrivacyMetadata};
use cloister_core::keys::PublicKey;
use cloister_core::payload::PayloadCodec;
use cloister_protocol::{media, path};

use crate::peer_client::PeerClient;

/// The claimed keys that `url` proved it holds.
pub async fn validated_keys(
    enclave: &Enclave,
    peers: &PeerClient,
    url: &str,
    claimed: BTreeSet<PublicKey>,
) -> BTreeSet<PublicKey> {
    let mut proven = BTreeSet::new();
    for key in claimed {
        if proves(enclave, peers, url, &key).await {
            proven.insert(key);
        } else {
            tracing::warn!(peer = %url, %key, "peer could not prove it holds the key; ignored");
        }
    }
    proven
}

async fn proves(enclave: &Enclave, peers: &PeerClient, url: &str, key: &PublicKey) -> bool {
    let challenge = uuid::Uuid::new_v4().to_string();
    let sender = *enclave.default_public_key();
    let Ok(payload) = enclave.encrypt_payload(
        challenge.as_bytes(),
        &sender,
        &[*key],
        PrivacyMetadata::default(),
    ) else {
        return false;
    };
    let body = PayloadCodec::Legacy.encode(&payload);
    match peers
        .post(url, path::PARTYINFO_VALIDATE, media::OCTET_STREAM, body)
        .await
    {
        Ok(answer) => answer.as_ref() == challenge.as_bytes(),
        Err(_) => false,
    }
}
