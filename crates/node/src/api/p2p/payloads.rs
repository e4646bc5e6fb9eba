//! Payloads on the P2P app: `/push` (one recipient's copy), `/pushPrivacyGroup`, `/resend`,
//! `/resendBatch` and, in recovery mode, `/pushBatch`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use cloister_core::resend::{
    PushBatchRequest, Resend, ResendBatchRequest, ResendBatchResponse, ResendRequest,
};
use cloister_protocol::media;

use super::{caller_versions, off_workers, require_body_type};
use crate::api::error::ApiError;
use crate::api::media::MediaType;
use crate::api::response::Answer;
use crate::api::{input, response, AppState};
use crate::transaction::push::push_codec;

/// `POST /push`: stores a peer's payload (merging a duplicate); 201 with its hash.
pub async fn push(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Answer {
    require_body_type(&headers, media::OCTET_STREAM)?;
    let codec = push_codec(&caller_versions(&headers));
    let payload = off_workers(move || codec.decode(&body))
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let hash = state.transactions.store_pushed(payload).await?;
    Ok(response::text(StatusCode::CREATED, hash.to_base64()))
}

/// `POST /resend`: `ALL` pushes every transaction of a key again; `INDIVIDUAL` answers one.
pub async fn resend(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Answer {
    require_body_type(&headers, media::JSON)?;
    let request: ResendRequest = input::json(&body)?;
    match request
        .validate()
        .map_err(|e| ApiError::bad_request(e.to_string()))?
    {
        Resend::All(key) => {
            let pushed = state.transactions.resend_all(&key).await?;
            tracing::info!(recipient = %key, pushed, "resent all transactions");
            Ok(response::empty(StatusCode::OK))
        }
        Resend::Individual(key, hash) => Ok(response::octets(
            StatusCode::OK,
            state.transactions.resend_individual(&key, &hash).await?,
        )),
    }
}

/// `POST /resendBatch`: delivers every transaction of a key with `/pushBatch`, then answers
/// how many.
pub async fn resend_batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    require_body_type(&headers, media::JSON)?;
    let request: ResendBatchRequest = input::json(&body)?;
    let key = input::key(&request.public_key, "publicKey")?;
    let total = state
        .transactions
        .resend_batch(&key, request.clamped_batch_size())
        .await?;
    let total = i64::try_from(total).unwrap_or(i64::MAX);
    Ok(response::json(
        MediaType::Json,
        StatusCode::OK,
        &ResendBatchResponse { total },
    ))
}

/// `POST /pushBatch` (recovery mode): stages recovered payloads.
pub async fn push_batch(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Answer {
    require_body_type(&headers, media::JSON)?;
    let request: PushBatchRequest = input::json(&body)?;
    state
        .transactions
        .stage_batch(&request.encoded_payloads)
        .await?;
    Ok(response::empty(StatusCode::OK))
}

/// `POST /pushPrivacyGroup`: stores a group a peer shares.
pub async fn push_privacy_group(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    require_body_type(&headers, media::OCTET_STREAM)?;
    state.transactions.store_pushed_group(&body).await?;
    Ok(response::empty(StatusCode::OK))
}
