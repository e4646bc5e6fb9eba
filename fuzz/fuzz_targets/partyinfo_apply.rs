//! Arbitrary bytes as a `POST /partyinfo` body, decoded and applied to a real network map on
//! SQLite: whatever a peer sends, the map's bounds hold. The sender's claims are believed
//! (`KeyProof::Claims`, the most a peer can get), so what is checked is what bounds a peer
//! that passed every proof: the party cap, and that this node's own keys never move.
#![no_main]

use std::sync::{Arc, OnceLock};

use cloister_core::keys::PublicKey;
use cloister_core::partyinfo::PartyInfo;
use cloister_node::discovery::key_validation::KeyProof;
use cloister_node::discovery::{DiscoveryError, Network};
use cloister_node::limits::PeerLimits;
use cloister_store::{SqliteOptions, SqliteStore, Store};
use libfuzzer_sys::fuzz_target;

const OWN_URL: &str = "http://own:9001";
/// Small caps, so that inputs of a few hundred bytes reach them.
fn limits() -> PeerLimits {
    PeerLimits {
        max_parties_per_message: 8,
        max_keys_per_message: 4,
        max_parties: 16,
        ..PeerLimits::default()
    }
}

fn own_key() -> PublicKey {
    PublicKey::from_bytes([7; 32])
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    store: Arc<dyn Store>,
    network: Network,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteOptions {
            auto_create_tables: true,
            ..Default::default()
        };
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("db"), &options).unwrap());
        let network = runtime
            .block_on(Network::new(
                OWN_URL,
                vec![own_key()],
                &[],
                false,
                limits(),
                store.clone(),
            ))
            .unwrap();
        Fixture {
            runtime,
            store,
            network,
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(info) = PartyInfo::decode(data) else {
        return;
    };
    let f = fixture();
    f.runtime.block_on(async {
        match f.network.receive(&info, vec![], &KeyProof::Claims).await {
            Ok(_)
            | Err(DiscoveryError::InvalidUrl)
            | Err(DiscoveryError::TooManyParties { .. })
            | Err(DiscoveryError::TooManyKeys { .. }) => {}
            Err(other) => panic!("unexpected refusal: {other}"),
        }
        let parties = f.network.parties().await.unwrap();
        assert!(
            parties.len() <= limits().max_parties,
            "{} parties",
            parties.len()
        );
        assert!(f.store.peer_for_key(&own_key()).await.unwrap().is_none());
    });
});
