//! The node's HTTP apps in-process over real sockets (TCP and a unix socket): bad input gets a
//! clear 4xx and changes nothing stored; stored rows decode with the codec they name; the unix
//! socket is private and replaces a stale file.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use cloister_addr::Endpoint;
use cloister_core::b64;
use cloister_core::config::server::Cors;
use cloister_core::config::{AppType, Features, SqlitePath, StoreTarget};
use cloister_core::digest::PayloadDigest;
use cloister_core::keys::{KeyPair, PrivateKey};
use cloister_harness::http::Request;
use cloister_net::ListenerLimits;
use cloister_node::limits::PeerLimits;
use cloister_node::settings::{ServerSettings, DEFAULT_MAX_BODY_BYTES};
use cloister_node::{Node, NodeSettings};
use cloister_store::{SqliteOptions, SqliteStore, Store};
use serde_json::json;

struct TestNode {
    runtime: tokio::runtime::Runtime,
    node: Option<Node>,
    q2t: Endpoint,
    p2p: Endpoint,
    third_party: Endpoint,
}

impl TestNode {
    fn start(dir: &Path, max_body_bytes: usize) -> Self {
        let pair = KeyPair::from_private(PrivateKey::from_bytes([7; 32]));
        let tcp = || "127.0.0.1:0".parse::<Endpoint>().unwrap();
        let settings = NodeSettings {
            keys: vec![pair],
            forwarding_keys: Vec::new(),
            store: StoreTarget::Sqlite {
                path: SqlitePath::File(dir.join("db.sqlite")),
                params: Default::default(),
            },
            auto_create_tables: true,
            servers: vec![
                ServerSettings {
                    app: AppType::Q2T,
                    listen: Endpoint::Unix(dir.join("tm.ipc")),
                    advertised_url: "unix:tm.ipc".into(),
                    cors: None,
                    limits: ListenerLimits::default(),
                    tls: None,
                },
                ServerSettings {
                    app: AppType::P2P,
                    listen: tcp(),
                    advertised_url: "http://127.0.0.1:1/".into(),
                    cors: None,
                    limits: ListenerLimits::default(),
                    tls: None,
                },
                ServerSettings {
                    app: AppType::ThirdParty,
                    listen: tcp(),
                    advertised_url: "http://127.0.0.1:2/".into(),
                    cors: Some(Cors {
                        allowed_origins: Some(vec!["http://ui.example".into()]),
                        ..Cors::default()
                    }),
                    limits: ListenerLimits::default(),
                    tls: None,
                },
            ],
            p2p_url: "http://127.0.0.1:1/".into(),
            peers: Vec::new(),
            party_info_interval: Duration::from_secs(60),
            use_white_list: false,
            disable_peer_discovery: false,
            features: Features::default(),
            digest: PayloadDigest::Sha3_512,
            resident_groups: Vec::new(),
            max_body_bytes,
            recover: false,
            idempotency_ttl: cloister_node::settings::DEFAULT_IDEMPOTENCY_TTL,
            trusted_proxies: Vec::new(),
            peer_limits: PeerLimits::default(),
            peer_tls: None,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let node = runtime.block_on(Node::start(settings)).unwrap();
        let target = |app| {
            node.addresses()
                .iter()
                .find(|(a, _)| *a == app)
                .unwrap()
                .1
                .clone()
        };
        let (q2t, p2p) = (target(AppType::Q2T), target(AppType::P2P));
        let third_party = target(AppType::ThirdParty);
        Self {
            runtime,
            node: Some(node),
            q2t,
            p2p,
            third_party,
        }
    }

    fn count(&self, dir: &Path) -> u64 {
        let store = SqliteStore::open(&dir.join("db.sqlite"), &SqliteOptions::default()).unwrap();
        self.runtime.block_on(store.count_transactions()).unwrap()
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            self.runtime.block_on(node.shutdown());
        }
    }
}

