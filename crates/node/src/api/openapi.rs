//! `GET /api`: an OpenAPI 3.0 document of each app, built from one operation table per app.
//! A test calls every operation listed here against a running node, so the document cannot
//! drift from what the routers serve.

use axum::http::StatusCode;
use axum::response::Response;
use cloister_core::config::AppType;
use cloister_protocol::media::{JSON, OCTET_STREAM, OPENMETRICS, TESSERA_JSON, TEXT_PLAIN};
use cloister_protocol::path;
use serde_json::{json, Map, Value};

use super::media::MediaType;
use super::response;

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

const JSON_TYPES: &[&str] = &TESSERA_JSON;
const JSON_ONLY: &[&str] = &[JSON];
const OCTETS: &[&str] = &[OCTET_STREAM];
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

/// `/storeraw`, served by the Q2T and ThirdParty apps alike.
const STORE_RAW: Operation = op(
    "post",
    path::STORE_RAW,
    "Store a payload sealed for its sender only",
    JSON_TYPES,
    (200, JSON),
);

/// Operations every app serves.
pub const COMMON: &[Operation] = &[
    op(
        "get",
        path::ROOT,
        "Empty 200, for load-balancer health checks",
        NONE,
        (200, TEXT_PLAIN),
    ),
    op(
        "get",
        path::UPCHECK,
        "Liveness: `I'm up!`",
        NONE,
        (200, TEXT_PLAIN),
    ),
    op(
        "get",
        path::VERSION,
        "Distribution version",
        NONE,
        (200, TEXT_PLAIN),
    ),
    op(
        "get",
        path::VERSION_DISTRIBUTION,
        "Distribution version",
        NONE,
        (200, TEXT_PLAIN),
    ),
    op(
        "get",
        path::VERSION_API,
        "Supported API versions",
        NONE,
        (200, JSON),
    ),
    op(
        "get",
        path::HEALTH,
        "Store reachability and replica identity",
        NONE,
        (200, JSON),
    ),
    op(
        "get",
        path::METRICS,
        "Prometheus metrics",
        NONE,
        (200, OPENMETRICS),
    ),
    op("get", path::API, "This document", NONE, (200, JSON)),
];

/// The Q2T app's own operations.
pub const Q2T: &[Operation] = &[
    op(
        "post",
        path::SEND,
        "Encrypt, store and distribute a private transaction",
        JSON_TYPES,
        (201, JSON),
    ),
    op(
        "post",
        path::SEND_SIGNED_TX,
        "Distribute a stored raw transaction",
        &[
            OCTET_STREAM,
            JSON,
            TESSERA_JSON[1],
            TESSERA_JSON[2],
            TESSERA_JSON[3],
        ],
        (201, JSON),
    ),
    op(
        "post",
        path::SEND_RAW,
        "Send an octet-stream payload (c11n-from, c11n-to headers)",
        OCTETS,
        (200, TEXT_PLAIN),
    ),
    op(
        "get",
        path::RECEIVE_RAW,
        "Decrypt a transaction (c11n-key, c11n-to headers)",
        NONE,
        (200, OCTET_STREAM),
    ),
    STORE_RAW,
    op(
        "get",
        path::TRANSACTION,
        "Decrypt a stored transaction (`to`, `isRaw` query)",
        NONE,
        (200, JSON),
    ),
    op(
        "delete",
        path::TRANSACTION,
        "Delete a stored transaction",
        NONE,
        (204, TEXT_PLAIN),
    ),
    op(
        "get",
        path::TRANSACTION_IS_SENDER,
        "Whether this node sent it",
        NONE,
        (200, TEXT_PLAIN),
    ),
    op(
        "get",
        path::TRANSACTION_PARTICIPANTS,
        "Its recipient keys",
        NONE,
        (200, TEXT_PLAIN),
    ),
    op(
        "get",
        path::TRANSACTION_MANDATORY,
        "Its mandatory recipients",
        NONE,
        (200, TEXT_PLAIN),
    ),
    op(
        "post",
        path::DELETE,
        "Delete a stored transaction (deprecated)",
        JSON_ONLY,
        (200, TEXT_PLAIN),
    ),
    op(
        "post",
        path::ENCODED_PAYLOAD_CREATE,
        "Encrypt without storing",
        JSON_TYPES,
        (200, JSON),
    ),
    op(
        "post",
        path::ENCODED_PAYLOAD_DECRYPT,
        "Decrypt a given payload",
        JSON_TYPES,
        (200, JSON),
    ),
    op(
        "get",
        path::GROUPS,
        "Privacy groups of a type (legacy, pantheon, resident)",
        NONE,
        (200, JSON),
    ),
    op(
        "post",
        path::CREATE_PRIVACY_GROUP,
        "Create and share a privacy group",
        JSON_ONLY,
        (200, JSON),
    ),
    op(
        "post",
        path::FIND_PRIVACY_GROUP,
        "Groups with exactly these members",
        JSON_ONLY,
        (200, JSON),
    ),
    op(
        "post",
        path::RETRIEVE_PRIVACY_GROUP,
        "One privacy group",
        JSON_ONLY,
        (200, JSON),
    ),
    op(
        "post",
        path::DELETE_PRIVACY_GROUP,
        "Delete a privacy group",
        JSON_ONLY,
        (200, JSON),
    ),
];

/// The P2P app's own operations (outside recovery mode).
pub const P2P: &[Operation] = &[
    op(
        "get",
        path::PARTYINFO,
        "This node's view of the network",
        NONE,
        (200, JSON),
    ),
    op(
        "post",
        path::PARTYINFO,
        "Exchange PartyInfo",
        OCTETS,
        (200, OCTET_STREAM),
    ),
    op(
        "post",
        path::PARTYINFO_VALIDATE,
        "Prove ownership of a key",
        OCTETS,
        (200, TEXT_PLAIN),
    ),
    op(
        "post",
        path::PUSH,
        "Store a pushed payload",
        OCTETS,
        (201, TEXT_PLAIN),
    ),
    op(
        "post",
        path::RESEND,
        "Resend transactions (ALL, INDIVIDUAL)",
        JSON_ONLY,
        (200, OCTET_STREAM),
    ),
    op(
        "post",
        path::RESEND_BATCH,
        "Deliver a recovering node's transactions with /pushBatch",
        JSON_ONLY,
        (200, JSON),
    ),
    op(
        "post",
        path::PUSH_PRIVACY_GROUP,
        "Store a shared privacy group",
        OCTETS,
        (200, TEXT_PLAIN),
    ),
];

/// The ThirdParty app's own operations.
pub const THIRD_PARTY: &[Operation] = &[
    STORE_RAW,
    op(
        "get",
        path::KEYS,
        "This node's public keys",
        NONE,
        (200, JSON),
    ),
    op(
        "get",
        path::PARTYINFO_KEYS,
        "Every key known in the network",
        NONE,
        (200, JSON),
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
        "info": { "title": format!("Cloister {app} API"), "version": super::status::DISTRIBUTION_VERSION },
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
    response::json(MediaType::Json, StatusCode::OK, &document(app))
}
