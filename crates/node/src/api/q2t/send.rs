//! The Q2T calls that encrypt and store: `/send`, `/sendsignedtx` (JSON and octet-stream),
//! `/sendraw`, `/storeraw` and `/encodedpayload/create`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use cloister_core::digest::TxHash;
use cloister_core::payload::PrivacyMode;
use cloister_core::privacy_group::PrivacyGroupId;
use cloister_protocol::{header, path};

use crate::api::body::{
    KeyBody, PayloadJson, SendRequest as SendBody, SendResponse, StoreRawRequest,
};
use crate::api::error::ApiError;
use crate::api::media::{self, header_text, MediaType};
use crate::api::response::Answer;
use crate::api::{input, response, AppState};
use crate::transaction::idempotency::{Idempotency, InvalidKey};
use crate::transaction::send::{SendRequest, SendSignedRequest};
use crate::transaction::{PrivacyRequest, Sent};

/// `POST /send`: 201 with the hash and `Location`.
pub async fn send(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Answer {
    let media = MediaType::of_request(&headers)?;
    let mut request: SendBody = input::json(&body)?;
    // The body and the base64 text are each a third larger than the payload: let them go
    // before the send, which holds the plaintext, the cipher text and the stored row at once.
    let payload = required_payload(request.payload.take().as_deref())?;
    let privacy = privacy_request(&request, media)?;
    let idempotency = idempotency(&headers, path::SEND, &body)?;
    drop(body);
    let sent = state
        .transactions
        .send(
            SendRequest {
                payload,
                from: input::optional_key(request.from.as_deref(), "from")?,
                to: input::keys(request.to.as_deref(), "to")?,
                privacy,
            },
            idempotency.as_ref(),
        )
        .await?;
    Ok(sent_json(&headers, media, &sent))
}

/// `POST /sendsignedtx`: JSON answers 201, the octet-stream form exactly 200.
pub async fn send_signed(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Answer {
    if media::is_octet_stream(&headers) {
        return send_signed_octet(state, headers, body).await;
    }
    let media = MediaType::of_request(&headers)?;
    let request: SendBody = input::json(&body)?;
    let hash = request
        .hash
        .as_deref()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| ApiError::bad_request("hash is required"))?;
    let privacy = privacy_request(&request, media)?;
    let idempotency = idempotency(&headers, path::SEND_SIGNED_TX, &body)?;
    let sent = state
        .transactions
        .send_signed(
            SendSignedRequest {
                hash: TxHash::new(input::bytes(hash, "hash")?),
                to: input::keys(request.to.as_deref(), "to")?,
                privacy,
            },
            idempotency.as_ref(),
        )
        .await?;
    Ok(sent_json(&headers, media, &sent))
}

/// The pre-2.0 form: body = raw hash bytes, recipients in `c11n-to`; answers exactly 200.
async fn send_signed_octet(state: AppState, headers: HeaderMap, body: Bytes) -> Answer {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "the body must hold the raw transaction hash",
        ));
    }
    let to = input::key_list_header(header_text(&headers, header::C11N_TO), header::C11N_TO)?;
    let request = SendSignedRequest {
        hash: TxHash::new(body.to_vec()),
        to,
        privacy: PrivacyRequest::default(),
    };
    let idempotency = idempotency(&headers, path::SEND_SIGNED_TX, &body)?;
    let sent = state
        .transactions
        .send_signed(request, idempotency.as_ref())
        .await?;
    let mut answer = hash_with_location(&headers, &sent.hash);
    response::set_header(
        &mut answer,
        header::TESSERA_SENDER,
        &sent.sender.to_base64(),
    );
    response::set_header(
        &mut answer,
        header::TESSERA_MANAGED_PARTIES,
        &response::key_list(&sent.managed_parties),
    );
    Ok(answer)
}

