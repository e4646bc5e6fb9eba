//! The fronts a JSON-RPC client reaches the ganache nodes through, starting and stopping each
//! one, and the configurations nginx and HAProxy run with (templates in `crates/bench/configs`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use cloister_addr::Endpoint;
use cloister_harness::http::eventually;
use cloister_harness::nodes::free_port;
use serde_json::json;

use crate::front_process::{nginx_user_line, FrontProcess};
use crate::relay::Relay;
use crate::settings::GatewayBench;

/// nginx's configuration, `{{NAME}}` placeholders filled in by [`fill`].
const NGINX_TEMPLATE: &str = include_str!("../../configs/jsonrpc-nginx.conf");
/// HAProxy's configuration, likewise.
const HAPROXY_TEMPLATE: &str = include_str!("../../configs/jsonrpc-haproxy.cfg");

/// How long a balancer may take to start answering calls.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// What a client reaches the nodes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    /// The first node itself.
    Direct,
    /// A byte relay to the first node ([`crate::relay`]): what one hop costs here whatever a
    /// balancer does. Steady state only, with `--relay`.
    Relay,
    /// `cloister gateway --mode <mode>`.
    Cloister,
    /// nginx, the first node primary and the second `backup`.
    Nginx,
    /// HAProxy in `mode http` with a JSON-RPC health check, the second node `backup`.
    Haproxy,
}

impl Front {
    /// The balancers, in the order they start.
    pub const BALANCERS: [Front; 3] = [Front::Cloister, Front::Nginx, Front::Haproxy];

    /// The name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Front::Direct => "direct",
            Front::Relay => "relay",
            Front::Cloister => "cloister",
            Front::Nginx => "nginx",
            Front::Haproxy => "haproxy",
        }
    }
}

/// A running front: where it listens and, for the balancers, its process.
pub(super) struct Running {
    /// Which front.
    pub(super) front: Front,
    /// Where clients reach it.
    pub(super) address: SocketAddr,
    process: FrontProcess,
    /// What it logged (balancers): shown when calls through it fail.
    log: Option<PathBuf>,
    /// Its scratch directory, removed when it stops.
    _dir: Option<tempfile::TempDir>,
}

impl Running {
    /// Where clients reach it, as the load driver wants it.
    pub(super) fn endpoint(&self) -> Endpoint {
        Endpoint::from(self.address)
    }

    /// CPU spent so far by the front's processes (or the relay's thread); none for direct.
    pub(super) fn cpu(&self) -> Option<Duration> {
        self.process.cpu()
    }

    /// The balancer's process id.
    pub(super) fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// The last lines the balancer logged.
    pub(super) fn log_tail(&self) -> String {
        let Some(log) = &self.log else {
            return String::new();
        };
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// Stops the front now rather than when it is dropped, so what runs next does not share
    /// the CPU with it.
    pub(super) fn stop(mut self) {
        self.process.stop();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.process.stop();
    }
}

/// Timeouts every balancer gets alike.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    /// To open a connection to a node.
    pub(super) connect: Duration,
    /// For one attempt of a call on one node.
    pub(super) attempt: Duration,
}

impl Timeouts {
    pub(super) fn of(settings: &GatewayBench) -> Self {
        Self {
            connect: Duration::from_millis(1000),
            attempt: Duration::from_millis(settings.attempt_timeout_ms),
        }
    }
}

/// `template` with every `{{NAME}}` replaced by its value.
fn fill(template: &str, values: &[(&str, String)]) -> anyhow::Result<String> {
    let mut text = template.to_owned();
    for (name, value) in values {
        text = text.replace(&format!("{{{{{name}}}}}"), value);
    }
    // Only the comments may still mention placeholders.
    if let Some(left) = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .find(|line| line.contains("{{"))
    {
        bail!("a placeholder was left unfilled: {left}");
    }
    Ok(text)
}

/// The placeholders both templates share.
fn values(
    dir: &Path,
    listen: SocketAddr,
    nodes: &[SocketAddr],
    timeouts: Timeouts,
) -> Vec<(&'static str, String)> {
    vec![
        ("USER", nginx_user_line().to_owned()),
        ("DIR", dir.display().to_string()),
        ("LISTEN", listen.to_string()),
        ("PRIMARY", nodes[0].to_string()),
        ("BACKUP", nodes[1].to_string()),
        (
            "CONNECT_TIMEOUT_MS",
            timeouts.connect.as_millis().to_string(),
        ),
        (
            "ATTEMPT_TIMEOUT_MS",
            timeouts.attempt.as_millis().to_string(),
        ),
    ]
}

