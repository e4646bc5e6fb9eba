//! Cloister on a Patroni cluster (issue 14): two `cloister node` replicas of one party (one key
//! pair) on a two-member Patroni cluster in synchronous mode, a peer on SQLite, and writers
//! sending continuously (see `cloister_bench::patroni`). The primary's PostgreSQL is SIGKILLed,
//! the primary hangs and wakes, or a switchover is requested; Patroni promotes the standby on
//! its own, the replicas follow the multi-host JDBC URL to it without a restart, every
//! acknowledged send is readable afterwards through both replicas and the recipient, no read
//! answers 404 meanwhile, and the old primary rejoins as the synchronous standby without anyone
//! touching it. Through `cloister proxy`, as GoQuorum sees it, a crash and a switchover cost no
//! error, and a hang only the requests whose budget ran out.

#![allow(clippy::unwrap_used)]

use std::sync::Mutex;
use std::time::Duration;

use cloister_addr::Endpoint;
use cloister_bench::patroni::{Fault, FaultRun, Party, PROXY_BUDGET};
use cloister_harness::http::eventually;
use cloister_harness::patroni::Synchronous;

/// One cluster at a time: the failover times are the measurement, and three clusters on two
/// cores would stretch them.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    cloister_harness::nodes::use_binary(env!("CARGO_BIN_EXE_cloister"));
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `fault` (through `via`, or to the replicas directly) and checks what the issue asks of
/// every fault: writes resume, no read answered 404, every acknowledged send is readable
/// through both replicas and the recipient, the old leader rejoins as the synchronous standby,
/// and each replica's /health names the new primary and its standby.
fn survives(party: &Party, fault: Fault, via: Option<&Endpoint>) -> FaultRun {
    let what = format!(
        "{}{}",
        fault.name(),
        if via.is_some() {
            " through the proxy"
        } else {
            ""
        }
    );
    let run = party.run_fault(fault, via);
    eprintln!(
        "{what}: member {} leads {:?} after the fault; lock -> first write {:?}, gap {:?}; {} sends acknowledged, {} failed, the slowest in {:?}",
        run.new,
        run.promoted_after,
        run.lock_to_first_write,
        run.gap,
        run.acknowledged.len(),
        run.failed.len(),
        run.slowest
    );
    assert!(
        run.resumed(),
        "{what}: writes never resumed: {:?}\n{}",
        run.failed.last(),
        party.cluster.logs()
    );
    assert!(
        run.false_not_found.is_empty(),
        "{what}: acknowledged sends read as 404: {:?}",
        run.false_not_found
    );
    let unreadable = party.unreadable(&run.acknowledged);
    assert!(unreadable.is_empty(), "{what}: {unreadable:?}");
    assert!(
        party.rejoined(run.old),
        "{what}: the old leader never rejoined as the synchronous standby: {}",
        party.cluster.logs()
    );
    party
        .health_names(run.new, 1)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    run
}

/// The fault direct, then through the proxy, where GoQuorum must see no error.
fn costs_goquorum_nothing(fault: Fault) {
    let party = Party::start(1, Synchronous::Preferred);
    survives(&party, fault, None);
    let (proxy, via) = party.proxy();
    let run = survives(&party, fault, Some(&via));
    assert!(
        run.failed.is_empty(),
        "GoQuorum saw errors: {:?}\n{}",
        run.failed,
        proxy.log_text()
    );
}

#[test]
fn patroni_promotes_on_a_primary_crash_and_every_acknowledged_send_survives() {
    let _turn = serial();
    costs_goquorum_nothing(Fault::Crash);
}

#[test]
fn a_switchover_moves_the_primary_and_every_acknowledged_send_survives() {
    let _turn = serial();
    costs_goquorum_nothing(Fault::Switchover);
}

#[test]
fn a_hung_primary_is_replaced_after_the_leader_ttl_and_wakes_to_no_false_404() {
    let _turn = serial();
    let party = Party::start(1, Synchronous::Preferred);
    survives(&party, Fault::Hang, None);
    // Through the proxy the gap (ttl and more) exceeds every budget: a request fails only once
    // the proxy has spent its budget on it. Passed on at once, a replica's 503 would take
    // milliseconds; the proxy stops asking again only when another round (a pause and a
    // connect timeout) no longer fits, well past half its budget.
    let (proxy, via) = party.proxy();
    let run = survives(&party, Fault::Hang, Some(&via));
    let early: Vec<_> = run
        .failed
        .iter()
        .filter(|f| f.took < PROXY_BUDGET / 2)
        .collect();
    assert!(
        early.is_empty(),
        "failed before the budget ran out: {early:?}\n{}",
        proxy.log_text()
    );
}

#[test]
fn losing_the_etcd_leader_moves_no_primary_and_costs_no_write() {
    let _turn = serial();
    let mut party = Party::start(3, Synchronous::Preferred);
    let leader = party.cluster.leader().unwrap();
    let etcd_leader = party.cluster.etcd_leader().expect("an etcd leader");
    let load = party.load(None);
    std::thread::sleep(Duration::from_secs(2));
    party.cluster.kill_etcd(etcd_leader);
    // Longer than Patroni's retry_timeout (5 s): the primary must keep its lock through the
    // etcd election, not merely outlast it.
    std::thread::sleep(Duration::from_secs(8));
    let seen = load.finish();
    eprintln!(
        "etcd leader lost: {} sends acknowledged, {} failed; new etcd leader: {:?}",
        seen.acknowledged.len(),
        seen.failed.len(),
        party.cluster.etcd_leader()
    );
    assert!(
        seen.failed.is_empty(),
        "{:?}",
        &seen.failed[..seen.failed.len().min(5)]
    );
    assert_eq!(
        party.cluster.leader(),
        Some(leader),
        "{}",
        party.cluster.logs()
    );
    assert!(party.cluster.sync_standby().is_some());
    assert!(party
        .cluster
        .etcd_leader()
        .is_some_and(|l| l != etcd_leader));
    let keys: Vec<String> = seen.acknowledged.into_iter().map(|(key, _)| key).collect();
    assert_eq!(party.unreadable(&keys), Vec::<String>::new());
}

/// The standby lost, in each synchronous mode: writes go on unprotected and /health says so,
/// or (strict) they wait, and fail as unavailable, until a standby is back.
#[test]
fn without_a_standby_writes_go_on_unprotected_or_wait_in_strict_mode() {
    let _turn = serial();
    for synchronous in [Synchronous::Preferred, Synchronous::Strict] {
        let mut party = Party::start(1, synchronous);
        let leader = party.cluster.leader().unwrap();
        let standby = party.cluster.sync_standby().unwrap();
        party.send_through(0, "before").unwrap();
        party.cluster.kill_member(standby);
        match synchronous {
            Synchronous::Preferred => {
                let unprotected = eventually(Duration::from_secs(30), || {
                    party.send_through(0, "alone").is_ok()
                });
                assert!(unprotected, "{}", party.cluster.logs());
                party.health_names(leader, 0).unwrap();
            }
            Synchronous::Strict => {
                // Long after Patroni would have let the primary commit alone.
                std::thread::sleep(Duration::from_secs(5));
                let held = party.send_through(1, "held");
                assert!(held.is_err(), "acknowledged with no standby: {held:?}");
            }
        }
        party.cluster.start_patroni(standby);
        assert!(party.rejoined(standby), "{}", party.cluster.logs());
        let after = party.send_through(1, "after").unwrap();
        assert!(party.unreadable(&[after]).is_empty());
        party.health_names(leader, 1).unwrap();
    }
}
