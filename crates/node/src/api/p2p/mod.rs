//! The P2P app: the Tessera-to-Tessera protocol (tessera-api §6), behind the optional IP
//! whitelist.
//!
//! - [`whitelist`]: who may call when `useWhiteList` is on;
//! - [`partyinfo`]: discovery (`/partyinfo`) and key-ownership proofs (`/partyinfo/validate`);
//! - [`payloads`]: payloads and groups pushed by peers, and resends.

pub mod partyinfo;
pub mod payloads;
pub mod whitelist;

use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use cloister_protocol::{header, path, version};

use super::{status, AppState};

pub use whitelist::{whitelist_hosts, Whitelist};

/// The P2P routes (plus the common ones), with the whitelist in front when configured.
pub fn router(state: AppState) -> Router<AppState> {
    let routes = Router::new()
        .route(path::PARTYINFO, get(partyinfo::get).post(partyinfo::post))
        .route(path::PUSH, post(payloads::push))
        .merge(status::router());
    // In recovery mode only discovery, standard-private pushes and batch delivery are served.
    let routes = if state.recovery_mode {
        routes.route(path::PUSH_BATCH, post(payloads::push_batch))
    } else {
        routes
            .route(path::PARTYINFO_VALIDATE, post(partyinfo::validate))
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

/// The API versions the caller advertises in `tesseraSupportedApiVersions`.
fn caller_versions(headers: &HeaderMap) -> Vec<String> {
    version::parse_header_values(
        headers
            .get_all(header::SUPPORTED_API_VERSIONS)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}
