//! Exactly-once writes across replicas (`Idempotency-Key`): two `cloister node` replicas of one
//! party on one PostgreSQL database, and a peer. A repeat of a key on the other replica returns
//! the first outcome; a replica that committed a `/send` and died before answering leaves a
//! transaction its twin completes and answers for; a key reused for another request is refused.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cloister_addr::Endpoint;
use cloister_core::b64;
use cloister_harness::http::{eventually, path_escape, Request, Response};
use cloister_harness::party::{TwinParty, DATABASE};
use serde_json::json;

const KEY_HEADER: &str = "Idempotency-Key";

/// A keyed `/send` of `payload` to the peer through replica `replica`.
fn send(party: &TwinParty, replica: usize, key: &str, payload: &[u8]) -> Response {
    Request::new("POST", "/send")
        .header(KEY_HEADER, key)
        .json(&json!({ "payload": b64::encode(payload), "to": [party.peer.public_key] }))
        .send(&party.replicas[replica].q2t())
}

fn hash_of(response: &Response) -> String {
    assert_eq!(response.status, 201, "{}", response.text());
    response.json()["key"].as_str().unwrap().to_owned()
}

fn readable(target: &Endpoint, hash: &str) -> bool {
    Request::new("GET", &format!("/transaction/{}", path_escape(hash)))
        .send(target)
        .status
        == 200
}

#[test]
fn a_key_gets_one_transaction_on_any_replica() {
    cloister_harness::nodes::use_binary(env!("CARGO_BIN_EXE_cloister"));
    let mut party = TwinParty::start();

    // Repeated on the other replica: the first hash, nothing new stored.
    let first = hash_of(&send(&party, 0, "key-1", b"once"));
    let before = party.stored();
    assert_eq!(hash_of(&send(&party, 1, "key-1", b"once")), first);
    assert_eq!(hash_of(&send(&party, 0, "key-1", b"once")), first);
    assert_eq!(party.stored(), before);
    assert!(readable(&party.peer.q2t(), &first));

    // The same key for another request: refused, nothing stored.
    let reused = send(&party, 1, "key-1", b"something else");
    assert_eq!(reused.status, 422, "{}", reused.text());
    assert_eq!(party.stored(), before);
    for bad in ["has space", &"k".repeat(256)] {
        assert_eq!(send(&party, 0, bad, b"x").status, 400, "{bad:?}");
    }

    // /sendsignedtx repeated on the other replica: the original answer, not a duplicate error.
    let raw = Request::new("POST", "/storeraw")
        .json(&json!({ "payload": b64::encode(b"signed") }))
        .send(&party.replicas[0].q2t());
    let raw_hash = raw.json()["key"].as_str().unwrap().to_owned();
    let signed = |replica: usize| {
        Request::new("POST", "/sendsignedtx")
            .header(KEY_HEADER, "key-signed")
            .json(&json!({ "hash": raw_hash, "to": [party.peer.public_key] }))
            .send(&party.replicas[replica].q2t())
    };
    assert_eq!(hash_of(&signed(0)), raw_hash);
    assert_eq!(hash_of(&signed(1)), raw_hash);

    // Replica 1 commits a /send, then blocks pushing to the (frozen) peer and is killed before
    // it answers. The retry with the same key on replica 2 answers with replica 1's
    // transaction and completes its push: exactly one more transaction, and the peer has it.
    let before = party.stored();
    party.peer_running.hang();
    let target = party.replicas[0].q2t();
    let body =
        json!({ "payload": b64::encode(b"committed then died"), "to": [party.peer.public_key] });
    let doomed = std::thread::spawn(move || {
        Request::new("POST", "/send")
            .header(KEY_HEADER, "key-died")
            .json(&body)
            .try_send(&target, None)
    });
    assert!(
        eventually(Duration::from_secs(10), || party.stored() == before + 1),
        "replica 1 never committed"
    );
    party.kill(0);
    assert!(
        doomed.join().unwrap().is_err(),
        "replica 1 died before answering"
    );
    party.peer_running.resume();
    // Whatever of replica 1's push reached the peer's socket is processed now; remove it at
    // the peer, so only a push by replica 2 can bring it back.
    let committed = party
        .pg
        .sql(0, DATABASE, "SELECT encode(HASH, 'base64') FROM ENCRYPTED_TRANSACTION ORDER BY TIMESTAMP DESC LIMIT 1")
        .split_whitespace()
        .collect::<String>();
    let peer = party.peer.q2t();
    eventually(Duration::from_secs(5), || readable(&peer, &committed));
    let target = format!("/transaction/{}", path_escape(&committed));
    let _ = Request::new("DELETE", &target).send(&peer);
    assert!(!readable(&peer, &committed));
    let completed = hash_of(&send(&party, 1, "key-died", b"committed then died"));
    assert_eq!(
        completed, committed,
        "replica 1's transaction, not a new one"
    );
    assert_eq!(party.stored(), before + 1, "no second transaction");
    assert!(readable(&party.replicas[1].q2t(), &completed));
    let at_peer = Request::new("GET", &format!("/transaction/{}", path_escape(&completed)))
        .header("Accept", "application/json")
        .send(&party.peer.q2t());
    assert_eq!(
        at_peer.status,
        200,
        "the peer got the push: {}",
        at_peer.text()
    );
    assert_eq!(
        b64::decode(at_peer.json()["payload"].as_str().unwrap()).unwrap(),
        b"committed then died"
    );
}