/// `POST /sendraw`: the raw payload as the body, keys in `c11n-*` headers; answers 200.
pub async fn send_raw(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Answer {
    if body.is_empty() {
        return Err(ApiError::bad_request("the body must hold the payload"));
    }
    let from = input::optional_key(header_text(&headers, header::C11N_FROM), header::C11N_FROM)?;
    let to = input::key_list_header(header_text(&headers, header::C11N_TO), header::C11N_TO)?;
    let request = SendRequest {
        payload: body.to_vec(),
        from,
        to,
        privacy: PrivacyRequest::default(),
    };
    let idempotency = idempotency(&headers, path::SEND_RAW, &body)?;
    let sent = state
        .transactions
        .send(request, idempotency.as_ref())
        .await?;
    Ok(hash_with_location(&headers, &sent.hash))
}

/// `POST /storeraw` (Q2T and ThirdParty): stores a payload sealed for its sender.
pub async fn store_raw(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Answer {
    let media = MediaType::of_request(&headers)?;
    let request: StoreRawRequest = input::json(&body)?;
    let payload = required_payload(request.payload.as_deref())?;
    let from = input::optional_key(request.from.as_deref(), "from")?;
    let hash = state.transactions.store_raw(&payload, from).await?;
    let body = KeyBody {
        key: Some(hash.to_base64()),
    };
    Ok(response::json(
        MediaType::of_response(&headers, media),
        StatusCode::OK,
        &body,
    ))
}

/// `POST /encodedpayload/create`: encrypts without storing.
pub async fn encode_payload(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let media = MediaType::of_request(&headers)?;
    let request: SendBody = input::json(&body)?;
    let payload = required_payload(request.payload.as_deref())?;
    // Encrypting alone ignores privacy groups and mandatory recipients, as Tessera does.
    let fields = SendBody {
        privacy_group_id: None,
        mandatory_recipients: None,
        ..request.clone()
    };
    let privacy = privacy_request(&fields, media)?;
    let from = input::optional_key(request.from.as_deref(), "from")?;
    let to = input::keys(request.to.as_deref(), "to")?;
    let encoded = state
        .transactions
        .encrypt_only(SendRequest {
            payload,
            from,
            to,
            privacy,
        })
        .await?;
    Ok(response::json(
        MediaType::of_response(&headers, media),
        StatusCode::OK,
        &PayloadJson::from(&encoded),
    ))
}

/// The request's idempotency key, if it has one, fingerprinted with everything that
/// identifies the request (the route, the body and the octet-stream key headers).
fn idempotency(
    headers: &HeaderMap,
    route: &str,
    body: &[u8],
) -> Result<Option<Idempotency>, ApiError> {
    let Some(key) = headers.get(header::IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let field = |name| headers.get(name).map_or(&[][..], |v| v.as_bytes());
    let parts = [
        route.as_bytes(),
        body,
        field(header::C11N_TO),
        field(header::C11N_FROM),
    ];
    key.to_str()
        .ok()
        .and_then(|key| Idempotency::new(key, &parts).ok())
        .map(Some)
        .ok_or_else(|| ApiError::bad_request(InvalidKey.to_string()))
}

fn required_payload(payload: Option<&str>) -> Result<Vec<u8>, ApiError> {
    let bytes = input::bytes(payload.unwrap_or_default(), "payload")?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request("payload is required"));
    }
    Ok(bytes)
}

/// The typed privacy settings. Mandatory recipients are read only with the 4.0 media type, as
/// Tessera's 4.0 handlers alone read them.
fn privacy_request(fields: &SendBody, media: MediaType) -> Result<PrivacyRequest, ApiError> {
    let flag = fields
        .privacy_flag
        .and_then(|f| u64::try_from(f).ok())
        .unwrap_or(0);
    let mode = PrivacyMode::from_flag(flag);
    let exec_hash = fields
        .exec_hash
        .as_deref()
        .unwrap_or_default()
        .as_bytes()
        .to_vec();
    if mode == PrivacyMode::PrivateStateValidation && exec_hash.is_empty() {
        return Err(ApiError::bad_request("Exec hash missing"));
    }
    let mandatory = (media == MediaType::V4_0)
        .then_some(fields.mandatory_recipients.as_deref())
        .flatten();
    let group = fields.privacy_group_id.as_deref().filter(|g| !g.is_empty());
    Ok(PrivacyRequest {
        mode,
        affected: input::hashes(
            fields.affected_contract_transactions.as_deref(),
            "affectedContractTransactions",
        )?,
        exec_hash,
        mandatory_recipients: input::keys(mandatory, "mandatoryRecipients")?
            .into_iter()
            .collect(),
        privacy_group_id: group
            .map(|g| input::bytes(g, "privacyGroupId").map(PrivacyGroupId::new))
            .transpose()?,
    })
}

/// A JSON send's answer: 201, the hash (and 2.1+ members), and `Location`.
fn sent_json(headers: &HeaderMap, request: MediaType, sent: &Sent) -> Response {
    let media = MediaType::of_response(headers, request);
    let body = SendResponse::new(sent, media.is_multi_tenant());
    let answer = response::json(media, StatusCode::CREATED, &body);
    response::with_location(answer, headers, &sent.hash)
}

/// An octet-stream send's answer: exactly 200, the hash as text, and `Location`.
fn hash_with_location(headers: &HeaderMap, hash: &TxHash) -> Response {
    response::with_location(
        response::text(StatusCode::OK, hash.to_base64()),
        headers,
        hash,
    )
}
