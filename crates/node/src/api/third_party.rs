//! The ThirdParty app: `/storeraw` for external signers and key listings (tessera-api §5).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use cloister_core::keys::PublicKey;

use super::error::ApiError;
use super::media::MediaType;
use super::q2t::json_response;
use super::{common, model, AppState};

/// The ThirdParty routes (plus the common ones).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/storeraw",
            axum::routing::post(super::q2t::store_raw_handler),
        )
        .route("/keys", get(keys))
        .route("/partyinfo/keys", get(partyinfo_keys))
        .merge(common::router())
}

fn keys_response(keys: impl Iterator<Item = PublicKey>) -> Response {
    let keys = keys
        .map(|key| model::KeyEntry {
            key: key.to_base64(),
        })
        .collect();
    json_response(
        MediaType::Json,
        StatusCode::OK,
        &model::KeysResponse { keys },
    )
}

async fn keys(State(state): State<AppState>) -> Response {
    keys_response(state.transactions.enclave().public_keys().copied())
}

async fn partyinfo_keys(State(state): State<AppState>) -> Result<Response, ApiError> {
    let known = state.network.known_keys().await?;
    Ok(keys_response(known.into_iter().map(|(key, _)| key)))
}
