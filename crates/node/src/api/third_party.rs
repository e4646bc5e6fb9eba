//! The ThirdParty app: `/storeraw` for external signers and key listings (tessera-api §5).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use cloister_protocol::path;

use super::body::KeysResponse;
use super::media::MediaType;
use super::response::Answer;
use super::{q2t, response, status, AppState};

/// The ThirdParty routes (plus the common ones).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(path::STORE_RAW, post(q2t::send::store_raw))
        .route(path::KEYS, get(keys))
        .route(path::PARTYINFO_KEYS, get(partyinfo_keys))
        .merge(status::router())
}

fn keys_json(keys: KeysResponse) -> Response {
    response::json(MediaType::Json, StatusCode::OK, &keys)
}

async fn keys(State(state): State<AppState>) -> Response {
    keys_json(
        state
            .transactions
            .enclave()
            .public_keys()
            .copied()
            .collect(),
    )
}

async fn partyinfo_keys(State(state): State<AppState>) -> Answer {
    let known = state.network.known_keys().await?;
    Ok(keys_json(known.into_iter().map(|(key, _)| key).collect()))
}
