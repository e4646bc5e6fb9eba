//! `cloister proxy`'s command line and config file wiring of connection hygiene: a connection
//! bound of 0 is refused by name before anything listens.

#![allow(clippy::unwrap_used)]

use std::process::Command;

fn proxy() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cloister"));
    command.arg("proxy");
    command
}

#[test]
fn a_connection_bound_of_zero_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("proxy.json");
    std::fs::write(
        &config,
        r#"{ "connections": { "maxConnectionsPerIp": 0 } }"#,
    )
    .unwrap();
    let out = proxy()
        .args(["--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"])
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("connections.maxConnectionsPerIp must be at least 1"),
        "{stderr}"
    );
}
