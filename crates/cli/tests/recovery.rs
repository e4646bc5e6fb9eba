//! A node that lost its store gets every transaction it was party to back from its peers
//! (`cloister node --recover`, Tessera's `/resendBatch` + `/pushBatch` protocol).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cloister_addr::Endpoint;
use cloister_core::b64;
use cloister_harness::http::{eventually, path_escape, Request};
use cloister_harness::nodes::two_node_dirs;
use serde_json::json;

fn send(q2t: &Endpoint, payload: &[u8], to: &str) -> String {
    let sent = Request::new("POST", "/send")
        .json(&json!({ "payload": b64::encode(payload), "to": [to] }))
        .send(q2t);
    assert_eq!(sent.status, 201, "{}", sent.text());
    sent.json()["key"].as_str().unwrap().to_owned()
}

fn read(q2t: &Endpoint, key: &str) -> (u16, Vec<u8>) {
    let response = Request::new("GET", &format!("/transaction/{}", path_escape(key))).send(q2t);
    let payload = if response.status == 200 {
        b64::decode(response.json()["payload"].as_str().unwrap()).unwrap()
    } else {
        Vec::new()
    };
    (response.status, payload)
}

#[test]
fn a_node_with_an_empty_store_recovers_from_its_peers() {
    cloister_harness::nodes::use_binary(env!("CARGO_BIN_EXE_cloister"));
    let (_root, a, b) = two_node_dirs().unwrap();
    let (a_config, b_config) = (a.config(&[&b], json!({})), b.config(&[&a], json!({})));
    let mut a_run = a.start(&a_config, &[]);
    let _b_run = b.start(&b_config, &[]);
    assert!(eventually(Duration::from_secs(20), || a
        .known_keys()
        .contains(&b.public_key)
        && b.known_keys().contains(&a.public_key)));

    let mut expected = Vec::new();
    for i in 0..5u8 {
        let payload = vec![i; 100];
        expected.push((send(&a.q2t(), &payload, &b.public_key), payload.clone()));
        let reply = vec![i + 100; 100];
        expected.push((send(&b.q2t(), &reply, &a.public_key), reply));
    }

    // A loses its store.
    a_run.kill();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(a.dir.join(format!("db.sqlite{suffix}")));
    }
    assert!(!a.dir.join("db.sqlite").exists());
    let (code, log) = a.run_to_exit(&a_config, &["--recover"], Duration::from_secs(60));
    assert_eq!(code, Some(0), "recovery failed: {log}");
    assert!(log.contains("stored=10 failed=0"), "{log}");

    let _a_again = a.start(&a_config, &[]);
    for (key, payload) in &expected {
        assert_eq!(read(&a.q2t(), key), (200, payload.clone()), "{key}");
    }
    // What A sent is readable by A as the sender again, not only by B.
    let participants = Request::new(
        "GET",
        &format!("/transaction/{}/isSender", path_escape(&expected[0].0)),
    )
    .send(&a.q2t());
    assert_eq!(participants.text(), "true");
}
