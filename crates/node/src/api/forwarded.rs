//! Who really called: the `Forwarded` header (RFC 7239) that `cloister proxy` in its P2P role
//! adds, believed only when the connection comes from a trusted proxy, so the P2P whitelist
//! still judges the caller and not the proxy in front of the replicas.

use std::collections::BTreeSet;
use std::net::IpAddr;

use axum::http::HeaderMap;
use cloister_protocol::header::FORWARDED;

/// The caller's address: the last `for=` of `Forwarded` (the hop the trusted proxy appended;
/// earlier ones came from the caller and prove nothing) when `peer` is a trusted proxy, else
/// `peer` itself. `None` when a trusted proxy forwards without a usable `for=` (it must say).
pub fn caller(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted_proxies: &BTreeSet<IpAddr>,
) -> Option<IpAddr> {
    if !trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    let value = headers
        .get_all(FORWARDED)
        .iter()
        .next_back()?
        .to_str()
        .ok()?;
    let element = value.rsplit(',').next()?;
    let node = element.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        name.eq_ignore_ascii_case("for").then_some(value)
    })?;
    parse_node(node.trim_matches('"'))
}

/// `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Some(v6) = node.strip_prefix('[') {
        return v6.split(']').next()?.parse().ok();
    }
    node.parse()
        .ok()
        .or_else(|| node.rsplit_once(':')?.0.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(FORWARDED, value.parse().unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_a_trusted_proxy_is_believed() {
        let trusted = BTreeSet::from([ip("10.0.0.9")]);
        let forwarded = headers(&["for=192.0.2.1"]);
        assert_eq!(
            caller(ip("10.0.0.9"), &forwarded, &trusted),
            Some(ip("192.0.2.1"))
        );
        assert_eq!(
            caller(ip("10.0.0.8"), &forwarded, &trusted),
            Some(ip("10.0.0.8"))
        );
        assert_eq!(caller(ip("10.0.0.9"), &headers(&[]), &trusted), None);
        assert_eq!(
            caller(ip("10.0.0.9"), &headers(&["for=unknown"]), &trusted),
            None
        );
    }

    #[test]
    fn the_last_hop_counts_in_every_spelling() {
        let trusted = BTreeSet::from([ip("10.0.0.9")]);
        for (value, expected) in [
            ("for=203.0.113.7, for=192.0.2.1", "192.0.2.1"),
            ("for=\"192.0.2.1:4711\";proto=http", "192.0.2.1"),
            ("proto=http;For=\"[2001:db8::1]:4711\"", "2001:db8::1"),
            ("for=\"[2001:db8::2]\"", "2001:db8::2"),
        ] {
            assert_eq!(
                caller(ip("10.0.0.9"), &headers(&[value]), &trusted),
                Some(ip(expected)),
                "{value}"
            );
        }
        let two = headers(&["for=203.0.113.7", "for=192.0.2.2"]);
        assert_eq!(
            caller(ip("10.0.0.9"), &two, &trusted),
            Some(ip("192.0.2.2"))
        );
    }
}
