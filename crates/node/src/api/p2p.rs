//! The P2P app: the Tessera-to-Tessera protocol (tessera-api §6), behind the optional IP
//! whitelist.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use cloister_core::partyinfo::PartyInfo;
use cloister_core::payload::PayloadCodec;
use cloister_core::resend::{
    PushBatchRequest, Resend, ResendBatchRequest, ResendBatchResponse, ResendRequest,
};
use cloister_core::version;

use super::error::ApiError;
use super::forwarded;
use super::media::{MediaType, OCTET_STREAM, TEXT_PLAIN};
use super::q2t::json_response;
use super::{common, input, model, AppState};
use crate::discovery::{key_validation, Network};
use crate::listener::PeerAddress;
use crate::transaction::push::push_codec;

/// The P2P routes (plus the common ones), with the whitelist in front when configured.
pub fn router(state: AppState) -> Router<AppState> {
    let routes = Router::new()
        .route("/partyinfo", get(party_info_json).post(party_info))
        .route("/push", post(push))
        .merge(common::router());
    // In recovery mode only discovery, standard-private pushes and batch delivery are served.
    let routes = if state.recovery_mode {
        routes.route("/pushBatch", post(push_batch))
    } else {
        routes
            .route("/partyinfo/validate", post(validate))
            .route("/resend", post(resend))
            .route("/resendBatch", post(resend_batch))
            .route("/pushPrivacyGroup", post(push_privacy_group))
    };
    match state.whitelist {
        Some(allowed) => routes.layer(axum::middleware::from_fn_with_state(allowed, whitelist)),
        None => routes,
    }
}

/// Who may call the P2P app when `useWhiteList` is on.
#[derive(Debug, Clone, Default)]
pub struct Whitelist {
    /// Allowed caller hosts (see [`whitelist_hosts`]).
    pub hosts: BTreeSet<String>,
    /// Proxies whose `Forwarded` header names the real caller (`--trusted-proxy`).
    pub trusted_proxies: BTreeSet<IpAddr>,
}

/// The hosts allowed by `useWhiteList`: the hosts of the configured peers, with every loopback
/// spelling when any of them is loopback (as Tessera does).
pub fn whitelist_hosts(peers: &[String]) -> BTreeSet<String> {
    let mut hosts: BTreeSet<String> = peers.iter().filter_map(|url| host_of(url)).collect();
    if hosts
        .iter()
        .any(|h| h == "localhost" || h == "127.0.0.1" || h == "::1")
    {
        hosts.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
    }
    hosts
}

fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    Some(host.to_ascii_lowercase())
}

async fn whitelist(
    State(allowed): State<Arc<Whitelist>>,
    request: Request,
    next: Next,
) -> Response {
    let caller = request
        .extensions()
        .get::<PeerAddress>()
        .and_then(|a| a.0)
        .and_then(|a| {
            forwarded::caller(
                a.ip().to_canonical(),
                request.headers(),
                &allowed.trusted_proxies,
            )
        })
        .map(|ip| ip.to_canonical().to_string());
    match caller {
        Some(ip) if allowed.hosts.contains(&ip) => next.run(request).await,
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}

fn caller_versions(headers: &HeaderMap) -> Vec<String> {
    version::parse_header_values(
        headers
            .get_all(version::SUPPORTED_API_VERSIONS_HEADER)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

async fn party_info_json(State(state): State<AppState>) -> Result<Response, ApiError> {
    let body = model::PartyInfoResponse {
        url: state.network.own_url().to_owned(),
        peers: state
            .network
            .parties()
            .await?
            .into_iter()
            .map(|url| model::UrlEntry { url })
            .collect(),
        keys: state
            .network
            .known_keys()
            .await?
            .into_iter()
            .map(|(key, url)| model::KeyUrlEntry {
                key: key.to_base64(),
                url,
            })
            .collect(),
    };
    Ok(json_response(MediaType::Json, StatusCode::OK, &body))
}

async fn party_info(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let info = PartyInfo::decode(&body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    state.network.admit(&info)?;
    let claimed = Network::claimed_keys(&info);
    if !state.features.enable_remote_key_validation {
        state
            .network
            .receive(&info, claimed, caller_versions(&headers))
            .await?;
        return Ok(octets(
            StatusCode::OK,
            state.network.reply_party_info().encode(),
        ));
    }
    let enclave = state.transactions.enclave();
    let proven =
        key_validation::validated_keys(enclave, &state.peers, &info.url, claimed.clone()).await;
    if proven.is_empty() && !claimed.is_empty() {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ""));
    }
    state
        .network
        .receive(&info, proven, caller_versions(&headers))
        .await?;
    Ok(StatusCode::OK.into_response())
}

/// Proves this node holds a key: decrypts the LEGACY payload with its first recipient key and
/// answers with the plaintext if it is a UUID.
async fn validate(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let payload = PayloadCodec::Legacy
        .decode(&body)
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
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let text = String::from_utf8(plaintext)
        .ok()
        .filter(|t| uuid::Uuid::parse_str(t).is_ok());
    match text {
        Some(uuid) => Ok(([(header::CONTENT_TYPE, TEXT_PLAIN)], uuid).into_response()),
        None => Err(ApiError::bad_request("")),
    }
}

async fn push(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let codec = push_codec(&caller_versions(&headers));
    let payload = codec
        .decode(&body)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let hash = state.transactions.store_pushed(payload).await?;
    Ok((
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, TEXT_PLAIN)],
        hash.to_base64(),
    )
        .into_response())
}

async fn resend(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let request: ResendRequest = input::json(&body)?;
    match request
        .validate()
        .map_err(|e| ApiError::bad_request(e.to_string()))?
    {
        Resend::All(key) => {
            let pushed = state.transactions.resend_all(&key).await?;
            tracing::info!(recipient = %key, pushed, "resent all transactions");
            Ok(StatusCode::OK.into_response())
        }
        Resend::Individual(key, hash) => Ok(octets(
            StatusCode::OK,
            state.transactions.resend_individual(&key, &hash).await?,
        )),
    }
}

async fn resend_batch(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let request: ResendBatchRequest = input::json(&body)?;
    let key = input::key(&request.public_key, "publicKey")?;
    let total = state
        .transactions
        .resend_batch(&key, request.clamped_batch_size())
        .await?;
    let total = i64::try_from(total).unwrap_or(i64::MAX);
    Ok(json_response(
        MediaType::Json,
        StatusCode::OK,
        &ResendBatchResponse { total },
    ))
}

async fn push_batch(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let request: PushBatchRequest = input::json(&body)?;
    state
        .transactions
        .stage_batch(&request.encoded_payloads)
        .await?;
    Ok(StatusCode::OK.into_response())
}

async fn push_privacy_group(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.transactions.store_pushed_group(&body).await?;
    Ok(StatusCode::OK.into_response())
}

fn octets(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, OCTET_STREAM)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_peers_allow_every_loopback_spelling() {
        let hosts = whitelist_hosts(&[
            "http://localhost:9001/".into(),
            "http://[fe80::1]:1/".into(),
            "https://Peer.example:443".into(),
        ]);
        for host in ["localhost", "127.0.0.1", "::1", "fe80::1", "peer.example"] {
            assert!(hosts.contains(host), "{host}");
        }
        assert!(!whitelist_hosts(&["http://10.0.0.1:9001/".into()]).contains("127.0.0.1"));
    }
}
