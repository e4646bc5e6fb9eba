//! Which node holds a key, remembered for a moment.
//!
//! Every `/send` asks which node each recipient key lives on. The answer is in the store
//! (shared by replicas, so that what one replica learnt the others know), which on PostgreSQL
//! makes it one round trip per recipient per send. Keys move between nodes rarely (only with a
//! fresh ownership proof), so an answer is reused for [`TTL`]: a replica sees another's update
//! at most that late, and its own at once (recording or forgetting a peer clears the cache).
//! Only found keys are kept, so what the cache holds is bounded by what discovery may store.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cloister_core::keys::PublicKey;
use cloister_store::PeerRow;

/// How long an answer is reused.
pub(super) const TTL: Duration = Duration::from_secs(1);

/// Answers kept at most; past it the cache starts again (discovery's own limits bound the keys
/// a node knows; this bounds the cache even if they are raised).
const MAX_ENTRIES: usize = 65_536;

/// Recent key → node answers.
#[derive(Debug, Default)]
pub(super) struct RouteCache {
    entries: Mutex<BTreeMap<PublicKey, (PeerRow, Instant)>>,
}

impl RouteCache {
    /// The node holding `key`, if it was looked up less than [`TTL`] ago.
    pub(super) fn get(&self, key: &PublicKey) -> Option<PeerRow> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(_, at)| at.elapsed() < TTL)
            .map(|(node, _)| node.clone())
    }

    /// Remembers that `node` holds `key`.
    pub(super) fn put(&self, key: PublicKey, node: &PeerRow) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (node.clone(), Instant::now()));
    }

    /// Forgets everything (a peer was recorded or forgotten here).
    pub(super) fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn node(url: &str) -> PeerRow {
        PeerRow {
            url: url.into(),
            versions: vec!["v1".into()],
        }
    }

    #[test]
    fn answers_are_reused_until_cleared() {
        let cache = RouteCache::default();
        let key = PublicKey::from_bytes([1; 32]);
        assert_eq!(cache.get(&key), None);
        cache.put(key, &node("http://b:9001"));
        assert_eq!(cache.get(&key), Some(node("http://b:9001")));
        cache.clear();
        assert_eq!(cache.get(&key), None);
    }
}
