//! Proof of key ownership (`features.enableRemoteKeyValidation`, on by default in Cloister): a
//! node claiming a key in its PartyInfo must prove it holds the private key. We send it a random
//! UUID encrypted to that key (LEGACY payload, `POST /partyinfo/validate` at the URL it claims
//! the key for); only a node that can decrypt it answers with the same UUID. The challenge goes
//! to the claimed URL, never to the caller, so announcing someone else's key for one's own URL
//! proves nothing, and announcing it for its real owner's URL only lets the owner prove it.

use cloister_core::enclave::{Enclave, PrivacyMetadata};
use cloister_core::keys::PublicKey;
use cloister_core::payload::PayloadCodec;
use cloister_protocol::{media, path};
use futures_util::stream::{self, StreamExt};

use crate::peer_client::PeerClient;

/// Challenges in flight at once for one announcement: what one PartyInfo can make this node
/// send is bounded by `maxKeysPerMessage` in all (one when the first fails) and by this at any
/// moment.
const CONCURRENT_CHALLENGES: usize = 8;

/// What makes a claimed key believed.
#[derive(Clone, Copy)]
pub enum KeyProof<'a> {
    /// The claim itself (remote key validation turned off, as Tessera's default is).
    Claims,
    /// A challenge the claimed URL answers.
    Challenge {
        /// Encrypts the challenge.
        enclave: &'a Enclave,
        /// Sends it.
        peers: &'a PeerClient,
    },
}

impl KeyProof<'_> {
    /// Whether claims are believed without proof.
    pub fn trusts_claims(&self) -> bool {
        matches!(self, Self::Claims)
    }

    /// The keys among `claimed` that the node at `url` proved it holds. The first key is
    /// challenged alone: a URL that cannot prove it (not a node, or not the one that holds the
    /// keys) gets no more challenges, so an announcement pointing this node at some other
    /// service makes it send one request there, however many keys it claims.
    pub async fn proven(&self, url: &str, claimed: &[PublicKey]) -> Vec<PublicKey> {
        let Self::Challenge { enclave, peers } = *self else {
            return claimed.to_vec();
        };
        let Some((first, rest)) = claimed.split_first() else {
            return Vec::new();
        };
        if !proves_or_warns(enclave, peers, url, first).await {
            return Vec::new();
        }
        let checks = rest.iter().copied().map(|key| async move {
            proves_or_warns(enclave, peers, url, &key)
                .await
                .then_some(key)
        });
        let mut proven: Vec<PublicKey> = stream::iter(checks)
            .buffer_unordered(CONCURRENT_CHALLENGES)
            .filter_map(|key| async move { key })
            .collect()
            .await;
        proven.insert(0, *first);
        proven
    }
}

async fn proves_or_warns(
    enclave: &Enclave,
    peers: &PeerClient,
    url: &str,
    key: &PublicKey,
) -> bool {
    let holds = proves(enclave, peers, url, key).await;
    if !holds {
        tracing::warn!(peer = %url, %key, "peer could not prove it holds the key; ignored");
    }
    holds
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
        .post(
            url,
            path::PARTYINFO_VALIDATE,
            media::OCTET_STREAM,
            body.into(),
        )
        .await
    {
        Ok(answer) => answer.as_ref() == challenge.as_bytes(),
        Err(_) => false,
    }
}
