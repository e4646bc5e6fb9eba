//! The Q2T calls on one transaction: `GET /transaction/{hash}` (what every GoQuorum node asks),
//! `isSender`, `participants`, `mandatory`, deletes, `/receiveraw` and
//! `/encodedpayload/decrypt`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use cloister_core::digest::TxHash;
use cloister_core::payload::EncodedPayload;
use cloister_protocol::header;

use crate::api::body::{KeyBody, PayloadJson, ReceiveResponse};
use crate::api::error::ApiError;
use crate::api::media::{header_text, MediaType};
use crate::api::response::Answer;
use crate::api::{input, response, AppState};

/// `GET /transaction/{hash}[?to=…&isRaw=…]`: the decrypted transaction.
pub async fn receive(
    State(state): State<AppState>,
    Path(hash): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Answer {
    let hash = input::path_hash(&hash)?;
    let query = query.as_deref();
    let to = input::optional_key(input::query_param(query, "to").as_deref(), "to")?;
    let raw = match input::query_param(query, "isRaw") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(_) => return Err(ApiError::bad_request("isRaw must be true or false")),
    };
    let received = state.transactions.receive(&hash, to, raw).await?;
    let media = MediaType::of_read(&headers);
    let body = ReceiveResponse::new(&received, media.is_multi_tenant());
    Ok(response::json(media, StatusCode::OK, &body))
}

/// `GET /receiveraw`: the legacy raw read (`c11n-key`, `c11n-to`), answering octets.
pub async fn receive_raw(State(state): State<AppState>, headers: HeaderMap) -> Answer {
    let key = header_text(&headers, header::C11N_KEY)
        .ok_or_else(|| ApiError::bad_request("c11n-key is required"))?;
    let hash = TxHash::new(input::bytes(key, header::C11N_KEY)?);
    let to = input::optional_key(header_text(&headers, header::C11N_TO), header::C11N_TO)?;
    let received = state.transactions.receive(&hash, to, false).await?;
    Ok(response::octets(StatusCode::OK, received.payload))
}

/// `DELETE /transaction/{hash}`: 204, or 404 with no body for an unknown hash.
pub async fn delete(State(state): State<AppState>, Path(hash): Path<String>) -> Answer {
    let hash = input::path_hash(&hash)?;
    state
        .transactions
        .delete(&hash)
        .await
        .map_err(ApiError::deleting)?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

/// `POST /delete` (deprecated): the hash in a JSON body.
pub async fn delete_by_body(State(state): State<AppState>, body: Bytes) -> Answer {
    let request: KeyBody = input::json(&body)?;
    let key = request
        .key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::bad_request("key is required"))?;
    let hash = TxHash::new(input::bytes(&key, "key")?);
    state
        .transactions
        .delete(&hash)
        .await
        .map_err(ApiError::deleting)?;
    Ok(response::text(StatusCode::OK, "Delete successful"))
}

/// `GET /transaction/{hash}/isSender`: `true` or `false`.
pub async fn is_sender(State(state): State<AppState>, Path(hash): Path<String>) -> Answer {
    let sender = state
        .transactions
        .is_sender(&input::path_hash(&hash)?)
        .await?;
    Ok(response::text(StatusCode::OK, sender.to_string()))
}

/// `GET /transaction/{hash}/participants`: the recipient keys, comma-separated.
pub async fn participants(State(state): State<AppState>, Path(hash): Path<String>) -> Answer {
    let keys = state
        .transactions
        .participants(&input::path_hash(&hash)?)
        .await?;
    Ok(response::text(StatusCode::OK, response::key_list(&keys)))
}

/// `GET /transaction/{hash}/mandatory`: the mandatory recipients, comma-separated.
pub async fn mandatory(State(state): State<AppState>, Path(hash): Path<String>) -> Answer {
    let keys = state
        .transactions
        .mandatory_recipients(&input::path_hash(&hash)?)
        .await?;
    Ok(response::text(StatusCode::OK, response::key_list(&keys)))
}

/// `POST /encodedpayload/decrypt`: decrypts a payload the client hands in.
pub async fn decrypt(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Answer {
    let media = MediaType::of_request(&headers)?;
    let request: PayloadJson = input::json(&body)?;
    let payload = EncodedPayload::try_from(&request)?;
    let received = state.transactions.decrypt_payload(&payload)?;
    Ok(response::json(
        MediaType::of_response(&headers, media),
        StatusCode::OK,
        &ReceiveResponse::new(&received, false),
    ))
}
