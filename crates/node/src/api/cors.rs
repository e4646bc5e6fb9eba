//! CORS as Tessera configures it per server (`serverConfigs[i].cors`): a request from an allowed
//! `Origin` gets the allow headers; a preflight (`OPTIONS`) from one is answered directly. An
//! origin allowed only by the wildcard `*` gets `Access-Control-Allow-Origin: *` and never
//! `Allow-Credentials`: credentials for every site on the web would let any page act with a
//! visitor's cookies or client certificate.

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
    let Some(grant) = origin.as_deref().and_then(|o| grant(&cors, o)) else {
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
    add_headers(response.headers_mut(), &cors, &grant, requested_headers);
    response
}

/// How an origin is allowed.
enum Grant {
    /// Listed by name: it is echoed, with credentials as configured.
    Named(String),
    /// Only by `*`: answered `*`, without credentials.
    Anyone,
}

fn grant(cors: &Cors, origin: &str) -> Option<Grant> {
    let mut allowed = cors.allowed_origins.iter().flatten();
    if allowed.clone().any(|a| a == origin) {
        Some(Grant::Named(origin.to_owned()))
    } else if allowed.any(|a| a == "*") {
        Some(Grant::Anyone)
    } else {
        None
    }
}

fn add_headers(
    headers: &mut HeaderMap,
    cors: &Cors,
    grant: &Grant,
    requested: Option<HeaderValue>,
) {
    let mut set = |name, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    match grant {
        Grant::Named(origin) => {
            set(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            let credentials = if cors.allow_credentials {
                "true"
            } else {
                "false"
            };
            set(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, credentials);
        }
        Grant::Anyone => set(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &[&str]) -> Cors {
        Cors {
            allowed_origins: Some(origins.iter().map(|o| (*o).to_owned()).collect()),
            ..Cors::default()
        }
    }

    #[test]
    fn a_wildcard_origin_never_gets_credentials_and_a_named_one_does() {
        let mut headers = HeaderMap::new();
        let wildcard = cors(&["*"]);
        let grant = grant(&wildcard, "https://evil.example").unwrap();
        add_headers(&mut headers, &wildcard, &grant, None);
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(headers
            .get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
            .is_none());

        let mut headers = HeaderMap::new();
        let named = cors(&["*", "https://ui.example"]);
        let grant = super::grant(&named, "https://ui.example").unwrap();
        add_headers(&mut headers, &named, &grant, None);
        assert_eq!(
            headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://ui.example"
        );
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");

        assert!(super::grant(&cors(&["https://ui.example"]), "https://other").is_none());
    }
}
