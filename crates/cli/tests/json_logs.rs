//! `--log-format json` on every subcommand: each line on stderr is one JSON object with the
//! time, level, target and message; and one request id joins `cloister proxy`'s access log to
//! the log of the node that served the request.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use cloister_addr::Endpoint;
use cloister_harness::http::{eventually, Request};
use cloister_harness::nodes::{cloister, free_port, use_binary, NodeDir};
use cloister_harness::proxy::RunningProxy;
use serde_json::{json, Value};

fn setup() -> tempfile::TempDir {
    use_binary(env!("CARGO_BIN_EXE_cloister"));
    tempfile::tempdir().unwrap()
}

/// Every non-empty line of `log` as JSON, each checked for the fields a log shipper needs.
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            for field in ["timestamp", "level", "target"] {
                assert!(value[field].is_string(), "no {field}: {line}");
            }
            assert!(value["fields"]["message"].is_string(), "no message: {line}");
            value
        })
        .collect()
}

fn stderr_of(command: &mut Command) -> String {
    let out = command.output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn short_commands_log_json_lines() {
    let root = setup();
    let dir = root.path();
    // keygen: its "generated key pair" line.
    let log = stderr_of(
        cloister()
            .args(["keygen", "--log-format", "json", "--filename"])
            .arg(dir.join("k")),
    );
    let lines = json_lines(&log);
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "generated key pair"
                && l["level"] == "INFO"
                && l["target"] == "cloister::keygen"),
        "{log}"
    );

    // doctor: the warning about an unknown config key (the global flag before the command).
    let a = NodeDir::new(dir, "a");
    let config = dir.join("a.json");
    std::fs::write(
        &config,
        a.config(&[], json!({ "notATesseraKey": 1 })).to_string(),
    )
    .unwrap();
    let log = stderr_of(
        cloister()
            .args(["--log-format", "json", "doctor", "--node"])
            .arg(&config),
    );
    let lines = json_lines(&log);
    assert!(
        lines.iter().any(|l| l["level"] == "WARN"
            && l["fields"]["message"]
                .as_str()
                .unwrap()
                .contains("notATesseraKey")),
        "{log}"
    );

    // demo and keyupdate failing at once: the reason is a JSON line too, not plain text.
    let log = stderr_of(cloister().args([
        "demo",
        "--seconds",
        "1",
        "--keep",
        "/dev/null/x",
        "--log-format",
        "json",
    ]));
    let lines = json_lines(&log);
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "ERROR" && l["fields"]["error"].is_string()),
        "{log}"
    );
    let log = stderr_of(cloister().args([
        "keyupdate",
        "--keyfile",
        "/no/such.key",
        "--new-password-file",
        "/no/such.pw",
        "--log-format",
        "json",
    ]));
    assert!(json_lines(&log)[0]["fields"]["error"]
        .as_str()
        .unwrap()
        .contains("/no/such.key"));
}

#[test]
fn the_gateway_logs_json_lines() {
    let root = setup();
    let log_path = root.path().join("gateway.log");
    let listen = format!("127.0.0.1:{}", free_port());
    // An upstream nobody serves: the gateway logs its start and the upstream's ejection.
    let mut child = cloister()
        .args(["gateway", "--listen", &listen, "--upstream"])
        .arg(format!("http://127.0.0.1:{}", free_port()))
        .args(["--log-format", "json"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let read = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let started = eventually(Duration::from_secs(10), || {
        read().contains("gateway listening")
    });
    let _ = child.kill();
    let _ = child.wait();
    let log = read();
    assert!(started, "{log}");
    let lines = json_lines(&log);
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "gateway listening"
                && l["target"]
                    .as_str()
                    .unwrap()
                    .starts_with("cloister_gateway")),
        "{log}"
    );
}

