//! TLS on both sides of the gateway. `https://` and `wss://` upstreams: scripted nodes behind
//! real TLS fronts, trusted through the upstream's CA file; a node whose certificate the file
//! does not vouch for is ejected with the reason, and nothing is ever sent to it in clear. And
//! the gateway's own TLS listener (`tls`), for `https://` and `wss://` clients.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use cloister_gateway::settings::ListenerTls;
use cloister_gateway::{Gateway, GatewayError, Mode};
use cloister_harness::http::{eventually, Request};
use cloister_harness::tls::{self, Signer, TestCa};
use cloister_tls::material::Origin;
use cloister_tls::upstream::{self, Roots};
use common::{Running, Scripted, TlsFront};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Two scripted nodes, each behind its own TLS front, and a gateway that reaches them at
/// `https://localhost:<front>` with `ca=<file>`. Node `b`'s front presents a certificate the
/// file does not hold when `b_untrusted` is set.
struct TlsPair {
    gateway: Running,
    nodes: Vec<Scripted>,
    fronts: Vec<TlsFront>,
    _dir: tempfile::TempDir,
}

fn tls_pair(mode: Mode, b_untrusted: bool) -> TlsPair {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::in_dir(&dir.path().join("ca"));
    let trusted = ca.leaf("node", "node", Signer::Ca);
    let other_ca = TestCa::in_dir(&dir.path().join("other-ca"));
    let stranger = other_ca.leaf("stranger", "node", Signer::Ca);
    let ca_file = ca.file.clone();
    let runtime = common::upstream_runtime();
    let nodes: Vec<Scripted> = ["a", "b"]
        .iter()
        .map(|name| Scripted::start(runtime, name, 10))
        .collect();
    let fronts: Vec<TlsFront> = nodes
        .iter()
        .enumerate()
        .map(|(index, node)| {
            let certificate = if b_untrusted && index == 1 {
                &stranger
            } else {
                &trusted
            };
            TlsFront::start(runtime, node.address, certificate)
        })
        .collect();
    let urls: Vec<String> = fronts
        .iter()
        .map(|front| {
            format!(
                "https://localhost:{},ca={}",
                front.address.port(),
                ca_file.display()
            )
        })
        .collect();
    TlsPair {
        gateway: Running::start(common::settings(mode, &urls)),
        nodes,
        fronts,
        _dir: dir,
    }
}

#[test]
fn https_upstreams_are_reached_through_their_ca_file() {
    let pair = tls_pair(Mode::Balanced, false);
    pair.gateway.assert_reads_reach_both();
    // Byte for byte through TLS, as over plain HTTP.
    let answer = pair.gateway.call("eth_chainId", json!([]));
    assert!(
        answer["result"].as_str().unwrap().ends_with(":eth_chainId"),
        "{answer}"
    );
}

#[test]
fn a_node_the_ca_file_does_not_vouch_for_is_ejected_with_the_reason_and_never_sent_a_call() {
    let pair = tls_pair(Mode::Balanced, true);
    pair.gateway.await_health(1, false);
    // Same subject as the trusted certificate, other key: the signature gives it away.
    pair.gateway
        .assert_reason(1, "invalid peer certificate: BadSignature");
    for _ in 0..6 {
        let answer = pair.gateway.call("eth_chainId", json!([]));
        assert_eq!(answer["result"], "a:eth_chainId", "{answer}");
    }
    assert_eq!(pair.nodes[1].received.lock().unwrap().len(), 0);
}

#[test]
fn when_a_tls_node_stops_answering_calls_fail_over_to_the_other() {
    let pair = tls_pair(Mode::PrimaryBackup, false);
    pair.gateway.await_health(0, true);
    pair.gateway.await_health(1, true);
    assert_eq!(
        pair.gateway.result("eth_chainId", json!([])),
        "a:eth_chainId"
    );
    pair.fronts[0].stop();
    pair.nodes[0]
        .down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(eventually(Duration::from_secs(10), || {
        pair.gateway.call("eth_chainId", json!([]))["result"] == "b:eth_chainId"
    }));
    pair.gateway.await_health(0, false);
}

#[test]
fn wss_client_connections_reach_a_wss_node() {
    let pair = tls_pair(Mode::PrimaryBackup, false);
    pair.gateway.await_health(0, true);
    let url = format!("ws://{}/", pair.gateway.address());
    let answer: Value = pair.gateway.runtime().block_on(async {
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let call = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []});
        socket.send(Message::text(call.to_string())).await.unwrap();
        next_text(&mut socket).await
    });
    assert_eq!(answer["result"], "a:eth_chainId", "{answer}");
    let upgraded = pair.nodes[0].received.lock().unwrap().len();
    assert!(upgraded > 0, "the wss node saw the call");
}

