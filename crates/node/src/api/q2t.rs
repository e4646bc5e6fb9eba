//! The Q2T app: what GoQuorum calls (tessera-api §4). Handlers parse, call one
//! transaction-manager method, and shape the answer for the negotiated media type.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use cloister_core::b64;
use cloister_core::digest::TxHash;
use cloister_core::keys::PublicKey;
use cloister_core::payload::{EncodedPayload, PrivacyMode};
use cloister_core::privacy_group::{GroupState, GroupType, PrivacyGroup, PrivacyGroupId};

use super::error::ApiError;
use super::media::{self, MediaType, OCTET_STREAM, TEXT_PLAIN};
use super::{common, input, model, AppState};
use crate::transaction::idempotency::{Idempotency, InvalidKey};
use crate::transaction::privacy_groups::NewGroup;
use crate::transaction::receive::Received;
use crate::transaction::send::{SendRequest, SendSignedRequest};
use crate::transaction::{PrivacyRequest, Sent};

/// Headers of the octet-stream calls.
pub mod headers {
    /// Sender key of `/sendraw`.
    pub const FROM: &str = "c11n-from";
    /// Recipient keys of `/sendraw` and octet-stream `/sendsignedtx`; decryption key of
    /// `/receiveraw`.
    pub const TO: &str = "c11n-to";
    /// Transaction hash of `/receiveraw`.
    pub const KEY: &str = "c11n-key";
    /// Sender of an octet-stream `/sendsignedtx`, read by GoQuorum.
    pub const SENDER: &str = "tesseraSender";
    /// Managed parties of an octet-stream `/sendsignedtx`, read by GoQuorum.
    pub const MANAGED_PARTIES: &str = "tesseraManagedParties";
    /// Makes `/send`, `/sendraw` and `/sendsignedtx` exactly-once across replicas (set by
    /// `cloister proxy`; a Cloister extension, ignored by Tessera).
    pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
}

/// The Q2T routes (plus the common ones).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/send", post(send))
        .route("/sendsignedtx", post(send_signed))
        .route("/sendraw", post(send_raw))
        .route("/receiveraw", get(receive_raw))
        .route("/storeraw", post(store_raw_handler))
        .route(
            "/transaction/{hash}",
            get(receive).delete(delete_transaction),
        )
        .route("/transaction/{hash}/isSender", get(is_sender))
        .route("/transaction/{hash}/participants", get(participants))
        .route("/transaction/{hash}/mandatory", get(mandatory))
        .route("/delete", post(delete_by_body))
        .route("/encodedpayload/create", post(encode_payload))
        .route("/encodedpayload/decrypt", post(decrypt_payload))
        .route("/groups/{group_type}", get(groups))
        .route("/createPrivacyGroup", post(create_group))
        .route("/findPrivacyGroup", post(find_groups))
        .route("/retrievePrivacyGroup", post(retrieve_group))
        .route("/deletePrivacyGroup", post(delete_group))
        .merge(common::router())
}

async fn send(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let media = MediaType::of_request(&headers)?;
    let request: model::SendRequest = input::json(&body)?;
    let payload = required_payload(request.payload.as_deref())?;
    let privacy = privacy_request(&request, media)?;
    let idempotency = idempotency(&headers, "/send", &body)?;
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
    Ok(sent_json(&headers, media, StatusCode::CREATED, &sent))
}

async fn send_signed(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if media::is_octet_stream(&headers) {
        return send_signed_octet(state, headers, body).await;
    }
    let media = MediaType::of_request(&headers)?;
    let request: model::SendRequest = input::json(&body)?;
    let hash = request
        .hash
        .as_deref()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| ApiError::bad_request("hash is required"))?;
    let privacy = privacy_request(&request, media)?;
    let idempotency = idempotency(&headers, "/sendsignedtx", &body)?;
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
    Ok(sent_json(&headers, media, StatusCode::CREATED, &sent))
}

