//! The conformance suite: what every [`Store`] backend must do, written once.
//!
//! A backend crate runs it with one line in an integration test, given an async function that
//! returns a fresh, empty store plus a guard that keeps its resources alive (a temp directory,
//! a scratch database):
//!
//! ```text
//! async fn fresh() -> (std::sync::Arc<dyn cloister_store::Store>, tempfile::TempDir) { … }
//! cloister_store::conformance_tests!(fresh);
//! ```
//!
//! That expands to one `#[test]` per check below, each on its own multi-threaded tokio runtime
//! (so the concurrency checks really run in parallel) and against its own fresh store. Enable
//! the `conformance` feature in the backend's `[dev-dependencies]`.
//!
//! Checks panic with a message on failure, as tests do.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use cloister_core::digest::TxHash;
use cloister_core::payload::{PayloadCodec, PrivacyMode};

use cloister_core::keys::PublicKey;

use crate::rows::{
    IdempotencyRow, InsertOutcome, NewStagedTransaction, OnceOutcome, PeerKeyRow, PeerRow,
    PrivacyGroupRow, RawTransactionRow, StagedTransaction, StagingCounts, TransactionRow,
};
use crate::Store;

/// Expands to one `#[test]` per conformance check, each run against a store from `$fresh`
/// (a path to an `async fn() -> (Arc<dyn Store>, Guard)`).
#[macro_export]
macro_rules! conformance_tests {
    ($fresh:path) => {
        $crate::conformance_tests!(@each $fresh;
            insert_is_insert_if_absent,
            absent_rows_read_as_none,
            replace_is_compare_and_swap,
            delete_removes_rows,
            raw_transactions,
            privacy_groups,
            staging_pass_orders_dependencies,
            staging_versions_and_clear,
            concurrent_distinct_inserts,
            racing_inserts_of_one_hash,
            racing_compare_and_swap,
            health_reports_reachable,
            discovery_parties,
            discovery_party_cap,
            discovery_peers_and_keys,
            racing_peer_records,
            idempotency_records_the_first_outcome,
            racing_idempotent_inserts,
            concurrent_keyed_inserts_keep_each_outcome,
            scan_walks_every_row_by_hash,
            staged_rows_scan_by_stage_then_id,
        );
    };
    (@each $fresh:path; $($check:ident),+ $(,)?) => {
        $(
            #[test]
            fn $check() {
                $crate::conformance::run($fresh, $crate::conformance::$check);
            }
        )+
    };
}

/// Runs one check on a fresh store, on a new multi-threaded runtime; the guard from `fresh`
/// is dropped after the check.
pub fn run<G, S, SF, C, CF>(fresh: S, check: C)
where
    S: FnOnce() -> SF,
    SF: Future<Output = (Arc<dyn Store>, G)>,
    C: FnOnce(Arc<dyn Store>) -> CF,
    CF: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a tokio runtime for the conformance check");
    runtime.block_on(async {
        let (store, guard) = fresh().await;
        check(store).await;
        drop(guard);
    });
}

/// A 64-byte hash whose first bytes are `tag` (so tests control the byte order).
pub fn hash(tag: &[u8]) -> TxHash {
    let mut bytes = vec![0xA5; 64];
    bytes[..tag.len()].copy_from_slice(tag);
    TxHash::new(bytes)
}

/// A transaction row with a recognisable payload.
pub fn tx(tag: &[u8], payload: &[u8], timestamp: i64) -> TransactionRow {
    TransactionRow {
        hash: hash(tag),
        encoded_payload: payload.to_vec(),
        codec: PayloadCodec::Cbor,
        timestamp,
    }
}

async fn insert(store: &dyn Store, row: &TransactionRow) {
    let outcome = store
        .insert_transaction(row)
        .await
        .expect("insert_transaction");
    assert_eq!(
        outcome,
        InsertOutcome::Inserted,
        "first insert of {:?}",
        row.hash
    );
}

/// A second insert of the same hash changes nothing and returns the first row.
pub async fn insert_is_insert_if_absent(store: Arc<dyn Store>) {
    let first = tx(b"a", b"first payload", 1_000);
    insert(&*store, &first).await;

    let mut second = tx(b"a", b"second payload", 2_000);
    second.codec = PayloadCodec::Legacy;
    let outcome = store.insert_transaction(&second).await.expect("insert");
    assert_eq!(outcome, InsertOutcome::AlreadyPresent(first.clone()));

    let stored = store.get_transaction(&first.hash).await.expect("get");
    assert_eq!(stored, Some(first));
    assert_eq!(store.count_transactions().await.expect("count"), 1);
}