/// Starts `front` before `nodes` (primary first) and waits until a call through it answers,
/// so no measurement includes its start-up.
pub(super) fn start(
    front: Front,
    nodes: &[SocketAddr],
    settings: &GatewayBench,
) -> anyhow::Result<Running> {
    let timeouts = Timeouts::of(settings);
    let running = match front {
        Front::Direct => Running {
            front,
            address: nodes[0],
            process: FrontProcess::Direct,
            log: None,
            _dir: None,
        },
        Front::Relay => {
            let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let relay = Relay::start(Endpoint::from(address), Endpoint::from(nodes[0]))?;
            Running {
                front,
                address,
                process: FrontProcess::Relay(relay),
                log: None,
                _dir: None,
            }
        }
        Front::Cloister => start_cloister(nodes, settings, timeouts)?,
        Front::Nginx | Front::Haproxy => {
            let dir = tempfile::tempdir()?;
            let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let values = values(dir.path(), listen, nodes, timeouts);
            let log = dir.path().join("stderr.log");
            let mut command = if front == Front::Nginx {
                let config = dir.path().join("nginx.conf");
                std::fs::write(&config, fill(NGINX_TEMPLATE, &values)?)?;
                let mut command = Command::new(&settings.nginx);
                command.arg("-p").arg(dir.path()).arg("-c").arg(&config);
                command
            } else {
                let config = dir.path().join("haproxy.cfg");
                std::fs::write(&config, fill(HAPROXY_TEMPLATE, &values)?)?;
                let mut command = Command::new(&settings.haproxy);
                // -db: stay in the foreground, as a supervised service would.
                command.arg("-db").arg("-f").arg(&config);
                command
            };
            let binary = if front == Front::Nginx {
                &settings.nginx
            } else {
                &settings.haproxy
            };
            let child = command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log)?)
                .spawn()
                .with_context(|| {
                    format!(
                        "starting {} (install Debian's package: apt-get install -y {})",
                        binary.display(),
                        front.name()
                    )
                })?;
            Running {
                front,
                address: listen,
                process: FrontProcess::Balancer(child),
                log: Some(log),
                _dir: Some(dir),
            }
        }
    };
    if !eventually(START_TIMEOUT, || answers(running.address)) {
        bail!(
            "{} did not answer on {}: {}",
            front.name(),
            running.address,
            running.log_tail()
        );
    }
    Ok(running)
}

/// Whether `eth_blockNumber` at `address` has a result.
fn answers(address: SocketAddr) -> bool {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []});
    cloister_harness::http::Request::new("POST", "/")
        .json(&body)
        .try_send(&Endpoint::from(address), None)
        .is_ok_and(|r| r.status == 200 && r.json().get("result").is_some())
}

/// `cloister gateway` with the run's mode and thread count, and the timeouts the other
/// balancers get, in a config file (the command line has no flags for them).
fn start_cloister(
    nodes: &[SocketAddr],
    settings: &GatewayBench,
    timeouts: Timeouts,
) -> anyhow::Result<Running> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("gateway.json");
    std::fs::write(
        &config,
        json!({
            "connectTimeoutMs": timeouts.connect.as_millis() as u64,
            "requestTimeoutMs": timeouts.attempt.as_millis() as u64,
        })
        .to_string(),
    )?;
    let log = dir.path().join("stderr.log");
    let mut command = cloister_harness::nodes::cloister();
    command
        .args([
            "gateway",
            "--listen",
            "127.0.0.1:0",
            "--mode",
            &settings.mode,
        ])
        .arg("--config")
        .arg(&config);
    if let Some(threads) = settings.gateway_threads {
        command.args(["--worker-threads", &threads.to_string()]);
    }
    for node in nodes {
        command.args(["--upstream", &format!("http://{node}")]);
    }
    let mut child = command
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log)?)
        .spawn()?;
    // It prints where it listens once it has probed every upstream.
    let mut first = String::new();
    if let Some(stdout) = child.stdout.take() {
        BufReader::new(stdout).read_line(&mut first)?;
    }
    let address = first
        .trim()
        .strip_prefix("gateway listening on ")
        .and_then(|a| a.parse().ok());
    let Some(address) = address else {
        let _ = child.kill();
        let _ = child.wait();
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        bail!("cloister gateway did not start: {first:?}\n{log}");
    };
    Ok(Running {
        front: Front::Cloister,
        address,
        process: FrontProcess::Balancer(child),
        log: Some(log),
        _dir: Some(dir),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn both_templates_fill_every_placeholder() {
        let nodes: [SocketAddr; 2] = [
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
        ];
        let timeouts = Timeouts {
            connect: Duration::from_millis(1000),
            attempt: Duration::from_millis(2500),
        };
        let values = values(
            Path::new("/x"),
            "127.0.0.1:3".parse().unwrap(),
            &nodes,
            timeouts,
        );
        for template in [NGINX_TEMPLATE, HAPROXY_TEMPLATE] {
            let text = fill(template, &values).unwrap();
            assert!(text.contains("127.0.0.1:2 backup"), "{text}");
            assert!(text.contains("2500ms"), "{text}");
        }
        assert!(fill("a {{NOPE}}", &values).is_err());
    }
}
