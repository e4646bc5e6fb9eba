//! `cloister node` processes with `sslConfig` `tls: STRICT` on their P2P servers: every trust
//! mode on the server side (judging the harness's client certificates) and on the client side
//! (judging the peers it calls), known-hosts files in Tessera's format written and read back,
//! a three-node mutual-TLS network in CA mode, a CA-mode server with a TOFU client, the
//! discovery identity rule, and bad input on a TLS port. Certificates come from the harness's
//! test CA (rcgen), made afresh by each test.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloister_core::b64;
use cloister_core::keys::PublicKey;
use cloister_core::partyinfo::PartyInfo;
use cloister_harness::http::{eventually, path_escape, Request};
use cloister_harness::nodes::{NodeDir, RunningNode};
use cloister_harness::tls::{self, anonymous_client, Pem, Signer, TestCa};
use serde_json::{json, Value};

const DISCOVERY: Duration = Duration::from_secs(20);

/// A P2P `sslConfig` for `node`: `pem` on both sides, these trust modes, the test CA as trust
/// material and known-hosts files in the node's directory.
fn ssl_config(node: &NodeDir, pem: &Pem, ca: &Path, server_mode: &str, client_mode: &str) -> Value {
    tls::ssl_config(&node.dir, pem, ca, server_mode, client_mode)
}

fn known_clients(node: &NodeDir) -> PathBuf {
    node.dir.join("knownClients")
}

fn known_servers(node: &NodeDir) -> PathBuf {
    node.dir.join("knownServers")
}

/// A node whose P2P server speaks TLS: the harness reaches it presenting `harness` (or
/// `pem` itself when `None`).
fn tls_node(root: &Path, name: &str, harness: &Pem) -> NodeDir {
    let mut node = NodeDir::new(root, name);
    node.p2p_tls = Some(harness.client());
    node
}

/// `node`'s Tessera config with these peers and `ssl` on its P2P server.
fn config_with(node: &NodeDir, peers: &[&NodeDir], ssl: Value, p2p_properties: Value) -> Value {
    tls::with_p2p_ssl(node.config(peers, json!({})), ssl, p2p_properties)
}

fn upcheck(node: &NodeDir, client: &Arc<rustls::ClientConfig>) -> std::io::Result<u16> {
    Request::new("GET", "/upcheck")
        .try_send_tls(node.p2p, client)
        .map(|r| r.status)
}

fn accepts(node: &NodeDir, client: &Arc<rustls::ClientConfig>) -> bool {
    upcheck(node, client).is_ok_and(|status| status == 200)
}

fn learns(node: &NodeDir, other: &NodeDir) -> bool {
    eventually(DISCOVERY, || node.known_keys().contains(&other.public_key))
}

fn send(from: &NodeDir, payload: &[u8], to: &[&NodeDir]) -> String {
    let to: Vec<&str> = to.iter().map(|n| n.public_key.as_str()).collect();
    let sent = Request::new("POST", "/send")
        .json(&json!({ "payload": b64::encode(payload), "to": to }))
        .send(&from.q2t());
    assert_eq!(sent.status, 201, "{}: {}", from.name, sent.text());
    sent.json()["key"].as_str().unwrap().to_owned()
}

fn read(node: &NodeDir, key: &str) -> (u16, Vec<u8>) {
    let response =
        Request::new("GET", &format!("/transaction/{}", path_escape(key))).send(&node.q2t());
    let payload = if response.status == 200 {
        b64::decode(response.json()["payload"].as_str().unwrap()).unwrap()
    } else {
        Vec::new()
    };
    (response.status, payload)
}

fn use_binary() {
    cloister_harness::nodes::use_binary(env!("CARGO_BIN_EXE_cloister"));
}