/// Reads of rows that are not there are `Ok(None)` / empty, and deletes say `false`.
pub async fn absent_rows_read_as_none(store: Arc<dyn Store>) {
    let absent = hash(b"absent");
    assert_eq!(store.get_transaction(&absent).await.expect("get"), None);
    assert_eq!(
        store.get_raw_transaction(&absent).await.expect("get raw"),
        None
    );
    assert_eq!(
        store.get_privacy_group(b"absent").await.expect("get group"),
        None
    );
    assert!(store
        .find_privacy_groups(b"absent")
        .await
        .expect("find")
        .is_empty());
    assert!(!store.delete_transaction(&absent).await.expect("delete"));
    assert!(!store
        .delete_raw_transaction(&absent)
        .await
        .expect("delete raw"));
    assert!(store
        .scan_transactions(None, 1)
        .await
        .expect("scan")
        .is_empty());
    assert_eq!(store.count_transactions().await.expect("count"), 0);
    assert!(store
        .list_privacy_groups()
        .await
        .expect("groups")
        .is_empty());
}

/// Replace succeeds only with the current bytes, and keeps the first timestamp.
pub async fn replace_is_compare_and_swap(store: Arc<dyn Store>) {
    let row = tx(b"cas", b"version 1", 1_234);
    insert(&*store, &row).await;

    let stale = store
        .replace_transaction(&row.hash, b"not the stored bytes", b"x", PayloadCodec::Cbor)
        .await
        .expect("replace");
    assert!(!stale, "replace with wrong expected bytes must fail");
    assert_eq!(
        store.get_transaction(&row.hash).await.expect("get"),
        Some(row.clone())
    );

    let swapped = store
        .replace_transaction(&row.hash, b"version 1", b"version 2", PayloadCodec::Legacy)
        .await
        .expect("replace");
    assert!(swapped, "replace with the stored bytes must succeed");
    let stored = store.get_transaction(&row.hash).await.expect("get");
    assert_eq!(
        stored,
        Some(TransactionRow {
            hash: row.hash.clone(),
            encoded_payload: b"version 2".to_vec(),
            codec: PayloadCodec::Legacy,
            timestamp: 1_234,
        })
    );

    let again = store
        .replace_transaction(&row.hash, b"version 1", b"version 3", PayloadCodec::Cbor)
        .await
        .expect("replace");
    assert!(!again, "replace with stale bytes must fail");

    let absent = store
        .replace_transaction(&hash(b"none"), b"version 1", b"x", PayloadCodec::Cbor)
        .await
        .expect("replace absent");
    assert!(!absent, "replace of an absent row must fail");
    assert_eq!(
        store.get_transaction(&hash(b"none")).await.expect("get"),
        None
    );
}

/// Delete removes exactly the row, once; the hash can be stored again afterwards.
pub async fn delete_removes_rows(store: Arc<dyn Store>) {
    let keep = tx(b"keep", b"k", 1);
    let gone = tx(b"gone", b"g", 2);
    insert(&*store, &keep).await;
    insert(&*store, &gone).await;

    assert!(store.delete_transaction(&gone.hash).await.expect("delete"));
    assert_eq!(store.get_transaction(&gone.hash).await.expect("get"), None);
    assert!(!store
        .delete_transaction(&gone.hash)
        .await
        .expect("delete again"));
    assert_eq!(
        store.get_transaction(&keep.hash).await.expect("get"),
        Some(keep)
    );
    assert_eq!(store.count_transactions().await.expect("count"), 1);
    insert(&*store, &gone).await;
}

fn raw(tag: &[u8], payload: &[u8]) -> RawTransactionRow {
    RawTransactionRow {
        hash: hash(tag),
        encrypted_payload: payload.to_vec(),
        encrypted_key: vec![1; 48],
        nonce: vec![2; 24],
        sender: vec![3; 32],
        timestamp: 42,
    }
}

