//! The one mapping from a failed request to the HTTP status and Tessera's plain-text error
//! body. Handlers return an [`ApiError`] and never pick a status themselves.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cloister_core::enclave::EnclaveError;
use cloister_store::StoreError;

use super::response;
use crate::discovery::DiscoveryError;
use crate::transaction::TransactionError;

/// Why a request failed. The `Display` text is the body, as every Tessera exception mapper
/// writes it (several are empty on purpose: Tessera answers those with no body).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request is malformed; the text names the field and never echoes its value.
    #[error("{0}")]
    BadRequest(String),
    /// A JSON body in a media type the app does not serve.
    #[error("Unsupported media type {0}; use application/json or application/vnd.tessera-{{2.1,3.0,4.0}}+json")]
    UnsupportedMediaType(String),
    /// A P2P body without the one media type its route takes.
    #[error("Unsupported media type: the body must be {expected}")]
    WrongContentType {
        /// The media type the route takes.
        expected: &'static str,
    },
    /// No route matches the path (JAX-RS's answer).
    #[error("HTTP 404 Not Found")]
    NoRoute,
    /// A delete of a hash that is not stored: Tessera answers 404 with an empty body.
    #[error("")]
    NothingToDelete,
    /// `/groups/resident` on a node without multiple private states.
    #[error("Multiple private state feature is not available on this privacy manager")]
    MultiplePrivateStatesDisabled,
    /// A P2P caller that is not on the whitelist (`useWhiteList`): 401 with no body.
    #[error("")]
    NotWhitelisted,
    /// With remote key validation on, the sender of a PartyInfo proved none of the keys it
    /// claims: Tessera answers 500 with no body.
    #[error("")]
    KeysNotProven,
    /// A `/partyinfo/validate` challenge this node cannot decrypt.
    #[error("{0}")]
    ChallengeUndecryptable(EnclaveError),
    /// A `/partyinfo/validate` challenge whose plaintext is not a UUID: 400 with no body.
    #[error("")]
    NotAChallenge,
    /// The transaction manager failed.
    #[error(transparent)]
    Transaction(#[from] TransactionError),
    /// A PartyInfo this node refuses: from a stranger while discovery is off, or out of
    /// bounds (too many parties or keys, a URL this node could never call).
    #[error("{0}")]
    Discovery(DiscoveryError),
}

impl ApiError {
    /// A 400 naming what is wrong with the request.
    pub fn bad_request(body: impl Into<String>) -> Self {
        Self::BadRequest(body.into())
    }

    /// A failed delete: an unknown hash is [`ApiError::NothingToDelete`].
    pub fn deleting(error: TransactionError) -> Self {
        match error {
            TransactionError::NotFound(_) => Self::NothingToDelete,
            other => other.into(),
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::NotAChallenge => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType(_) | Self::WrongContentType { .. } => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Self::NoRoute | Self::NothingToDelete => StatusCode::NOT_FOUND,
            Self::MultiplePrivateStatesDisabled => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotWhitelisted => StatusCode::UNAUTHORIZED,
            Self::KeysNotProven | Self::ChallengeUndecryptable(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Self::Transaction(error) => transaction_status(error),
            Self::Discovery(
                DiscoveryError::UnknownPeer(_) | DiscoveryError::NotTheCertificatesUrl { .. },
            ) => StatusCode::FORBIDDEN,
            Self::Discovery(_) => StatusCode::BAD_REQUEST,
        }
    }
}

fn transaction_status(error: &TransactionError) -> StatusCode {
    use TransactionError as E;
    match error {
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
        // Like an unreachable node: the push did not happen, and retrying will not help
        // until certificates change.
        E::PeerUnreachable { .. } | E::PeerTls { .. } => StatusCode::GONE,
        E::Store(store) => store_status(store),
        E::NoSuitableKey(_) | E::PushRejected { .. } | E::Payload(_) | E::Enclave(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// Never a 404: a store that cannot answer says nothing about what it holds.
fn store_status(error: &StoreError) -> StatusCode {
    if error.is_transient() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

impl From<DiscoveryError> for ApiError {
    fn from(error: DiscoveryError) -> Self {
        match error {
            DiscoveryError::Store(store) => store.into(),
            DiscoveryError::KeysNotProven => Self::KeysNotProven,
            refused => Self::Discovery(refused),
        }
    }
}

/// A store failure outside a transaction call (the network map) maps as inside one.
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        TransactionError::Store(error).into()
    }
}

impl ApiError {
    /// Whether the body tells about this node's insides (its store, its peers, its keys): what
    /// a caller on another organisation's side must not learn (a database host, whether some
    /// port is open). Every 5xx, and a push or resend to a peer that failed.
    fn reveals_internals(&self) -> bool {
        self.status().is_server_error()
            || matches!(
                self,
                Self::Transaction(
                    TransactionError::PeerUnreachable { .. }
                        | TransactionError::PeerTls { .. }
                        | TransactionError::PushRejected { .. }
                )
            )
    }
}

/// Marks an error answer whose body tells about the node's insides (see
/// [`ApiError::reveals_internals`]), for [`conceal_internals`].
#[derive(Debug, Clone, Copy)]
struct RevealsInternals;

/// The body remote callers get instead of internal details, which go to the log.
pub const CONCEALED_BODY: &str = "the node could not complete the request; its log says why";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let reveals = self.reveals_internals();
        if reveals {
            tracing::warn!(error = %self, "request failed");
        }
        let mut answer = response::text(status, self.to_string());
        if reveals {
            answer.extensions_mut().insert(RevealsInternals);
        }
        answer
    }
}

/// Middleware for the apps other organisations call (P2P, ThirdParty): an error answer that
/// tells about the node's insides gets [`CONCEALED_BODY`] instead (the details were logged).
pub async fn conceal_internals(request: Request, next: Next) -> Response {
    let answer = next.run(request).await;
    if answer.extensions().get::<RevealsInternals>().is_none() {
        return answer;
    }
    response::text(answer.status(), CONCEALED_BODY)
}