#[test]
fn server_trust_modes_accept_and_refuse_client_certificates() {
    use_binary();
    let root = tempfile::tempdir().unwrap();
    let certs = TestCa::in_dir(&root.path().join("certificates"));
    let ca_client = certs.leaf("ca-client", "ca-client", Signer::Ca);
    let expired_client = certs.leaf("expired-client", "ca-client", Signer::CaExpired);
    let stranger = certs.leaf("stranger", "stranger", Signer::SelfSigned);
    let listed = certs.leaf("listed", "listed-client", Signer::SelfSigned);
    let first = certs.leaf("tofu-first", "tofu-client", Signer::SelfSigned);
    let changed = certs.leaf("tofu-changed", "tofu-client", Signer::SelfSigned);
    let other_ca = TestCa::in_dir(&root.path().join("other-ca"));
    let foreign = other_ca.leaf("foreign", "ca-client", Signer::Ca);

    let start = |name: &str, mode: &str, harness: &Pem, setup: &dyn Fn(&NodeDir)| {
        let node = tls_node(root.path(), name, harness);
        let own = certs.leaf(name, name, Signer::Ca);
        setup(&node);
        let ssl = ssl_config(&node, &own, &certs.file, mode, "NONE");
        let config = config_with(&node, &[], ssl, json!({}));
        let running = node.start(&config, &[]);
        (node, running, config)
    };

    // NONE: any certificate, but a certificate there must be (clientAuth defaults to true).
    let (none, _none, _) = start("none", "NONE", &stranger, &|_| {});
    assert!(accepts(&none, &stranger.client()));
    assert!(accepts(&none, &expired_client.client()));
    assert!(
        !accepts(&none, &anonymous_client()),
        "a client without a certificate got in"
    );

    // WHITELIST: only what the known-clients file lists, with that fingerprint.
    let (whitelist, _whitelist, _) = start("whitelist", "WHITELIST", &listed, &|node| {
        std::fs::write(
            known_clients(node),
            format!("listed-client {}\n", listed.fingerprint()),
        )
        .unwrap();
    });
    assert!(accepts(&whitelist, &listed.client()));
    assert!(
        !accepts(&whitelist, &stranger.client()),
        "an unknown client got in"
    );

    // CA: signed by the CA and in date.
    let (ca, _ca, _) = start("ca", "CA", &ca_client, &|_| {});
    assert!(accepts(&ca, &ca_client.client()));
    assert!(
        !accepts(&ca, &stranger.client()),
        "a self-signed client got in"
    );
    assert!(
        !accepts(&ca, &foreign.client()),
        "a client of another CA got in"
    );
    assert!(
        !accepts(&ca, &expired_client.client()),
        "an expired client got in"
    );

    // TOFU: the first certificate of a CN is recorded in Tessera's format; another one with
    // that CN is refused, also after a restart (the file is read back).
    let (tofu, mut tofu_run, tofu_config) = start("tofu", "TOFU", &first, &|_| {});
    assert!(accepts(&tofu, &first.client()));
    assert!(
        !accepts(&tofu, &changed.client()),
        "a changed certificate got in under TOFU"
    );
    let recorded = format!("tofu-client {}\n", first.fingerprint());
    assert_eq!(
        std::fs::read_to_string(known_clients(&tofu)).unwrap(),
        recorded
    );
    tofu_run.kill();
    let _tofu_run = tofu.start(&tofu_config, &[]);
    assert!(accepts(&tofu, &first.client()));
    assert!(!accepts(&tofu, &changed.client()));
    assert!(
        accepts(&tofu, &stranger.client()),
        "a new CN is trusted on first use"
    );
    assert_eq!(
        std::fs::read_to_string(known_clients(&tofu)).unwrap(),
        format!("{recorded}stranger {}\n", stranger.fingerprint())
    );

    // CA_OR_TOFU: the CA's certificates pass unrecorded; others go through TOFU.
    let (either, _either, _) = start("either", "CA_OR_TOFU", &ca_client, &|_| {});
    assert!(accepts(&either, &ca_client.client()));
    assert!(accepts(&either, &first.client()));
    assert!(!accepts(&either, &changed.client()));
    assert_eq!(
        std::fs::read_to_string(known_clients(&either)).unwrap(),
        recorded,
        "only the TOFU certificate is recorded"
    );

    // Every refusal left its node up and answering.
    for (node, client) in [
        (&none, stranger.client()),
        (&whitelist, listed.client()),
        (&ca, ca_client.client()),
        (&either, ca_client.client()),
    ] {
        assert!(accepts(node, &client), "{} stopped answering", node.name);
    }
}