/// Raw transactions: insert-if-absent, get, delete.
pub async fn raw_transactions(store: Arc<dyn Store>) {
    let first = raw(b"raw", b"payload one");
    let outcome = store
        .insert_raw_transaction(&first)
        .await
        .expect("insert raw");
    assert_eq!(outcome, InsertOutcome::Inserted);

    let mut second = raw(b"raw", b"payload two");
    second.timestamp = 99;
    let outcome = store
        .insert_raw_transaction(&second)
        .await
        .expect("insert raw");
    assert_eq!(outcome, InsertOutcome::AlreadyPresent(first.clone()));

    assert_eq!(
        store
            .get_raw_transaction(&first.hash)
            .await
            .expect("get raw"),
        Some(first.clone())
    );
    // Raw and ordinary transactions live in different tables.
    assert_eq!(store.get_transaction(&first.hash).await.expect("get"), None);

    assert!(store
        .delete_raw_transaction(&first.hash)
        .await
        .expect("delete"));
    assert_eq!(
        store.get_raw_transaction(&first.hash).await.expect("get"),
        None
    );
    assert!(!store
        .delete_raw_transaction(&first.hash)
        .await
        .expect("delete"));
}

fn group(id: &[u8], lookup: &[u8], data: &[u8], timestamp: i64) -> PrivacyGroupRow {
    PrivacyGroupRow {
        id: id.to_vec(),
        lookup_id: lookup.to_vec(),
        data: data.to_vec(),
        timestamp,
    }
}

/// Privacy groups: upsert, get, lookup-id search returning several groups, list.
pub async fn privacy_groups(store: Arc<dyn Store>) {
    let g2 = group(b"group-2", b"members-ab", b"data 2", 20);
    let g1 = group(b"group-1", b"members-ab", b"data 1", 10);
    let g3 = group(b"group-3", b"members-cd", b"data 3", 30);
    for g in [&g2, &g1, &g3] {
        store.upsert_privacy_group(g).await.expect("upsert");
    }

    assert_eq!(
        store.get_privacy_group(b"group-1").await.expect("get"),
        Some(g1.clone())
    );
    assert_eq!(
        store
            .find_privacy_groups(b"members-ab")
            .await
            .expect("find"),
        vec![g1.clone(), g2.clone()]
    );
    assert_eq!(
        store
            .find_privacy_groups(b"members-cd")
            .await
            .expect("find"),
        vec![g3.clone()]
    );

    // Upsert replaces the data (and lookup id) but keeps the first timestamp.
    let updated = group(b"group-2", b"members-cd", b"data 2, updated", 999);
    store.upsert_privacy_group(&updated).await.expect("upsert");
    let expected = group(b"group-2", b"members-cd", b"data 2, updated", 20);
    assert_eq!(
        store.get_privacy_group(b"group-2").await.expect("get"),
        Some(expected.clone())
    );
    assert_eq!(
        store
            .find_privacy_groups(b"members-ab")
            .await
            .expect("find"),
        vec![g1.clone()]
    );
    assert_eq!(
        store
            .find_privacy_groups(b"members-cd")
            .await
            .expect("find"),
        vec![expected.clone(), g3.clone()]
    );
    assert_eq!(
        store.list_privacy_groups().await.expect("list"),
        vec![g1, expected, g3]
    );
}

fn staged(tag: &[u8], payload: &[u8], affected: &[&[u8]]) -> NewStagedTransaction {
    NewStagedTransaction {
        hash: hash(tag),
        payload: payload.to_vec(),
        codec: PayloadCodec::Legacy,
        privacy_mode: PrivacyMode::PartyProtection,
        timestamp: 7,
        affected: affected.iter().map(|t| hash(t)).collect(),
    }
}

/// Every staging row, read as recovery reads them: stage by stage (unstaged last), `page` rows at
/// a time by `ID`. Asserts what each page must hold: at most `page` rows, all of the stage asked
/// for, ids ascending from the previous page's last.
async fn walk_staged(store: &dyn Store, page: u64) -> Vec<StagedTransaction> {
    let mut walked = Vec::new();
    for stage in store.staged_stages().await.expect("staged stages") {
        let mut after = i64::MIN;
        loop {
            let rows = store
                .scan_staged(stage, after, page)
                .await
                .expect("scan staged");
            assert!(rows.len() as u64 <= page, "a page holds at most {page}");
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                assert_eq!(
                    row.validation_stage, stage,
                    "row {} of stage {stage:?}",
                    row.id
                );
                assert!(row.id > after, "ids ascend: {} after {after}", row.id);
                after = row.id;
            }
            walked.extend(rows);
        }
    }
    walked
}

