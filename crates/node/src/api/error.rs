//! The one mapping from errors to HTTP status and Tessera's plain-text error bodies.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use cloister_core::enclave::EnclaveError;
use cloister_store::StoreError;

use crate::discovery::DiscoveryError;
use crate::transaction::TransactionError;

/// An error answer: a status and a plain-text body, as every Tessera exception mapper writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The text body (may be empty).
    pub body: String,
}

impl ApiError {
    /// A 400 naming what is wrong with the request.
    pub fn bad_request(body: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: body.into(),
        }
    }

    /// An error with this status and body.
    pub fn new(status: StatusCode, body: impl Into<String>) -> Self {
        Self {
            status,
            body: body.into(),
        }
    }
}

impl From<TransactionError> for ApiError {
    fn from(error: TransactionError) -> Self {
        use TransactionError as E;
        let status = match &error {
            E::NotFound(_)
            | E::RawNotFound(_)
            | E::RawTransactionNotFound(_)
            | E::UnknownSender(_)
            | E::RecipientNotFound(_)
            | E::PrivacyGroupNotFound(_)
            | E::Enclave(EnclaveError::UnknownKey(_))
            | E::Unavailable(_) => StatusCode::NOT_FOUND,
            E::BadRequest(_) | E::NotMandatoryRecipients => StatusCode::BAD_REQUEST,
            E::PrivacyViolation(_) => StatusCode::FORBIDDEN,
            E::ConflictingPayload => StatusCode::CONFLICT,
            E::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            E::PeerUnreachable { .. } => StatusCode::GONE,
            E::Store(store) if store.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            E::NoSuitableKey(_)
            | E::PushRejected { .. }
            | E::Store(_)
            | E::Payload(_)
            | E::Enclave(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::warn!(%error, "request failed");
        }
        Self {
            status,
            body: error.to_string(),
        }
    }
}

impl From<DiscoveryError> for ApiError {
    fn from(error: DiscoveryError) -> Self {
        match error {
            DiscoveryError::UnknownPeer(_) => Self {
                status: StatusCode::FORBIDDEN,
                body: error.to_string(),
            },
            DiscoveryError::Store(store) => store.into(),
        }
    }
}

/// A store failure outside a transaction call (the network map) maps as inside one.
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        TransactionError::Store(error).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, "text/plain")],
            self.body,
        )
            .into_response()
    }
}