/// The access lines a log holds for `path`: their request ids.
fn proxy_request_ids(log: &str, path: &str) -> Vec<String> {
    json_lines(log)
        .into_iter()
        .filter(|l| l["target"] == "cloister_proxy::access" && l["fields"]["path"] == path)
        .map(|l| l["fields"]["request_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Whether the node's log has its "served" line for `request_id`, inside the request span.
fn node_served(log: &str, request_id: &str, path: &str) -> bool {
    json_lines(log).iter().any(|l| {
        l["target"] == "cloister_node::access"
            && l["fields"]["message"] == "served"
            && l["span"]["request_id"] == request_id
            && l["span"]["path"] == path
            && l["span"]["app"] == "Q2T"
            && l["fields"]["status"] == 201
    })
}

fn send(target: &Endpoint, to: &str, request_id: Option<&str>) {
    let mut request =
        Request::new("POST", "/send").json(&json!({ "payload": "aGVsbG8=", "to": [to] }));
    if let Some(id) = request_id {
        request = request.header("X-Request-Id", id);
    }
    let response = request.send(target);
    assert_eq!(response.status, 201, "{}", response.text());
}

#[test]
fn one_request_id_joins_the_proxy_log_to_the_node_log() {
    let root = setup();
    let a = NodeDir::new(root.path(), "a");
    let node = a.start(&a.config(&[], json!({})), &["--log-format", "json"]);
    let socket = root.path().join("proxy.ipc");
    let proxy = RunningProxy::start(
        root.path(),
        &[
            "--listen".into(),
            format!("unix:{}", socket.display()),
            "--upstream".into(),
            a.q2t_url(),
            "--log-format".into(),
            "json".into(),
        ],
        &json!({}),
    );
    let front = Endpoint::Unix(socket.clone());
    assert!(eventually(Duration::from_secs(10), || Path::new(&socket).exists()));

    // No id from the client: the proxy makes one (128 random bits, hex) and the node logs it.
    send(&front, &a.public_key, None);
    let mut made = Vec::new();
    assert!(
        eventually(Duration::from_secs(5), || {
            made = proxy_request_ids(&proxy.log_text(), "/send");
            !made.is_empty()
        }),
        "{}",
        proxy.log_text()
    );
    let id = &made[0];
    assert_eq!(id.len(), 32, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    assert!(
        eventually(Duration::from_secs(5), || node_served(
            &node.log_text(),
            id,
            "/send"
        )),
        "{id} not in the node's log:\n{}",
        node.log_text()
    );

    // A client's well-formed id is passed through; an overlong or unprintable one is replaced.
    send(&front, &a.public_key, Some("client-req-42"));
    send(&front, &a.public_key, Some(&"x".repeat(65)));
    send(&front, &a.public_key, Some("has space"));
    let mut ids = Vec::new();
    assert!(eventually(Duration::from_secs(5), || {
        ids = proxy_request_ids(&proxy.log_text(), "/send");
        ids.len() == 4
    }));
    assert_eq!(ids[1], "client-req-42");
    for replaced in &ids[2..] {
        assert_eq!(replaced.len(), 32, "{replaced}");
    }
    for id in &ids {
        assert!(
            eventually(Duration::from_secs(5), || node_served(
                &node.log_text(),
                id,
                "/send"
            )),
            "{id} not in the node's log:\n{}",
            node.log_text()
        );
    }
    let log = node.log_text();
    assert!(!log.contains(&"x".repeat(65)) && !log.contains("has space"));

    // Over TCP the span also names the caller.
    let keys = Request::new("GET", "/partyinfo/keys")
        .header("X-Request-Id", "tp-1")
        .send(&a.third_party_target());
    assert_eq!(keys.status, 200);
    assert_eq!(keys.header("x-request-id"), Some("tp-1"));
    let named = |log: &str| {
        json_lines(log).iter().any(|l| {
            l["span"]["request_id"] == "tp-1"
                && l["span"]["app"] == "ThirdParty"
                && l["span"]["peer"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("127.0.0.1:"))
        })
    };
    assert!(
        eventually(Duration::from_secs(5), || named(&node.log_text())),
        "{}",
        node.log_text()
    );
}
