//! Discovery: which peers exist and which keys each one holds (Tessera's PartyStore and
//! NetworkStore), learnt from the PartyInfo peers send each other.
//!
//! - A key's node is only ever learnt from that node itself: a PartyInfo's recipients are
//!   accepted only for the URL of the node that sent it.
//! - Party URLs a peer mentions are added to the peers to contact, unless discovery is disabled.
//! - [`broadcaster`] sends this node's PartyInfo to every peer periodically.
//! - [`key_validation`] makes a peer prove it holds the keys it claims (optional feature).

pub mod broadcaster;
pub mod key_validation;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::RwLock;

use cloister_core::keys::PublicKey;
use cloister_core::partyinfo::{normalize_url, PartyInfo};
use cloister_core::version;

/// A node of the network as this node knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerNode {
    /// Its normalised P2P URL.
    pub url: String,
    /// The API versions it advertised.
    pub versions: Vec<String>,
}

/// Why a PartyInfo was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// Discovery is disabled and the sender is not a configured peer.
    #[error("{0} is not a known peer")]
    UnknownPeer(String),
}

#[derive(Debug, Default)]
struct State {
    /// URLs to send PartyInfo to (configured and learnt).
    parties: BTreeSet<String>,
    /// Nodes that told us their keys: URL → (keys, versions).
    nodes: BTreeMap<String, (BTreeSet<PublicKey>, Vec<String>)>,
    /// Key → URL of the node holding it.
    key_index: HashMap<PublicKey, String>,
}

/// The network map. Shared by the P2P handlers, the broadcaster and the transaction manager.
#[derive(Debug)]
pub struct Network {
    own_url: String,
    own_keys: Vec<PublicKey>,
    configured_peers: BTreeSet<String>,
    disable_discovery: bool,
    state: RwLock<State>,
}

impl Network {
    /// A network map seeded with the configured peers and this node's own keys.
    pub fn new(
        own_url: &str,
        own_keys: Vec<PublicKey>,
        configured_peers: &[String],
        disable_discovery: bool,
    ) -> Self {
        let own_url = normalize_url(own_url);
        let configured_peers: BTreeSet<String> =
            configured_peers.iter().map(|u| normalize_url(u)).collect();
        let network = Self {
            own_url: own_url.clone(),
            own_keys: own_keys.clone(),
            configured_peers: configured_peers.clone(),
            disable_discovery,
            state: RwLock::new(State {
                parties: configured_peers,
                ..Default::default()
            }),
        };
        let versions = version::ADVERTISED_TO_PEERS
            .iter()
            .map(|v| (*v).to_owned())
            .collect();
        network.record(&own_url, own_keys.into_iter().collect(), versions);
        network
    }

    /// This node's advertised P2P URL.
    pub fn own_url(&self) -> &str {
        &self.own_url
    }

    /// The node holding `key`, if any node told us so.
    pub fn node_for_key(&self, key: &PublicKey) -> Option<PeerNode> {
        let state = self.read();
        let url = state.key_index.get(key)?;
        let (_, versions) = state.nodes.get(url)?;
        Some(PeerNode {
            url: url.clone(),
            versions: versions.clone(),
        })
    }

    /// Every (key, URL) known, own keys included (`/partyinfo/keys`, `GET /partyinfo`).
    pub fn known_keys(&self) -> Vec<(PublicKey, String)> {
        let state = self.read();
        let mut keys: Vec<(PublicKey, String)> = state
            .key_index
            .iter()
            .map(|(key, url)| (*key, url.clone()))
            .collect();
        keys.sort();
        keys
    }

    /// Every node other than this one that announced itself, with its versions.
    pub fn remote_nodes(&self) -> Vec<PeerNode> {
        let state = self.read();
        state
            .nodes
            .iter()
            .filter(|(url, _)| **url != self.own_url)
            .map(|(url, (_, versions))| PeerNode {
                url: url.clone(),
                versions: versions.clone(),
            })
            .collect()
    }

    /// Whether every configured peer has announced itself (its keys and versions are known).
    pub fn all_configured_peers_known(&self) -> bool {
        let state = self.read();
        self.configured_peers
            .iter()
            .all(|url| state.nodes.contains_key(url))
    }

    /// Every peer URL to contact (configured and learnt).
    pub fn parties(&self) -> Vec<String> {
        self.read().parties.iter().cloned().collect()
    }

    /// The keys a PartyInfo claims for its sender: only those listed under the sender's own URL.
    pub fn claimed_keys(info: &PartyInfo) -> BTreeSet<PublicKey> {
        info.recipients
            .iter()
            .filter(|r| r.url == info.url)
            .map(|r| r.key)
            .collect()
    }

