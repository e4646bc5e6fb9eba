//! The Q2T app: what GoQuorum calls (tessera-api §4), plus the routes every app serves.
//!
//! - [`send`]: the calls that encrypt and store (`/send`, `/sendraw`, `/sendsignedtx`,
//!   `/storeraw`, `/encodedpayload/create`);
//! - [`transaction`]: the calls on one stored or given transaction (reads, deletes,
//!   `/encodedpayload/decrypt`);
//! - [`groups`]: privacy groups.

pub mod groups;
pub mod send;
pub mod transaction;

use axum::routing::{get, post};
use axum::Router;
use cloister_protocol::path;

use super::{status, AppState};

/// The Q2T routes (plus the common ones).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(path::SEND, post(send::send))
        .route(path::SEND_SIGNED_TX, post(send::send_signed))
        .route(path::SEND_RAW, post(send::send_raw))
        .route(path::STORE_RAW, post(send::store_raw))
        .route(path::ENCODED_PAYLOAD_CREATE, post(send::encode_payload))
        .route(path::RECEIVE_RAW, get(transaction::receive_raw))
        .route(
            path::TRANSACTION,
            get(transaction::receive).delete(transaction::delete),
        )
        .route(path::TRANSACTION_IS_SENDER, get(transaction::is_sender))
        .route(
            path::TRANSACTION_PARTICIPANTS,
            get(transaction::participants),
        )
        .route(path::TRANSACTION_MANDATORY, get(transaction::mandatory))
        .route(path::DELETE, post(transaction::delete_by_body))
        .route(path::ENCODED_PAYLOAD_DECRYPT, post(transaction::decrypt))
        .route(path::GROUPS, get(groups::list))
        .route(path::CREATE_PRIVACY_GROUP, post(groups::create))
        .route(path::FIND_PRIVACY_GROUP, post(groups::find))
        .route(path::RETRIEVE_PRIVACY_GROUP, post(groups::retrieve))
        .route(path::DELETE_PRIVACY_GROUP, post(groups::delete))
        .merge(status::router())
}
