//! GoQuorum's conversation with its privacy manager, replayed byte for byte against real
//! `cloister node` processes (goquorum-client.md §1.4, §2 and §7): the start-up handshake (twice,
//! as GoQuorum ≥ 21.10 does), the headers and media types of API levels 2.0, 2.1, 3.0 and 4.0,
//! Go's JSON (trailing newline, `null` slices, omitted `from`/`execHash`), `%2F`-escaped
//! hashes, `Host: c` over the unix socket, and the enhanced-privacy flows.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cloister_addr::Endpoint;
use cloister_core::b64;
use cloister_harness::http::{eventually, path_escape, Request, Response};
use cloister_harness::nodes::two_node_dirs;
use serde_json::{json, Value};

const USER_AGENT: &str = "quorum-v24.4.1";
const GO_USER_AGENT: &str = "Go-http-client/1.1";
const JSON: &str = "application/json";
const V2_1: &str = "application/vnd.tessera-2.1+json";
const V3_0: &str = "application/vnd.tessera-3.0+json";
const V4_0: &str = "application/vnd.tessera-4.0+json";
/// GoQuorum's fixture merkle root, an opaque string the PM must return unchanged.
const EXEC_HASH: &str = "AAAAAAAAAAAAAAAAAGFyYml0cmFyeSByb290IGhhc2g=";

/// A JSON call as GoQuorum's `submitJSON` makes it.
fn go_json_on(
    q2t: &Endpoint,
    method: &'static str,
    target: &str,
    media: &'static str,
    body: Option<&Value>,
) -> Response {
    let mut request = Request::new(method, target)
        .header("User-Agent", USER_AGENT)
        .header("Content-Type", media)
        .header("Accept", media);
    if let Some(body) = body {
        let mut bytes = serde_json::to_vec(body).unwrap();
        bytes.push(b'\n');
        request.body = bytes;
    }
    request.send(q2t)
}

fn plain(q2t: &Endpoint, target: &str) -> Response {
    Request::new("GET", target)
        .header("User-Agent", GO_USER_AGENT)
        .send(q2t)
}

/// GoQuorum's `sendRequest`: `to`, `affectedContractTransactions`, `privacyFlag` and
/// `mandatoryRecipients` always present (the last may be `null`); `from` and `execHash`
/// omitted when empty.
fn send_body(
    payload: &[u8],
    to: &[&str],
    affected: &[&str],
    flag: u8,
    exec_hash: &str,
    mandatory: Option<&[&str]>,
) -> Value {
    let mut body = json!({
        "payload": b64::encode(payload),
        "to": to,
        "affectedContractTransactions": affected,
        "privacyFlag": flag,
        "mandatoryRecipients": mandatory,
    });
    if !exec_hash.is_empty() {
        body["execHash"] = json!(exec_hash);
    }
    body
}

fn receive(q2t: &Endpoint, key: &str, media: &'static str) -> Response {
    go_json_on(
        q2t,
        "GET",
        &format!("/transaction/{}?isRaw=false", path_escape(key)),
        media,
        None,
    )
}

fn key_of(response: &Response) -> String {
    assert!(
        matches!(response.status, 200 | 201),
        "{} {}",
        response.status,
        response.text()
    );
    response.json()["key"].as_str().unwrap().to_owned()
}

