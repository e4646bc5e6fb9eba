//! The P2P app: the Tessera-to-Tessera protocol (tessera-api §6), behind the optional IP
//! whitelist.
//!
//! - [`whitelist`]: who may call when `useWhiteList` is on;
//! - [`partyinfo`]: discovery (`/partyinfo`) and key-ownership proofs (`/partyinfo/validate`);
//! - [`payloads`]: payloads and groups pushed by peers, and resends.
//!
//! Every POST takes exactly one media type (octet-stream or JSON, as Tessera's peers send):
//! a web page cannot make a browser send either cross-origin without a CORS preflight, which
//! this app never grants, so no page a node operator visits can post to its P2P port.

pub mod partyinfo;
pub mod payloads;
pub mod whitelist;

use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use cloister_protocol::{header, media, path, version};

use super::error::ApiError;
use super::media::header_text;
use super::{status, AppState};

pub use whitelist::{whitelist_hosts, Whitelist};

/// The P2P routes (plus the common ones), with the whitelist in front when configured.
pub fn router(state: AppState) -> Router<AppState> {
    let routes = Router::new()
        .route(path::PARTYINFO, get(partyinfo::get).post(partyinfo::post))
        .route(path::PARTYINFO_VALIDATE, post(partyinfo::validate))
        .route(path::PUSH, post(payloads::push))
        .merge(status::router());
    // In recovery mode only discovery, standard-private pushes and batch delivery are served.
    let routes = if state.recovery_mode {
        routes.route(path::PUSH_BATCH, post(payloads::push_batch))
    } else {
        routes
            .route(path::RESEND, post(payloads::resend))
            .route(path::RESEND_BATCH, post(payloads::resend_batch))
            .route(path::PUSH_PRIVACY_GROUP, post(payloads::push_privacy_group))
    };
    match state.whitelist {
        Some(allowed) => routes.layer(axum::middleware::from_fn_with_state(
            allowed,
            whitelist::admit,
        )),
        None => routes,
    }
}

/// Refuses a body of any media type but `expected` (415).
fn require_body_type(headers: &HeaderMap, expected: &'static str) -> Result<(), ApiError> {
    match header_text(headers, CONTENT_TYPE.as_str()) {
        Some(value) if media::is(value, expected) => Ok(()),
        _ => Err(ApiError::WrongContentType { expected }),
    }
}

/// Runs CPU work on a peer's body (decoding, merging) off the async workers, so a large body
/// does not hold up every other request while it is parsed.
async fn off_workers<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()))
}

/// The API versions the caller advertises in `tesseraSupportedApiVersions`.
fn caller_versions(headers: &HeaderMap) -> Vec<String> {
    version::parse_header_values(
        headers
            .get_all(header::SUPPORTED_API_VERSIONS)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}
