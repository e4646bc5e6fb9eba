//! One log line per request, inside a span that carries the request's id, so everything the
//! node logs while serving it can be joined with `cloister proxy`'s access log on `request_id`.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use cloister_protocol::header::{is_acceptable_request_id, REQUEST_ID};
use cloister_protocol::path;
use tracing::Instrument;

use crate::listener::PeerAddress;

/// Middleware: takes the caller's `X-Request-Id` when it is acceptable (a proxy in front sent
/// it), else makes one; serves the request inside a `request` span holding it, the app, the
/// caller's TCP address (`peer`), the method and the path (which holds the hash where there is
/// one); logs the outcome and answers with the id. The id is a log field only.
pub async fn trace(State(app): State<&'static str>, request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .map(HeaderValue::as_bytes)
        .filter(|value| is_acceptable_request_id(value))
        .and_then(|value| std::str::from_utf8(value).ok())
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned);
    // The TCP caller (none on a unix socket): for P2P, the peer node or the proxy in front.
    let peer = request
        .extensions()
        .get::<PeerAddress>()
        .and_then(|PeerAddress(address)| *address)
        .map(tracing::field::display);
    let method = request.method().clone();
    let uri_path = request.uri().path().to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        app,
        peer,
        method = %method,
        path = %uri_path,
    );
    async move {
        let started = Instant::now();
        let mut response = next.run(request).await;
        let status = response.status().as_u16();
        let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        // Probes arrive every few hundred milliseconds from every proxy: logged only at debug.
        if is_probe(&uri_path) {
            tracing::debug!(target: "cloister_node::access", status, latency_us, "served");
        } else {
            tracing::info!(target: "cloister_node::access", status, latency_us, "served");
        }
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID, value);
        }
        response
    }
    .instrument(span)
    .await
}

fn is_probe(uri_path: &str) -> bool {
    [path::UPCHECK, path::HEALTH, path::METRICS, path::VERSION].contains(&uri_path)
}