/// The staging pass: a → b → c gets stages 1, 2, 3; an affected hash that is not staged does
/// not hold a row back; a cycle stays unstaged and is read last.
pub async fn staging_pass_orders_dependencies(store: Arc<dyn Store>) {
    let rows = [
        staged(b"c", b"pc", &[b"b"]),
        staged(b"b", b"pb", &[b"a"]),
        staged(b"a", b"pa", &[]),
        staged(b"free", b"pf", &[b"not staged anywhere"]),
        staged(b"x", b"px", &[b"y"]),
        staged(b"y", b"py", &[b"x"]),
    ];
    for row in &rows {
        assert!(
            store.stage_transaction(row).await.expect("stage"),
            "new version"
        );
    }
    assert_eq!(
        store.staging_counts().await.expect("counts"),
        StagingCounts {
            total: 6,
            staged: 0
        }
    );

    let counts = store.run_staging_pass().await.expect("staging pass");
    assert_eq!(
        counts,
        StagingCounts {
            total: 6,
            staged: 4
        }
    );

    assert_eq!(
        store.staged_stages().await.expect("stages"),
        vec![Some(1), Some(2), Some(3), None],
        "stages in order, unstaged last"
    );
    // Pages of two: stage 1 and the unstaged rows fill a page exactly.
    let listed = walk_staged(&*store, 2).await;
    assert_eq!(listed.len(), 6);
    let ids: BTreeSet<i64> = listed.iter().map(|s| s.id).collect();
    assert_eq!(ids.len(), 6, "each row once");
    let stage_of = |tag: &[u8]| {
        listed
            .iter()
            .find(|s| s.hash == hash(tag))
            .map(|s| s.validation_stage)
            .expect("row read")
    };
    assert_eq!(stage_of(b"a"), Some(1));
    assert_eq!(stage_of(b"free"), Some(1));
    assert_eq!(stage_of(b"b"), Some(2));
    assert_eq!(stage_of(b"c"), Some(3));
    assert_eq!(stage_of(b"x"), None);
    assert_eq!(stage_of(b"y"), None);

    // Columns survive the round trip.
    let c = listed.iter().find(|s| s.hash == hash(b"c")).expect("c");
    assert_eq!(c.payload, b"pc");
    assert_eq!(c.codec, PayloadCodec::Legacy);
    assert_eq!(c.privacy_mode, PrivacyMode::PartyProtection);
    assert_eq!(c.timestamp, 7);

    // Other page sizes give the same sequence.
    assert_eq!(walk_staged(&*store, 100).await, listed);
    assert_eq!(walk_staged(&*store, 1).await, listed);

    // A further pass changes nothing.
    assert_eq!(store.assign_validation_stage(4).await.expect("round"), 0);
}

/// Versions of one hash are all kept, an identical re-push is not; clearing empties staging.
pub async fn staging_versions_and_clear(store: Arc<dyn Store>) {
    assert!(store
        .stage_transaction(&staged(b"v", b"version 1", &[]))
        .await
        .expect("stage"));
    assert!(store
        .stage_transaction(&staged(b"v", b"version 2", &[]))
        .await
        .expect("stage"));
    assert!(
        !store
            .stage_transaction(&staged(b"v", b"version 1", &[]))
            .await
            .expect("stage"),
        "identical version staged twice"
    );
    // Depends on both versions of v being staged.
    assert!(store
        .stage_transaction(&staged(b"w", b"w", &[b"v"]))
        .await
        .expect("stage"));

    assert_eq!(store.assign_validation_stage(1).await.expect("round 1"), 2);
    assert_eq!(store.assign_validation_stage(2).await.expect("round 2"), 1);
    assert_eq!(store.assign_validation_stage(3).await.expect("round 3"), 0);
    let listed = walk_staged(&*store, 10).await;
    let payloads: BTreeSet<&[u8]> = listed
        .iter()
        .filter(|s| s.hash == hash(b"v"))
        .map(|s| s.payload.as_slice())
        .collect();
    assert_eq!(
        payloads,
        BTreeSet::from([&b"version 1"[..], &b"version 2"[..]])
    );

    store.clear_staging().await.expect("clear");
    assert_eq!(
        store.staging_counts().await.expect("counts"),
        StagingCounts::default()
    );
    assert!(store.staged_stages().await.expect("stages").is_empty());
    assert!(store
        .scan_staged(Some(1), i64::MIN, 10)
        .await
        .expect("scan")
        .is_empty());
    // Usable again after clearing.
    assert!(store
        .stage_transaction(&staged(b"v", b"version 1", &[b"w"]))
        .await
        .expect("stage"));
    assert_eq!(
        store.run_staging_pass().await.expect("pass"),
        StagingCounts {
            total: 1,
            staged: 1
        }
    );
}