    /// Refuses a PartyInfo from a node that is not a configured peer when discovery is off.
    pub fn admit(&self, info: &PartyInfo) -> Result<(), DiscoveryError> {
        if self.disable_discovery && !self.configured_peers.contains(&info.url) {
            return Err(DiscoveryError::UnknownPeer(info.url.clone()));
        }
        Ok(())
    }

    /// Handles a PartyInfo POSTed by a peer advertising `versions`, recording `keys` (its
    /// claimed keys, or those it proved) for it.
    pub fn receive(
        &self,
        info: &PartyInfo,
        keys: BTreeSet<PublicKey>,
        versions: Vec<String>,
    ) -> Result<(), DiscoveryError> {
        self.admit(info)?;
        self.record(&info.url, keys, versions);
        let mut state = self.write();
        state.parties.insert(info.url.clone());
        if !self.disable_discovery {
            state.parties.extend(
                info.parties
                    .iter()
                    .filter(|url| **url != self.own_url)
                    .cloned(),
            );
        }
        Ok(())
    }

    /// This node's PartyInfo: its URL, its own keys, and every party it knows (itself too).
    pub fn own_party_info(&self) -> PartyInfo {
        let recipients = self.own_keys.iter().map(|key| (*key, self.own_url.clone()));
        let mut parties = self.parties();
        parties.push(self.own_url.clone());
        PartyInfo::new(&self.own_url, recipients, parties)
    }

    /// The PartyInfo returned to a peer that POSTed its own: just this node's URL (Tessera's
    /// legacy-compatible reply).
    pub fn reply_party_info(&self) -> PartyInfo {
        PartyInfo::new(&self.own_url, [], [])
    }

    /// Forgets an unreachable peer. Configured peers are kept as contacts (they are the way
    /// back into the network) but lose their keys until they announce themselves again.
    pub fn forget(&self, url: &str) {
        let mut state = self.write();
        if !self.configured_peers.contains(url) {
            state.parties.remove(url);
        }
        if url != self.own_url {
            state.nodes.remove(url);
            state.key_index.retain(|_, owner| owner != url);
        }
    }

    fn record(&self, url: &str, keys: BTreeSet<PublicKey>, versions: Vec<String>) {
        let mut state = self.write();
        state.key_index.retain(|_, owner| owner != url);
        for key in &keys {
            state.key_index.insert(*key, url.to_owned());
        }
        state.nodes.insert(url.to_owned(), (keys, versions));
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> PublicKey {
        PublicKey::from_bytes([byte; 32])
    }

    #[test]
    fn keys_are_learnt_only_from_their_own_node() {
        let network = Network::new("http://a:1", vec![key(1)], &[], false);
        let info = PartyInfo::new(
            "http://b:2",
            [
                (key(2), "http://b:2/".into()),
                (key(3), "http://c:3/".into()),
            ],
            ["http://c:3/".into()],
        );
        network
            .receive(&info, Network::claimed_keys(&info), vec!["v1".into()])
            .unwrap();
        assert_eq!(network.node_for_key(&key(2)).unwrap().url, "http://b:2/");
        assert_eq!(network.node_for_key(&key(3)), None);
        assert_eq!(network.node_for_key(&key(1)).unwrap().url, "http://a:1/");
        assert_eq!(network.parties(), ["http://b:2/", "http://c:3/"]);
    }

    #[test]
    fn disabled_discovery_refuses_strangers_and_learns_no_parties() {
        let network = Network::new("http://a:1", vec![], &["http://b:2".into()], true);
        let stranger = PartyInfo::new("http://x:9", [], []);
        assert_eq!(
            network.receive(&stranger, BTreeSet::new(), vec![]),
            Err(DiscoveryError::UnknownPeer("http://x:9/".into()))
        );
        let peer = PartyInfo::new("http://b:2", [], ["http://c:3/".into()]);
        network.receive(&peer, BTreeSet::new(), vec![]).unwrap();
        assert_eq!(network.parties(), ["http://b:2/"]);
    }

    #[test]
    fn forgetting_a_node_drops_its_keys() {
        let network = Network::new("http://a:1", vec![], &[], false);
        let info = PartyInfo::new("http://b:2", [(key(2), "http://b:2/".into())], []);
        network
            .receive(&info, Network::claimed_keys(&info), vec![])
            .unwrap();
        network.forget("http://b:2/");
        assert_eq!(network.node_for_key(&key(2)), None);
        assert!(network.parties().is_empty());
    }
}