/// A server node (P2P over TLS, trusting any client) presenting `pem`.
fn server_node(root: &Path, certs: &TestCa, name: &str, pem: &Pem) -> (NodeDir, RunningNode) {
    let node = tls_node(root, name, pem);
    let ssl = ssl_config(&node, pem, &certs.file, "NONE", "NONE");
    let running = node.start(&config_with(&node, &[], ssl, json!({})), &[]);
    (node, running)
}

/// Whether `log` says the handshake with `server` failed for `reason`.
fn refused_for(log: &str, server: &NodeDir, reason: &str) -> bool {
    log.contains(&format!(
        "TLS handshake with {} failed ({reason})",
        server.p2p
    ))
}

#[test]
fn client_trust_modes_accept_and_refuse_server_certificates() {
    use_binary();
    let root = tempfile::tempdir().unwrap();
    let certs = TestCa::in_dir(&root.path().join("certificates"));
    let signed = certs.leaf("signed", "signed", Signer::Ca);
    let self_signed = certs.leaf("self-signed", "self-signed", Signer::SelfSigned);
    let expired = certs.leaf("expired", "expired", Signer::CaExpired);
    let recorded = certs.leaf("recorded", "recorded", Signer::SelfSigned);
    let changed = certs.leaf("changed", "changed", Signer::SelfSigned);
    let (signed_node, _s) = server_node(root.path(), &certs, "b-signed", &signed);
    let (self_node, _ss) = server_node(root.path(), &certs, "b-self", &self_signed);
    let (expired_node, _e) = server_node(root.path(), &certs, "b-expired", &expired);
    let (recorded_node, _r) = server_node(root.path(), &certs, "b-recorded", &recorded);
    let (changed_node, _c) = server_node(root.path(), &certs, "b-changed", &changed);

    // One client node per mode, calling some of the servers.
    let client = |name: &str, mode: &str, peers: &[&NodeDir], setup: &dyn Fn(&NodeDir)| {
        let own = certs.leaf(name, name, Signer::Ca);
        let node = tls_node(root.path(), name, &own);
        setup(&node);
        let ssl = ssl_config(&node, &own, &certs.file, "NONE", mode);
        let mut config = config_with(&node, peers, ssl, json!({}));
        // Only the servers named here: what it records must not depend on what the servers
        // learnt from the other client nodes.
        config["disablePeerDiscovery"] = json!(true);
        let running = node.start(&config, &[]);
        (node, running)
    };
    let log_says = |running: &RunningNode, server: &NodeDir, reason: &str| {
        eventually(DISCOVERY, || {
            refused_for(&running.log_text(), server, reason)
        })
    };

    // CA: the CA's in-date certificate only.
    let (ca, ca_run) = client(
        "a-ca",
        "CA",
        &[&signed_node, &self_node, &expired_node],
        &|_| {},
    );
    assert!(learns(&ca, &signed_node), "{}", ca_run.log_text());
    assert!(
        log_says(&ca_run, &self_node, "untrusted"),
        "{}",
        ca_run.log_text()
    );
    assert!(
        log_says(&ca_run, &expired_node, "expired"),
        "{}",
        ca_run.log_text()
    );
    assert!(!ca.known_keys().contains(&self_node.public_key));
    assert!(!ca.known_keys().contains(&expired_node.public_key));

    // TOFU: a new CN is recorded in Tessera's format; a CN on file (a file Tessera wrote)
    // with another fingerprint is refused.
    let stale = "changed 0123456789abcdef0123456789abcdef01234567\n";
    let (tofu, tofu_run) = client(
        "a-tofu",
        "TOFU",
        &[&recorded_node, &changed_node],
        &|node| {
            std::fs::write(known_servers(node), stale).unwrap();
        },
    );
    assert!(learns(&tofu, &recorded_node), "{}", tofu_run.log_text());
    assert!(
        log_says(&tofu_run, &changed_node, "fingerprint changed"),
        "{}",
        tofu_run.log_text()
    );
    assert_eq!(
        std::fs::read_to_string(known_servers(&tofu)).unwrap(),
        format!("{stale}recorded {}\n", recorded.fingerprint())
    );

    // WHITELIST: only what the known-servers file lists.
    let (whitelist, whitelist_run) = client(
        "a-whitelist",
        "WHITELIST",
        &[&recorded_node, &self_node],
        &|node| {
            std::fs::write(
                known_servers(node),
                format!("recorded {}\n", recorded.fingerprint()),
            )
            .unwrap();
        },
    );
    assert!(
        learns(&whitelist, &recorded_node),
        "{}",
        whitelist_run.log_text()
    );
    assert!(
        log_says(&whitelist_run, &self_node, "untrusted"),
        "{}",
        whitelist_run.log_text()
    );

    // NONE: anything, expired included. CA_OR_TOFU: the CA's unrecorded, others recorded.
    let (none, none_run) = client("a-none", "NONE", &[&expired_node, &self_node], &|_| {});
    assert!(learns(&none, &expired_node), "{}", none_run.log_text());
    assert!(learns(&none, &self_node), "{}", none_run.log_text());
    let (either, either_run) = client(
        "a-either",
        "CA_OR_TOFU",
        &[&signed_node, &self_node],
        &|_| {},
    );
    assert!(learns(&either, &signed_node), "{}", either_run.log_text());
    assert!(learns(&either, &self_node), "{}", either_run.log_text());
    assert_eq!(
        std::fs::read_to_string(known_servers(&either)).unwrap(),
        format!("self-signed {}\n", self_signed.fingerprint())
    );
}

