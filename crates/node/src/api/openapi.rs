//! `GET /api`: an OpenAPI 3.0 document of each app, built from one operation table per app.
//! A test calls every operation listed here against a running node, so the document cannot
//! drift from what the routers serve.

use axum::http::StatusCode;
use axum::response::Response;
use cloister_core::config::AppType;
use serde_json::{json, Map, Value};

use super::media::MediaType;
use super::q2t::json_response;

/// One documented operation.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// HTTP method, lower case.
    pub method: &'static str,
    /// Path template (`{hash}` for parameters).
    pub path: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// Request media types (empty: no body).
    pub consumes: &'static [&'static str],
    /// Success status and response media type.
    pub success: (u16, &'static str),
}

const JSON_TYPES: &[&str] = &[
    "application/json",
    "application/vnd.tessera-2.1+json",
    "application/vnd.tessera-3.0+json",
    "application/vnd.tessera-4.0+json",
];
const JSON_ONLY: &[&str] = &["application/json"];
const OCTETS: &[&str] = &["application/octet-stream"];
const NONE: &[&str] = &[];

const fn op(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    consumes: &'static [&'static str],
    success: (u16, &'static str),
) -> Operation {
    Operation {
        method,
        path,
        summary,
        consumes,
        success,
    }
}

/// Operations every app serves.
pub const COMMON: &[Operation] = &[
    op(
        "get",
        "/",
        "Empty 200, for load-balancer health checks",
        NONE,
        (200, "text/plain"),
    ),
    op(
        "get",
        "/upcheck",
        "Liveness: `I'm up!`",
        NONE,
        (200, "text/plain"),
    ),
    op(
        "get",
        "/version",
        "Distribution version",
        NONE,
        (200, "text/plain"),
    ),
    op(
        "get",
        "/version/distribution",
        "Distribution version",
        NONE,
        (200, "text/plain"),
    ),
    op(
        "get",
        "/version/api",
        "Supported API versions",
        NONE,
        (200, "application/json"),
    ),
    op(
        "get",
        "/health",
        "Store reachability and replica identity",
        NONE,
        (200, "application/json"),
    ),
    op(
        "get",
        "/metrics",
        "Prometheus metrics",
        NONE,
        (200, "text/plain"),
    ),
    op(
        "get",
        "/api",
        "This document",
        NONE,
        (200, "application/json"),
    ),
];

/// The Q2T app's own operations.
pub const Q2T: &[Operation] = &[
    op(
        "post",
        "/send",
        "Encrypt, store and distribute a private transaction",
        JSON_TYPES,
        (201, "application/json"),
    ),
    op(
        "post",
        "/sendsignedtx",
        "Distribute a stored raw transaction",
        &[
            "application/octet-stream",
            "application/json",
            "application/vnd.tessera-2.1+json",
            "application/vnd.tessera-3.0+json",
            "application/vnd.tessera-4.0+json",
        ],
        (201, "application/json"),
    ),
    op(
        "post",
        "/sendraw",
        "Send an octet-stream payload (c11n-from, c11n-to headers)",
        OCTETS,
        (200, "text/plain"),
    ),
    op(
        "get",
        "/receiveraw",
        "Decrypt a transaction (c11n-key, c11n-to headers)",
        NONE,
        (200, "application/octet-stream"),
    ),
    op(
        "post",
        "/storeraw",
        "Store a payload sealed for its sender only",
        JSON_TYPES,
        (200, "application/json"),
    ),
    op(
        "get",
        "/transaction/{hash}",
        "Decrypt a stored transaction (`to`, `isRaw` query)",
        NONE,
        (200, "application/json"),
    ),
    op(
        "delete",
        "/transaction/{hash}",
        "Delete a stored transaction",
        NONE,
        (204, "text/plain"),
    ),
    op(
        "get",
        "/transaction/{hash}/isSender",
        "Whether this node sent it",
        NONE,
        (200, "text/plain"),
    ),
    op(
        "get",
        "/transaction/{hash}/participants",
        "Its recipient keys",
        NONE,
        (200, "text/plain"),
    ),
    op(
        "get",
        "/transaction/{hash}/mandatory",
        "Its mandatory recipients",
        NONE,
        (200, "text/plain"),
    ),
    op(
        "post",
        "/delete",
        "Delete a stored transaction (deprecated)",
        JSON_ONLY,
        (200, "text/plain"),
    ),
    op(
        "post",
        "/encodedpayload/create",
        "Encrypt without storing",
        JSON_TYPES,
        (200, "application/json"),
    ),
    op(
        "post",
        "/encodedpayload/decrypt",
        "Decrypt a given payload",
        JSON_TYPES,
        (200, "application/json"),
    ),
    op(
        "get",
        "/groups/{type}",
        "Privacy groups of a type (legacy, pantheon, resident)",
        NONE,
        (200, "application/json"),
    ),
    op(
        "post",
        "/createPrivacyGroup",
        "Create and share a privacy group",
        JSON_ONLY,
        (200, "application/json"),
    ),
    op(
        "post",
        "/findPrivacyGroup",
        "Groups with exactly these members",
        JSON_ONLY,
        (200, "application/json"),
    ),
    op(
        "post",
        "/retrievePrivacyGroup",
        "One privacy group",
        JSON_ONLY,
        (200, "application/json"),
    ),
    op(
        "post",
        "/deletePrivacyGroup",
        "Delete a privacy group",
        JSON_ONLY,
        (200, "application/json"),
    ),
];

