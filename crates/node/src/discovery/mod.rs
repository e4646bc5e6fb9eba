//! Discovery: which peers exist and which keys each one holds (Tessera's PartyStore and
//! NetworkStore), learnt from the PartyInfo peers send each other.
//!
//! - The state lives in the store (Cloister's discovery tables), not in this process: replicas
//!   sharing a store share what any of them learnt, so no replica answers differently from its
//!   twin. Only this node's own URL, keys and configured peers come from its settings.
//! - Nothing a peer merely claims is believed: a key is credited to a URL, or moved to it, only
//!   once the node at that URL proves it holds the key ([`key_validation`], on by default), and
//!   an announcement never removes a key (only forgetting a node that keeps failing does). The
//!   versions a node advertises are recorded with a proof made at that moment.
//! - What one announcement can cost is bounded ([`PeerLimits`]): the parties and keys it may
//!   name, the URLs it may use (http(s), at most [`MAX_URL_BYTES`]), the parties kept in all.
//! - [`broadcaster`] sends this node's PartyInfo to every party periodically and forgets those
//!   that keep failing.

pub mod broadcaster;
pub mod key_validation;
mod route_cache;

use std::collections::BTreeSet;
use std::sync::Arc;

use cloister_addr::Endpoint;
use cloister_core::keys::PublicKey;
use cloister_core::partyinfo::{normalize_url, PartyInfo};
use cloister_protocol::version;
use cloister_store::{PeerRow, Store, StoreError};
use cloister_tls::fingerprint::NO_COMMON_NAME;
use cloister_tls::trust::hostname::{names_url_host, HostnameError};
use cloister_tls::CertificateIdentity;
use rustls::pki_types::CertificateDer;

use crate::limits::PeerLimits;
use key_validation::KeyProof;
use route_cache::RouteCache;

/// A node of the network as this node knows it: its normalised P2P URL and the API versions
/// it advertised.
pub type PeerNode = PeerRow;

/// The longest URL accepted from a peer (the width of the discovery tables' URL columns).
pub const MAX_URL_BYTES: usize = 2048;

/// Why a PartyInfo was refused or could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// Discovery is disabled and the sender is not a configured peer.
    #[error("{0} is not a known peer")]
    UnknownPeer(String),
    /// The sender's URL is not one this node could ever call.
    #[error(
        "the PartyInfo's url is not an http(s)://host:port URL of at most {MAX_URL_BYTES} bytes"
    )]
    InvalidUrl,
    /// More parties than `maxPartiesPerMessage`.
    #[error("the PartyInfo names {count} parties; at most {max} are accepted")]
    TooManyParties {
        /// Parties named.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// More keys than `maxKeysPerMessage`.
    #[error("the PartyInfo claims {count} keys; at most {max} are accepted")]
    TooManyKeys {
        /// Keys claimed.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// The request came over mutual TLS and the client certificate does not name the host of
    /// the URL the PartyInfo speaks for: a peer may set keys only for its own URL.
    #[error("the client certificate (CN {cn}) does not name the host of the PartyInfo's url {url}: {reason}; a peer may announce keys only for a URL its certificate names")]
    NotTheCertificatesUrl {
        /// The PartyInfo's url.
        url: String,
        /// The client certificate's first CN (`null` when none).
        cn: String,
        /// Which names were compared.
        reason: HostnameError,
    },
    /// The sender claims keys and proved none of them (Tessera answers 500).
    #[error("the sender proved none of the keys it claims")]
    KeysNotProven,
    /// The store holding the network map did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a checked announcement says: its sender, the keys it claims for itself and the other
/// parties it names (usable URLs only).
#[derive(Debug)]
struct Announcement {
    url: String,
    claimed: BTreeSet<PublicKey>,
    parties: Vec<String>,
}

/// What became of an announcement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Received {
    /// Keys newly credited to the sender.
    pub keys_recorded: usize,
    /// Parties newly added to the ones this node contacts.
    pub parties_added: usize,
}

/// The network map, over the store. Shared by the P2P handlers, the broadcaster and the
/// transaction manager.
pub struct Network {
    own: PeerNode,
    own_keys: BTreeSet<PublicKey>,
    configured_peers: BTreeSet<String>,
    disable_discovery: bool,
    limits: PeerLimits,
    store: Arc<dyn Store>,
    routes: RouteCache,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("own_url", &self.own.url)
            .finish_non_exhaustive()
    }
}

