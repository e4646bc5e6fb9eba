//! `cloister proxy`'s command line and config file wiring of connection hygiene: a connection
//! bound of 0 is refused by name before anything listens, and `--trusted-proxy` decides whose
//! `Forwarded` reaches a replica (the rule itself is tested in `crates/proxy/tests/hygiene.rs`).

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use cloister_addr::Endpoint;
use cloister_harness::http::{eventually, Request};
use cloister_harness::nodes::free_port;

fn proxy() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cloister"));
    command.arg("proxy");
    command
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A replica that answers every request 200 and reports each request head it reads (health
/// checks included), one request per connection.
fn replica() -> (SocketAddr, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let (heads, seen) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let length = String::from_utf8_lossy(&head)
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            let mut body = vec![0u8; length];
            let _ = stream.read_exact(&mut body);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            if heads
                .send(String::from_utf8_lossy(&head).into_owned())
                .is_err()
            {
                return;
            }
        }
    });
    (address, seen)
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

    let out = proxy()
        .args(["--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"])
        .args(["--trusted-proxy", "front.example"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--trusted-proxy"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn only_a_trusted_proxys_forwarded_reaches_the_replica() {
    let (replica, seen) = replica();
    let port = free_port();
    let _proxy = Running(
        proxy()
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--upstream", &replica.to_string()])
            .args(["--role", "p2p", "--trusted-proxy", "127.0.0.3"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let target = Endpoint::from(SocketAddr::from(([127, 0, 0, 1], port)));
    assert!(
        eventually(Duration::from_secs(10), || Request::new("GET", "/upcheck")
            .try_send(&target, None)
            .is_ok_and(|r| r.status == 200)),
        "the proxy answers"
    );
    let forwarded_from = |source: &str| {
        let response = Request::new("GET", "/partyinfo/keys")
            .header("Forwarded", "for=6.6.6.6")
            .send_from(&target, source)
            .unwrap();
        assert_eq!(response.status, 200, "{}", response.text());
        let head = seen
            .iter()
            .find(|head| head.starts_with("GET /partyinfo/keys "))
            .unwrap();
        head.lines()
            .filter(|line| line.to_ascii_lowercase().starts_with("forwarded:"))
            .map(|line| line.split_once(':').unwrap().1.trim().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        forwarded_from("127.0.0.3"),
        ["for=6.6.6.6", "for=127.0.0.3"]
    );
    assert_eq!(forwarded_from("127.0.0.2"), ["for=127.0.0.2"]);
}
