//! TLS material: every certificate a piece presents loads and stays valid for a while yet.
//!
//! A certificate that expires takes its server (or a P2P client's every push) down at once, on
//! every replica that shares it, so the check looks ahead by a margin (`--expiry-days`).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use cloister_gateway::GatewaySettings;
use cloister_proxy::ProxySettings;

use super::{short, Check, Replica};

/// Seconds in a day, for messages in days.
const DAY: u64 = 24 * 60 * 60;

/// One certificate a piece presents: whose, and until when (or why it did not load).
struct Presented {
    what: String,
    not_after: Result<SystemTime, String>,
}

/// The `tls` line: none when nothing speaks TLS; otherwise it fails naming every
/// certificate that did not load or expires within `margin` of `now`.
pub(super) fn check(
    replicas: &[Replica],
    proxies: &[(PathBuf, ProxySettings)],
    gateways: &[(PathBuf, GatewaySettings)],
    margin: Duration,
    now: SystemTime,
) -> Option<Check> {
    let presented = presented(replicas, proxies, gateways);
    let soonest = presented
        .iter()
        .filter_map(|p| p.not_after.as_ref().ok().map(|end| (end, &p.what)))
        .min()?;
    let problems = presented
        .iter()
        .filter_map(|p| match &p.not_after {
            Err(error) => Some(format!("{}: {error}", p.what)),
            Ok(end) if *end <= now + margin => Some(format!("{}: {}", p.what, left(*end, now))),
            Ok(_) => None,
        })
        .collect();
    Some(Check::unless(
        "tls",
        problems,
        format!(
            "{} certificate(s) valid; the first to expire is {}'s, {}",
            presented.len(),
            soonest.1,
            left(*soonest.0, now)
        ),
        "renew the certificate (same key or new) and reload: SIGHUP for a node, restart for a proxy or gateway",
    ))
}

/// Every certificate the pieces present: each replica's TLS servers and P2P client, each
/// proxy's and gateway's TLS listener.
fn presented(
    replicas: &[Replica],
    proxies: &[(PathBuf, ProxySettings)],
    gateways: &[(PathBuf, GatewaySettings)],
) -> Vec<Presented> {
    let mut presented = Vec::new();
    for replica in replicas {
        let settings = &replica.settings;
        for server in &settings.servers {
            if let Some(tls) = &server.tls {
                presented.push(Presented::loaded(
                    format!("{} {} server", replica.name(), server.app),
                    tls.not_after,
                ));
            }
        }
        // A P2P client without key material presents nothing (its peers ask for none).
        if let Some(not_after) = settings.peer_tls.as_ref().and_then(|t| t.not_after) {
            presented.push(Presented::loaded(
                format!("{} P2P client", replica.name()),
                Some(not_after),
            ));
        }
    }
    for (file, proxy) in proxies {
        for listener in &proxy.listeners {
            if let Some(tls) = &listener.tls {
                presented.push(Presented::read(
                    format!("{} listener {}", short(file), listener.listen),
                    tls,
                ));
            }
        }
    }
    for (file, gateway) in gateways {
        if let Some(tls) = &gateway.tls {
            presented.push(Presented::read(short(file), tls));
        }
    }
    presented
}

impl Presented {
    /// A certificate the config loader has read already (`None`: it presents none).
    fn loaded(what: String, not_after: Option<SystemTime>) -> Self {
        Self {
            what,
            not_after: not_after.ok_or_else(|| "presents no certificate".to_owned()),
        }
    }

    /// A front's certificate, read now (its config loader does not read it).
    fn read(what: String, tls: &cloister_proxy::settings::ListenerTls) -> Self {
        Self {
            what,
            not_after: tls
                .identity()
                .map(|identity| identity.not_after())
                .map_err(|e| e.to_string()),
        }
    }
}

/// How long until `end`, or how long since, in days.
fn left(end: SystemTime, now: SystemTime) -> String {
    match end.duration_since(now) {
        Ok(ahead) => format!("expires in {} day(s)", ahead.as_secs() / DAY),
        Err(past) => format!("expired {} day(s) ago", past.duration().as_secs() / DAY),
    }
}