#[test]
fn three_nodes_with_mutual_tls_in_ca_mode() {
    use_binary();
    let root = tempfile::tempdir().unwrap();
    let certs = TestCa::in_dir(&root.path().join("certificates"));
    let nodes: Vec<(NodeDir, Pem)> = ["a", "b", "c"]
        .into_iter()
        .map(|name| {
            let pem = certs.leaf(name, &format!("node-{name}"), Signer::Ca);
            (tls_node(root.path(), name, &pem), pem)
        })
        .collect();
    let [(a, a_pem), (b, b_pem), (c, c_pem)] = &nodes[..] else {
        unreachable!()
    };
    let config = |node: &NodeDir, pem: &Pem, peers: &[&NodeDir]| {
        let ssl = ssl_config(node, pem, &certs.file, "CA", "CA");
        config_with(node, peers, ssl, json!({}))
    };
    let a_config = config(a, a_pem, &[b]);
    let mut a_run = a.start(&a_config, &[]);
    let _b = b.start(&config(b, b_pem, &[a]), &[]);
    // C knows only B: it learns A through B, over TLS all the way.
    let _c = c.start(&config(c, c_pem, &[b]), &[]);
    assert!(learns(a, b), "{}", a_run.log_text());
    assert!(learns(c, a), "C never learnt A's key through B");
    assert!(a.known_keys().iter().all(|k| !k.is_empty()));
    let partyinfo = Request::new("GET", "/partyinfo")
        .send_tls(b.p2p, a.p2p_tls.as_ref().unwrap())
        .json();
    assert!(
        partyinfo["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["url"] == format!("https://{}/", a.p2p)),
        "B credits A's key to its https URL: {partyinfo}"
    );

    // Sends in every direction.
    let ab = send(a, b"a to b", &[b]);
    let ca = send(c, b"c to a", &[a]);
    let bc = send(b, b"b to a and c", &[a, c]);
    assert_eq!(read(b, &ab), (200, b"a to b".to_vec()));
    assert_eq!(read(a, &ca), (200, b"c to a".to_vec()));
    assert_eq!(read(c, &bc), (200, b"b to a and c".to_vec()));
    assert_eq!(read(c, &ab).0, 404);

    // Privacy groups: created on A, shared with B over TLS, used to address a transaction.
    let created = Request::new("POST", "/createPrivacyGroup")
        .json(&json!({ "addresses": [a.public_key, b.public_key], "name": "ab", "description": "A and B" }))
        .send(&a.q2t());
    assert_eq!(created.status, 200, "{}", created.text());
    let id = created.json()["privacyGroupId"]
        .as_str()
        .unwrap()
        .to_owned();
    let retrieved = Request::new("POST", "/retrievePrivacyGroup")
        .json(&json!({ "privacyGroupId": id }))
        .send(&b.q2t());
    assert_eq!(retrieved.status, 200, "{}", retrieved.text());
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
    let group_tx = to_group.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(read(b, &group_tx), (200, b"group tx".to_vec()));

    // Recovery: A loses its store and gets every transaction back from B and C over TLS.
    a_run.kill();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(a.dir.join(format!("db.sqlite{suffix}")));
    }
    // Recovery asks the nodes it knows once its configured peers are known: configure C too,
    // or whether C's transaction comes back depends on when A relearns C through B.
    let a_config = config(a, a_pem, &[b, c]);
    let (code, log) = a.run_to_exit(&a_config, &["--recover"], Duration::from_secs(60));
    assert_eq!(code, Some(0), "recovery failed: {log}");
    assert!(log.contains("failed=0"), "{log}");
    let _a_again = a.start(&a_config, &[]);
    for (key, payload) in [
        (&ab, &b"a to b"[..]),
        (&ca, b"c to a"),
        (&bc, b"b to a and c"),
        (&group_tx, b"group tx"),
    ] {
        assert_eq!(read(a, key), (200, payload.to_vec()), "{key}");
    }
}