/// 50 tasks inserting distinct rows at once: every one lands.
pub async fn concurrent_distinct_inserts(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..50u8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let row = tx(&[b'd', i], &[i; 1024], i64::from(i));
                let outcome = store.insert_transaction(&row).await.expect("insert");
                (row, outcome)
            })
        })
        .collect();
    for task in tasks {
        let (row, outcome) = task.await.expect("task");
        assert_eq!(outcome, InsertOutcome::Inserted);
        assert_eq!(
            store.get_transaction(&row.hash).await.expect("get"),
            Some(row)
        );
    }
    assert_eq!(store.count_transactions().await.expect("count"), 50);
}

/// 20 tasks racing to insert one hash (each with its own payload): exactly one wins, and every
/// loser gets the winner's row back, byte for byte.
pub async fn racing_inserts_of_one_hash(store: Arc<dyn Store>) {
    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20u8)
        .map(|i| {
            let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
            tokio::spawn(async move {
                let row = tx(b"contended", &[i; 512], 1_000 + i64::from(i));
                barrier.wait().await;
                let outcome = store.insert_transaction(&row).await.expect("insert");
                (row, outcome)
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut seen = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            (row, InsertOutcome::Inserted) => winners.push(row),
            (_, InsertOutcome::AlreadyPresent(existing)) => seen.push(existing),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one insert wins");
    let winner = winners.remove(0);
    assert_eq!(seen.len(), 19);
    assert!(
        seen.iter().all(|r| *r == winner),
        "losers see the winner's row"
    );
    assert_eq!(
        store.get_transaction(&winner.hash).await.expect("get"),
        Some(winner)
    );
    assert_eq!(store.count_transactions().await.expect("count"), 1);
}

/// 20 tasks racing to compare-and-swap the same row from the same expected bytes: exactly one
/// succeeds and its payload is what is stored.
pub async fn racing_compare_and_swap(store: Arc<dyn Store>) {
    let row = tx(b"cas-race", b"original", 5);
    insert(&*store, &row).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20u8)
        .map(|i| {
            let (store, barrier, hash) =
                (Arc::clone(&store), Arc::clone(&barrier), row.hash.clone());
            tokio::spawn(async move {
                let mine = vec![i; 256];
                barrier.wait().await;
                let won = store
                    .replace_transaction(&hash, b"original", &mine, PayloadCodec::Cbor)
                    .await
                    .expect("replace");
                (mine, won)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (payload, won) = task.await.expect("task");
        if won {
            winners.push(payload);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one compare-and-swap wins");
    let stored = store
        .get_transaction(&row.hash)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(stored.encoded_payload, winners[0]);
    assert_eq!(stored.timestamp, 5);
}

/// A working store says it is reachable.
pub async fn health_reports_reachable(store: Arc<dyn Store>) {
    let health = store.health().await;
    assert!(health.is_reachable(), "unreachable: {:?}", health.problem);
    assert!(!health.role.as_str().is_empty());
    assert_eq!(health.problem, None);
}

fn peer(url: &str, versions: &[&str]) -> PeerRow {
    PeerRow {
        url: url.into(),
        versions: versions.iter().map(|v| (*v).to_owned()).collect(),
    }
}

fn key(byte: u8) -> PublicKey {
    PublicKey::from_bytes([byte; 32])
}

/// The party list is a set: adding twice keeps one, removing says whether it was there.
pub async fn discovery_parties(store: Arc<dyn Store>) {
    let urls = |list: &[&str]| list.iter().map(|u| (*u).to_owned()).collect::<Vec<_>>();
    assert!(store.list_parties().await.expect("list").is_empty());
    let added = store
        .add_parties(&urls(&["http://b:2/", "http://a:1/"]), usize::MAX)
        .await
        .expect("add");
    assert_eq!(added, 2);
    let added = store
        .add_parties(&urls(&["http://a:1/", "http://c:3/"]), usize::MAX)
        .await
        .expect("add again");
    assert_eq!(added, 1, "a:1 is there already");
    assert_eq!(
        store.list_parties().await.expect("list"),
        urls(&["http://a:1/", "http://b:2/", "http://c:3/"])
    );
    assert!(store.remove_party("http://b:2/").await.expect("remove"));
    assert!(!store
        .remove_party("http://b:2/")
        .await
        .expect("remove twice"));
    assert_eq!(
        store.list_parties().await.expect("list"),
        urls(&["http://a:1/", "http://c:3/"])
    );
}

/// The party list stops growing at its cap: a call adds only what fits, URLs already there
/// cost nothing, and removing one makes room again.
pub async fn discovery_party_cap(store: Arc<dyn Store>) {
    let urls: Vec<String> = (0..10).map(|i| format!("http://p{i}:1/")).collect();
    let added = store.add_parties(&urls, 4).await.expect("add");
    assert_eq!(added, 4);
    assert_eq!(store.list_parties().await.expect("list").len(), 4);
    let added = store.add_parties(&urls, 4).await.expect("add at the cap");
    assert_eq!(added, 0);
    let first = store.list_parties().await.expect("list")[0].clone();
    assert!(store.remove_party(&first).await.expect("remove"));
    let added = store.add_parties(&urls, 4).await.expect("add again");
    assert_eq!(added, 1);
    assert_eq!(store.list_parties().await.expect("list").len(), 4);
}

/// A peer's record adds and moves keys but never drops one: a key moves to the last node that
/// proved it; forgetting a node drops its keys.
pub async fn discovery_peers_and_keys(store: Arc<dyn Store>) {
    let a = peer("http://a:1/", &["1.0", "2.1", "5.0"]);
    let b = peer("http://b:2/", &[]);
    store.record_peer(&a, &[key(1), key(2)]).await.expect("a");
    store.record_peer(&b, &[key(3)]).await.expect("b");
    assert_eq!(
        store.peer_for_key(&key(1)).await.expect("get"),
        Some(a.clone())
    );
    assert_eq!(
        store.peer_for_key(&key(3)).await.expect("get"),
        Some(b.clone())
    );
    assert_eq!(store.peer_for_key(&key(9)).await.expect("get"), None);
    // Many at once: in the order asked, a repeat answered twice, an unknown key as None.
    assert_eq!(
        store
            .peers_for_keys(&[key(3), key(9), key(1), key(3)])
            .await
            .expect("get many"),
        [Some(b.clone()), None, Some(a.clone()), Some(b.clone())]
    );
    assert_eq!(store.peers_for_keys(&[]).await.expect("get none"), []);
    assert_eq!(
        store.list_peers().await.expect("peers"),
        [a.clone(), b.clone()]
    );

    let a2 = peer("http://a:1/", &["1.0"]);
    store
        .record_peer(&a2, &[key(2), key(4)])
        .await
        .expect("a again");
    store
        .record_peer(&b, &[key(3), key(2)])
        .await
        .expect("b takes key 2");
    let expected =
        [(key(1), &a2), (key(2), &b), (key(3), &b), (key(4), &a2)].map(|(key, p)| PeerKeyRow {
            key,
            url: p.url.clone(),
        });
    assert_eq!(store.list_peer_keys().await.expect("keys"), expected);
    assert_eq!(store.peer_for_key(&key(4)).await.expect("get"), Some(a2));

    store.forget_peer(&a.url).await.expect("forget");
    assert_eq!(store.peer_for_key(&key(4)).await.expect("get"), None);
    assert_eq!(store.peer_for_key(&key(1)).await.expect("get"), None);
    assert_eq!(store.list_peers().await.expect("peers"), [b]);
    assert_eq!(store.list_peer_keys().await.expect("keys").len(), 2);
}

/// Replicas recording one peer's announcements at once lose none of them: every key any of
/// them proved ends recorded for the node, once.
pub async fn racing_peer_records(store: Arc<dyn Store>) {
    let node = peer("http://racer:1/", &["4.0"]);
    let barrier = Arc::new(tokio::sync::Barrier::new(10));
    let announcements: Vec<Vec<PublicKey>> = (0..10u8)
        .map(|i| vec![key(i * 3 + 1), key(i * 3 + 2), key(100)])
        .collect();
    let tasks: Vec<_> = announcements
        .iter()
        .cloned()
        .map(|keys| {
            let (store, barrier, node) = (Arc::clone(&store), Arc::clone(&barrier), node.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.record_peer(&node, &keys).await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("record");
    }
    let mut stored: Vec<PublicKey> = store
        .list_peer_keys()
        .await
        .expect("keys")
        .into_iter()
        .map(|row| row.key)
        .collect();
    stored.sort();
    let mut every: Vec<PublicKey> = announcements.concat();
    every.sort();
    every.dedup();
    assert_eq!(stored, every, "every announced key, once");
}

fn record(key: &str, row: &TransactionRow, timestamp: i64) -> IdempotencyRow {
    IdempotencyRow {
        key: key.into(),
        fingerprint: vec![7; 32],
        hash: row.hash.clone(),
        timestamp,
    }
}

/// The first write under a key is recorded with its row; a repeat writes nothing and gets the
/// first record; deleting and expiring records leaves the rows alone.
pub async fn idempotency_records_the_first_outcome(store: Arc<dyn Store>) {
    let (first, second) = (tx(b"once-1", b"p1", 1), tx(b"once-2", b"p2", 2));
    let first_record = record("key-1", &first, 100);
    assert_eq!(
        store
            .insert_transaction_once(&first, &first_record)
            .await
            .expect("once"),
        OnceOutcome::Recorded(InsertOutcome::Inserted)
    );
    assert_eq!(
        store
            .insert_transaction_once(&second, &record("key-1", &second, 200))
            .await
            .expect("repeat"),
        OnceOutcome::Repeated(first_record.clone())
    );
    assert_eq!(
        store.get_transaction(&second.hash).await.expect("get"),
        None
    );
    assert_eq!(
        store.get_idempotency("key-1").await.expect("get"),
        Some(first_record)
    );
    // A new key for a stored hash (sendsignedtx repeated by hand) records, keeping the row.
    assert_eq!(
        store
            .insert_transaction_once(&first, &record("key-2", &first, 300))
            .await
            .expect("known hash"),
        OnceOutcome::Recorded(InsertOutcome::AlreadyPresent(first.clone()))
    );
    assert_eq!(store.get_idempotency("absent").await.expect("get"), None);
    assert_eq!(store.expire_idempotency(200).await.expect("expire"), 1);
    assert_eq!(store.get_idempotency("key-1").await.expect("get"), None);
    assert!(store.delete_idempotency("key-2").await.expect("delete"));
    assert!(!store
        .delete_idempotency("key-2")
        .await
        .expect("delete twice"));
    assert_eq!(store.count_transactions().await.expect("count"), 1);
}

/// Replicas racing with one key and different transactions: exactly one records and stores
/// its row; every other one sees its record and stores nothing.
pub async fn racing_idempotent_inserts(store: Arc<dyn Store>) {
    let barrier = Arc::new(tokio::sync::Barrier::new(10));
    let tasks: Vec<_> = (0..10u8)
        .map(|i| {
            let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
            tokio::spawn(async move {
                let row = tx(&[b'r', i], b"racer", i64::from(i));
                let mine = record("racing-key", &row, 1);
                barrier.wait().await;
                let outcome = store
                    .insert_transaction_once(&row, &mine)
                    .await
                    .expect("once");
                (mine, outcome)
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut repeats = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            (mine, OnceOutcome::Recorded(InsertOutcome::Inserted)) => winners.push(mine),
            (_, OnceOutcome::Repeated(seen)) => repeats.push(seen),
            (_, other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one replica records the key");
    assert!(repeats.iter().all(|seen| *seen == winners[0]));
    assert_eq!(store.count_transactions().await.expect("count"), 1);
    assert!(store
        .get_transaction(&winners[0].hash)
        .await
        .expect("get")
        .is_some());
}

/// 60 keyed inserts at once, as a busy replica pair makes them (PostgreSQL commits concurrent
/// ones together): 20 keys used twice with different rows, and 20 new keys for rows already
/// stored. Each outcome is its own: one record per key, the repeat gets it back, and a key
/// recorded for a stored row gets that row.
pub async fn concurrent_keyed_inserts_keep_each_outcome(store: Arc<dyn Store>) {
    for i in 0..20u8 {
        let stored = tx(&[b's', i], b"stored before", 5);
        assert!(store
            .insert_transaction(&stored)
            .await
            .expect("insert")
            .is_inserted());
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(60));
    let tasks: Vec<_> = (0..60u8)
        .map(|i| {
            let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
            tokio::spawn(async move {
                let (row, key) = if i < 40 {
                    (
                        tx(&[b'k', i], b"keyed", i64::from(i)),
                        format!("key-{}", i % 20),
                    )
                } else {
                    (tx(&[b's', i - 40], b"again", 9), format!("stored-{i}"))
                };
                let mine = record(&key, &row, 1);
                barrier.wait().await;
                let outcome = store
                    .insert_transaction_once(&row, &mine)
                    .await
                    .expect("once");
                (i, mine, outcome)
            })
        })
        .collect();
    let mut recorded = std::collections::BTreeMap::new();
    let mut repeats = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            (i, mine, OnceOutcome::Recorded(InsertOutcome::Inserted)) if i < 40 => {
                assert!(
                    recorded.insert(mine.key.clone(), mine).is_none(),
                    "a key recorded twice"
                );
            }
            (i, _, OnceOutcome::Repeated(first)) if i < 40 => repeats.push(first),
            (i, _, OnceOutcome::Recorded(InsertOutcome::AlreadyPresent(row))) if i >= 40 => {
                assert_eq!(row, tx(&[b's', i - 40], b"stored before", 5));
            }
            (i, _, other) => panic!("insert {i}: unexpected {other:?}"),
        }
    }
    assert_eq!(recorded.len(), 20);
    assert_eq!(repeats.len(), 20);
    assert!(repeats
        .iter()
        .all(|first| recorded.get(&first.key) == Some(first)));
    assert_eq!(store.count_transactions().await.expect("count"), 40);
}

/// A scan in pages of three walks every row once, whole, in hash order compared as unsigned
/// bytes (0x80 and up after 0x7F), whatever the timestamps and the insertion order.
pub async fn scan_walks_every_row_by_hash(store: Arc<dyn Store>) {
    let tags: [&[u8]; 10] = [
        &[0xF0],
        &[0x10],
        &[0x80],
        &[0x7F],
        &[0x00, 0x01],
        &[0x30],
        &[0xFF],
        &[0x00, 0x00],
        &[0x81],
        &[0x7E],
    ];
    let mut rows = Vec::new();
    for (i, tag) in (0u8..).zip(tags) {
        let row = tx(tag, &[i], 300 - i64::from(i % 3) * 100);
        insert(&*store, &row).await;
        rows.push(row);
    }
    rows.sort_by(|a, b| a.hash.as_bytes().cmp(b.hash.as_bytes()));

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .scan_transactions(after.as_ref(), 3)
            .await
            .expect("scan");
        assert!(page.len() <= 3);
        let Some(last) = page.last().map(|r| r.hash.clone()) else {
            break;
        };
        seen.extend(page);
        after = Some(last);
    }
    assert_eq!(seen, rows, "in hash order, each once, every column intact");
    assert_eq!(
        store.scan_transactions(None, 100).await.expect("scan"),
        rows
    );
    assert_eq!(store.count_transactions().await.expect("count"), 10);
}

/// Staged rows read stage by stage, a page at a time by `ID`, give every row once, each stage's
/// rows after those of the stages before.
pub async fn staged_rows_scan_by_stage_then_id(store: Arc<dyn Store>) {
    let staged = |tag: &[u8], affected: Vec<TxHash>| NewStagedTransaction {
        hash: hash(tag),
        payload: tag.to_vec(),
        codec: PayloadCodec::Legacy,
        privacy_mode: PrivacyMode::StandardPrivate,
        timestamp: 1,
        affected,
    };
    for i in 0..5u8 {
        assert!(store
            .stage_transaction(&staged(&[b'r', i], Vec::new()))
            .await
            .expect("stage"));
    }
    // Two that depend on a root (a later stage) and one on a hash never staged.
    let root = hash(&[b'r', 0]);
    for i in 0..2u8 {
        store
            .stage_transaction(&staged(&[b'd', i], vec![root.clone()]))
            .await
            .expect("stage");
    }
    store
        .stage_transaction(&staged(b"orphan", vec![hash(b"missing")]))
        .await
        .expect("stage");
    store.run_staging_pass().await.expect("pass");
    let stages = store.staged_stages().await.expect("stages");
    // Stages in order (an absent dependency counts as free, so every row has one here).
    assert_eq!(stages, vec![Some(1), Some(2)]);
    let seen = walk_staged(&*store, 2).await;
    assert_eq!(seen.len(), 8);
    let position = |tag: &[u8]| seen.iter().position(|r| r.hash == hash(tag)).expect("seen");
    assert!(position(&[b'r', 0]) < position(&[b'd', 0]));
    // Unstaged rows (none here after the pass) would come last: an empty scan of them.
    assert!(store
        .scan_staged(None, i64::MIN, 10)
        .await
        .expect("scan")
        .is_empty());
}
