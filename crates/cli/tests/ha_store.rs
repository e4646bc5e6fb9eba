//! Two `cloister node` replicas of one party (one key pair) over one PostgreSQL primary with a
//! synchronous streaming standby, plus a peer on SQLite, all real processes. The database is
//! crashed, hung, promoted and rejoined under a steady stream of `/send` calls.
//!
//! Both replicas advertise one P2P address (replica 2's), as replicas behind one front would:
//! the peer only ever talks to replica 2, and replica 1 knows the peer's key only through the
//! store.
//!
//! The whole story runs twice: in plain text, and with the servers at `ssl = on`, accepting
//! only TLS logins (replication included), and the replicas' `jdbc.url` at
//! `sslmode=verify-full`.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cloister_addr::Endpoint;
use cloister_core::b64;
use cloister_harness::http::{eventually, path_escape, Request};
use cloister_harness::nodes::{NodeDir, RunningNode};
use cloister_harness::postgres::{HbaKind, PgCluster};
use cloister_harness::tls::TestCa;
use serde_json::{json, Value};

const DATABASE: &str = "cloister";
/// Per-host connect timeout and per-statement timeout given in the JDBC URL, in seconds.
const CONNECT_TIMEOUT_S: u64 = 1;
const SOCKET_TIMEOUT_S: u64 = 2;
const DISCOVERY: Duration = Duration::from_secs(20);

/// The longest a request may take while the database is down or hung: one walk over both
/// hosts plus one statement deadline (the store's own bound on a checkout and a statement),
/// plus a second of slack for the HTTP round trip and a loaded 2-core machine.
fn request_bound() -> Duration {
    Duration::from_secs(2 * CONNECT_TIMEOUT_S + SOCKET_TIMEOUT_S + 1)
}

/// The party: two replicas sharing a key pair and the PostgreSQL pair; and its peer.
struct Setup {
    pg: PgCluster,
    /// With TLS: the CA whose certificate the replicas trust (its file must outlive them).
    _ca: Option<TestCa>,
    replicas: [NodeDir; 2],
    peer: NodeDir,
    _running: Vec<RunningNode>,
    _root: tempfile::TempDir,
}

impl Setup {
    /// Starts everything; with `tls`, PostgreSQL speaks only TLS and the replicas verify its
    /// certificate and host name.
    fn start(tls: bool) -> Self {
        cloister_harness::nodes::use_binary(env!("CARGO_BIN_EXE_cloister"));
        let root = tempfile::tempdir().unwrap();
        let ca = tls.then(|| TestCa::new("ha_store CA"));
        let (pg, tls_params) = match &ca {
            Some(ca) => {
                let pg = PgCluster::pair_with_tls(&ca.server(&["127.0.0.1"]));
                pg.only_hba(HbaKind::Tls);
                let params = format!(
                    "&sslmode=verify-full&sslrootcert={}",
                    ca.file.clone().display()
                );
                (pg, params)
            }
            None => (PgCluster::pair(), String::new()),
        };
        pg.create_database(DATABASE);
        let one = NodeDir::new(root.path(), "replica1");
        let two = one.replica(root.path(), "replica2");
        let peer = NodeDir::new(root.path(), "peer");
        let jdbc = pg.jdbc(
            DATABASE,
            &format!(
                "connectTimeout={CONNECT_TIMEOUT_S}&socketTimeout={SOCKET_TIMEOUT_S}{tls_params}"
            ),
            true,
        );
        let mut running = Vec::new();
        for replica in [&one, &two] {
            let mut config = replica.config(&[&peer], json!({ "jdbc": jdbc }));
            advertise(&mut config, replica, &two.p2p_url());
            running.push(replica.start(&config, &[]));
        }
        let mut peer_config = peer.config(&[&two], json!({}));
        peer_config["peer"] = json!([{ "url": two.p2p_url() }]);
        running.push(peer.start(&peer_config, &[]));
        let setup = Self {
            pg,
            _ca: ca,
            replicas: [one, two],
            peer,
            _running: running,
            _root: root,
        };
        assert!(
            eventually(DISCOVERY, || setup
                .peer
                .known_keys()
                .contains(&setup.replicas[0].public_key)),
            "the peer never learnt the party's key"
        );
        for replica in &setup.replicas {
            assert!(
                eventually(DISCOVERY, || replica
                    .known_keys()
                    .contains(&setup.peer.public_key)),
                "{} never learnt the peer's key",
                replica.name
            );
        }
        setup
    }

    fn q2t(&self) -> [Endpoint; 2] {
        [self.replicas[0].q2t(), self.replicas[1].q2t()]
    }
}

