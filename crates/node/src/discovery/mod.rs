//! Discovery: which peers exist and which keys each one holds (Tessera's PartyStore and
//! NetworkStore), learnt from the PartyInfo peers send each other.
//!
//! - The state lives in the store (Cloister's discovery tables), not in this process: replicas
//!   sharing a store share what any of them learnt, so no replica answers differently from its
//!   twin. Only this node's own URL, keys and configured peers come from its settings.
//! - A key's node is only ever learnt from that node itself: a PartyInfo's recipients are
//!   accepted only for the URL of the node that sent it. This node's own keys always resolve
//!   to itself, whatever a peer claims.
//! - Party URLs a peer mentions are added to the peers to contact, unless discovery is disabled.
//! - [`broadcaster`] sends this node's PartyInfo to every peer periodically.
//! - [`key_validation`] makes a peer prove it holds the keys it claims (optional feature).

pub mod broadcaster;
pub mod key_validation;

use std::collections::BTreeSet;
use std::sync::Arc;

use cloister_core::keys::PublicKey;
use cloister_core::partyinfo::{normalize_url, PartyInfo};
use cloister_protocol::version;
use cloister_store::{PeerRow, Store, StoreError};

/// A node of the network as this node knows it: its normalised P2P URL and the API versions
/// it advertised.
pub type PeerNode = PeerRow;

/// Why a PartyInfo was refused or could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// Discovery is disabled and the sender is not a configured peer.
    #[error("{0} is not a known peer")]
    UnknownPeer(String),
    /// The store holding the network map did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The network map, over the store. Shared by the P2P handlers, the broadcaster and the
/// transaction manager.
pub struct Network {
    own: PeerNode,
    own_keys: BTreeSet<PublicKey>,
    configured_peers: BTreeSet<String>,
    disable_discovery: bool,
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("own_url", &self.own.url)
            .finish_non_exhaustive()
    }
}

impl Network {
    /// The network map of a node with these own keys and configured peers; the configured
    /// peers are added to the store's party list.
    pub async fn new(
        own_url: &str,
        own_keys: Vec<PublicKey>,
        configured_peers: &[String],
        disable_discovery: bool,
        store: Arc<dyn Store>,
    ) -> Result<Self, StoreError> {
        let configured_peers: BTreeSet<String> =
            configured_peers.iter().map(|u| normalize_url(u)).collect();
        let peers: Vec<String> = configured_peers.iter().cloned().collect();
        store.add_parties(&peers).await?;
        Ok(Self {
            own: PeerNode {
                url: normalize_url(own_url),
                versions: version::ADVERTISED_TO_PEERS
                    .iter()
                    .map(|v| (*v).to_owned())
                    .collect(),
            },
            own_keys: own_keys.into_iter().collect(),
            configured_peers,
            disable_discovery,
            store,
        })
    }

    /// This node's advertised P2P URL.
    pub fn own_url(&self) -> &str {
        &self.own.url
    }

    /// The node holding `key`, if any node told us so (this node, for its own keys).
    pub async fn node_for_key(&self, key: &PublicKey) -> Result<Option<PeerNode>, StoreError> {
        if self.own_keys.contains(key) {
            return Ok(Some(self.own.clone()));
        }
        self.store.peer_for_key(key).await
    }