#[test]
fn goquorum_conformance() {
    cloister_harness::nodes::use_binary(env!("CARGO_BIN_EXE_cloister"));
    let (_root, a, b) = two_node_dirs().unwrap();
    let mps = json!({
        "features": { "enablePrivacyEnhancements": true, "enableMultiplePrivateStates": true },
        "residentGroups": [ { "name": "private", "description": "default", "members": [a.public_key] } ]
    });
    let _a = a.start(&a.config(&[&b], mps), &[]);
    let _b = b.start(&b.config(&[&a], json!({})), &[]);
    assert!(eventually(Duration::from_secs(20), || a
        .known_keys()
        .contains(&b.public_key)));
    assert!(eventually(Duration::from_secs(20), || b
        .known_keys()
        .contains(&a.public_key)));
    let (qa, qb) = (a.q2t(), b.q2t());

    // Start-up handshake, twice; plain requests with Go's default headers.
    for _ in 0..2 {
        let up = plain(&qa, "/upcheck");
        assert_eq!((up.status, up.text().as_str()), (200, "I'm up!"));
        assert_eq!(plain(&qa, "/version").status, 200);
        let versions = plain(&qa, "/version/api");
        assert_eq!(
            versions.json(),
            json!(["1.0", "2.0", "2.1", "3.0", "4.0", "5.0"])
        );
    }
    // MPS start-up: /groups/resident with application/json.
    let groups = go_json_on(&qa, "GET", "/groups/resident", JSON, None);
    assert_eq!(groups.status, 200, "{}", groups.text());
    assert_eq!(groups.json()[0]["type"], "RESIDENT");
    assert_eq!(groups.json()[0]["members"], json!([a.public_key]));
    assert_eq!(
        b64::decode(groups.json()[0]["privacyGroupId"].as_str().unwrap()).unwrap(),
        b"private"
    );

    // Standard private sends at every API level; receive with the media types GoQuorum uses.
    for (send_media, receive_media) in [(JSON, JSON), (V2_1, V2_1), (V3_0, V3_0), (V4_0, V2_1)] {
        let body = send_body(b"contract", &[&b.public_key], &[], 0, "", None);
        let sent = go_json_on(&qa, "POST", "/send", send_media, Some(&body));
        assert_eq!(sent.status, 201, "{send_media}: {}", sent.text());
        assert_eq!(sent.header("content-type"), Some(send_media));
        let key = key_of(&sent);
        assert_eq!(key.len(), 88);
        let tenant = send_media != JSON;
        assert_eq!(
            sent.json().get("senderKey").is_some(),
            tenant,
            "{send_media}"
        );
        if tenant {
            assert_eq!(sent.json()["managedParties"], json!([a.public_key]));
        }
        for (node, q2t) in [(&a, &qa), (&b, &qb)] {
            let read = receive(q2t, &key, receive_media);
            assert_eq!(
                read.status,
                200,
                "{} {receive_media}: {}",
                node.name,
                read.text()
            );
            let read = read.json();
            assert_eq!(
                b64::decode(read["payload"].as_str().unwrap()).unwrap(),
                b"contract"
            );
            assert_eq!(read["execHash"], "");
            assert_eq!(read["privacyFlag"], 0);
            assert_eq!(read["affectedContractTransactions"], json!([]));
            assert_eq!(read.get("managedParties").is_some(), receive_media != JSON);
        }
    }

    // Party protection, then PSV with GoQuorum's opaque execHash, each affecting the last.
    let deploy = key_of(&go_json_on(
        &qa,
        "POST",
        "/send",
        V2_1,
        Some(&send_body(b"pp deploy", &[&b.public_key], &[], 1, "", None)),
    ));
    let call = key_of(&go_json_on(
        &qa,
        "POST",
        "/send",
        V2_1,
        Some(&send_body(
            b"pp call",
            &[&b.public_key],
            &[&deploy],
            1,
            "",
            None,
        )),
    ));
    let at_b = receive(&qb, &call, V2_1).json();
    assert_eq!(at_b["privacyFlag"], 1);
    assert_eq!(at_b["affectedContractTransactions"], json!([deploy]));
    let psv_deploy = key_of(&go_json_on(
        &qa,
        "POST",
        "/send",
        V2_1,
        Some(&send_body(
            b"psv",
            &[&b.public_key],
            &[],
            3,
            EXEC_HASH,
            None,
        )),
    ));
    for q2t in [&qa, &qb] {
        let read = receive(q2t, &psv_deploy, V2_1).json();
        assert_eq!(read["execHash"], EXEC_HASH);
        assert_eq!(read["privacyFlag"], 3);
    }
    let psv_call = go_json_on(
        &qb,
        "POST",
        "/send",
        V2_1,
        Some(&send_body(
            b"psv call",
            &[&a.public_key],
            &[&psv_deploy],
            3,
            EXEC_HASH,
            None,
        )),
    );
    assert_eq!(psv_call.status, 201, "{}", psv_call.text());
    // Privacy violations: a PSV call whose recipients differ from the affected contract's, and
    // a flag that differs from the affected contract's.
    let mismatch = go_json_on(
        &qa,
        "POST",
        "/send",
        V2_1,
        Some(&send_body(b"x", &[], &[&psv_deploy], 3, EXEC_HASH, None)),
    );
    assert_eq!(mismatch.status, 403, "{}", mismatch.text());
    assert!(
        mismatch
            .text()
            .starts_with("Recipients mismatched for Affected Txn"),
        "{}",
        mismatch.text()
    );
    let flag_mismatch = go_json_on(
        &qa,
        "POST",
        "/send",
        V2_1,
        Some(&send_body(
            b"x",
            &[&b.public_key],
            &[&deploy],
            3,
            EXEC_HASH,
            None,
        )),
    );
    assert_eq!(flag_mismatch.status, 403, "{}", flag_mismatch.text());
    let missing_exec = go_json_on(
        &qa,
        "POST",
        "/send",
        V2_1,
        Some(&send_body(b"x", &[&b.public_key], &[], 3, "", None)),
    );
    assert_eq!(missing_exec.status, 400);
    // A transaction B is not party to cannot be affected by B.
    let unknown = go_json_on(
        &qb,
        "POST",
        "/send",
        V2_1,
        Some(&send_body(b"x", &[&a.public_key], &["AAAA"], 1, "", None)),
    );
    assert_eq!(unknown.status, 403, "{}", unknown.text());

    // Mandatory recipients (4.0 only).
    let mandatory = [b.public_key.as_str()];
    let mr = go_json_on(
        &qa,
        "POST",
        "/send",
        V4_0,
        Some(&send_body(
            b"mr",
            &[&b.public_key],
            &[],
            2,
            "",
            Some(&mandatory),
        )),
    );
    let mr = key_of(&mr);
    let listed = plain(&qa, &format!("/transaction/{}/mandatory", path_escape(&mr)));
    assert_eq!((listed.status, listed.text()), (200, b.public_key.clone()));
    let not_mr = plain(
        &qa,
        &format!("/transaction/{}/mandatory", path_escape(&deploy)),
    );
    assert_eq!(not_mr.status, 400);
    let outside = go_json_on(
        &qa,
        "POST",
        "/send",
        V4_0,
        Some(&send_body(b"mr", &[], &[], 2, "", Some(&mandatory))),
    );
    assert_eq!(outside.status, 403, "{}", outside.text());

    // isSender and participants, plain text.
    let is_sender = |q2t: &Endpoint| {
        plain(
            q2t,
            &format!("/transaction/{}/isSender", path_escape(&deploy)),
        )
        .text()
    };
    assert_eq!(
        (is_sender(&qa).as_str(), is_sender(&qb).as_str()),
        ("true", "false")
    );
    let participants = plain(
        &qa,
        &format!("/transaction/{}/participants", path_escape(&deploy)),
    );
    assert_eq!(
        participants.text(),
        format!("{},{}", b.public_key, a.public_key)
    );

    // eth_fillTransaction / eth_sendRawPrivateTransaction on API < 2.0: storeraw, then the
    // octet-stream sendsignedtx that must answer exactly 200 with the base64 hash.
    let raw = key_of(&go_json_on(
        &qa,
        "POST",
        "/storeraw",
        JSON,
        Some(&json!({ "payload": b64::encode(b"signed") })),
    ));
    let signed = Request::new("POST", "/sendsignedtx")
        .header("User-Agent", GO_USER_AGENT)
        .header("C11n-To", b.public_key.clone())
        .body_with_type("application/octet-stream", b64::decode(&raw).unwrap())
        .send(&qa);
    assert_eq!((signed.status, signed.text()), (200, raw.clone()));
    assert_eq!(signed.header("tesserasender"), Some(a.public_key.as_str()));
    let raw_at_a = go_json_on(
        &qa,
        "GET",
        &format!("/transaction/{}?isRaw=true", path_escape(&raw)),
        V2_1,
        None,
    )
    .json();
    assert_eq!(raw_at_a["senderKey"], json!(a.public_key));
    assert_eq!(
        b64::decode(receive(&qb, &raw, V2_1).json()["payload"].as_str().unwrap()).unwrap(),
        b"signed"
    );

    // Contract extension: encodedpayload/create, then decrypt with only the six fields GoQuorum
    // re-marshals.
    let created = go_json_on(
        &qa,
        "POST",
        "/encodedpayload/create",
        V2_1,
        Some(&send_body(b"ext", &[], &[], 0, "", None)),
    );
    assert_eq!(created.status, 200, "{}", created.text());
    let created = created.json();
    let six: Value = [
        "senderKey",
        "cipherText",
        "cipherTextNonce",
        "recipientBoxes",
        "recipientNonce",
        "recipientKeys",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), created[k].clone()))
    .collect::<serde_json::Map<_, _>>()
    .into();
    let decrypted = go_json_on(&qa, "POST", "/encodedpayload/decrypt", V2_1, Some(&six));
    assert_eq!(decrypted.status, 200, "{}", decrypted.text());
    assert_eq!(
        b64::decode(decrypted.json()["payload"].as_str().unwrap()).unwrap(),
        b"ext"
    );

    // 404 only for "not stored"; a malformed hash is the client's error.
    let absent =
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAG5vdCBmb3VuZA==";
    assert_eq!(receive(&qa, absent, V2_1).status, 404);
    assert_eq!(
        go_json_on(
            &qa,
            "GET",
            "/transaction/not*base64?isRaw=false",
            V2_1,
            None
        )
        .status,
        400
    );
    // Hashes with `+`, `/` and `=` in every escaping form reach the same transaction.
    let with_slash = [&deploy, &call, &psv_deploy, &mr]
        .into_iter()
        .find(|k| k.contains('/'))
        .cloned();
    if let Some(key) = with_slash {
        for escaped in [
            key.replace('/', "%2F"),
            key.replace('/', "%2F")
                .replace('+', "%2B")
                .replace('=', "%3D"),
        ] {
            let read = go_json_on(&qa, "GET", &format!("/transaction/{escaped}"), V2_1, None);
            assert_eq!(read.status, 200, "{escaped}");
        }
    }
}
