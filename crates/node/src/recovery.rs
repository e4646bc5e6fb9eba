//! Recovery (`cloister node --recover`): a node whose store was lost asks every peer for the
//! transactions it is party to, stages what arrives, and stores it in dependency order.
//!
//! 1. Wait until every configured peer has announced itself (discovery runs meanwhile).
//! 2. Ask each remote node, for each local key: `/resendBatch` if it speaks `v2` (the peer
//!    answers only after delivering everything with `/pushBatch`), else legacy `/resend ALL`.
//! 3. Run the staging pass and store every staged transaction (`TransactionManager::sync_staged`).

use std::time::{Duration, Instant};

use cloister_core::keys::PublicKey;
use cloister_core::resend::{ResendBatchRequest, ResendRequest, ResendType};
use cloister_protocol::version;
use cloister_protocol::{media, path};

use crate::discovery::{Network, PeerNode};

use crate::peer_client::{PeerClient, PeerError};
use crate::transaction::recovery::Outcome;
use crate::transaction::TransactionManager;

/// Attempts per recovery request, as Tessera's requester makes.
const ATTEMPTS: usize = 5;
/// How long one peer may take to deliver everything for one key.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs a whole recovery and says how it went.
pub async fn recover(
    network: &Network,
    peers: &PeerClient,
    transactions: &TransactionManager,
    own_keys: &[PublicKey],
    discovery_wait: Duration,
) -> Outcome {
    let deadline = Instant::now() + discovery_wait;
    while !network.all_configured_peers_known().await.unwrap_or(false) && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let nodes = match network.remote_nodes().await {
        Ok(nodes) => nodes,
        Err(error) => {
            tracing::error!(%error, "cannot read the network map; nothing to recover from");
            return Outcome::Failure;
        }
    };
    if nodes.is_empty() {
        tracing::error!("no peer announced itself; nothing to recover from");
        return Outcome::Failure;
    }
    let peers = peers.with_timeout(REQUEST_TIMEOUT);
    let mut failures = 0;
    for node in &nodes {
        for key in own_keys {
            if let Err(error) = request(&peers, node, key).await {
                failures += 1;
                tracing::warn!(peer = %node.url, %key, %error, "recovery request failed");
            }
        }
    }
    let requested = match failures {
        0 => Outcome::Success,
        n if n == nodes.len() * own_keys.len() => Outcome::Failure,
        _ => Outcome::PartialSuccess,
    };
    let synced = transactions.sync_staged().await.unwrap_or_else(|error| {
        tracing::error!(%error, "recovery sync failed");
        Outcome::Failure
    });
    requested.max(synced)
}

async fn request(peers: &PeerClient, node: &PeerNode, key: &PublicKey) -> Result<(), PeerError> {
    let batched = node.versions.iter().any(|v| v == version::V2);
    let (api_path, body) = if batched {
        let body = ResendBatchRequest {
            public_key: key.to_base64(),
            batch_size: ResendBatchRequest::DEFAULT_BATCH_SIZE,
        };
        (path::RESEND_BATCH, serde_json::to_vec(&body))
    } else {
        let body = ResendRequest {
            resend_type: ResendType::All,
            public_key: key.to_base64(),
            key: None,
        };
        (path::RESEND, serde_json::to_vec(&body))
    };
    let body = bytes::Bytes::from(body.expect("request bodies always serialize"));
    let mut last = None;
    for _ in 0..ATTEMPTS {
        match peers
            .post(&node.url, api_path, media::JSON, body.clone())
            .await
        {
            Ok(_) => return Ok(()),
            Err(error) => last = Some(error),
        }
    }
    Err(last.expect("at least one attempt was made"))
}