/// Makes `replica` listen on its own P2P port but advertise `advertised`.
fn advertise(config: &mut Value, replica: &NodeDir, advertised: &str) {
    let servers = config["serverConfigs"].as_array_mut().unwrap();
    let p2p = servers.iter_mut().find(|s| s["app"] == "P2P").unwrap();
    p2p["serverAddress"] = json!(advertised);
    p2p["bindingAddress"] = json!(replica.p2p_url());
}

fn send(
    target: &Endpoint,
    to: &str,
    payload: &[u8],
) -> std::io::Result<cloister_harness::http::Response> {
    Request::new("POST", "/send")
        .json(&json!({ "payload": b64::encode(payload), "to": [to] }))
        .try_send(target, None)
}

fn read(target: &Endpoint, key: &str) -> cloister_harness::http::Response {
    Request::new("GET", &format!("/transaction/{}", path_escape(key)))
        .header("Accept", "application/json")
        .send(target)
}

/// What one `/send` of the load got.
#[derive(Debug)]
struct Outcome {
    replica: usize,
    status: u16,
    body: String,
    latency: Duration,
    finished: Instant,
    payload: Vec<u8>,
}

/// One thread per replica sending `/send` back to back until `stop`.
fn start_load(setup: &Setup, stop: &Arc<AtomicBool>) -> Vec<JoinHandle<Vec<Outcome>>> {
    static SEQUENCE: AtomicUsize = AtomicUsize::new(0);
    setup
        .q2t()
        .into_iter()
        .enumerate()
        .map(|(replica, target)| {
            let (stop, to) = (Arc::clone(stop), setup.peer.public_key.clone());
            std::thread::spawn(move || {
                let mut outcomes = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
                    let payload = format!("ha payload {n}").into_bytes();
                    let started = Instant::now();
                    let response = send(&target, &to, &payload).expect("the replica answers");
                    outcomes.push(Outcome {
                        replica,
                        status: response.status,
                        body: response.text(),
                        latency: started.elapsed(),
                        finished: Instant::now(),
                        payload,
                    });
                }
                outcomes
            })
        })
        .collect()
}

/// How the current primary fails.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Crash,
    Hang,
}

/// Fails primary `from` under load, promotes `to`, waits for sends to resume through both
/// replicas, then brings `from` back as a standby. Returns every outcome and the promotion time.
fn failover_under_load(
    setup: &mut Setup,
    fault: Fault,
    from: usize,
    to: usize,
) -> (Vec<Outcome>, Instant) {
    let stop = Arc::new(AtomicBool::new(false));
    let load = start_load(setup, &stop);
    std::thread::sleep(Duration::from_secs(1));
    match fault {
        Fault::Crash => setup.pg.crash(from),
        Fault::Hang => setup.pg.hang(from),
    }
    // Long enough for requests to meet the missing primary.
    std::thread::sleep(Duration::from_secs(SOCKET_TIMEOUT_S + 1));
    setup.pg.promote(to);
    let promoted = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let outcomes: Vec<Outcome> = load.into_iter().flat_map(|t| t.join().unwrap()).collect();
    if let Fault::Hang = fault {
        // Fence the hung primary before it can wake up believing it still leads.
        setup.pg.crash(from);
    }
    setup.pg.rejoin(from);
    (outcomes, promoted)
}

/// Checks one failover's outcomes: only 201s and 503s naming the store, none slower than the
/// configured bound, and sends succeeding through both replicas after the promotion.
fn check_outcomes(label: &str, outcomes: &[Outcome], promoted: Instant) {
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.status != 201).collect();
    for outcome in &failed {
        assert_eq!(outcome.status, 503, "{label}: {outcome:?}");
        assert!(
            outcome.body.starts_with("store unavailable"),
            "{label}: {outcome:?}"
        );
    }
    let slowest = outcomes.iter().map(|o| o.latency).max().unwrap();
    assert!(
        slowest < request_bound(),
        "{label}: a request took {slowest:?}"
    );
    for replica in 0..2 {
        assert!(
            outcomes
                .iter()
                .any(|o| o.replica == replica && o.status == 201 && o.finished > promoted),
            "{label}: no send succeeded through replica {} after the promotion",
            replica + 1
        );
    }
    eprintln!(
        "{label}: {} sends, {} acknowledged, {} failed with 503, slowest {slowest:?}",
        outcomes.len(),
        outcomes.len() - failed.len(),
        failed.len()
    );
}