#[test]
fn a_missing_ca_file_refuses_start_naming_it() {
    let mut settings = common::settings(
        Mode::Balanced,
        &["https://localhost:1,ca=/nonexistent/ca.pem".to_owned()],
    );
    settings.listen = "127.0.0.1:0".parse().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let error = runtime
        .block_on(Gateway::start(settings))
        .err()
        .expect("the gateway refuses to start");
    assert!(matches!(error, GatewayError::UpstreamTls { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("caFile (/nonexistent/ca.pem)"),
        "{message}"
    );
}

/// A gateway with a certificate from a test CA, in front of one scripted node, and a client
/// that trusts the CA.
struct Certified {
    ca: TestCa,
    pem: cloister_harness::tls::Pem,
    gateway: Running,
    client: std::sync::Arc<rustls::ClientConfig>,
    _node: Scripted,
}

impl Certified {
    fn start(dir: &std::path::Path) -> Self {
        let ca = TestCa::in_dir(&dir.join("ca"));
        let pem = ca.leaf("gateway", "gateway", Signer::Ca);
        let node = Scripted::start(common::upstream_runtime(), "a", 10);
        let mut settings = common::settings(Mode::PrimaryBackup, &[node.url()]);
        settings.tls = Some(ListenerTls {
            certificate_file: pem.certificate.clone(),
            key_file: pem.key.clone(),
        });
        let gateway = Running::start(settings);
        let client =
            upstream::client_config(&Roots::CaFile(Origin::new("ca", &ca.file)), None).unwrap();
        Self {
            ca,
            pem,
            gateway,
            client,
            _node: node,
        }
    }
}

#[test]
fn a_gateway_with_a_certificate_serves_https_and_wss_and_answers_plain_http_with_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Certified {
        gateway,
        client,
        _node,
        ..
    } = Certified::start(dir.path());
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []});
    let https = || {
        Request::new("POST", "/")
            .json(&call)
            .send_tls(gateway.address(), &client)
    };
    let answer = https();
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["result"], "a:eth_chainId");

    // A plaintext client gets no HTTP answer, and the gateway goes on serving TLS.
    let plain = Request::new("POST", "/")
        .json(&call)
        .try_send(&gateway.endpoint(), None);
    assert!(
        plain.is_err(),
        "a plaintext request was answered: {plain:?}"
    );
    assert_eq!(https().status, 200);

    // WebSocket over the same TLS listener (wss://), answered by the node.
    let url = format!("wss://localhost:{}/", gateway.address().port());
    let answer: Value = gateway.runtime().block_on(async {
        let tls = tokio_tungstenite::Connector::Rustls(client.clone());
        let (mut socket, _) =
            tokio_tungstenite::connect_async_tls_with_config(url, None, false, Some(tls))
                .await
                .unwrap();
        socket.send(Message::text(call.to_string())).await.unwrap();
        next_text(&mut socket).await
    });
    assert_eq!(answer["result"], "a:eth_chainId", "{answer}");
}

#[test]
fn reloading_gives_new_handshakes_the_renewed_certificate_and_its_expiry_and_keeps_established_connections(
) {
    let dir = tempfile::tempdir().unwrap();
    let Certified {
        ca,
        pem,
        gateway,
        client,
        _node,
    } = Certified::start(dir.path());
    let kept = tls::kept_connection(gateway.address(), &client);
    assert_eq!(tls::presented(&kept), pem.fingerprint());
    // `/metrics` (over the same TLS listener) says when the presented certificate expires.
    let expiry = || {
        let metrics = Request::new("GET", "/metrics").send_tls(gateway.address(), &client);
        tls::front_certificate_expiry(&metrics.text(), "gateway", gateway.address().port())
    };
    let first = pem.not_after();
    assert_eq!(expiry(), Some(first));

    // Files that do not load change nothing.
    std::fs::write(&pem.key, "not a key").unwrap();
    assert!(gateway.gateway().reload_tls().is_err());
    assert_eq!(expiry(), Some(first));
    let renewed = ca.leaf("gateway-renewed", "gateway", Signer::CaExpiringIn(90));
    let second = renewed.not_after();
    let now = std::time::UNIX_EPOCH.elapsed().unwrap().as_secs() as i64;
    assert!((now + 89 * 86_400..=now + 90 * 86_400).contains(&second));
    assert_ne!(second, first);
    std::fs::copy(&renewed.certificate, &pem.certificate).unwrap();
    std::fs::copy(&renewed.key, &pem.key).unwrap();
    assert!(gateway.gateway().reload_tls().unwrap());
    let fresh = tls::kept_connection(gateway.address(), &client);
    assert_eq!(tls::presented(&fresh), renewed.fingerprint());
    assert_eq!(expiry(), Some(second));
    // The connection made before still carries calls.
    let mut kept = kept;
    let call = br#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        call.len()
    );
    kept.write_all(request.as_bytes()).unwrap();
    kept.write_all(call).unwrap();
    let mut answer = [0u8; 512];
    let read = kept.read(&mut answer).unwrap();
    assert!(
        answer[..read].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer[..read])
    );
}

#[test]
fn a_gateway_certificate_that_cannot_be_loaded_refuses_start_naming_the_member() {
    let mut settings = common::settings(Mode::Balanced, &["http://127.0.0.1:1".to_owned()]);
    settings.tls = Some(ListenerTls {
        certificate_file: "/nonexistent/gateway.crt".into(),
        key_file: "/nonexistent/gateway.key".into(),
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let error = runtime
        .block_on(Gateway::start(settings))
        .err()
        .expect("the gateway refuses to start");
    assert!(matches!(error, GatewayError::ListenerTls(_)), "{error}");
    assert!(error.to_string().contains("tls.keyFile"), "{error}");
}

/// The next text message of `socket`, as JSON.
async fn next_text<S>(socket: &mut tokio_tungstenite::WebSocketStream<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}