#[test]
fn bad_input_gets_a_clear_4xx_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path(), 64 * 1024);
    let send = |body: Vec<u8>| {
        Request::new("POST", "/send")
            .body_with_type("application/json", body)
            .send(&node.q2t)
    };
    let unknown_recipient = json!({"payload": "aGk=", "to": [b64::encode([9u8; 32])]});
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"not json".to_vec(), 400, "not valid JSON"),
        (b"{}".to_vec(), 400, "payload is required"),
        (
            br#"{"payload":"***"}"#.to_vec(),
            400,
            "payload is not valid base64",
        ),
        (
            br#"{"payload":"aGk=","to":["AAAA"]}"#.to_vec(),
            400,
            "to[0] is not a 32-byte public key",
        ),
        (
            br#"{"payload":"aGk=","to":[5]}"#.to_vec(),
            400,
            "to[0] is missing or of the wrong type",
        ),
        (
            br#"{"payload":"aGk=","from":"AAAA"}"#.to_vec(),
            400,
            "from is not a 32-byte public key",
        ),
        (
            unknown_recipient.to_string().into_bytes(),
            404,
            "Recipient not found for key",
        ),
        (
            br#"{"payload":"aGk=","privacyFlag":1}"#.to_vec(),
            403,
            "Enhanced Privacy is not enabled",
        ),
        (vec![b' '; 70 * 1024], 413, ""),
    ];
    for (body, status, message) in cases {
        let response = send(body);
        assert_eq!(response.status, status, "{message}: {}", response.text());
        assert!(response.text().contains(message), "{}", response.text());
    }
    let unsupported = Request::new("POST", "/send")
        .body_with_type("text/xml", b"<x/>".to_vec())
        .send(&node.q2t);
    assert_eq!(unsupported.status, 415);
    assert_eq!(
        Request::new("GET", "/transaction/***")
            .send(&node.q2t)
            .status,
        400
    );
    assert_eq!(
        Request::new("GET", "/transaction/AAAA?isRaw=maybe")
            .send(&node.q2t)
            .status,
        400
    );

    // Garbage on the P2P wire.
    let declared_huge = [&(1u64 << 40).to_be_bytes()[..], b"x"].concat();
    let garbage = [
        ("/push", "application/octet-stream", b"garbage".to_vec()),
        ("/push", "application/octet-stream", declared_huge),
        ("/partyinfo", "application/octet-stream", vec![0xff; 9]),
        (
            "/resend",
            "application/json",
            b"{\"type\":\"SOME\"}".to_vec(),
        ),
    ];
    for (path, media, body) in garbage {
        let response = Request::new("POST", path)
            .body_with_type(media, body)
            .send(&node.p2p);
        assert_eq!(response.status, 400, "{path}: {}", response.text());
    }
    assert_eq!(
        node.count(dir.path()),
        0,
        "bad input must change nothing stored"
    );

    let good = send(
        json!({"payload": b64::encode(b"ok")})
            .to_string()
            .into_bytes(),
    );
    assert_eq!(good.status, 201, "{}", good.text());
    assert_eq!(node.count(dir.path()), 1);
}

#[test]
fn stored_rows_decode_with_the_codec_they_name() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path(), DEFAULT_MAX_BODY_BYTES);
    for i in 0..5u8 {
        let sent = Request::new("POST", "/send")
            .json(&json!({ "payload": b64::encode([i; 40]) }))
            .send(&node.q2t);
        assert_eq!(sent.status, 201);
    }
    let stored = Request::new("POST", "/storeraw")
        .json(&json!({ "payload": b64::encode(b"raw") }))
        .send(&node.q2t);
    assert_eq!(stored.status, 200);
    let store =
        SqliteStore::open(&dir.path().join("db.sqlite"), &SqliteOptions::default()).unwrap();
    let rows = node
        .runtime
        .block_on(store.scan_transactions(None, 100))
        .unwrap();
    assert_eq!(rows.len(), 5);
    for row in rows {
        let payload = row.codec.decode(&row.encoded_payload).unwrap();
        assert_eq!(
            PayloadDigest::Sha3_512.digest(&payload.cipher_text),
            row.hash
        );
        assert_eq!(row.codec, cloister_core::payload::PayloadCodec::CURRENT);
    }
}

#[test]
fn the_unix_socket_is_private_and_replaces_a_stale_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tm.ipc"), b"left over by a crash").unwrap();
    let node = TestNode::start(dir.path(), DEFAULT_MAX_BODY_BYTES);
    let mode = std::fs::metadata(dir.path().join("tm.ipc"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let up = Request::new("GET", "/upcheck").send(&node.q2t);
    assert_eq!((up.status, up.text().as_str()), (200, "I'm up!"));
    // A second server on the same socket must refuse rather than steal it.
    let second = node
        .runtime
        .block_on(cloister_node::listener::Bound::endpoint(&Endpoint::Unix(
            dir.path().join("tm.ipc"),
        )));
    assert!(matches!(
        second,
        Err(cloister_node::listener::ListenError::SocketInUse(_))
    ));
    drop(node);
    assert!(
        !dir.path().join("tm.ipc").exists(),
        "the socket is removed on shutdown"
    );
}

#[test]
fn every_documented_operation_is_served_and_unknown_paths_are_404() {
    use cloister_node::api::openapi;
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path(), DEFAULT_MAX_BODY_BYTES);
    let hash = cloister_harness::http::path_escape(&b64::encode([0xfbu8; 64]));
    for (app, target) in [
        (AppType::Q2T, &node.q2t),
        (AppType::P2P, &node.p2p),
        (AppType::ThirdParty, &node.third_party),
    ] {
        let document = Request::new("GET", "/api").send(target).json();
        for operation in openapi::operations(app) {
            let path = operation
                .path
                .replace("{hash}", &hash)
                .replace("{type}", "legacy");
            assert!(
                document["paths"][operation.path][operation.method].is_object(),
                "{app} {} {}",
                operation.method,
                operation.path
            );
            let method = operation.method.to_ascii_uppercase();
            let mut request = Request::new(&method, &path);
            if let Some(media) = operation.consumes.first() {
                request = request.body_with_type(media, b"{}".to_vec());
            }
            let response = request.send(target);
            assert_ne!(response.status, 405, "{app} {method} {path}");
            assert_ne!(
                response.text(),
                "HTTP 404 Not Found",
                "{app} {method} {path} is not routed"
            );
        }
    }
    let unknown = Request::new("GET", "/no/such/path").send(&node.q2t);
    assert_eq!(
        (unknown.status, unknown.text().as_str()),
        (404, "HTTP 404 Not Found")
    );
    let wrong_method = Request::new("PUT", "/send").send(&node.q2t);
    assert_eq!(wrong_method.status, 405);
}