/// Every acknowledged send is readable, with its payload, through both replicas and at the
/// recipient; the store holds no more transactions than were attempted.
fn check_nothing_lost(setup: &Setup, acknowledged: &[(String, Vec<u8>)], attempted: usize) {
    let targets = [
        setup.replicas[0].q2t(),
        setup.replicas[1].q2t(),
        setup.peer.q2t(),
    ];
    for (key, payload) in acknowledged {
        for target in &targets {
            let response = read(target, key);
            assert_eq!(
                response.status,
                200,
                "{key} via {target:?}: {}",
                response.text()
            );
            assert_eq!(
                b64::decode(response.json()["payload"].as_str().unwrap()).unwrap(),
                *payload
            );
        }
    }
    let primary = setup.pg.primary();
    let stored: usize = setup
        .pg
        .sql(
            primary,
            DATABASE,
            "SELECT COUNT(*) FROM ENCRYPTED_TRANSACTION",
        )
        .trim()
        .parse()
        .unwrap();
    assert!(
        (acknowledged.len()..=attempted).contains(&stored),
        "{stored} rows for {} acknowledged of {attempted} attempted sends",
        acknowledged.len()
    );
}

#[test]
fn replicas_share_one_store_and_survive_failover_both_ways() {
    share_one_store_and_survive_failover_both_ways(false);
}

#[test]
fn replicas_share_one_store_and_survive_failover_both_ways_at_verify_full() {
    share_one_store_and_survive_failover_both_ways(true);
}

fn share_one_store_and_survive_failover_both_ways(tls: bool) {
    let mut setup = Setup::start(tls);
    let [one, two] = setup.q2t();
    let mut acknowledged = Vec::new();
    let mut attempted = 0;

    // Written through replica 1, readable through replica 2 at once (no wait, no retry).
    let sent = send(&one, &setup.peer.public_key, b"via replica 1").unwrap();
    assert_eq!(sent.status, 201, "{}", sent.text());
    let key = sent.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(read(&two, &key).status, 200);
    acknowledged.push((key, b"via replica 1".to_vec()));
    attempted += 1;

    // The peer pushes to replica 2 (the advertised address); replica 1 serves it.
    let pushed = send(
        &setup.peer.q2t(),
        &setup.replicas[0].public_key,
        b"from the peer",
    )
    .unwrap();
    assert_eq!(pushed.status, 201, "{}", pushed.text());
    let pushed_key = pushed.json()["key"].as_str().unwrap().to_owned();
    let served = read(&one, &pushed_key);
    assert_eq!(served.status, 200, "{}", served.text());
    assert_eq!(
        b64::decode(served.json()["payload"].as_str().unwrap()).unwrap(),
        b"from the peer"
    );
    attempted += 1; // a row in the party's store, though not one of its sends

    // No writable database: a 503 naming the cause, within the bound, never a 404 — for
    // writes, for reads of a transaction that exists, and on /health.
    setup.pg.crash(0);
    for target in [&one, &two] {
        let started = Instant::now();
        let write = send(target, &setup.peer.public_key, b"no primary").unwrap();
        let read_back = read(target, &pushed_key);
        assert!(
            started.elapsed() < request_bound() * 2,
            "{:?}",
            started.elapsed()
        );
        for response in [&write, &read_back] {
            assert_eq!(response.status, 503, "{}", response.text());
            assert!(
                response.text().starts_with("store unavailable"),
                "{}",
                response.text()
            );
        }
        let health = Request::new("GET", "/health").send(target);
        assert_eq!(health.status, 503, "{}", health.text());
        assert_eq!(health.json()["store"]["reachable"], false);
        attempted += 1;
    }
    setup.pg.restart(0);

    // Primary crashed under load, standby promoted; then the old primary rejoins, the new one
    // hangs, and the cluster fails back.
    for (label, fault, from, to) in [
        ("crash", Fault::Crash, 0, 1),
        ("hang, failing back", Fault::Hang, 1, 0),
    ] {
        let (outcomes, promoted) = failover_under_load(&mut setup, fault, from, to);
        check_outcomes(label, &outcomes, promoted);
        attempted += outcomes.len();
        acknowledged.extend(outcomes.into_iter().filter(|o| o.status == 201).map(|o| {
            let key = serde_json::from_str::<Value>(&o.body).unwrap()["key"]
                .as_str()
                .unwrap()
                .to_owned();
            (key, o.payload)
        }));
    }
    let distinct: std::collections::BTreeSet<&String> =
        acknowledged.iter().map(|(k, _)| k).collect();
    assert_eq!(
        distinct.len(),
        acknowledged.len(),
        "one hash per acknowledged send"
    );
    check_nothing_lost(&setup, &acknowledged, attempted);
}
