//! Routes every app serves: Tessera's `/`, `/upcheck`, `/version*`, and Cloister's `/health`
//! and `/metrics`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;

use super::media::{MediaType, TEXT_PLAIN};
use super::q2t::json_response;
use super::AppState;

/// `/upcheck`'s body, exactly as Tessera's.
pub const UPCHECK_BODY: &str = "I'm up!";
/// The distribution version `/version` reports.
pub const DISTRIBUTION_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The common routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { text("") }))
        .route("/upcheck", get(|| async { text(UPCHECK_BODY) }))
        .route("/version", get(|| async { text(DISTRIBUTION_VERSION) }))
        .route(
            "/version/distribution",
            get(|| async { text(DISTRIBUTION_VERSION) }),
        )
        .route("/version/api", get(api_versions))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
}

fn text(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, TEXT_PLAIN)], body).into_response()
}

async fn api_versions() -> Response {
    json_response(
        MediaType::Json,
        StatusCode::OK,
        &cloister_core::version::SUPPORTED,
    )
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    store: StoreStatus,
    replica: Replica,
}

#[derive(Serialize)]
struct StoreStatus {
    reachable: bool,
    role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

#[derive(Serialize)]
struct Replica {
    url: String,
    pid: u32,
    version: &'static str,
}

/// `/health`: 200 when the store answers, 503 otherwise, with the details as JSON.
async fn health(State(state): State<AppState>) -> Response {
    let store = state.transactions.store().health().await;
    let status = if store.reachable {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Health {
        status: if store.reachable { "UP" } else { "DOWN" },
        store: StoreStatus {
            reachable: store.reachable,
            role: store.role,
            detail: store.detail,
        },
        replica: Replica {
            url: state.network.own_url().to_owned(),
            pid: std::process::id(),
            version: DISTRIBUTION_VERSION,
        },
    };
    json_response(MediaType::Json, status, &body)
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