/// Whether two lists advertise the same versions, whatever their order.
fn same_versions(a: &[String], b: &[String]) -> bool {
    a.iter().collect::<BTreeSet<_>>() == b.iter().collect::<BTreeSet<_>>()
}

/// Whether `url` (normalised) is one this node could call: an http(s) URL with a real port,
/// and short enough for the discovery tables.
pub fn is_peer_url(url: &str) -> bool {
    url.len() <= MAX_URL_BYTES
        && Endpoint::parse_url(url).is_ok_and(|endpoint| endpoint.tcp().is_ok())
}

/// The discovery identity rule: over mutual TLS, the client certificate must name the host of
/// the URL a PartyInfo speaks for (its subjectAltNames, else its CN; see
/// [`cloister_tls::trust::hostname::names_url_host`]). Without it, any peer holding a
/// certificate the trust mode accepts could announce keys for another party's URL.
pub fn check_caller(url: &str, certificate: &CertificateDer<'_>) -> Result<(), DiscoveryError> {
    let endpoint = Endpoint::parse_url(url).map_err(|_| DiscoveryError::InvalidUrl)?;
    let tcp = endpoint.tcp().map_err(|_| DiscoveryError::InvalidUrl)?;
    names_url_host(certificate, &tcp.host, Some(tcp.port)).map_err(|reason| {
        DiscoveryError::NotTheCertificatesUrl {
            url: url.to_owned(),
            cn: CertificateIdentity::of(certificate)
                .map(|identity| identity.known_hosts_key().to_owned())
                .unwrap_or_else(|_| NO_COMMON_NAME.to_owned()),
            reason,
        }
    })
}