/// The pre-2.0 form: body = raw hash bytes, recipients in `c11n-to`; answers exactly 200.
async fn send_signed_octet(
    state: AppState,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "the body must hold the raw transaction hash",
        ));
    }
    let to = input::key_list_header(media::header(&headers, headers::TO), headers::TO)?;
    let request = SendSignedRequest {
        hash: TxHash::new(body.to_vec()),
        to,
        privacy: PrivacyRequest::default(),
    };
    let idempotency = idempotency(&headers, "/sendsignedtx", &body)?;
    let sent = state
        .transactions
        .send_signed(request, idempotency.as_ref())
        .await?;
    let mut response = text_with_location(&headers, &sent.hash);
    let managed = join_keys(&sent.managed_parties);
    set_header(&mut response, headers::SENDER, &sent.sender.to_base64());
    set_header(&mut response, headers::MANAGED_PARTIES, &managed);
    Ok(response)
}

async fn send_raw(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("the body must hold the payload"));
    }
    let from = input::optional_key(media::header(&headers, headers::FROM), headers::FROM)?;
    let to = input::key_list_header(media::header(&headers, headers::TO), headers::TO)?;
    let request = SendRequest {
        payload: body.to_vec(),
        from,
        to,
        privacy: PrivacyRequest::default(),
    };
    let idempotency = idempotency(&headers, "/sendraw", &body)?;
    let sent = state
        .transactions
        .send(request, idempotency.as_ref())
        .await?;
    Ok(text_with_location(&headers, &sent.hash))
}

/// The request's idempotency key, if it has one, fingerprinted with everything that
/// identifies the request (the route, the body and the octet-stream key headers).
fn idempotency(
    headers: &HeaderMap,
    route: &str,
    body: &[u8],
) -> Result<Option<Idempotency>, ApiError> {
    let Some(key) = headers.get(headers::IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let header = |name| headers.get(name).map_or(&[][..], |v| v.as_bytes());
    let parts = [
        route.as_bytes(),
        body,
        header(headers::TO),
        header(headers::FROM),
    ];
    key.to_str()
        .ok()
        .and_then(|key| Idempotency::new(key, &parts).ok())
        .map(Some)
        .ok_or_else(|| ApiError::bad_request(InvalidKey.to_string()))
}

async fn receive_raw(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = media::header(&headers, headers::KEY)
        .ok_or_else(|| ApiError::bad_request("c11n-key is required"))?;
    let hash = TxHash::new(input::bytes(key, headers::KEY)?);
    let to = input::optional_key(media::header(&headers, headers::TO), headers::TO)?;
    let received = state.transactions.receive(&hash, to, false).await?;
    Ok(([(header::CONTENT_TYPE, OCTET_STREAM)], received.payload).into_response())
}

pub(crate) async fn store_raw_handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let media = MediaType::of_request(&headers)?;
    let request: model::StoreRawRequest = input::json(&body)?;
    let payload = required_payload(request.payload.as_deref())?;
    let from = input::optional_key(request.from.as_deref(), "from")?;
    let hash = state.transactions.store_raw(&payload, from).await?;
    let body = model::KeyBody {
        key: Some(hash.to_base64()),
    };
    Ok(json_response(
        MediaType::of_response(&headers, media),
        StatusCode::OK,
        &body,
    ))
}

async fn receive(
    State(state): State<AppState>,
    Path(hash): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
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
    Ok(json_response(
        media,
        StatusCode::OK,
        &receive_response(&received, media.is_multi_tenant()),
    ))
}

async fn delete_transaction(
    State(state): State<AppState>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let hash = input::path_hash(&hash)?;
    state
        .transactions
        .delete(&hash)
        .await
        .map_err(empty_not_found)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_by_body(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let request: model::KeyBody = input::json(&body)?;
    let key = request
        .key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::bad_request("key is required"))?;
    let hash = TxHash::new(input::bytes(&key, "key")?);
    state
        .transactions
        .delete(&hash)
        .await
        .map_err(empty_not_found)?;
    Ok(text(StatusCode::OK, "Delete successful".into()))
}

