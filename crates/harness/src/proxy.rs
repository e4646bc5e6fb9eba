//! A `cloister proxy` process: started on a config file and arguments, with its admin listener
//! on a free loopback port and its log kept in a file; killed when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use cloister_addr::Endpoint;
use serde_json::Value;

use crate::http::{eventually, Request};
use crate::nodes::{cloister, free_port};

/// A running `cloister proxy`.
pub struct RunningProxy {
    child: Child,
    /// Its admin listener (`/status`, `/metrics`).
    pub admin: Endpoint,
    log: PathBuf,
}

impl RunningProxy {
    /// Runs `cloister proxy <args> --config <dir>/proxy.json --admin <a free port>` with
    /// `config` in that file, logging at info to `<dir>/proxy.log`, and waits until its admin
    /// listener answers.
    pub fn start(dir: &Path, args: &[String], config: &Value) -> Self {
        let file = dir.join("proxy.json");
        std::fs::write(&file, config.to_string()).unwrap();
        let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log = dir.join("proxy.log");
        let child = cloister()
            .arg("proxy")
            .args(args)
            .arg("--config")
            .arg(&file)
            .args(["--admin", &admin.to_string()])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let proxy = Self {
            child,
            admin: Endpoint::from(admin),
            log,
        };
        let up = eventually(Duration::from_secs(10), || {
            Request::new("GET", "/status")
                .try_send(&proxy.admin, None)
                .is_ok()
        });
        assert!(up, "the proxy did not start: {}", proxy.log_text());
        proxy
    }

    /// What it logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `/status`, as text.
    pub fn status(&self) -> String {
        Request::new("GET", "/status").send(&self.admin).text()
    }

    /// Whether upstream `i` of the first listener is admitted, per `/status`.
    pub fn healthy(&self, i: usize) -> bool {
        let status = Request::new("GET", "/status").send(&self.admin).json();
        status["listeners"][0]["upstreams"][i]["healthy"]
            .as_bool()
            .unwrap()
    }

    /// The process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