#[test]
fn a_ca_mode_server_talks_to_a_tofu_client() {
    use_binary();
    let root = tempfile::tempdir().unwrap();
    let certs = TestCa::in_dir(&root.path().join("certificates"));
    let a_pem = certs.leaf("a", "node-a", Signer::Ca);
    let b_pem = certs.leaf("b", "node-b", Signer::Ca);
    let a = tls_node(root.path(), "a", &a_pem);
    let b = tls_node(root.path(), "b", &b_pem);
    // A trusts on first use both ways; B demands the CA both ways.
    let a_ssl = ssl_config(&a, &a_pem, &certs.file, "TOFU", "TOFU");
    let b_ssl = ssl_config(&b, &b_pem, &certs.file, "CA", "CA");
    let a_run = a.start(&config_with(&a, &[&b], a_ssl, json!({})), &[]);
    let b_run = b.start(&config_with(&b, &[&a], b_ssl, json!({})), &[]);
    assert!(learns(&a, &b), "{}", a_run.log_text());
    assert!(learns(&b, &a), "{}", b_run.log_text());
    let ab = send(&a, b"to the CA node", &[&b]);
    let ba = send(&b, b"to the TOFU node", &[&a]);
    assert_eq!(read(&b, &ab), (200, b"to the CA node".to_vec()));
    assert_eq!(read(&a, &ba), (200, b"to the TOFU node".to_vec()));
    // A recorded B as a server (its client) and as a client (its server), in Tessera's format
    // (its known clients also hold the harness's certificate, recorded when A started).
    let line = format!("node-b {}\n", b_pem.fingerprint());
    assert_eq!(std::fs::read_to_string(known_servers(&a)).unwrap(), line);
    let clients = std::fs::read_to_string(known_clients(&a)).unwrap();
    assert!(
        clients.lines().any(|l| format!("{l}\n") == line),
        "{clients}"
    );
}

