//! The checks a config file can answer: what the HA recipe needs of the replicas and of the
//! proxies in front of them.

use std::collections::BTreeSet;
use std::net::{IpAddr, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;
use std::str::FromStr;

use cloister_addr::Endpoint;
use cloister_core::config::AppType;
use cloister_proxy::{ProxySettings, Role};

use super::{Check, Replica};

/// Every static check of `replicas` and `proxies`.
pub(super) fn checks(replicas: &[Replica], proxies: &[(PathBuf, ProxySettings)]) -> Vec<Check> {
    let mut checks = vec![
        same_keys(replicas),
        one_store(replicas),
        advertised_front(replicas),
        local_bindings(replicas),
    ];
    for (role, app) in [(Role::Q2t, AppType::Q2T), (Role::P2p, AppType::P2P)] {
        for (_, proxy) in proxies {
            for listener in proxy.listeners.iter().filter(|l| l.role == role) {
                checks.push(upstreams(
                    replicas,
                    &listener.upstreams,
                    app,
                    &listener.listen,
                ));
            }
        }
    }
    checks
}

/// The replicas hold the same key pairs in the same order: the first is every replica's
/// default sender, and a replica missing a key answers "recipient not found" for it.
fn same_keys(replicas: &[Replica]) -> Check {
    let keys = |r: &Replica| -> Vec<String> {
        r.settings
            .keys
            .iter()
            .map(|k| k.public().to_base64())
            .collect()
    };
    let first = keys(&replicas[0]);
    let problems = replicas[1..]
        .iter()
        .filter(|r| keys(r) != first)
        .map(|r| {
            format!(
                "{} lists {:?}, {} lists {:?}",
                r.name(),
                keys(r),
                replicas[0].name(),
                first
            )
        })
        .collect();
    Check::unless(
        "keys",
        problems,
        format!(
            "{} replica(s) hold the same {} key pair(s) in the same order",
            replicas.len(),
            first.len()
        ),
        "give every replica the same keys.keyData entries, in the same order",
    )
}

/// The replicas share one store: each one's own would answer 404 for the others' sends.
fn one_store(replicas: &[Replica]) -> Check {
    let first = &replicas[0].settings.store;
    let problems = replicas[1..]
        .iter()
        .filter(|r| r.settings.store != *first)
        .map(|r| {
            format!(
                "{} uses {}, {} uses {}",
                r.name(),
                r.settings.store,
                replicas[0].name(),
                first
            )
        })
        .collect();
    Check::unless(
        "store",
        problems,
        format!("every replica uses {first}"),
        "point every replica's jdbc.url at the same database (the same hosts, in the same order)",
    )
}

/// The replicas advertise one P2P URL, the front's: a replica advertising its own address
/// takes every peer's pushes and resends alone, so they fail whenever it does.
fn advertised_front(replicas: &[Replica]) -> Check {
    let advertised: BTreeSet<&str> = replicas
        .iter()
        .map(|r| r.settings.p2p_url.as_str())
        .collect();
    let mut problems = Vec::new();
    if advertised.len() > 1 {
        problems.push(format!("the replicas advertise {advertised:?}"));
    }
    for url in &advertised {
        let at = Endpoint::from_str(url).ok().and_then(|e| authority(&e));
        for replica in replicas {
            let own = listen(replica, AppType::P2P).and_then(|e| authority(&e));
            if at.is_some() && at == own {
                problems.push(format!("{url} is {}'s own P2P address", replica.name()));
            }
        }
    }
    let url = advertised.iter().next().copied().unwrap_or_default();
    Check::unless(
        "advertised url",
        problems,
        format!("every replica advertises {url}, no replica's own address"),
        "set every replica's P2P serverAddress to the front's URL, and its own address in bindingAddress",
    )
}

/// Every TCP server binds an address of this machine (or all of them).
fn local_bindings(replicas: &[Replica]) -> Check {
    let mut problems = Vec::new();
    for replica in replicas {
        for server in &replica.settings.servers {
            if let Endpoint::Tcp(tcp) = &server.listen {
                if !is_local(&tcp.host) {
                    problems.push(format!(
                        "{}: {} binds {}, not an address of this machine",
                        replica.name(),
                        server.app,
                        tcp.host
                    ));
                }
            }
        }
    }
    Check::unless(
        "bindings",
        problems,
        "every server binds an address of this machine",
        "set bindingAddress to an address of the replica's own host (or 0.0.0.0)",
    )
}

/// A proxy listener's upstreams are exactly the replicas' servers of `app`: one missing takes
/// no traffic and fails over to nothing; one extra sends traffic to a stranger.
fn upstreams(
    replicas: &[Replica],
    upstreams: &[Endpoint],
    app: AppType,
    listen: &Endpoint,
) -> Check {
    let want: BTreeSet<String> = replicas.iter().filter_map(|r| listen_of(r, app)).collect();
    let have: BTreeSet<String> = upstreams.iter().map(ToString::to_string).collect();
    let mut problems: Vec<String> = want
        .difference(&have)
        .map(|missing| format!("{missing} (a replica's {app}) is not an upstream"))
        .collect();
    problems.extend(
        have.difference(&want)
            .map(|extra| format!("upstream {extra} is no replica's {app} server")),
    );
    Check::unless(
        "proxy upstreams",
        problems,
        format!(
            "{listen} fronts exactly the {} replicas' {app} servers",
            want.len()
        ),
        "list exactly the replicas' addresses for this API as the listener's upstreams",
    )
}

/// Where replica `r` serves `app`, as a proxy names an upstream.
fn listen_of(r: &Replica, app: AppType) -> Option<String> {
    listen(r, app).map(|e| e.to_string())
}

fn listen(r: &Replica, app: AppType) -> Option<Endpoint> {
    r.settings
        .servers
        .iter()
        .find(|s| s.app == app)
        .map(|s| s.listen.clone())
}

/// `host:port` of a TCP endpoint.
fn authority(endpoint: &Endpoint) -> Option<(String, u16)> {
    match endpoint {
        Endpoint::Tcp(tcp) => Some((tcp.host.to_ascii_lowercase(), tcp.port)),
        Endpoint::Unix(_) => None,
    }
}

/// Whether `host` names this machine: the unspecified address, or one a socket can bind.
fn is_local(host: &str) -> bool {
    let Ok(addresses) = (host, 0).to_socket_addrs() else {
        return false;
    };
    addresses
        .map(|a| a.ip())
        .any(|ip: IpAddr| ip.is_unspecified() || UdpSocket::bind((ip, 0)).is_ok())
}
