//! Key hijack: two real nodes A and B; the attacker announces B's key for its own URL, then an
//! announcement with no keys in B's name. After each, A sends a private transaction to B's key:
//! it must reach B, not the attacker, and not fail as "Recipient not found".

use std::fmt;
use std::time::Duration;

use cloister_core::keys::PublicKey;
use cloister_core::partyinfo::PartyInfo;
use cloister_harness::http::{eventually, path_escape, Request};
use cloister_harness::nodes::{two_node_dirs, NodeDir, RunningNode};
use serde_json::json;

use super::{announce, Attacker, LEGACY_VERSIONS};

/// What each step left.
#[derive(Debug, Clone, Copy, Default)]
pub struct Step {
    /// The status of the attacker's announcement.
    pub status: u16,
    /// Whether A still maps B's key to B's URL afterwards.
    pub key_map_unchanged: bool,
    /// Whether A's next send to B's key reached B.
    pub delivered_to_owner: bool,
}

/// What the hijack attempts achieved.
#[derive(Debug, Clone, Copy)]
pub struct Hijack {
    /// B's key announced for the attacker's URL.
    pub claim: Step,
    /// An announcement with no keys in B's name.
    pub erase: Step,
    /// Whether A, restarted on its data after both, is healthy, still maps B's key to B and
    /// delivers to it.
    pub restart_healthy: bool,
}

/// A's view of who holds `key`.
fn holder(a: &NodeDir, key: &str) -> Option<String> {
    let info = Request::new("GET", "/partyinfo")
        .send(&a.p2p_target())
        .json();
    info["keys"]
        .as_array()?
        .iter()
        .find(|entry| entry["key"] == key)
        .and_then(|entry| entry["url"].as_str().map(str::to_owned))
}

/// Sends from A to `to` and reads it back at B.
fn delivered(a: &NodeDir, b: &NodeDir, to: &str) -> bool {
    let body = json!({ "payload": "aGVsbG8=", "to": [to] });
    let sent = Request::new("POST", "/send").json(&body).send(&a.q2t());
    if sent.status != 201 {
        return false;
    }
    let hash = sent.json()["key"].as_str().unwrap_or_default().to_owned();
    let target = format!("/transaction/{}?to={}", path_escape(&hash), path_escape(to));
    Request::new("GET", &target).send(&b.q2t()).status == 200
}

/// Runs the attack.
pub fn run() -> anyhow::Result<Hijack> {
    let (_root, a, b) = two_node_dirs()?;
    let a_config = a.config(&[&b], json!({}));
    let mut a_node: RunningNode = a.start(&a_config, &[]);
    let _b: RunningNode = b.start(&b.config(&[&a], json!({})), &[]);
    let b_url = format!("{}/", b.p2p_url());
    let known = eventually(Duration::from_secs(20), || {
        holder(&a, &b.public_key).as_deref() == Some(b_url.as_str())
    });
    anyhow::ensure!(known, "A never learnt B's key");
    let attacker = Attacker::start()?;
    let owner_key = PublicKey::from_base64(&b.public_key, "B's key")?;
    let step = |info: PartyInfo| Step {
        status: announce(
            &a.p2p_target(),
            &info,
            LEGACY_VERSIONS,
            "application/octet-stream",
        )
        .status,
        key_map_unchanged: holder(&a, &b.public_key).as_deref() == Some(b_url.as_str()),
        delivered_to_owner: delivered(&a, &b, &b.public_key),
    };
    let url = attacker.peer.url();
    let claim = step(PartyInfo::new(&url, [(owner_key, url.clone())], []));
    let erase = step(PartyInfo::new(&b_url, [], []));
    a_node.kill();
    let _a_again = a.start(&a_config, &[]);
    let restart_healthy = Request::new("GET", "/health").send(&a.q2t()).status == 200
        && holder(&a, &b.public_key).as_deref() == Some(b_url.as_str())
        && delivered(&a, &b, &b.public_key);
    Ok(Hijack {
        claim,
        erase,
        restart_healthy,
    })
}

impl fmt::Display for Hijack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |s: &Step| {
            format!(
                "{} (key map unchanged: {}, next send reached B: {})",
                s.status, s.key_map_unchanged, s.delivered_to_owner
            )
        };
        write!(
            f,
            "B's key claimed for the attacker's URL: {}; empty announcement in B's name: {}; restart healthy: {}",
            show(&self.claim),
            show(&self.erase),
            self.restart_healthy
        )
    }
}