#[test]
fn a_partyinfo_for_a_url_the_client_certificate_does_not_name_is_refused() {
    use_binary();
    let root = tempfile::tempdir().unwrap();
    let certs = TestCa::in_dir(&root.path().join("certificates"));
    let b_pem = certs.leaf("b", "node-b", Signer::Ca);
    let b = tls_node(root.path(), "b", &b_pem);
    let ssl = ssl_config(&b, &b_pem, &certs.file, "CA", "CA");
    let _b = b.start(&config_with(&b, &[], ssl, json!({})), &[]);

    // A CA-signed client whose certificate names another host only, speaking for a URL on
    // 127.0.0.1 (any node of this machine's) with a key it claims.
    let impostor = certs.leaf_naming("impostor", "node-x", &["node-x.example"], Signer::Ca);
    let victim_url = format!(
        "https://127.0.0.1:{}/",
        cloister_harness::nodes::free_port()
    );
    let claimed = PublicKey::from_bytes([7; 32]);
    let info = PartyInfo::new(
        &victim_url,
        [(claimed, victim_url.clone())],
        [victim_url.clone()],
    );
    let post = |client: &Arc<rustls::ClientConfig>| {
        Request::new("POST", "/partyinfo")
            .body_with_type("application/octet-stream", info.encode())
            .try_send_tls(b.p2p, client)
            .unwrap()
    };
    let refused = post(&impostor.client());
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(
        refused.text().contains(&victim_url) && refused.text().contains("node-x"),
        "{}",
        refused.text()
    );
    // Nothing was recorded: no key, no party.
    let partyinfo = Request::new("GET", "/partyinfo")
        .send_tls(b.p2p, &b_pem.client())
        .json();
    assert_eq!(partyinfo["peers"], json!([]), "{partyinfo}");
    assert!(!b.known_keys().contains(&claimed.to_base64()));
}

