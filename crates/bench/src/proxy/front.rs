//! The fronts a client reaches the replicas through, starting and stopping each one, and the
//! configurations nginx and HAProxy run with (HAProxy's from the template
//! `crates/bench/configs/q2t-haproxy.cfg`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use cloister_addr::Endpoint;
use cloister_harness::http::{eventually, Request};
use cloister_harness::metrics;
use cloister_harness::nodes::free_port;
use cloister_harness::party::TwinParty;
use cloister_protocol::path;

use super::settings::ProxyBench;
use crate::front_process::{nginx_user_line, FrontProcess};
use crate::relay::Relay;

/// What a client reaches the replicas through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    /// Replica 1's own socket.
    Direct,
    /// A byte relay to replica 1 ([`crate::relay`]): what one hop costs here, whatever a proxy
    /// does. Steady state only (it has no failover to measure).
    Relay,
    /// nginx as the reference recipe.
    Nginx,
    /// HAProxy with the strongest recipe we could write (the template's comments say what).
    Haproxy,
    /// `cloister proxy`.
    Cloister,
}

/// HAProxy's configuration: `{{DIR}}`, `{{SOCKET}}` and `{{SERVERS}}` are filled in.
const HAPROXY_TEMPLATE: &str = include_str!("../../configs/q2t-haproxy.cfg");

impl Front {
    /// All of them, in the order they run.
    pub const ALL: [Front; 5] = [
        Front::Direct,
        Front::Relay,
        Front::Nginx,
        Front::Haproxy,
        Front::Cloister,
    ];

    /// The name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Front::Direct => "direct",
            Front::Relay => "relay",
            Front::Nginx => "nginx",
            Front::Haproxy => "haproxy",
            Front::Cloister => "cloister",
        }
    }
}

/// A running front: its socket and, for the proxies, the process.
pub(super) struct Running {
    socket: PathBuf,
    process: FrontProcess,
    /// `cloister proxy`'s admin listener, where its hedges are counted.
    admin: Option<SocketAddr>,
}

impl Running {
    /// Where clients reach the front.
    pub(super) fn endpoint(&self) -> Endpoint {
        Endpoint::Unix(self.socket.clone())
    }

    /// CPU spent so far by the front's processes (or the relay's thread); none for direct.
    pub(super) fn cpu(&self) -> Option<Duration> {
        self.process.cpu()
    }

    /// Hedges `cloister proxy` has sent so far (won or lost), from its `/metrics`; none for
    /// the other fronts.
    pub(super) fn hedges(&self) -> Option<u64> {
        let admin = self.admin?;
        let text = Request::new("GET", path::METRICS)
            .try_send(&Endpoint::from(admin), None)
            .ok()?
            .text();
        let sent = ["outcome=\"won\"", "outcome=\"lost\""]
            .map(|outcome| metrics::sum(&text, "cloister_proxy_hedges_total", &[outcome]));
        Some(sent.iter().sum::<f64>() as u64)
    }

    /// Stops the front now rather than when it is dropped, so that what runs next does not
    /// share the CPU with it.
    pub(super) fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if self.process.stop() {
            let _ = std::fs::remove_file(&self.socket);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// The reference recipe (proxy-and-gateway.md §1) plus what keep-alive needs on nginx 1.22:
/// HTTP/1.1 with an empty `Connection` to the upstreams, a pool of idle upstream connections,
/// and no cap on requests per client connection (GoQuorum keeps its connections forever).
fn nginx_config(dir: &Path, socket: &Path, upstreams: &[PathBuf]) -> String {
    let d = dir.display();
    let user = nginx_user_line();
    format!(
        "{user}daemon off;
worker_processes auto;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 3600s;
  upstream q2t {{
{servers}    keepalive 64;
    keepalive_requests 100000000;
  }}
  server {{
    listen unix:{socket};
    location / {{
      # the reference recipe
      proxy_next_upstream error timeout http_404 non_idempotent;
      proxy_pass http://q2t;
      # keep-alive to the upstreams
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }}
  }}
}}
",
        servers = upstreams
            .iter()
            .map(|u| format!("    server unix:{};\n", u.display()))
            .collect::<String>(),
        socket = socket.display(),
    )
}