#[test]
fn cors_headers_only_for_configured_origins() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path(), DEFAULT_MAX_BODY_BYTES);
    let from = |origin: &str, method: &str| {
        Request::new(method, "/keys")
            .header("Origin", origin)
            .header("Access-Control-Request-Headers", "content-type")
            .send(&node.third_party)
    };
    let allowed = from("http://ui.example", "GET");
    assert_eq!(allowed.status, 200);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("http://ui.example")
    );
    assert_eq!(
        allowed.header("access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(
        allowed.header("access-control-allow-headers"),
        Some("content-type")
    );
    let preflight = from("http://ui.example", "OPTIONS");
    assert_eq!(preflight.status, 200);
    assert_eq!(
        preflight.header("access-control-allow-methods"),
        Some("GET,POST,PUT,DELETE,OPTIONS,HEAD")
    );
    let other = from("http://evil.example", "GET");
    assert_eq!(other.header("access-control-allow-origin"), None);
    // Q2T has no CORS configured.
    let q2t = Request::new("GET", "/upcheck")
        .header("Origin", "http://ui.example")
        .send(&node.q2t);
    assert_eq!(q2t.header("access-control-allow-origin"), None);
}

#[test]
fn pushes_are_decoded_with_the_codec_the_caller_advertises_and_resent_individually() {
    use cloister_core::enclave::{Enclave, PrivacyMetadata};
    use cloister_core::payload::PayloadCodec;
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path(), DEFAULT_MAX_BODY_BYTES);
    let ours = PrivateKey::from_bytes([7; 32]).public_key();
    let peer = KeyPair::from_private(PrivateKey::from_bytes([8; 32]));
    let enclave = Enclave::new(vec![peer.clone()]).unwrap();
    for (codec, versions) in [
        (PayloadCodec::Legacy, None),
        (PayloadCodec::Cbor, Some("v1,v2,2.1,3.0,4.0,5.0")),
    ] {
        let payload = enclave
            .encrypt_payload(
                b"pushed",
                peer.public(),
                &[ours, *peer.public()],
                PrivacyMetadata::default(),
            )
            .unwrap()
            .for_recipient(&ours)
            .unwrap();
        let mut push = Request::new("POST", "/push")
            .body_with_type("application/octet-stream", codec.encode(&payload));
        if let Some(versions) = versions {
            push = push.header("tesseraSupportedApiVersions", versions);
        }
        let pushed = push.send(&node.p2p);
        assert_eq!(pushed.status, 201, "{codec:?}: {}", pushed.text());
        let hash = pushed.text();
        assert_eq!(
            hash,
            PayloadDigest::Sha3_512
                .digest(&payload.cipher_text)
                .to_base64()
        );
        let read = Request::new(
            "GET",
            &format!(
                "/transaction/{}",
                cloister_harness::http::path_escape(&hash)
            ),
        )
        .send(&node.q2t);
        assert_eq!(
            b64::decode(read.json()["payload"].as_str().unwrap()).unwrap(),
            b"pushed"
        );

        // A second push of the same copy changes nothing; INDIVIDUAL resend returns our copy.
        assert_eq!(
            Request::new("POST", "/push")
                .body_with_type(
                    "application/octet-stream",
                    PayloadCodec::Legacy.encode(&payload)
                )
                .send(&node.p2p)
                .status,
            201
        );
        let resend = Request::new("POST", "/resend")
            .json(&json!({ "type": "INDIVIDUAL", "publicKey": ours.to_base64(), "key": hash }))
            .send(&node.p2p);
        assert_eq!(resend.status, 200, "{}", resend.text());
        assert_eq!(PayloadCodec::Legacy.decode(&resend.body).unwrap(), payload);
    }
    // The wrong codec for the advertised versions is refused, not guessed.
    let payload = enclave
        .encrypt_payload(b"x", peer.public(), &[ours], PrivacyMetadata::default())
        .unwrap();
    let mismatched = Request::new("POST", "/push")
        .header("tesseraSupportedApiVersions", "5.0")
        .body_with_type(
            "application/octet-stream",
            PayloadCodec::Legacy.encode(&payload),
        )
        .send(&node.p2p);
    assert_eq!(mismatched.status, 400);
    assert_eq!(node.count(dir.path()), 2);
}
