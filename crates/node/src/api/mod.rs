//! The HTTP apps a node serves, as axum routers over one shared [`AppState`].
//!
//! - [`q2t`]: GoQuorum's API (send, receive, raw transactions, groups);
//! - [`third_party`]: `/storeraw` and key listings for external tools;
//! - [`p2p`]: the Tessera-to-Tessera protocol (push, partyinfo, resend), behind the optional
//!   IP whitelist ([`forwarded`] names the real caller behind a trusted proxy);
//! - [`status`]: `/upcheck`, `/version*`, `/health`, `/metrics` on every app;
//! - [`openapi`]: `/api`, the OpenAPI document of each app.
//!
//! Handlers parse ([`input`], [`media`]), call one service method and shape the answer
//! ([`body`], [`response`]); [`error`] is the one place an error becomes a status code and
//! body.

pub mod body;
pub mod cors;
pub mod error;
pub mod forwarded;
pub mod input;
pub mod media;
pub mod openapi;
pub mod p2p;
pub mod q2t;
pub mod request_log;
pub mod response;
pub mod status;
pub mod third_party;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use cloister_core::config::server::Cors;
use cloister_core::config::{AppType, Features};
use cloister_core::privacy_group::PrivacyGroup;
use cloister_protocol::path;

use crate::discovery::Network;
use crate::health::HealthCheck;
use crate::metrics::Metrics;
use crate::peer_client::PeerClient;
use crate::transaction::TransactionManager;

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The transaction manager.
    pub transactions: Arc<TransactionManager>,
    /// The network map.
    pub network: Arc<Network>,
    /// Client for calls to peers (key validation).
    pub peers: PeerClient,
    /// Feature toggles.
    pub features: Features,
    /// Resident groups (multiple private states), from the config.
    pub resident_groups: Arc<Vec<PrivacyGroup>>,
    /// Hosts allowed to call the P2P app when the whitelist is on (`None`: no whitelist).
    pub whitelist: Option<Arc<p2p::Whitelist>>,
    /// The node is in recovery mode.
    pub recovery_mode: bool,
    /// Request metrics.
    pub metrics: Arc<Metrics>,
    /// Largest request body accepted (413 above).
    pub max_body_bytes: usize,
    /// The store's health, checked at most once a second.
    pub health: Arc<HealthCheck>,
}

/// The router of one app; `cors` as configured for its server.
pub fn router(app: AppType, cors: Option<Cors>, state: AppState) -> Router {
    let routes = match app {
        AppType::Q2T => q2t::router(),
        AppType::P2P => p2p::router(state.clone()),
        AppType::ThirdParty => third_party::router(),
        AppType::Enclave | AppType::Admin => status::router(),
    };
    let label = app.as_str();
    let routes = routes
        .route(
            path::API,
            axum::routing::get(move || async move { openapi::serve(app) }),
        )
        .fallback(|| async { error::ApiError::NoRoute })
        .layer(axum::middleware::from_fn_with_state(
            (state.metrics.clone(), label),
            crate::metrics::record,
        ))
        .layer(DefaultBodyLimit::max(state.max_body_bytes));
    // Other organisations call these: what went wrong inside this node stays in its log.
    let routes = match app {
        AppType::P2P | AppType::ThirdParty => {
            routes.layer(axum::middleware::from_fn(error::conceal_internals))
        }
        AppType::Q2T | AppType::Enclave | AppType::Admin => routes,
    };
    let routes = match cors {
        Some(cors) => routes.layer(axum::middleware::from_fn_with_state(
            Arc::new(cors),
            cors::apply,
        )),
        None => routes,
    };
    // Outermost, so the span covers every layer and handler that logs for this request.
    routes
        .layer(axum::middleware::from_fn_with_state(
            label,
            request_log::trace,
        ))
        .with_state(state)
}
