//! What a caller can cost this node, and where each bound is set: the `properties` of the
//! server in `serverConfigs[]` (Tessera ignores properties it does not know, so a config keeps
//! working with both). Each default is one a real consortium never reaches; docs/security.md
//! lists them all.

use cloister_core::config::{ConfigIssue, ServerConfig};
use cloister_net::admission::member::{HEADER_TIMEOUT_MS, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_IP};
use cloister_net::ListenerLimits;

/// `maxPartiesPerMessage`: party URLs one PartyInfo may name.
pub const MAX_PARTIES_PER_MESSAGE: &str = "maxPartiesPerMessage";
/// `maxKeysPerMessage`: keys one PartyInfo may claim.
pub const MAX_KEYS_PER_MESSAGE: &str = "maxKeysPerMessage";
/// `maxParties`: party URLs the node keeps contacting in all.
pub const MAX_PARTIES: &str = "maxParties";
/// `partyFailureLimit`: failed broadcasts in a row after which a learnt party is forgotten.
pub const PARTY_FAILURE_LIMIT: &str = "partyFailureLimit";
/// `broadcastConcurrency`: PartyInfo posts in flight at once.
pub const BROADCAST_CONCURRENCY: &str = "broadcastConcurrency";
/// `maxResendBatchBytes`: the encoded size at which a `/resendBatch` delivery is sent.
pub const MAX_RESEND_BATCH_BYTES: &str = "maxResendBatchBytes";
/// `maxConcurrentResends`: `/resend` and `/resendBatch` requests served at once.
pub const MAX_CONCURRENT_RESENDS: &str = "maxConcurrentResends";
/// `maxPeerResponseBytes`: the largest answer read from a peer.
pub const MAX_PEER_RESPONSE_BYTES: &str = "maxPeerResponseBytes";

/// A listener's bounds: the defaults overridden by `config`'s properties; issue paths are
/// relative to it.
pub fn listener_limits(config: Option<&ServerConfig>) -> Result<ListenerLimits, ConfigIssue> {
    let mut limits = ListenerLimits::default();
    let Some(config) = config else {
        return Ok(limits);
    };
    set(
        &mut limits.connections.max_connections,
        config,
        MAX_CONNECTIONS,
    )?;
    set(
        &mut limits.connections.max_per_ip,
        config,
        MAX_CONNECTIONS_PER_IP,
    )?;
    if let Some(timeout) = config.duration_property(HEADER_TIMEOUT_MS)? {
        limits.header_timeout = (!timeout.is_zero()).then_some(timeout);
    }
    Ok(limits)
}

/// What the P2P protocol lets a peer cost: discovery, resends and answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerLimits {
    /// `maxPartiesPerMessage`: a PartyInfo naming more parties is refused.
    pub max_parties_per_message: usize,
    /// `maxKeysPerMessage`: a PartyInfo claiming more keys is refused (each new claim costs a
    /// key-ownership challenge).
    pub max_keys_per_message: usize,
    /// `maxParties`: parties learnt beyond this are not added.
    pub max_parties: usize,
    /// `partyFailureLimit`: a learnt party whose PartyInfo broadcasts fail this many times in a
    /// row is forgotten (configured peers are kept).
    pub party_failure_limit: u32,
    /// `broadcastConcurrency`: PartyInfo posts in flight at once.
    pub broadcast_concurrency: usize,
    /// `maxResendBatchBytes`: a `/resendBatch` delivery is sent once its encoded payloads reach
    /// this size (or the requested batch size), so a batch never holds more.
    pub max_resend_batch_bytes: usize,
    /// `maxConcurrentResends`: `/resend` and `/resendBatch` requests served at once; more wait.
    pub max_concurrent_resends: usize,
    /// `maxPeerResponseBytes`: the largest answer read from a peer.
    pub max_peer_response_bytes: usize,
}

impl Default for PeerLimits {
    fn default() -> Self {
        Self {
            max_parties_per_message: 256,
            max_keys_per_message: 256,
            max_parties: 1024,
            party_failure_limit: 3,
            broadcast_concurrency: 16,
            max_resend_batch_bytes: 8 * 1024 * 1024,
            max_concurrent_resends: 2,
            max_peer_response_bytes: 1024 * 1024,
        }
    }
}

impl PeerLimits {
    /// The defaults overridden by the P2P server's properties; issue paths are relative to it.
    pub fn from_config(config: Option<&ServerConfig>) -> Result<Self, ConfigIssue> {
        let mut limits = Self::default();
        let Some(config) = config else {
            return Ok(limits);
        };
        set(
            &mut limits.max_parties_per_message,
            config,
            MAX_PARTIES_PER_MESSAGE,
        )?;
        set(
            &mut limits.max_keys_per_message,
            config,
            MAX_KEYS_PER_MESSAGE,
        )?;
        set(&mut limits.max_parties, config, MAX_PARTIES)?;
        set(
            &mut limits.broadcast_concurrency,
            config,
            BROADCAST_CONCURRENCY,
        )?;
        set(
            &mut limits.max_resend_batch_bytes,
            config,
            MAX_RESEND_BATCH_BYTES,
        )?;
        set(
            &mut limits.max_concurrent_resends,
            config,
            MAX_CONCURRENT_RESENDS,
        )?;
        set(
            &mut limits.max_peer_response_bytes,
            config,
            MAX_PEER_RESPONSE_BYTES,
        )?;
        if let Some(failures) = config.count_property(PARTY_FAILURE_LIMIT)? {
            limits.party_failure_limit = u32::try_from(failures).unwrap_or(u32::MAX);
        }
        Ok(limits)
    }
}

/// Sets `value` from a count property, which must be at least 1 (a bound of 0 would refuse
/// everything).
fn set(value: &mut usize, config: &ServerConfig, name: &str) -> Result<(), ConfigIssue> {
    match config.count_property(name)? {
        Some(0) => Err(ConfigIssue::new(
            format!("properties.{name}"),
            "must be at least 1",
        )),
        Some(count) => {
            *value = count;
            Ok(())
        }
        None => Ok(()),
    }
}
