//! The PartyInfo broadcaster: every `partyInfoInterval`, this node's PartyInfo goes to every
//! known peer. A peer that cannot be reached is forgotten (until it announces itself again).

use std::sync::Arc;
use std::time::Duration;

use super::Network;
use crate::peer_client::{PeerClient, PeerError};

/// Runs the broadcast loop until the task is dropped.
pub async fn run(network: Arc<Network>, peers: PeerClient, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        broadcast_once(&network, &peers).await;
    }
}

/// Sends this node's PartyInfo to every known peer once, concurrently.
pub async fn broadcast_once(network: &Network, peers: &PeerClient) {
    let (info, targets) = match (network.own_party_info().await, network.parties().await) {
        (Ok(info), Ok(targets)) => (info, targets),
        (Err(error), _) | (_, Err(error)) => {
            tracing::warn!(%error, "cannot read the network map; party info not sent this round");
            return;
        }
    };
    let body = info.encode();
    let sends = targets.into_iter().map(|url| {
        let body = body.clone();
        async move {
            let result = peers.post_party_info(&url, body).await;
            (url, result)
        }
    });
    for (url, result) in futures_util::future::join_all(sends).await {
        match result {
            Ok(()) => {}
            Err(PeerError::Unreachable(reason)) => {
                tracing::debug!(peer = %url, %reason, "peer unreachable; forgetting it");
                if let Err(error) = network.forget(&url).await {
                    tracing::warn!(peer = %url, %error, "could not forget an unreachable peer");
                }
            }
            Err(error) => tracing::debug!(peer = %url, %error, "party info not accepted"),
        }
    }
}