/// The P2P app's own operations (outside recovery mode).
pub const P2P: &[Operation] = &[
    op(
        "get",
        "/partyinfo",
        "This node's view of the network",
        NONE,
        (200, "application/json"),
    ),
    op(
        "post",
        "/partyinfo",
        "Exchange PartyInfo",
        OCTETS,
        (200, "application/octet-stream"),
    ),
    op(
        "post",
        "/partyinfo/validate",
        "Prove ownership of a key",
        OCTETS,
        (200, "text/plain"),
    ),
    op(
        "post",
        "/push",
        "Store a pushed payload",
        OCTETS,
        (201, "text/plain"),
    ),
    op(
        "post",
        "/resend",
        "Resend transactions (ALL, INDIVIDUAL)",
        JSON_ONLY,
        (200, "application/octet-stream"),
    ),
    op(
        "post",
        "/resendBatch",
        "Deliver a recovering node's transactions with /pushBatch",
        JSON_ONLY,
        (200, "application/json"),
    ),
    op(
        "post",
        "/pushPrivacyGroup",
        "Store a shared privacy group",
        OCTETS,
        (200, "text/plain"),
    ),
];

/// The ThirdParty app's own operations.
pub const THIRD_PARTY: &[Operation] = &[
    op(
        "post",
        "/storeraw",
        "Store a payload sealed for its sender only",
        JSON_TYPES,
        (200, "application/json"),
    ),
    op(
        "get",
        "/keys",
        "This node's public keys",
        NONE,
        (200, "application/json"),
    ),
    op(
        "get",
        "/partyinfo/keys",
        "Every key known in the network",
        NONE,
        (200, "application/json"),
    ),
];

/// The operations of an app, its own and the common ones.
pub fn operations(app: AppType) -> Vec<Operation> {
    let own: &[Operation] = match app {
        AppType::Q2T => Q2T,
        AppType::P2P => P2P,
        AppType::ThirdParty => THIRD_PARTY,
        AppType::Enclave | AppType::Admin => &[],
    };
    own.iter().chain(COMMON).copied().collect()
}

/// The OpenAPI document of an app.
pub fn document(app: AppType) -> Value {
    let mut paths = Map::new();
    for operation in operations(app) {
        let entry = paths.entry(operation.path).or_insert_with(|| json!({}));
        entry[operation.method] = operation_object(&operation);
    }
    json!({
        "openapi": "3.0.3",
        "info": { "title": format!("Cloister {app} API"), "version": super::common::DISTRIBUTION_VERSION },
        "paths": paths,
    })
}

fn operation_object(operation: &Operation) -> Value {
    let parameters: Vec<Value> = operation
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    let (status, media) = operation.success;
    let mut object = json!({
        "summary": operation.summary,
        "parameters": parameters,
        "responses": { status.to_string(): { "description": "Success", "content": { media: {} } } },
    });
    if !operation.consumes.is_empty() {
        let content: Map<String, Value> = operation
            .consumes
            .iter()
            .map(|m| ((*m).to_owned(), json!({})))
            .collect();
        object["requestBody"] = json!({ "content": content });
    }
    object
}

/// Serves the document.
pub fn serve(app: AppType) -> Response {
    json_response(MediaType::Json, StatusCode::OK, &document(app))
}