#[test]
fn bad_input_on_a_tls_port_is_refused_and_the_node_stays_up() {
    use_binary();
    let root = tempfile::tempdir().unwrap();
    let certs = TestCa::in_dir(&root.path().join("certificates"));
    let pem = certs.leaf("a", "node-a", Signer::Ca);
    let a = tls_node(root.path(), "a", &pem);
    let ssl = ssl_config(&a, &pem, &certs.file, "CA", "CA");
    let header_timeout = Duration::from_millis(1000);
    let _a = a.start(
        &config_with(&a, &[], ssl, json!({ "headerTimeoutMs": "1000" })),
        &[],
    );
    let client = pem.client();

    // What the server sends back before closing, read until it closes or 10 s pass.
    let answer_to = |bytes: &[u8]| -> (Vec<u8>, Duration) {
        let mut stream = TcpStream::connect(a.p2p).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let started = Instant::now();
        stream.write_all(bytes).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        (answer, started.elapsed())
    };

    // A plaintext HTTP client gets no HTTP answer, and the connection is closed.
    let (answer, _) = answer_to(b"GET /upcheck HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
    assert!(accepts(&a, &client));

    // A TLS record header announcing a ClientHello, followed by garbage.
    let mut garbage = vec![0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c];
    garbage.extend((0u8..60).map(|i| i.wrapping_mul(37)));
    let (answer, elapsed) = answer_to(&garbage);
    assert!(elapsed < Duration::from_secs(5), "held for {elapsed:?}");
    assert!(!answer.starts_with(b"HTTP/"));
    assert!(accepts(&a, &client));

    // A truncated handshake: half a real ClientHello, then silence. The listener's
    // headerTimeoutMs closes it.
    let mut hello = Vec::new();
    let mut connection = rustls::ClientConnection::new(
        client.clone(),
        rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(),
    )
    .unwrap();
    connection.write_tls(&mut hello).unwrap();
    let (answer, elapsed) = answer_to(&hello[..hello.len() / 2]);
    assert!(answer.is_empty(), "{answer:?}");
    assert!(
        elapsed >= header_timeout - Duration::from_millis(100) && elapsed < Duration::from_secs(5),
        "closed after {elapsed:?}"
    );
    assert!(accepts(&a, &client), "the node stopped answering");
}

#[test]
fn a_wrong_keystore_password_stops_the_start_naming_the_member() {
    use_binary();
    let root = tempfile::tempdir().unwrap();
    let a = NodeDir::new(root.path(), "a");
    let store = a.dir.join("server.jks");
    cloister_tls::generate::generate_keystore(&store, "right", "https://127.0.0.1:9001").unwrap();
    let ssl = json!({
        "tls": "STRICT",
        "serverKeyStore": store, "serverKeyStorePassword": "wrong",
        "clientKeyStore": store, "clientKeyStorePassword": "right",
        "serverTrustMode": "NONE", "clientTrustMode": "NONE",
    });
    let (code, log) = a.run_to_exit(
        &config_with(&a, &[], ssl, json!({})),
        &[],
        Duration::from_secs(30),
    );
    assert_ne!(code, Some(0), "{log}");
    assert!(
        log.contains("serverConfigs[1].sslConfig") && log.contains("serverKeyStore"),
        "{log}"
    );
    assert!(!log.contains("wrong\""), "the password was printed: {log}");
}

#[test]
fn sighup_rotates_the_server_certificate_and_keeps_established_connections() {
    use_binary();
    let root = tempfile::tempdir().unwrap();
    let certs = TestCa::in_dir(&root.path().join("certificates"));
    let harness = certs.leaf("harness", "harness", Signer::Ca);
    let node = tls_node(root.path(), "rotating", &harness);
    let first = certs.leaf("rotating", "rotating", Signer::Ca);
    let first_fingerprint = first.fingerprint();
    let ssl = ssl_config(&node, &first, &certs.file, "CA", "CA");
    let running = node.start(&config_with(&node, &[], ssl, json!({})), &[]);
    let mut kept = tls::kept_connection(node.p2p, &harness.client());
    assert_eq!(tls::presented(&kept), first_fingerprint);
    assert!(tls::upcheck_on(&mut kept));

    // The operator replaces the files the config names, then sends SIGHUP.
    let second = certs.leaf("rotated", "rotating", Signer::Ca);
    std::fs::copy(&second.certificate, &first.certificate).unwrap();
    std::fs::copy(&second.key, &first.key).unwrap();
    assert!(cloister_harness::signal::send("HUP", &[running.pid()]));
    let rotated = eventually(Duration::from_secs(10), || {
        tls::presented(&tls::kept_connection(node.p2p, &harness.client())) == second.fingerprint()
    });
    assert!(
        rotated,
        "new handshakes never presented the new certificate"
    );
    assert!(
        tls::upcheck_on(&mut kept),
        "the connection made before the rotation was dropped"
    );
    assert!(accepts(&node, &harness.client()));
}

/// A TLS server standing for a peer: it asks every client for a certificate and accepts any,
/// never resumes a session (so every connection is a full handshake), answers 404 and closes.
/// It records the fingerprint of each client certificate presented.
fn recording_peer(pem: &Pem) -> (std::net::SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
    let identity = cloister_tls::material::load_pem_identity(
        &cloister_tls::material::Origin::new("key", &pem.key),
        &cloister_tls::material::Origin::new("certificate", &pem.certificate),
    )
    .unwrap();
    let suites = cloister_tls::config::cipher_suites(&[]).unwrap();
    let mut config = cloister_tls::config::server_config_from(
        &identity,
        cloister_tls::PeerTrust::none(),
        true,
        suites,
    )
    .unwrap();
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = seen.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
            let connection = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut stream = rustls::StreamOwned::new(connection, tcp);
            let mut head = [0u8; 4096];
            if stream.read(&mut head).is_err() {
                continue;
            }
            if let Some(leaf) = stream.conn.peer_certificates().and_then(|c| c.first()) {
                recorded
                    .lock()
                    .unwrap()
                    .push(cloister_tls::Fingerprint::of(leaf).to_hex());
            }
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            stream.conn.send_close_notify();
            let _ = stream.flush();
        }
    });
    (address, seen)
}

