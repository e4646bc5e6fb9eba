//! Privacy-path health: scripted nodes whose privacy paths are small real HTTP servers (one over
//! TCP answering `/health` like `cloister node`, one over a unix socket answering only
//! `/upcheck` like Tessera), switched off and on while private and public calls flow.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use cloister_gateway::Mode;
use common::{metric, settings, Running, Scripted};
use serde_json::{json, Value};

const INTERNAL_ERROR: i64 = -32603;

/// A privacy path: answers its health endpoint with `status` (a real HTTP server).
#[derive(Clone)]
struct PrivacyServer {
    status: Arc<AtomicU16>,
}

impl PrivacyServer {
    fn set(&self, status: StatusCode) {
        self.status.store(status.as_u16(), Ordering::SeqCst);
    }

    /// Answers GET `endpoint` with the current status, and 404 to everything else.
    fn router(&self, endpoint: &'static str) -> axum::Router {
        let status = self.status.clone();
        axum::Router::new().route(
            endpoint,
            axum::routing::get(move || {
                let status = status.load(Ordering::SeqCst);
                async move { StatusCode::from_u16(status).unwrap() }
            }),
        )
    }

    /// `cloister node` style over TCP: `/health` answers.
    fn tcp(runtime: &tokio::runtime::Runtime) -> (Self, String) {
        let server = Self {
            status: Arc::new(AtomicU16::new(200)),
        };
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = server.router("/health");
        runtime.spawn(async move { axum::serve(listener, app).await });
        (server, url)
    }

    /// Tessera style over a unix socket: no `/health` (404), `/upcheck` answers.
    fn unix(runtime: &tokio::runtime::Runtime, path: PathBuf) -> (Self, String) {
        let server = Self {
            status: Arc::new(AtomicU16::new(200)),
        };
        let _ = std::fs::remove_file(&path);
        let listener = {
            let _guard = runtime.enter();
            tokio::net::UnixListener::bind(&path).unwrap()
        };
        let app = server.router("/upcheck");
        runtime.spawn(async move { axum::serve(listener, app).await });
        (server, format!("unix:{}", path.display()))
    }
}

fn from(n: usize) -> String {
    format!("0x{n:040x}")
}

/// Sends a private `eth_sendTransaction` from each of `accounts` and gives who served each.
fn private_sends(gateway: &Running, accounts: std::ops::Range<usize>) -> Vec<Value> {
    accounts
        .map(|n| {
            gateway.result(
                "eth_sendTransaction",
                json!([{"from": from(n), "to": from(999), "privateFor": ["BULeR8JyUWhiuuCMU/HLA0Q5pzkYT+cHII3ZKBey3Bo="]}]),
            )
        })
        .collect()
}

/// Scripted nodes a and b at block 5, and the runtime they run on, for the privacy servers
/// too: leaked, as it must outlive the test's gateway (the test process ends soon after).
fn two_nodes() -> (&'static tokio::runtime::Runtime, [Scripted; 2]) {
    let runtime = Box::leak(Box::new(tokio::runtime::Runtime::new().unwrap()));
    let nodes = [
        Scripted::start(runtime, "a", 5),
        Scripted::start(runtime, "b", 5),
    ];
    (runtime, nodes)
}