async fn is_sender(
    State(state): State<AppState>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let sender = state
        .transactions
        .is_sender(&input::path_hash(&hash)?)
        .await?;
    Ok(text(StatusCode::OK, sender.to_string()))
}

async fn participants(
    State(state): State<AppState>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let keys = state
        .transactions
        .participants(&input::path_hash(&hash)?)
        .await?;
    Ok(text(StatusCode::OK, join_keys(&keys)))
}

async fn mandatory(
    State(state): State<AppState>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let keys = state
        .transactions
        .mandatory_recipients(&input::path_hash(&hash)?)
        .await?;
    Ok(text(StatusCode::OK, join_keys(&keys)))
}

async fn encode_payload(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let media = MediaType::of_request(&headers)?;
    let request: model::SendRequest = input::json(&body)?;
    let payload = required_payload(request.payload.as_deref())?;
    // Encrypting alone ignores privacy groups and mandatory recipients, as Tessera does.
    let fields = model::SendRequest {
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
    Ok(json_response(
        MediaType::of_response(&headers, media),
        StatusCode::OK,
        &payload_json(&encoded),
    ))
}

async fn decrypt_payload(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let media = MediaType::of_request(&headers)?;
    let request: model::PayloadJson = input::json(&body)?;
    let payload = payload_from_json(&request)?;
    let received = state.transactions.decrypt_payload(&payload)?;
    Ok(json_response(
        MediaType::of_response(&headers, media),
        StatusCode::OK,
        &receive_response(&received, false),
    ))
}

async fn groups(
    State(state): State<AppState>,
    Path(group_type): Path<String>,
) -> Result<Response, ApiError> {
    let wanted = match group_type.to_ascii_lowercase().as_str() {
        "legacy" => GroupType::Legacy,
        "pantheon" => GroupType::Pantheon,
        "resident" => GroupType::Resident,
        _ => {
            return Err(ApiError::bad_request(
                "group type must be legacy, pantheon or resident",
            ))
        }
    };
    let groups: Vec<PrivacyGroup> = if wanted == GroupType::Resident {
        if !state.features.enable_multiple_private_states {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Multiple private state feature is not available on this privacy manager",
            ));
        }
        state.resident_groups.as_ref().clone()
    } else {
        let rows = state
            .transactions
            .store()
            .list_privacy_groups()
            .await
            .map_err(crate::transaction::TransactionError::from)?;
        rows.iter()
            .filter_map(|row| PrivacyGroup::decode(&row.data).ok())
            .filter(|g| g.group_type == wanted && g.state == GroupState::Active)
            .collect()
    };
    let body: Vec<model::PrivacyGroupResponse> = groups.iter().map(group_response).collect();
    Ok(json_response(MediaType::Json, StatusCode::OK, &body))
}

async fn create_group(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let request: model::PrivacyGroupRequest = input::json(&body)?;
    let group = state
        .transactions
        .create_privacy_group(NewGroup {
            members: input::keys(request.addresses.as_deref(), "addresses")?,
            from: input::optional_key(request.from.as_deref(), "from")?,
            name: request.name.unwrap_or_default(),
            description: request.description.unwrap_or_default(),
            seed: request
                .seed
                .as_deref()
                .map(|s| input::bytes(s, "seed"))
                .transpose()?,
        })
        .await?;
    Ok(json_response(
        MediaType::Json,
        StatusCode::OK,
        &group_response(&group),
    ))
}

