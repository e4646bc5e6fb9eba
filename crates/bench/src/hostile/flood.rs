//! PartyInfo flood: a PartyInfo naming thousands of party URLs, then as many again spread over
//! messages within the per-message bound. Every URL points at a loopback port nobody listens
//! on, as a URL planted by an attacker would point anywhere.

use std::fmt;
use std::time::Duration;

use cloister_core::partyinfo::PartyInfo;
use cloister_harness::nodes::free_port;
use serde_json::json;

use super::watch::{Seen, Watch};
use super::{announce, cost, Victim, LEGACY_VERSIONS};

/// Parties named (the issue measured 500 to 3,000).
pub const PARTIES: usize = 3000;

/// Parties per message in the second wave: the node's default `maxPartiesPerMessage`.
const PER_MESSAGE: usize = 256;

/// How long planted parties get to fail their broadcasts before the count is read again.
const FORGETTING: Duration = Duration::from_secs(4);

/// What the flood cost and left behind.
#[derive(Debug, Clone)]
pub struct Flood {
    /// Memory and `tm.ipc` latency during the flood.
    pub seen: Seen,
    /// The status of one PartyInfo naming every party.
    pub one_message: u16,
    /// Parties the node contacts right after the flood (`None`: `GET /partyinfo` failed).
    pub parties_after: Option<usize>,
    /// Parties it contacts once the planted ones had time to fail.
    pub parties_later: Option<usize>,
    /// Whether the node restarted on the same data and answered `/health` 200.
    pub restart_healthy: bool,
}

/// Runs the flood with `parties` URLs.
pub fn run(parties: usize) -> anyhow::Result<Flood> {
    let mut victim = Victim::start(json!({}));
    let watch = Watch::start(victim.node.pid(), victim.dir.q2t());
    let closed = free_port();
    let url = |i: usize| {
        format!(
            "http://127.{}.{}.{}:{closed}/",
            1 + i / 65536,
            (i / 256) % 256,
            i % 256
        )
    };
    let target = victim.dir.p2p_target();
    let all: Vec<String> = (0..parties).map(url).collect();
    let sender = url(parties + 1);
    let info = PartyInfo::new(&sender, [], all.clone());
    let one_message = announce(&target, &info, LEGACY_VERSIONS, "application/octet-stream").status;
    for (n, chunk) in all.chunks(PER_MESSAGE).enumerate() {
        let info = PartyInfo::new(&url(parties + 2 + n), [], chunk.to_vec());
        announce(&target, &info, LEGACY_VERSIONS, "application/octet-stream");
    }
    let parties_after = victim.parties();
    std::thread::sleep(FORGETTING);
    let parties_later = victim.parties();
    let seen = watch.finish();
    let restart_healthy = victim.restart_is_healthy();
    Ok(Flood {
        seen,
        one_message,
        parties_after,
        parties_later,
        restart_healthy,
    })
}

impl fmt::Display for Flood {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = |n: Option<usize>| n.map_or_else(|| "no answer".to_owned(), |n| n.to_string());
        write!(
            f,
            "{PARTIES} parties in one message: {}; parties kept {} (after {}s: {}); {}; restart healthy: {}",
            self.one_message,
            count(self.parties_after),
            FORGETTING.as_secs(),
            count(self.parties_later),
            cost(&self.seen),
            self.restart_healthy
        )
    }
}