#[test]
fn the_p2p_client_presents_a_replaced_certificate_at_its_next_handshake_without_a_restart() {
    use_binary();
    let root = tempfile::tempdir().unwrap();
    let certs = TestCa::in_dir(&root.path().join("certificates"));
    let peer_pem = certs.leaf("peer", "peer", Signer::Ca);
    let (peer, seen) = recording_peer(&peer_pem);
    let harness = certs.leaf("harness", "harness", Signer::Ca);
    let node = tls_node(root.path(), "rotating-client", &harness);
    let first = certs.leaf("client", "rotating-client", Signer::Ca);
    let ssl = ssl_config(&node, &first, &certs.file, "CA", "CA");
    let mut config = config_with(&node, &[], ssl, json!({}));
    config["peer"] = json!([{ "url": format!("https://{peer}") }]);
    let _running = node.start(&config, &[]);
    let last = || seen.lock().unwrap().last().cloned();
    let first_fingerprint = first.fingerprint();
    assert!(
        eventually(Duration::from_secs(10), || last().as_deref()
            == Some(first_fingerprint.as_str())),
        "the node never presented its client certificate: {:?}",
        last()
    );

    // The operator replaces the files; no signal, no restart.
    let second = certs.leaf("client-2", "rotating-client", Signer::Ca);
    std::fs::copy(&second.certificate, &first.certificate).unwrap();
    std::fs::copy(&second.key, &first.key).unwrap();
    let second_fingerprint = second.fingerprint();
    assert!(
        eventually(Duration::from_secs(10), || last().as_deref()
            == Some(second_fingerprint.as_str())),
        "new handshakes never presented the new certificate: {:?}",
        last()
    );
}

#[test]
fn a_send_to_a_peer_whose_certificate_changed_fails_naming_the_peer_and_the_reason() {
    use_binary();
    let root = tempfile::tempdir().unwrap();
    let certs = TestCa::in_dir(&root.path().join("certificates"));
    let first = certs.leaf("b-first", "b", Signer::SelfSigned);
    let (b, mut b_running) = server_node(root.path(), &certs, "b", &first);
    let own = certs.leaf("a", "a", Signer::Ca);
    let a = tls_node(root.path(), "a", &own);
    let ssl = ssl_config(&a, &own, &certs.file, "NONE", "TOFU");
    let _a_running = a.start(&config_with(&a, &[&b], ssl, json!({})), &[]);
    assert!(learns(&a, &b));
    let key = send(&a, b"before the change", &[&b]);
    assert_eq!(read(&b, &key).0, 200);

    // B comes back on the same address with another certificate for the same CN.
    b_running.kill();
    let second = certs.leaf("b-second", "b", Signer::SelfSigned);
    let ssl = ssl_config(&b, &second, &certs.file, "NONE", "NONE");
    let _b_again = b.start(&config_with(&b, &[], ssl, json!({})), &[]);
    let to = [b.public_key.as_str()];
    let sent = Request::new("POST", "/send")
        .json(&json!({ "payload": b64::encode(b"after the change"), "to": to }))
        .send(&a.q2t());
    let text = sent.text();
    // 410, as Tessera answers a push that cannot reach its node (NodeOfflineException).
    assert_eq!(sent.status, 410, "{text}");
    assert!(
        text.contains(&b.p2p.to_string()) && text.contains("fingerprint changed"),
        "the answer names the peer and the reason: {text}"
    );
}