async fn find_groups(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let request: model::PrivacyGroupRequest = input::json(&body)?;
    let addresses = request
        .addresses
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("addresses is required"))?;
    let members = input::keys(Some(addresses), "addresses")?;
    let groups = state.transactions.find_privacy_groups(&members).await?;
    let body: Vec<_> = groups.iter().map(group_response).collect();
    Ok(json_response(MediaType::Json, StatusCode::OK, &body))
}

async fn retrieve_group(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let request: model::PrivacyGroupRequest = input::json(&body)?;
    let group = state
        .transactions
        .retrieve_privacy_group(&group_id(request.privacy_group_id.as_deref())?)
        .await?;
    Ok(json_response(
        MediaType::Json,
        StatusCode::OK,
        &group_response(&group),
    ))
}

async fn delete_group(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let request: model::PrivacyGroupRequest = input::json(&body)?;
    let id = group_id(request.privacy_group_id.as_deref())?;
    let from = input::optional_key(request.from.as_deref(), "from")?;
    state.transactions.delete_privacy_group(&id, from).await?;
    Ok(json_response(
        MediaType::Json,
        StatusCode::OK,
        &id.to_base64(),
    ))
}

fn group_id(text: Option<&str>) -> Result<PrivacyGroupId, ApiError> {
    let text = text
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("privacyGroupId is required"))?;
    input::bytes(text, "privacyGroupId").map(PrivacyGroupId::new)
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
fn privacy_request(
    fields: &model::SendRequest,
    media: MediaType,
) -> Result<PrivacyRequest, ApiError> {
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

fn sent_json(headers: &HeaderMap, request: MediaType, status: StatusCode, sent: &Sent) -> Response {
    let media = MediaType::of_response(headers, request);
    let tenant = media.is_multi_tenant();
    let body = model::SendResponse {
        key: sent.hash.to_base64(),
        managed_parties: tenant.then(|| {
            sent.managed_parties
                .iter()
                .map(PublicKey::to_base64)
                .collect()
        }),
        sender_key: tenant.then(|| sent.sender.to_base64()),
    };
    let mut response = json_response(media, status, &body);
    set_header(
        &mut response,
        header::LOCATION.as_str(),
        &location(headers, &sent.hash),
    );
    response
}

fn receive_response(received: &Received, tenant: bool) -> model::ReceiveResponse {
    model::ReceiveResponse {
        payload: b64::encode(&received.payload),
        privacy_flag: received.privacy_mode.flag(),
        affected_contract_transactions: received.affected.iter().map(TxHash::to_base64).collect(),
        exec_hash: String::from_utf8_lossy(&received.exec_hash).into_owned(),
        managed_parties: tenant.then(|| {
            received
                .managed_parties
                .iter()
                .map(PublicKey::to_base64)
                .collect()
        }),
        sender_key: tenant.then(|| received.sender.to_base64()),
        privacy_group_id: received.privacy_group_id.as_ref().map(|g| g.to_base64()),
    }
}

fn payload_json(payload: &EncodedPayload) -> model::PayloadJson {
    model::PayloadJson {
        sender_key: payload.sender_key.to_base64(),
        cipher_text: b64::encode(&payload.cipher_text),
        cipher_text_nonce: b64::encode(payload.cipher_text_nonce),
        recipient_boxes: Some(payload.recipient_boxes.iter().map(b64::encode).collect()),
        recipient_nonce: b64::encode(payload.recipient_nonce),
        recipient_keys: Some(
            payload
                .recipient_keys
                .iter()
                .map(PublicKey::to_base64)
                .collect(),
        ),
        privacy_mode: Some(payload.privacy_mode.flag().into()),
        affected_contract_transactions: Some(
            payload
                .affected_contract_transactions
                .iter()
                .map(|(tx, security)| (tx.to_base64(), b64::encode(&security.0)))
                .collect(),
        ),
        exec_hash: Some(b64::encode(&payload.exec_hash)),
    }
}

fn payload_from_json(json: &model::PayloadJson) -> Result<EncodedPayload, ApiError> {
    let nonce = |text: &str, field: &str| {
        cloister_core::nacl::Nonce::from_slice(&input::bytes(text, field)?)
            .ok_or_else(|| ApiError::bad_request(format!("{field} must be 24 bytes")))
    };
    let affected = json
        .affected_contract_transactions
        .iter()
        .flatten()
        .map(|(tx, security)| {
            Ok((
                TxHash::new(input::bytes(tx, "affectedContractTransactions")?),
                cloister_core::digest::SecurityHash(input::bytes(
                    security,
                    "affectedContractTransactions",
                )?),
            ))
        })
        .collect::<Result<_, ApiError>>()?;
    let boxes = json.recipient_boxes.iter().flatten().enumerate();
    Ok(EncodedPayload {
        sender_key: input::key(&json.sender_key, "senderKey")?,
        cipher_text: input::bytes(&json.cipher_text, "cipherText")?,
        cipher_text_nonce: nonce(&json.cipher_text_nonce, "cipherTextNonce")?,
        recipient_boxes: boxes
            .map(|(i, b)| input::bytes(b, &format!("recipientBoxes[{i}]")))
            .collect::<Result<_, _>>()?,
        recipient_nonce: nonce(&json.recipient_nonce, "recipientNonce")?,
        recipient_keys: input::keys(json.recipient_keys.as_deref(), "recipientKeys")?,
        privacy_mode: PrivacyMode::from_flag(
            json.privacy_mode
                .and_then(|f| u64::try_from(f).ok())
                .unwrap_or(0),
        ),
        affected_contract_transactions: affected,
        exec_hash: input::bytes(json.exec_hash.as_deref().unwrap_or_default(), "execHash")?,
        mandatory_recipients: Default::default(),
        privacy_group_id: None,
    })
}

fn group_response(group: &PrivacyGroup) -> model::PrivacyGroupResponse {
    model::PrivacyGroupResponse {
        privacy_group_id: group.id.to_base64(),
        name: group.name.clone(),
        description: group.description.clone(),
        group_type: group.group_type.name().into(),
        members: group.members.iter().map(PublicKey::to_base64).collect(),
    }
}

/// Tessera answers an unknown hash on delete with 404 and an empty body.
fn empty_not_found(error: crate::transaction::TransactionError) -> ApiError {
    let error = ApiError::from(error);
    if error.status == StatusCode::NOT_FOUND {
        ApiError::new(StatusCode::NOT_FOUND, "")
    } else {
        error
    }
}

fn join_keys(keys: &[PublicKey]) -> String {
    keys.iter()
        .map(PublicKey::to_base64)
        .collect::<Vec<_>>()
        .join(",")
}

/// A JSON response in the negotiated media type.
pub(crate) fn json_response(
    media: MediaType,
    status: StatusCode,
    body: &impl serde::Serialize,
) -> Response {
    let bytes = serde_json::to_vec(body).expect("response models always serialize");
    (status, [(header::CONTENT_TYPE, media.as_str())], bytes).into_response()
}

fn text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, TEXT_PLAIN)], body).into_response()
}

fn text_with_location(headers: &HeaderMap, hash: &TxHash) -> Response {
    let mut response = text(StatusCode::OK, hash.to_base64());
    set_header(
        &mut response,
        header::LOCATION.as_str(),
        &location(headers, hash),
    );
    response
}

/// `http://<Host>/transaction/<URL-encoded hash>`, as JAX-RS resolves Tessera's relative one.
fn location(headers: &HeaderMap, hash: &TxHash) -> String {
    let host = media::header(headers, header::HOST.as_str()).unwrap_or("localhost");
    let encoded = hash
        .to_base64()
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    format!("http://{host}/transaction/{encoded}")
}

fn set_header(response: &mut Response, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        name.parse::<header::HeaderName>(),
        HeaderValue::from_str(value),
    ) {
        response.headers_mut().insert(name, value);
    }
}
