//! The PartyInfo broadcaster: every `partyInfoInterval`, this node's PartyInfo goes to every
//! party it contacts, one shared encoding, `broadcastConcurrency` posts at a time. A party whose
//! posts fail `partyFailureLimit` times in a row (unreachable, or answering with an error: a URL
//! planted by someone else is rarely a Tessera node) is forgotten until it announces itself
//! again; configured peers stay contacts but lose their keys.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};

use super::Network;
use crate::metrics::Metrics;
use crate::peer_client::{PeerClient, PeerError};

/// Runs the broadcast loop until the task is dropped, recording each round in `metrics`.
pub async fn run(
    network: Arc<Network>,
    peers: PeerClient,
    interval: Duration,
    metrics: Arc<Metrics>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failures = Failures::default();
    loop {
        ticker.tick().await;
        if let Some(round) = broadcast_once(&network, &peers, &mut failures).await {
            metrics.observe_broadcast(round.parties, round.failed);
        }
    }
}

/// Failed posts in a row, per party; a party absent here has none.
#[derive(Debug, Default)]
pub struct Failures(HashMap<String, u32>);

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Parties posted to.
    pub parties: usize,
    /// Posts that failed (unreachable, or answered with an error), counted before a party
    /// that failed too often is forgotten: a configured peer that stays down counts every round.
    pub failed: usize,
}

/// Sends this node's PartyInfo to every party once, and forgets those that failed too often.
/// `None` when the network map could not be read (nothing was sent).
pub async fn broadcast_once(
    network: &Network,
    peers: &PeerClient,
    failures: &mut Failures,
) -> Option<Round> {
    let (info, targets) = match (network.own_party_info().await, network.parties().await) {
        (Ok(info), Ok(targets)) => (info, targets),
        (Err(error), _) | (_, Err(error)) => {
            tracing::warn!(%error, "cannot read the network map; party info not sent this round");
            return None;
        }
    };
    let body = Bytes::from(info.encode());
    let limits = *network.limits();
    let results: Vec<_> = stream::iter(targets)
        .map(|url| {
            let body = body.clone();
            async move {
                let result = peers.post_party_info(&url, body).await;
                (url, result)
            }
        })
        .buffer_unordered(limits.broadcast_concurrency)
        .collect()
        .await;
    let mut round = Round {
        parties: results.len(),
        failed: 0,
    };
    for (url, result) in results {
        let Err(error) = result else {
            failures.0.remove(&url);
            continue;
        };
        round.failed += 1;
        let count = failures.0.entry(url.clone()).or_default();
        *count += 1;
        if matches!(error, PeerError::Tls { .. }) && *count == 1 {
            // Only a change of certificates or configuration fixes this: say so once per
            // run of failures, loudly, instead of retrying in silence.
            tracing::warn!(peer = %url, %error, "party info not sent: TLS handshake failed");
        } else {
            tracing::debug!(peer = %url, %error, failures = *count, "party info not accepted");
        }
        if *count >= limits.party_failure_limit {
            failures.0.remove(&url);
            tracing::info!(peer = %url, "party failed {} broadcasts in a row; forgetting it", limits.party_failure_limit);
            if let Err(error) = network.forget(&url).await {
                tracing::warn!(peer = %url, %error, "could not forget a failing party");
            }
        }
    }
    Some(round)
}
