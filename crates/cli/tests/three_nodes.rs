//! Three `cloister node` processes (A, B, C) on loopback, configured only by Tessera-format
//! config files and key files from `cloister keygen`, driven through GoQuorum's unix socket.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cloister_core::b64;
use cloister_harness::http::{eventually, path_escape, Request};
use cloister_harness::nodes::NodeDir;
use serde_json::json;

const DISCOVERY: Duration = Duration::from_secs(20);

/// Two nodes' directories under one temporary root (kept alive by the caller), with the
/// binary under test registered.
fn two_nodes() -> (tempfile::TempDir, NodeDir, NodeDir) {
    cloister_harness::nodes::use_binary(env!("CARGO_BIN_EXE_cloister"));
    cloister_harness::nodes::two_node_dirs().unwrap()
}

/// Whether `node` comes to know `other`'s key within the discovery deadline.
fn learns(node: &NodeDir, other: &NodeDir) -> bool {
    eventually(DISCOVERY, || node.known_keys().contains(&other.public_key))
}

#[test]
fn private_transactions_between_three_nodes() {
    cloister_harness::nodes::use_binary(env!("CARGO_BIN_EXE_cloister"));
    let root = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        NodeDir::new(root.path(), "a"),
        NodeDir::new(root.path(), "b"),
        NodeDir::new(root.path(), "c"),
    );
    let _a = a.start(&a.config(&[&b], json!({})), &[]);
    let _b = b.start(&b.config(&[&a], json!({})), &[]);
    // C knows only B: it must learn A (and A's key) through B.
    let _c = c.start(&c.config(&[&b], json!({})), &[]);

    assert!(learns(&a, &b), "A never learnt B's key");
    assert!(learns(&c, &a), "C never learnt A's key through B");

    // A sends to B; A and B read it; C is not a party: 404.
    let payload = b"private contract code";
    let send = Request::new("POST", "/send")
        .json(&json!({ "payload": b64::encode(payload), "to": [b.public_key], "affectedContractTransactions": [], "privacyFlag": 0, "mandatoryRecipients": null }))
        .send(&a.q2t());
    assert_eq!(send.status, 201, "{}", send.text());
    let key = send.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(b64::decode(&key).unwrap().len(), 64);
    assert!(send.header("location").unwrap().contains("/transaction/"));
    let target = format!("/transaction/{}?isRaw=false", path_escape(&key));
    for node in [&a, &b] {
        let read = Request::new("GET", &target)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .send(&node.q2t());
        assert_eq!(read.status, 200, "{}: {}", node.name, read.text());
        assert_eq!(
            b64::decode(read.json()["payload"].as_str().unwrap()).unwrap(),
            payload
        );
    }
    let absent = Request::new("GET", &target).send(&c.q2t());
    assert_eq!(absent.status, 404, "{}", absent.text());

    // storeraw + sendsignedtx (JSON, 2.1): the transaction keeps the raw hash.
    let stored = Request::new("POST", "/storeraw")
        .json(&json!({ "payload": b64::encode(b"signed tx") }))
        .send(&a.q2t());
    assert_eq!(stored.status, 200, "{}", stored.text());
    let raw_hash = stored.json()["key"].as_str().unwrap().to_owned();
    let raw_read = Request::new(
        "GET",
        &format!("/transaction/{}?isRaw=true", path_escape(&raw_hash)),
    )
    .send(&a.q2t());
    assert_eq!(
        b64::decode(raw_read.json()["payload"].as_str().unwrap()).unwrap(),
        b"signed tx"
    );
    let signed = Request::new("POST", "/sendsignedtx")
        .body_with_type(
            "application/vnd.tessera-2.1+json",
            serde_json::to_vec(&json!({ "hash": raw_hash, "to": [b.public_key] })).unwrap(),
        )
        .header("Accept", "application/vnd.tessera-2.1+json")
        .send(&a.q2t());
    assert_eq!(signed.status, 201, "{}", signed.text());
    assert_eq!(signed.json()["key"].as_str().unwrap(), raw_hash);
    assert_eq!(signed.json()["senderKey"].as_str().unwrap(), a.public_key);
    let at_b = Request::new("GET", &format!("/transaction/{}", path_escape(&raw_hash)))
        .header("Accept", "application/vnd.tessera-2.1+json")
        .send(&b.q2t());
    assert_eq!(at_b.status, 200, "{}", at_b.text());
    assert_eq!(at_b.json()["managedParties"], json!([b.public_key]));
    assert_eq!(at_b.json()["senderKey"], json!(a.public_key));

    // C, having learnt A through B alone, can send to A.
    let from_c = Request::new("POST", "/send")
        .json(&json!({ "payload": b64::encode(b"hi A"), "to": [a.public_key] }))
        .send(&c.q2t());
    assert_eq!(from_c.status, 201, "{}", from_c.text());
    let key = from_c.json()["key"].as_str().unwrap().to_owned();
    let at_a = Request::new("GET", &format!("/transaction/{}", path_escape(&key))).send(&a.q2t());
    assert_eq!(at_a.status, 200);

    // Privacy groups: created on A, shared with B, used to address a transaction, deleted.
    let created = Request::new("POST", "/createPrivacyGroup")
        .json(&json!({ "addresses": [a.public_key, b.public_key], "name": "ab", "description": "A and B" }))
        .send(&a.q2t());
    assert_eq!(created.status, 200, "{}", created.text());
    let group = created.json();
    let id = group["privacyGroupId"].as_str().unwrap().to_owned();
    assert_eq!(group["type"], "PANTHEON");
    let retrieve = |node: &NodeDir| {
        Request::new("POST", "/retrievePrivacyGroup")
            .json(&json!({ "privacyGroupId": id }))
            .send(&node.q2t())
    };
    assert_eq!(retrieve(&b).json(), group, "B holds the same group");
    assert_eq!(retrieve(&c).status, 404);
    let found = Request::new("POST", "/findPrivacyGroup")
        .json(&json!({ "addresses": [b.public_key, a.public_key] }))
        .send(&b.q2t());
    assert_eq!(found.json(), json!([group]));
    let to_group = Request::new("POST", "/send")
        .body_with_type(
            "application/vnd.tessera-3.0+json",
            serde_json::to_vec(
                &json!({ "payload": b64::encode(b"group tx"), "privacyGroupId": id }),
            )
            .unwrap(),
        )
        .send(&a.q2t());
    assert_eq!(to_group.status, 201, "{}", to_group.text());
    let key = to_group.json()["key"].as_str().unwrap().to_owned();
    let at_b = Request::new("GET", &format!("/transaction/{}", path_escape(&key))).send(&b.q2t());
    assert_eq!(at_b.json()["privacyGroupId"], json!(id));
    let deleted = Request::new("POST", "/deletePrivacyGroup")
        .json(&json!({ "privacyGroupId": id }))
        .send(&a.q2t());
    assert_eq!((deleted.status, deleted.json()), (200, json!(id)));
    assert_eq!(retrieve(&a).status, 404);
    assert_eq!(retrieve(&b).status, 404);
}

