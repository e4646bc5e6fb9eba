//! Megabyte payloads end to end: A pushes each recipient its copy around one shared cipher
//! text (the fields before and after it encoded per recipient, the cipher text sent as is),
//! and every party reads back exactly what was sent.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cloister_core::b64;
use cloister_harness::http::{eventually, path_escape, Request};
use cloister_harness::nodes::NodeDir;
use rand_core::{OsRng, RngCore};
use serde_json::json;

const DISCOVERY: Duration = Duration::from_secs(20);

/// Larger than hyper's write buffer and not a multiple of any block or page size.
const PAYLOAD_BYTES: usize = 3 * 1024 * 1024 + 17;

#[test]
fn a_megabyte_payload_reaches_two_recipients_intact() {
    cloister_harness::nodes::use_binary(env!("CARGO_BIN_EXE_cloister"));
    let root = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        NodeDir::new(root.path(), "a"),
        NodeDir::new(root.path(), "b"),
        NodeDir::new(root.path(), "c"),
    );
    let _a = a.start(&a.config(&[&b, &c], json!({})), &[]);
    let _b = b.start(&b.config(&[&a], json!({})), &[]);
    let _c = c.start(&c.config(&[&a], json!({})), &[]);
    assert!(
        eventually(DISCOVERY, || {
            let known = a.known_keys();
            known.contains(&b.public_key) && known.contains(&c.public_key)
        }),
        "A never learnt B's and C's keys"
    );

    let mut payload = vec![0u8; PAYLOAD_BYTES];
    OsRng.fill_bytes(&mut payload);
    let send = Request::new("POST", "/send")
        .json(&json!({
            "payload": b64::encode(&payload),
            "to": [b.public_key, c.public_key],
            "affectedContractTransactions": [],
            "privacyFlag": 0,
            "mandatoryRecipients": null,
        }))
        .send(&a.q2t());
    assert_eq!(send.status, 201, "{}", send.text());
    let key = send.json()["key"].as_str().unwrap().to_owned();

    let target = format!("/transaction/{}?isRaw=false", path_escape(&key));
    for node in [&a, &b, &c] {
        let read = Request::new("GET", &target).send(&node.q2t());
        assert_eq!(read.status, 200, "{}: {}", node.name, read.text());
        let read = b64::decode(read.json()["payload"].as_str().unwrap()).unwrap();
        assert!(read == payload, "{} read other bytes", node.name);
    }
}
