//! Building answers: JSON in the negotiated media type, plain text, octets, and the headers
//! Tessera adds (`Location`). Every answer a handler builds goes through here, so a media type
//! is never spelled in a handler.

use axum::http::header::{self, HeaderName};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cloister_core::digest::TxHash;
use cloister_core::keys::PublicKey;
use cloister_protocol::{media, path};

use super::error::ApiError;
use super::media::{header_text, MediaType};

/// What a handler returns: its answer, or the error the one mapping turns into one.
pub type Answer = Result<Response, ApiError>;

/// A JSON answer in the negotiated media type.
pub fn json(media: MediaType, status: StatusCode, body: &impl serde::Serialize) -> Response {
    let bytes = serde_json::to_vec(body).expect("response models always serialize");
    (status, [(header::CONTENT_TYPE, media.as_str())], bytes).into_response()
}

/// A plain-text answer (hashes, booleans, key lists, every error body).
pub fn text(status: StatusCode, body: impl Into<String>) -> Response {
    let body: String = body.into();
    (status, [(header::CONTENT_TYPE, media::TEXT_PLAIN)], body).into_response()
}

/// A binary answer (encoded payloads, PartyInfo).
pub fn octets(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, media::OCTET_STREAM)], body).into_response()
}

/// A bare status with no body.
pub fn empty(status: StatusCode) -> Response {
    status.into_response()
}

/// Keys as Tessera lists them in a text body or header: base64, comma-separated.
pub fn key_list(keys: &[PublicKey]) -> String {
    keys.iter()
        .map(PublicKey::to_base64)
        .collect::<Vec<_>>()
        .join(",")
}

/// Adds `Location: http://<Host>/transaction/<URL-encoded hash>`, as JAX-RS resolves Tessera's
/// relative one.
pub fn with_location(mut response: Response, request: &HeaderMap, hash: &TxHash) -> Response {
    let host = header_text(request, header::HOST.as_str()).unwrap_or("localhost");
    let encoded = hash
        .to_base64()
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let location = format!("http://{host}{}{encoded}", path::TRANSACTION_PREFIX);
    set_header(&mut response, header::LOCATION.as_str(), &location);
    response
}

/// Sets a header, skipping a value that cannot be one (keys and hashes always can).
pub fn set_header(response: &mut Response, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (name.parse::<HeaderName>(), HeaderValue::from_str(value)) {
        response.headers_mut().insert(name, value);
    }
}
