//! CORS as Tessera configures it per server (`serverConfigs[i].cors`): a request from an allowed
//! `Origin` gets the allow headers; a preflight (`OPTIONS`) from one is answered directly.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cloister_core::config::server::Cors;

/// Middleware applying `cors`.
pub async fn apply(State(cors): State<Arc<Cors>>, request: Request, next: Next) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_owned);
    let Some(origin) = origin.filter(|o| allowed(&cors, o)) else {
        return next.run(request).await;
    };
    let requested_headers = request
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned();
    let mut response = if request.method() == Method::OPTIONS {
        StatusCode::OK.into_response()
    } else {
        next.run(request).await
    };
    add_headers(response.headers_mut(), &cors, &origin, requested_headers);
    response
}

fn allowed(cors: &Cors, origin: &str) -> bool {
    cors.allowed_origins
        .iter()
        .flatten()
        .any(|allowed| allowed == "*" || allowed == origin)
}

fn add_headers(headers: &mut HeaderMap, cors: &Cors, origin: &str, requested: Option<HeaderValue>) {
    let mut set = |name, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    set(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        if cors.allow_credentials {
            "true"
        } else {
            "false"
        },
    );
    set(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        &cors.allowed_methods.join(","),
    );
    match (&cors.allowed_headers, requested) {
        (Some(configured), _) => set(header::ACCESS_CONTROL_ALLOW_HEADERS, &configured.join(",")),
        (None, Some(requested)) => {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
        }
        (None, None) => {}
    }
}
