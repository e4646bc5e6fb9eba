//! Discovery on the P2P app: `GET /partyinfo` (this node's view, as JSON), `POST /partyinfo`
//! (a peer's PartyInfo merged in) and `POST /partyinfo/validate` (proving this node holds a key).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Extension;
use cloister_core::partyinfo::PartyInfo;
use cloister_core::payload::PayloadCodec;
use cloister_protocol::media;

use super::{caller_versions, off_workers, require_body_type};
use crate::api::body::{KeyUrlEntry, PartyInfoResponse, UrlEntry};
use crate::api::error::ApiError;
use crate::api::media::MediaType;
use crate::api::response::Answer;
use crate::api::{response, AppState};
use crate::discovery::key_validation::KeyProof;
use crate::listener::ClientCertificate;

/// `GET /partyinfo`: this node's URL, the peers it knows and every key with its node.
pub async fn get(State(state): State<AppState>) -> Answer {
    let peers = state.network.parties().await?;
    let keys = state.network.known_keys().await?;
    let body = PartyInfoResponse {
        url: state.network.own_url().to_owned(),
        peers: peers.into_iter().map(|url| UrlEntry { url }).collect(),
        keys: keys
            .into_iter()
            .map(|(key, url)| KeyUrlEntry {
                key: key.to_base64(),
                url,
            })
            .collect(),
    };
    Ok(response::json(MediaType::Json, StatusCode::OK, &body))
}

/// `POST /partyinfo`: credits the sender with the keys it proves (every key it claims when
/// remote key validation is off) and adds the parties it names, within the node's bounds.
/// Over mutual TLS, the client certificate must name the PartyInfo's url.
pub async fn post(
    State(state): State<AppState>,
    caller: Option<Extension<ClientCertificate>>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    require_body_type(&headers, media::OCTET_STREAM)?;
    let info = off_workers(move || PartyInfo::decode(&body))
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let proof = if state.features.remote_key_validation() {
        KeyProof::Challenge {
            enclave: state.transactions.enclave(),
            peers: &state.peers,
        }
    } else {
        KeyProof::Claims
    };
    state
        .network
        .receive(
            &info,
            caller_versions(&headers),
            &proof,
            caller.as_ref().map(|c| c.leaf.as_ref()),
        )
        .await?;
    // Tessera answers its legacy PartyInfo when it validates nothing, and nothing otherwise.
    Ok(if proof.trusts_claims() {
        response::octets(StatusCode::OK, state.network.reply_party_info().encode())
    } else {
        response::empty(StatusCode::OK)
    })
}

/// `POST /partyinfo/validate`: decrypts the LEGACY payload with its first recipient key and
/// answers with the plaintext if it is a UUID, proving this node holds the key.
pub async fn validate(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Answer {
    require_body_type(&headers, media::OCTET_STREAM)?;
    let payload = off_workers(move || PayloadCodec::Legacy.decode(&body))
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let key = payload
        .recipient_keys
        .first()
        .copied()
        .ok_or_else(|| ApiError::bad_request("payload has no recipient key"))?;
    let plaintext = state
        .transactions
        .enclave()
        .unencrypt_transaction(&payload, &key)
        .map_err(ApiError::ChallengeUndecryptable)?;
    let uuid = String::from_utf8(plaintext)
        .ok()
        .filter(|t| uuid::Uuid::parse_str(t).is_ok())
        .ok_or(ApiError::NotAChallenge)?;
    Ok(response::text(StatusCode::OK, uuid))
}
