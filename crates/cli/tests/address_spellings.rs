//! One spelling, one meaning, in every part: each way of writing a unix socket address means
//! the same socket (or is refused) in a node's Tessera config (`serverAddress`), in
//! `cloister proxy --listen`/`--upstream`, and in `cloister gateway --upstream ...,privacy=`.

#![allow(clippy::unwrap_used)]

use cloister_core::config::Config;
use cloister_gateway::UpstreamSettings;
use cloister_net::Endpoint;

/// What a node makes of `spelling` as its Q2T `serverAddress`.
fn node(spelling: &str) -> Option<Endpoint> {
    let json = serde_json::json!({
        "serverConfigs": [{ "app": "Q2T", "serverAddress": spelling }]
    });
    let loaded = Config::parse(json.to_string().as_bytes()).ok()?;
    let servers = loaded.config.servers().ok()?;
    Some(servers.first()?.listen.clone())
}

/// What the proxy makes of it as an upstream, and as a listener.
fn proxy(spelling: &str) -> [Option<Endpoint>; 2] {
    [
        cloister_proxy::upstream_address(spelling).ok(),
        cloister_proxy::listen_address(spelling).ok(),
    ]
}

/// What the gateway makes of it as an upstream's privacy manager.
fn gateway(spelling: &str) -> Option<Endpoint> {
    UpstreamSettings::from_arg(&format!("http://q:1,privacy={spelling}"))
        .privacy_target()
        .ok()
        .flatten()
}

#[test]
fn each_unix_spelling_means_one_socket_or_one_refusal_everywhere() {
    let absolute: Endpoint = "unix:/a/tm.ipc".parse().unwrap();
    let relative = Endpoint::unix("sock/tm.ipc");
    for (spelling, meaning) in [
        ("unix:/a/tm.ipc", Some(absolute.clone())),
        ("unix:///a/tm.ipc", Some(absolute.clone())),
        ("UNIX:/a/tm.ipc", Some(absolute)),
        ("unix:sock/tm.ipc", Some(relative)),
        ("unix://sock/tm.ipc", None),
        ("unix:", None),
        ("unix://", None),
    ] {
        assert_eq!(node(spelling), meaning, "node: {spelling}");
        assert_eq!(
            proxy(spelling),
            [meaning.clone(), meaning.clone()],
            "proxy: {spelling}"
        );
        assert_eq!(gateway(spelling), meaning, "gateway: {spelling}");
    }
}
