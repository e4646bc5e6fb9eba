//! A PartyInfo posted as `text/plain`: what a web page can make a visitor's browser send to a
//! P2P port without a CORS preflight.

use std::fmt;

use cloister_core::partyinfo::PartyInfo;
use cloister_harness::http::Request;
use serde_json::json;

use super::{announce, Victim, LEGACY_VERSIONS};

/// The party URL the page tries to plant.
const PLANTED: &str = "http://127.0.0.1:1/planted-by-a-web-page/";

/// What the post achieved.
#[derive(Debug, Clone, Copy)]
pub struct Media {
    /// The status of the `text/plain` post.
    pub status: u16,
    /// Whether the planted party was stored.
    pub planted: bool,
    /// Whether the node, restarted on its data, came back healthy.
    pub restart_healthy: bool,
}

/// Runs the attack.
pub fn run() -> anyhow::Result<Media> {
    let mut victim = Victim::start(json!({}));
    let target = victim.dir.p2p_target();
    let info = PartyInfo::new("http://127.0.0.1:2/", [], [PLANTED.to_owned()]);
    let status = announce(&target, &info, LEGACY_VERSIONS, "text/plain").status;
    let peers = Request::new("GET", "/partyinfo").send(&target).json();
    let planted = peers["peers"]
        .as_array()
        .is_some_and(|p| p.iter().any(|u| u["url"] == PLANTED));
    Ok(Media {
        status,
        planted,
        restart_healthy: victim.restart_is_healthy(),
    })
}

impl fmt::Display for Media {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PartyInfo as text/plain: {}, party stored: {}; restart healthy: {}",
            self.status, self.planted, self.restart_healthy
        )
    }
}