/// HAProxy's configuration from its template: its files in `dir`, listening on `socket`, one
/// `server` per replica socket.
fn haproxy_config(dir: &Path, socket: &Path, upstreams: &[PathBuf]) -> String {
    let servers = upstreams
        .iter()
        .enumerate()
        .map(|(i, u)| format!("  server r{} unix@{}\n", i + 1, u.display()))
        .collect::<String>();
    HAPROXY_TEMPLATE
        .replace("{{DIR}}", &dir.display().to_string())
        .replace("{{SOCKET}}", &socket.display().to_string())
        .replace("{{SERVERS}}\n", &servers)
}

/// Starts `front` before `party`'s replicas (replica 1 alone with `--one-replica`) and waits
/// until it answers `/upcheck`, so no measurement includes its start-up.
pub(super) fn start_front(
    front: Front,
    party: &TwinParty,
    settings: &ProxyBench,
) -> anyhow::Result<Running> {
    let replicas = if settings.one_replica { 1 } else { 2 };
    let upstreams: Vec<PathBuf> = party.replicas[..replicas]
        .iter()
        .map(|replica| replica.q2t_socket())
        .collect();
    let root = party.root();
    let running = match front {
        Front::Direct => Running {
            socket: upstreams[0].clone(),
            process: FrontProcess::Direct,
            admin: None,
        },
        Front::Relay => {
            let socket = root.join("relay.ipc");
            let relay = Relay::start(
                Endpoint::Unix(socket.clone()),
                Endpoint::Unix(upstreams[0].clone()),
            )?;
            Running {
                socket,
                process: FrontProcess::Relay(relay),
                admin: None,
            }
        }
        Front::Nginx => {
            let dir = root.join("nginx");
            std::fs::create_dir_all(&dir)?;
            let socket = dir.join("nginx.ipc");
            let _ = std::fs::remove_file(&socket);
            let config = dir.join("nginx.conf");
            std::fs::write(&config, nginx_config(&dir, &socket, &upstreams))?;
            let child = Command::new(&settings.nginx)
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.join("stderr.log"))?)
                .spawn()
                .with_context(|| {
                    format!(
                        "starting {} (install Debian's nginx: apt-get install -y nginx)",
                        settings.nginx.display()
                    )
                })?;
            Running {
                socket,
                process: FrontProcess::Balancer(child),
                admin: None,
            }
        }
        Front::Haproxy => {
            let dir = root.join("haproxy");
            std::fs::create_dir_all(&dir)?;
            let socket = dir.join("haproxy.ipc");
            let _ = std::fs::remove_file(&socket);
            let config = dir.join("haproxy.cfg");
            std::fs::write(&config, haproxy_config(&dir, &socket, &upstreams))?;
            // -db: in the foreground, as a supervised service runs it.
            let child = Command::new(&settings.haproxy)
                .arg("-db")
                .arg("-f")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.join("stderr.log"))?)
                .spawn()
                .with_context(|| {
                    format!(
                        "starting {} (install Debian's haproxy: apt-get install -y haproxy)",
                        settings.haproxy.display()
                    )
                })?;
            Running {
                socket,
                process: FrontProcess::Balancer(child),
                admin: None,
            }
        }
        Front::Cloister => {
            let socket = root.join("cloister-proxy.ipc");
            let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let mut command = cloister_harness::nodes::cloister();
            command
                .arg("proxy")
                .arg("--admin")
                .arg(admin.to_string())
                .arg("--listen")
                .arg(format!("unix:{}", socket.display()));
            for upstream in &upstreams {
                command
                    .arg("--upstream")
                    .arg(format!("unix:{}", upstream.display()));
            }
            let child = command
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(root.join("cloister-proxy.log"))?)
                .spawn()?;
            Running {
                socket,
                process: FrontProcess::Balancer(child),
                admin: Some(admin),
            }
        }
    };
    let target = running.endpoint();
    if !eventually(Duration::from_secs(10), || {
        Request::new("GET", path::UPCHECK)
            .try_send(&target, None)
            .is_ok_and(|r| r.status == 200)
    }) {
        bail!(
            "{} did not come up on {}",
            front.name(),
            running.socket.display()
        );
    }
    Ok(running)
}