impl Network {
    /// The network map of a node with these own keys and configured peers; the configured
    /// peers are added to the store's party list (whatever its cap: they are the operator's).
    pub async fn new(
        own_url: &str,
        own_keys: Vec<PublicKey>,
        configured_peers: &[String],
        disable_discovery: bool,
        limits: PeerLimits,
        store: Arc<dyn Store>,
    ) -> Result<Self, StoreError> {
        let configured_peers: BTreeSet<String> =
            configured_peers.iter().map(|u| normalize_url(u)).collect();
        let peers: Vec<String> = configured_peers.iter().cloned().collect();
        store.add_parties(&peers, usize::MAX).await?;
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
            limits,
            store,
            routes: RouteCache::default(),
        })
    }

    /// This node's advertised P2P URL.
    pub fn own_url(&self) -> &str {
        &self.own.url
    }

    /// What peers may cost this node.
    pub fn limits(&self) -> &PeerLimits {
        &self.limits
    }

    /// The node holding `key`, if any node proved it (this node, for its own keys); an answer
    /// from the store is reused for a second ([`route_cache`]).
    pub async fn node_for_key(&self, key: &PublicKey) -> Result<Option<PeerNode>, StoreError> {
        if self.own_keys.contains(key) {
            return Ok(Some(self.own.clone()));
        }
        if let Some(node) = self.routes.get(key) {
            return Ok(Some(node));
        }
        let node = self.store.peer_for_key(key).await?;
        if let Some(node) = &node {
            self.routes.put(*key, node);
        }
        Ok(node)
    }

    /// [`Network::node_for_key`] for each of `keys`, in order: the remembered answers, and one
    /// store read for all the others (a send to five recipients asks at most once, not five
    /// times).
    pub async fn nodes_for_keys(
        &self,
        keys: &[PublicKey],
    ) -> Result<Vec<Option<PeerNode>>, StoreError> {
        let mut nodes: Vec<Option<PeerNode>> = keys
            .iter()
            .map(|key| {
                if self.own_keys.contains(key) {
                    Some(self.own.clone())
                } else {
                    self.routes.get(key)
                }
            })
            .collect();
        let missing: Vec<PublicKey> = keys
            .iter()
            .zip(&nodes)
            .filter(|(_, node)| node.is_none())
            .map(|(key, _)| *key)
            .collect();
        if missing.is_empty() {
            return Ok(nodes);
        }
        let mut found = self.store.peers_for_keys(&missing).await?.into_iter();
        for (key, slot) in keys.iter().zip(nodes.iter_mut()) {
            if slot.is_none() {
                *slot = found.next().flatten();
                if let Some(node) = slot {
                    self.routes.put(*key, node);
                }
            }
        }
        Ok(nodes)
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

    /// Every peer URL to contact (configured and learnt), never this node's own, at most
    /// `maxParties` of them (a database filled before the cap existed is read no further).
    pub async fn parties(&self) -> Result<Vec<String>, StoreError> {
        let mut parties = self.store.list_parties().await?;
        parties.retain(|url| *url != self.own.url);
        parties.truncate(self.limits.max_parties.max(self.configured_peers.len()));
        Ok(parties)
    }

    /// Handles a PartyInfo a peer POSTed, advertising `versions`: checks its bounds, credits the
    /// sender with the keys it proves (`proof` decides what counts as proof), and adds the
    /// parties it names. Writes nothing when nothing changed.
    ///
    /// `caller` is the client certificate when the request came over mutual TLS: its names
    /// must then cover the host of the PartyInfo's url ([`check_caller`]), or nothing is
    /// recorded at all.
    pub async fn receive(
        &self,
        info: &PartyInfo,
        versions: Vec<String>,
        proof: &KeyProof<'_>,
        caller: Option<&CertificateDer<'_>>,
    ) -> Result<Received, DiscoveryError> {
        let announcement = self.check(info)?;
        if let Some(certificate) = caller {
            check_caller(&announcement.url, certificate)?;
        }
        if announcement.url == self.own.url {
            return Ok(Received::default());
        }
        let url = announcement.url.as_str();
        let recorded = self.recorded_for(url, &announcement.claimed).await?;
        let fresh: Vec<PublicKey> = announcement
            .claimed
            .iter()
            .filter(|key| !recorded.iter().any(|(k, _)| k == *key))
            .copied()
            .collect();
        let proven = proof.proven(url, &fresh).await;
        if !announcement.claimed.is_empty() && proven.is_empty() && recorded.is_empty() {
            return Err(DiscoveryError::KeysNotProven);
        }
        let stored_versions = recorded.first().map(|(_, node)| node.versions.clone());
        let versions = match stored_versions {
            // Versions change only with a proof made now: a recorded key, proven again.
            Some(stored) if !same_versions(&stored, &versions) && proven.is_empty() => {
                let again: Vec<PublicKey> = recorded.iter().take(1).map(|(k, _)| *k).collect();
                if proof.proven(url, &again).await.is_empty() {
                    stored
                } else {
                    versions
                }
            }
            _ => versions,
        };
        let changed = !proven.is_empty()
            || recorded
                .first()
                .is_some_and(|(_, node)| !same_versions(&node.versions, &versions));
        if changed || (recorded.is_empty() && proof.trusts_claims()) {
            let node = PeerNode {
                url: url.to_owned(),
                versions,
            };
            self.store.record_peer(&node, &proven).await?;
            self.routes.clear();
        }
        let mut parties = Vec::new();
        if !proven.is_empty() || !recorded.is_empty() || proof.trusts_claims() {
            parties.push(announcement.url.clone());
        }
        if !self.disable_discovery {
            parties.extend(announcement.parties);
        }
        let parties_added = self
            .store
            .add_parties(&parties, self.limits.max_parties)
            .await?;
        Ok(Received {
            keys_recorded: proven.len(),
            parties_added,
        })
    }

    /// The announcement, if it is within bounds and from a node this one may hear from.
    fn check(&self, info: &PartyInfo) -> Result<Announcement, DiscoveryError> {
        let limits = &self.limits;
        if info.parties.len() > limits.max_parties_per_message {
            return Err(DiscoveryError::TooManyParties {
                count: info.parties.len(),
                max: limits.max_parties_per_message,
            });
        }
        if !is_peer_url(&info.url) {
            return Err(DiscoveryError::InvalidUrl);
        }
        if self.disable_discovery && !self.configured_peers.contains(&info.url) {
            return Err(DiscoveryError::UnknownPeer(info.url.clone()));
        }
        let claimed: BTreeSet<PublicKey> = info
            .recipients
            .iter()
            .filter(|r| r.url == info.url)
            .map(|r| r.key)
            .filter(|key| !self.own_keys.contains(key))
            .collect();
        if claimed.len() > limits.max_keys_per_message {
            return Err(DiscoveryError::TooManyKeys {
                count: claimed.len(),
                max: limits.max_keys_per_message,
            });
        }
        let parties = info
            .parties
            .iter()
            .filter(|url| **url != self.own.url && is_peer_url(url))
            .cloned()
            .collect();
        Ok(Announcement {
            url: info.url.clone(),
            claimed,
            parties,
        })
    }

    /// The keys among `claimed` already credited to `url`, each with the node's record.
    async fn recorded_for(
        &self,
        url: &str,
        claimed: &BTreeSet<PublicKey>,
    ) -> Result<Vec<(PublicKey, PeerNode)>, StoreError> {
        let mut recorded = Vec::new();
        for key in claimed {
            if let Some(node) = self.store.peer_for_key(key).await? {
                if node.url == url {
                    recorded.push((*key, node));
                }
            }
        }
        Ok(recorded)
    }

    /// This node's PartyInfo: its URL, its own keys, and every party it knows (itself too).
    pub async fn own_party_info(&self) -> Result<PartyInfo, StoreError> {
        let recipients = self.own_keys.iter().map(|key| (*key, self.own.url.clone()));
        let mut parties = self.parties().await?;
        parties.truncate(self.limits.max_parties_per_message.saturating_sub(1));
        parties.push(self.own.url.clone());
        Ok(PartyInfo::new(&self.own.url, recipients, parties))
    }

    /// The PartyInfo returned to a peer that POSTed its own: just this node's URL (Tessera's
    /// legacy-compatible reply).
    pub fn reply_party_info(&self) -> PartyInfo {
        PartyInfo::new(&self.own.url, [], [])
    }

    /// Forgets a peer that keeps failing. Configured peers are kept as contacts (they are the
    /// way back into the network) but lose their keys until they prove them again.
    pub async fn forget(&self, url: &str) -> Result<(), StoreError> {
        if url == self.own.url {
            return Ok(());
        }
        if !self.configured_peers.contains(url) {
            self.store.remove_party(url).await?;
        }
        self.store.forget_peer(url).await?;
        self.routes.clear();
        Ok(())
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
        let limits = PeerLimits::default();
        Network::new("http://a:1", own_keys, peers, disable, limits, store(dir))
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
            .receive(&info, vec!["v1".into()], &KeyProof::Claims, None)
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
    async fn many_keys_are_looked_up_in_order_remembered_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let network = network(&dir, vec![key(1)], &[], false).await;
        let info = PartyInfo::new("http://b:2", [(key(2), "http://b:2/".into())], []);
        network
            .receive(&info, vec!["v1".into()], &KeyProof::Claims, None)
            .await
            .unwrap();
        let urls = |nodes: Vec<Option<PeerNode>>| -> Vec<Option<String>> {
            nodes.into_iter().map(|n| n.map(|n| n.url)).collect()
        };
        let expected = [None, Some("http://b:2/".into()), Some("http://a:1/".into())];
        let keys = [key(9), key(2), key(1)];
        // Once from the store, then with key 2 remembered: the same answer.
        for _ in 0..2 {
            let found = network.nodes_for_keys(&keys).await.unwrap();
            assert_eq!(urls(found), expected);
        }
        assert_eq!(network.nodes_for_keys(&[]).await.unwrap(), []);
    }

    fn client_certificate(names: &[&str]) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().unwrap();
        let names = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        rcgen::CertificateParams::new(names)
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .der()
            .clone()
    }

    #[tokio::test]
    async fn over_mutual_tls_a_peer_sets_keys_only_for_the_url_its_certificate_names() {
        let dir = tempfile::tempdir().unwrap();
        let network = network(&dir, vec![], &[], false).await;
        let claiming_b = PartyInfo::new(
            "https://b.example:2",
            [(key(2), "https://b.example:2/".into())],
            ["https://c.example:3/".into()],
        );
        // A certificate for c.example speaking for b.example: refused, nothing recorded.
        let c = client_certificate(&["c.example"]);
        let refused = network
            .receive(&claiming_b, vec![], &KeyProof::Claims, Some(&c))
            .await
            .unwrap_err();
        assert!(
            matches!(refused, DiscoveryError::NotTheCertificatesUrl { .. }),
            "{refused}"
        );
        assert!(
            refused.to_string().contains("https://b.example:2/"),
            "{refused}"
        );
        assert_eq!(network.node_for_key(&key(2)).await.unwrap(), None);
        assert!(network.parties().await.unwrap().is_empty());
        // b.example's own certificate (an IP SAN or a DNS SAN): accepted.
        let b = client_certificate(&["b.example", "10.0.0.2"]);
        network
            .receive(&claiming_b, vec![], &KeyProof::Claims, Some(&b))
            .await
            .unwrap();
        assert_eq!(
            network.node_for_key(&key(2)).await.unwrap().map(|n| n.url),
            Some("https://b.example:2/".into())
        );
    }

    #[tokio::test]
    async fn disabled_discovery_refuses_strangers_and_learns_no_parties() {
        let dir = tempfile::tempdir().unwrap();
        let network = network(&dir, vec![], &["http://b:2".into()], true).await;
        let stranger = PartyInfo::new("http://x:9", [], []);
        assert!(matches!(
            network.receive(&stranger, vec![], &KeyProof::Claims, None).await,
            Err(DiscoveryError::UnknownPeer(url)) if url == "http://x:9/"
        ));
        let peer = PartyInfo::new("http://b:2", [], ["http://c:3/".into()]);
        network
            .receive(&peer, vec![], &KeyProof::Claims, None)
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
            .receive(&info, vec![], &KeyProof::Claims, None)
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
                Network::new(url, vec![key(1)], &[], false, PeerLimits::default(), shared)
                    .await
                    .unwrap()
            }
        };
        let (one, two) = (replica("http://r1:1").await, replica("http://r2:1").await);
        let info = PartyInfo::new("http://b:2", [(key(2), "http://b:2/".into())], []);
        one.receive(&info, vec!["4.0".into()], &KeyProof::Claims, None)
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

    #[tokio::test]
    async fn an_announcement_never_erases_keys_and_its_bounds_hold() {
        let dir = tempfile::tempdir().unwrap();
        let network = network(&dir, vec![], &[], false).await;
        let claims = PartyInfo::new("http://b:2", [(key(2), "http://b:2/".into())], []);
        network
            .receive(&claims, vec![], &KeyProof::Claims, None)
            .await
            .unwrap();
        let empty = PartyInfo::new("http://b:2", [], []);
        network
            .receive(&empty, vec![], &KeyProof::Claims, None)
            .await
            .unwrap();
        let holder = network.node_for_key(&key(2)).await.unwrap().map(|n| n.url);
        assert_eq!(
            holder.as_deref(),
            Some("http://b:2/"),
            "an empty announcement erases nothing"
        );

        let limits = network.limits;
        let parties: Vec<String> = (0..=limits.max_parties_per_message)
            .map(|i| format!("http://p{i}:1/"))
            .collect();
        let flood = PartyInfo::new("http://b:2", [], parties);
        assert!(matches!(
            network
                .receive(&flood, vec![], &KeyProof::Claims, None)
                .await,
            Err(DiscoveryError::TooManyParties { .. })
        ));
        for url in ["unix:/tmp/x", "ftp://b:2", "http://b:0"] {
            let odd = PartyInfo::new(url, [], []);
            assert!(
                matches!(
                    network.receive(&odd, vec![], &KeyProof::Claims, None).await,
                    Err(DiscoveryError::InvalidUrl)
                ),
                "{url}"
            );
        }
        let planted = PartyInfo::new(
            "http://b:2",
            [],
            ["gopher://x:1/".into(), "http://ok:1/".into()],
        );
        network
            .receive(&planted, vec![], &KeyProof::Claims, None)
            .await
            .unwrap();
        let known = network.parties().await.unwrap();
        assert!(known.contains(&"http://ok:1/".to_owned()));
        assert!(
            !known.iter().any(|url| url.starts_with("gopher")),
            "{known:?}"
        );
    }
}