#[test]
fn a_peer_not_on_the_whitelist_gets_401() {
    let (_root, a, b) = two_nodes();
    let _a = a.start(&a.config(&[&b], json!({ "useWhiteList": true })), &[]);
    let upcheck = Request::new("GET", "/partyinfo");
    let allowed = upcheck.send_from(&a.p2p_target(), "127.0.0.1").unwrap();
    assert_eq!(allowed.status, 200);
    let denied = upcheck.send_from(&a.p2p_target(), "127.0.0.2").unwrap();
    assert_eq!(denied.status, 401);
    assert!(denied.body.is_empty());
    // The whitelist guards P2P only.
    assert_eq!(
        Request::new("GET", "/upcheck")
            .send_from(&a.third_party_target(), "127.0.0.2")
            .unwrap()
            .status,
        200
    );
}

#[test]
fn behind_a_trusted_proxy_the_whitelist_judges_the_forwarded_caller() {
    let (_root, a, b) = two_nodes();
    let _a = a.start(
        &a.config(&[&b], json!({ "useWhiteList": true })),
        &["--trusted-proxy", "127.0.0.3"],
    );
    let status = |source: &str, forwarded: Option<&str>| {
        let mut request = Request::new("GET", "/partyinfo");
        if let Some(value) = forwarded {
            request = request.header("Forwarded", value);
        }
        request.send_from(&a.p2p_target(), source).unwrap().status
    };
    // Through the proxy: a whitelisted caller passes, another does not, and the proxy's own
    // address is no pass.
    assert_eq!(status("127.0.0.3", Some("for=127.0.0.1")), 200);
    assert_eq!(
        status("127.0.0.3", Some("for=127.0.0.1, for=\"127.0.0.2:4000\"")),
        401
    );
    assert_eq!(status("127.0.0.3", None), 401);
    // Anyone else's Forwarded header proves nothing.
    assert_eq!(status("127.0.0.2", Some("for=127.0.0.1")), 401);
    assert_eq!(status("127.0.0.1", Some("for=127.0.0.2")), 200);
}

#[test]
fn remote_key_validation_accepts_proven_keys_only() {
    let (_root, a, b) = two_nodes();
    let validating = json!({ "features": { "enableRemoteKeyValidation": true } });
    let _a = a.start(&a.config(&[&b], validating.clone()), &[]);
    let _b = b.start(&b.config(&[&a], validating), &[]);
    assert!(learns(&a, &b), "A never validated B's key");
    assert!(learns(&b, &a), "B never validated A's key");

    // A PartyInfo claiming, for B's URL, a key B does not hold: B cannot prove it, A refuses.
    let forged_key = cloister_core::keys::PublicKey::from_bytes([42; 32]);
    let url = format!("{}/", b.p2p_url());
    let forged = cloister_core::partyinfo::PartyInfo::new(&url, [(forged_key, url.clone())], []);
    let response = Request::new("POST", "/partyinfo")
        .body_with_type("application/octet-stream", forged.encode())
        .send(&a.p2p_target());
    assert_eq!(response.status, 500);
    assert!(!a.known_keys().contains(&forged_key.to_base64()));
    assert!(a.known_keys().contains(&b.public_key));
}

#[test]
fn always_send_to_keys_receive_every_transaction() {
    let (_root, a, b) = two_nodes();
    let _a = a.start(
        &a.config(&[&b], json!({ "alwaysSendTo": [b.public_key] })),
        &[],
    );
    let _b = b.start(&b.config(&[&a], json!({})), &[]);
    assert!(learns(&a, &b));
    let sent = Request::new("POST", "/send")
        .json(&json!({ "payload": b64::encode(b"audited"), "to": [] }))
        .send(&a.q2t());
    assert_eq!(sent.status, 201, "{}", sent.text());
    let key = sent.json()["key"].as_str().unwrap().to_owned();
    let at_b = Request::new("GET", &format!("/transaction/{}", path_escape(&key))).send(&b.q2t());
    assert_eq!(
        at_b.status,
        200,
        "the alwaysSendTo key must receive it: {}",
        at_b.text()
    );
}
