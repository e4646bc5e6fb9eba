//! The routes every app serves: Tessera's `/`, `/upcheck` and `/version*`, and Cloister's
//! `/health` and `/metrics`.

use axum::extract::{Extension, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use cloister_protocol::{exposition, path, version, UPCHECK_BODY};
use serde::Serialize;

use super::media::MediaType;
use super::{response, AppState};
use crate::listener::PeerAddress;

/// The distribution version `/version` reports.
pub const DISTRIBUTION_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(path::ROOT, get(|| async { text("") }))
        .route(path::UPCHECK, get(|| async { text(UPCHECK_BODY) }))
        .route(path::VERSION, get(|| async { text(DISTRIBUTION_VERSION) }))
        .route(
            path::VERSION_DISTRIBUTION,
            get(|| async { text(DISTRIBUTION_VERSION) }),
        )
        .route(path::VERSION_API, get(api_versions))
        .route(path::HEALTH, get(health))
        .route(path::METRICS, get(metrics))
}

fn text(body: &'static str) -> Response {
    response::text(StatusCode::OK, body)
}

async fn api_versions() -> Response {
    response::json(MediaType::Json, StatusCode::OK, &version::SUPPORTED)
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    store: StoreStatus,
    replica: Replica,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StoreStatus {
    reachable: bool,
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    /// The PostgreSQL server written to, as it names itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<String>,
    /// On a PostgreSQL primary: the standbys a commit waits for; 0 is "writes are not
    /// protected by a standby".
    #[serde(skip_serializing_if = "Option::is_none")]
    synchronous_standbys: Option<u32>,
}

#[derive(Serialize)]
struct Replica {
    url: String,
    pid: u32,
    version: &'static str,
}

/// What `/health` tells a caller over TCP (maybe another organisation): up or down, no more.
#[derive(Serialize)]
struct Status {
    status: &'static str,
}

/// `/health`: 200 when the store answers, 503 otherwise (checked at most once a second), and
/// 503 `DRAINING` once the node drains. Over a unix socket (a local operator, GoQuorum's
/// sidecar) the body details the store and the replica; over TCP it says only the word.
async fn health(State(state): State<AppState>, peer: Option<Extension<PeerAddress>>) -> Response {
    let store = state.health.current().await;
    state.metrics.observe_store(&store);
    let reachable = store.is_reachable();
    let (status, word) = if state.health.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "DRAINING")
    } else if reachable {
        (StatusCode::OK, "UP")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "DOWN")
    };
    // Without the listener's record of the caller, assume the caller is remote.
    let local = peer.is_some_and(|Extension(peer)| peer.0.is_none());
    if !local {
        return response::json(MediaType::Json, status, &Status { status: word });
    }
    let body = Health {
        status: word,
        store: StoreStatus {
            reachable,
            role: store.role.as_str(),
            detail: store.problem.map(|problem| problem.to_string()),
            server: store.server,
            synchronous_standbys: store.synchronous_standbys,
        },
        replica: Replica {
            url: state.network.own_url().to_owned(),
            pid: std::process::id(),
            version: DISTRIBUTION_VERSION,
        },
    };
    response::json(MediaType::Json, status, &body)
}

/// `/metrics`: OpenMetrics, or Prometheus's text format to a client asking for `text/plain`
/// ([`cloister_protocol::exposition`]). The store's gauges are what the last health check saw
/// (`/health`, or the node's own every [`crate::node::STORE_METRICS_INTERVAL`]): a scrape never
/// waits on the store.
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let (content_type, body) = exposition::answer(accept, state.metrics.render());
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}