#[test]
fn a_node_whose_privacy_path_is_down_gets_no_private_calls_but_keeps_public_ones() {
    let (runtime, nodes) = two_nodes();
    let dir = tempfile_dir("privacy");
    let dir = dir.path();
    let (path_a, url_a) = PrivacyServer::tcp(runtime);
    let (path_b, url_b) = PrivacyServer::unix(runtime, dir.join("tm.ipc"));
    let mut settings = settings(Mode::Balanced, &[nodes[0].url(), nodes[1].url()]);
    settings.upstreams[0].privacy_url = Some(url_a.clone());
    settings.upstreams[1].privacy_url = Some(url_b);
    let gateway = Running::start(settings);
    let privacy_up = |index: usize| gateway.status()["upstreams"][index]["privacy"]["up"].clone();
    assert_eq!(privacy_up(0), true, "{}", gateway.status());
    assert_eq!(privacy_up(1), true, "{}", gateway.status());
    assert_eq!(gateway.status()["upstreams"][0]["privacy"]["url"], url_a);

    // Both paths up: accounts spread over both nodes.
    let served = private_sends(&gateway, 0..20);
    assert!(
        served.contains(&json!("a:eth_sendTransaction")),
        "{served:?}"
    );
    assert!(
        served.contains(&json!("b:eth_sendTransaction")),
        "{served:?}"
    );

    // a's privacy manager fails its health check: a stays healthy for public calls.
    path_a.set(StatusCode::SERVICE_UNAVAILABLE);
    await_status(&gateway, |s| s["upstreams"][0]["privacy"]["up"] == false);
    let status = gateway.status();
    assert_eq!(status["upstreams"][0]["healthy"], true, "{status}");
    assert!(
        status["upstreams"][0]["privacy"]["lastError"]
            .as_str()
            .unwrap()
            .contains("503"),
        "{status}"
    );
    let before = nodes[0].count("eth_sendTransaction");
    let served = private_sends(&gateway, 0..20);
    assert!(
        served.iter().all(|s| s == "b:eth_sendTransaction"),
        "{served:?}"
    );
    // Public sends from the same accounts follow them, so their nonces stay in one txpool.
    for n in 0..10 {
        let result = gateway.result("eth_sendTransaction", json!([{"from": from(n)}]));
        assert_eq!(result, "b:eth_sendTransaction");
    }
    assert_eq!(nodes[0].count("eth_sendTransaction"), before);
    assert_eq!(
        gateway.result(
            "eth_sendRawPrivateTransaction",
            json!(["0x00", {"privateFor": []}])
        ),
        "b:eth_sendRawPrivateTransaction"
    );
    assert_eq!(nodes[0].count("eth_sendRawPrivateTransaction"), 0);
    // Reads and raw public sends are still balanced over both.
    gateway.assert_reads_reach_both();
    let metrics = gateway.metrics();
    let privacy_metric = |index: usize| {
        let name = gateway.status()["upstreams"][index]["name"].clone();
        let labels = format!("upstream={name}");
        metric(&metrics, "cloister_gateway_upstream_privacy_up", &labels)
    };
    assert_eq!(privacy_metric(0), 0.0, "{metrics}");
    assert_eq!(privacy_metric(1), 1.0, "{metrics}");

    // b's (Tessera-style, /upcheck only) path fails too: private calls get an error at once,
    // public account-scoped ones are still served.
    path_b.set(StatusCode::INTERNAL_SERVER_ERROR);
    await_status(&gateway, |s| s["upstreams"][1]["privacy"]["up"] == false);
    let error = &gateway.call(
        "eth_sendTransaction",
        json!([{"from": from(1), "privateFor": ["k"]}]),
    )["error"];
    assert_eq!(error["code"], INTERNAL_ERROR, "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("no healthy upstream with a working privacy path"),
        "{message}"
    );
    assert!(message.contains("/upcheck"), "{message}");
    let public = gateway.result("eth_sendTransaction", json!([{"from": from(1)}]));
    assert!(public.as_str().unwrap().ends_with(":eth_sendTransaction"));

    // a's path comes back (after readmitAfter good checks): private calls go to a only.
    path_a.set(StatusCode::OK);
    await_status(&gateway, |s| s["upstreams"][0]["privacy"]["up"] == true);
    let served = private_sends(&gateway, 0..10);
    assert!(
        served.iter().all(|s| s == "a:eth_sendTransaction"),
        "{served:?}"
    );
}

#[test]
fn an_unreachable_privacy_path_counts_as_down_and_nodes_without_one_take_private_calls() {
    let (_, nodes) = two_nodes();
    let mut settings = settings(Mode::PrimaryBackup, &[nodes[0].url(), nodes[1].url()]);
    // Nothing listens there.
    settings.upstreams[0].privacy_url = Some(format!(
        "http://127.0.0.1:{}",
        cloister_harness::nodes::free_port()
    ));
    let gateway = Running::start(settings);
    // Down from the first check, which runs before the gateway serves.
    let status = gateway.status();
    assert_eq!(status["upstreams"][0]["privacy"]["up"], false, "{status}");
    assert_eq!(status["upstreams"][1]["privacy"], Value::Null, "{status}");
    // The primary still serves everything public; private calls go to the backup.
    assert_eq!(gateway.result("eth_chainId", json!([])), "a:eth_chainId");
    assert_eq!(
        gateway.result("eth_getQuorumPayload", json!(["0x01"])),
        "b:eth_getQuorumPayload"
    );
    assert_eq!(
        gateway.result(
            "eth_fillTransaction",
            json!([{"from": from(3), "privateFor": ["k"]}])
        ),
        "b:eth_fillTransaction"
    );
}

/// Waits until `/status` satisfies `condition`.
fn await_status(gateway: &Running, condition: impl Fn(&Value) -> bool) {
    let reached = cloister_harness::http::eventually(std::time::Duration::from_secs(20), || {
        condition(&gateway.status())
    });
    assert!(reached, "status never changed: {}", gateway.status());
}

/// A fresh directory for this test's sockets, removed when dropped.
fn tempfile_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("gw-{name}-"))
        .tempdir()
        .unwrap()
}
