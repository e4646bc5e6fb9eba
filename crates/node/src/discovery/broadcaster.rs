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
    let body = network.own_party_info().encode();
    let targets = network
        .parties()
        .into_iter()
        .filter(|url| url != network.own_url());
    let sends = targets.map(|url| {
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
                network.forget(&url);
            }
            Err(error) => tracing::debug!(peer = %url, %error, "party info not accepted"),
        }
    }
}
