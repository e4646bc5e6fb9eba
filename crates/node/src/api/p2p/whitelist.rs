//! `useWhiteList`: only the hosts of the configured peers may call the P2P app; behind a
//! trusted proxy, the caller it names in `Forwarded` is judged instead of the proxy.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cloister_addr::Endpoint;

use crate::api::error::ApiError;
use crate::api::forwarded;
use crate::listener::PeerAddress;

/// Who may call the P2P app when `useWhiteList` is on.
#[derive(Debug, Clone, Default)]
pub struct Whitelist {
    /// Allowed caller hosts (see [`whitelist_hosts`]).
    pub hosts: BTreeSet<String>,
    /// Proxies whose `Forwarded` header names the real caller (`--trusted-proxy`).
    pub trusted_proxies: BTreeSet<IpAddr>,
}

/// The hosts allowed by `useWhiteList`: the hosts of the configured peers, with every loopback
/// spelling when any of them is loopback (as Tessera does).
pub fn whitelist_hosts(peers: &[String]) -> BTreeSet<String> {
    let mut hosts: BTreeSet<String> = peers.iter().filter_map(|url| host_of(url)).collect();
    if hosts
        .iter()
        .any(|h| h == "localhost" || h == "127.0.0.1" || h == "::1")
    {
        hosts.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
    }
    hosts
}

/// A peer URL's host, lower-cased; configured peer URLs were validated at start.
fn host_of(url: &str) -> Option<String> {
    let endpoint = Endpoint::parse_url(url).ok()?;
    Some(endpoint.tcp().ok()?.host.to_ascii_lowercase())
}

/// Middleware: lets an allowed caller through, answers anyone else 401.
pub async fn admit(
    State(allowed): State<Arc<Whitelist>>,
    request: Request,
    next: Next,
) -> Response {
    let caller = request
        .extensions()
        .get::<PeerAddress>()
        .and_then(|a| a.0)
        .and_then(|a| {
            forwarded::caller(
                a.ip().to_canonical(),
                request.headers(),
                &allowed.trusted_proxies,
            )
        })
        .map(|ip| ip.to_canonical().to_string());
    match caller {
        Some(ip) if allowed.hosts.contains(&ip) => next.run(request).await,
        _ => ApiError::NotWhitelisted.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_peers_allow_every_loopback_spelling() {
        let hosts = whitelist_hosts(&[
            "http://localhost:9001/".into(),
            "http://[fe80::1]:1/".into(),
            "https://Peer.example:443".into(),
        ]);
        for host in ["localhost", "127.0.0.1", "::1", "fe80::1", "peer.example"] {
            assert!(hosts.contains(host), "{host}");
        }
        assert!(!whitelist_hosts(&["http://10.0.0.1:9001/".into()]).contains("127.0.0.1"));
    }
}