    /// Every (key, URL) known, own keys included (`/partyinfo/keys`, `GET /partyinfo`).
    pub async fn known_keys(&self) -> Result<Vec<(PublicKey, String)>, StoreError> {
        let mut keys: Vec<(PublicKey, String)> = self
            .store
            .list_peer_keys()
            .await?
            .into_iter()
            .filter(|row| !self.own_keys.contains(&row.key))
            .map(|row| (row.key, row.url))
            .chain(self.own_keys.iter().map(|key| (*key, self.own.url.clone())))
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// Every node other than this one that announced itself, with its versions.
    pub async fn remote_nodes(&self) -> Result<Vec<PeerNode>, StoreError> {
        let mut nodes = self.store.list_peers().await?;
        nodes.retain(|node| node.url != self.own.url);
        Ok(nodes)
    }

    /// Whether every configured peer has announced itself (its keys and versions are known).
    pub async fn all_configured_peers_known(&self) -> Result<bool, StoreError> {
        let known: BTreeSet<String> = self
            .remote_nodes()
            .await?
            .into_iter()
            .map(|n| n.url)
            .collect();
        Ok(self.configured_peers.is_subset(&known))
    }

    /// Every peer URL to contact (configured and learnt), never this node's own.
    pub async fn parties(&self) -> Result<Vec<String>, StoreError> {
        let mut parties = self.store.list_parties().await?;
        parties.retain(|url| *url != self.own.url);
        Ok(parties)
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
    pub async fn receive(
        &self,
        info: &PartyInfo,
        keys: BTreeSet<PublicKey>,
        versions: Vec<String>,
    ) -> Result<(), DiscoveryError> {
        self.admit(info)?;
        if info.url == self.own.url {
            return Ok(());
        }
        let keys: Vec<PublicKey> = keys.difference(&self.own_keys).copied().collect();
        let node = PeerNode {
            url: info.url.clone(),
            versions,
        };
        self.store.record_peer(&node, &keys).await?;
        let mut parties = vec![info.url.clone()];
        if !self.disable_discovery {
            parties.extend(
                info.parties
                    .iter()
                    .filter(|url| **url != self.own.url)
                    .cloned(),
            );
        }
        self.store.add_parties(&parties).await?;
        Ok(())
    }

    /// This node's PartyInfo: its URL, its own keys, and every party it knows (itself too).
    pub async fn own_party_info(&self) -> Result<PartyInfo, StoreError> {
        let recipients = self.own_keys.iter().map(|key| (*key, self.own.url.clone()));
        let mut parties = self.parties().await?;
        parties.push(self.own.url.clone());
        Ok(PartyInfo::new(&self.own.url, recipients, parties))
    }

    /// The PartyInfo returned to a peer that POSTed its own: just this node's URL (Tessera's
    /// legacy-compatible reply).
    pub fn reply_party_info(&self) -> PartyInfo {
        PartyInfo::new(&self.own.url, [], [])
    }

    /// Forgets an unreachable peer. Configured peers are kept as contacts (they are the way
    /// back into the network) but lose their keys until they announce themselves again.
    pub async fn forget(&self, url: &str) -> Result<(), StoreError> {
        if url == self.own.url {
            return Ok(());
        }
        if !self.configured_peers.contains(url) {
            self.store.remove_party(url).await?;
        }
        self.store.forget_peer(url).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloister_store::{SqliteOptions, SqliteStore};

    fn key(byte: u8) -> PublicKey {
        PublicKey::from_bytes([byte; 32])
    }

    fn store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
        let options = SqliteOptions {
            auto_create_tables: true,
            ..Default::default()
        };
        Arc::new(SqliteStore::open(&dir.path().join("db"), &options).unwrap())
    }

    async fn network(
        dir: &tempfile::TempDir,
        own_keys: Vec<PublicKey>,
        peers: &[String],
        disable: bool,
    ) -> Network {
        Network::new("http://a:1", own_keys, peers, disable, store(dir))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn keys_are_learnt_only_from_their_own_node() {
        let dir = tempfile::tempdir().unwrap();
        let network = network(&dir, vec![key(1)], &[], false).await;
        let info = PartyInfo::new(
            "http://b:2",
            [
                (key(2), "http://b:2/".into()),
                (key(3), "http://c:3/".into()),
                (key(1), "http://b:2/".into()),
            ],
            ["http://c:3/".into()],
        );
        network
            .receive(&info, Network::claimed_keys(&info), vec!["v1".into()])
            .await
            .unwrap();
        let network = &network;
        let url = |k| async move { network.node_for_key(&key(k)).await.unwrap().map(|n| n.url) };
        assert_eq!(url(2).await.as_deref(), Some("http://b:2/"));
        assert_eq!(url(3).await, None);
        assert_eq!(
            url(1).await.as_deref(),
            Some("http://a:1/"),
            "own keys stay ours"
        );
        assert_eq!(
            network.parties().await.unwrap(),
            ["http://b:2/", "http://c:3/"]
        );
    }

    #[tokio::test]
    async fn disabled_discovery_refuses_strangers_and_learns_no_parties() {
        let dir = tempfile::tempdir().unwrap();
        let network = network(&dir, vec![], &["http://b:2".into()], true).await;
        let stranger = PartyInfo::new("http://x:9", [], []);
        assert!(matches!(
            network.receive(&stranger, BTreeSet::new(), vec![]).await,
            Err(DiscoveryError::UnknownPeer(url)) if url == "http://x:9/"
        ));
        let peer = PartyInfo::new("http://b:2", [], ["http://c:3/".into()]);
        network
            .receive(&peer, BTreeSet::new(), vec![])
            .await
            .unwrap();
        assert_eq!(network.parties().await.unwrap(), ["http://b:2/"]);
    }

    #[tokio::test]
    async fn forgetting_a_node_drops_its_keys() {
        let dir = tempfile::tempdir().unwrap();
        let network = network(&dir, vec![], &[], false).await;
        let info = PartyInfo::new("http://b:2", [(key(2), "http://b:2/".into())], []);
        network
            .receive(&info, Network::claimed_keys(&info), vec![])
            .await
            .unwrap();
        network.forget("http://b:2/").await.unwrap();
        assert_eq!(network.node_for_key(&key(2)).await.unwrap(), None);
        assert!(network.parties().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn replicas_on_one_store_see_what_either_learnt() {
        let dir = tempfile::tempdir().unwrap();
        let shared = store(&dir);
        let replica = |url: &'static str| {
            let shared = Arc::clone(&shared);
            async move {
                Network::new(url, vec![key(1)], &[], false, shared)
                    .await
                    .unwrap()
            }
        };
        let (one, two) = (replica("http://r1:1").await, replica("http://r2:1").await);
        let info = PartyInfo::new("http://b:2", [(key(2), "http://b:2/".into())], []);
        one.receive(&info, Network::claimed_keys(&info), vec!["4.0".into()])
            .await
            .unwrap();
        let learnt = two.node_for_key(&key(2)).await.unwrap().unwrap();
        assert_eq!(
            (learnt.url.as_str(), learnt.versions.as_slice()),
            ("http://b:2/", ["4.0".to_owned()].as_slice())
        );
        assert_eq!(two.parties().await.unwrap(), ["http://b:2/"]);
        two.forget("http://b:2/").await.unwrap();
        assert_eq!(one.node_for_key(&key(2)).await.unwrap(), None);
    }
}
