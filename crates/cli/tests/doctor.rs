//! `cloister doctor` on a real party (issue 15): two replicas of party A on a PostgreSQL
//! primary with a synchronous standby, a `cloister proxy` as A's `tm.ipc` and as its P2P
//! front, and a peer B. The topology as the HA recipe wants it passes every check; each single
//! mistake fails its own line, and only that one, with exit status 1; so does a certificate
//! near its expiry.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cloister_harness::nodes::{cloister, free_port, use_binary, NodeDir, RunningNode};
use cloister_harness::postgres::PgCluster;
use cloister_harness::proxy::RunningProxy;
use cloister_harness::tls::{Signer, TestCa};
use serde_json::{json, Value};

const DATABASE: &str = "party_a";

/// Party A (two replicas behind a proxy) and its peer B, running.
struct Party {
    pg: PgCluster,
    root: tempfile::TempDir,
    replicas: [NodeDir; 2],
    configs: [Value; 2],
    _running: Vec<RunningNode>,
    _proxy: RunningProxy,
}

impl Party {
    fn start(pg: PgCluster) -> Self {
        use_binary(env!("CARGO_BIN_EXE_cloister"));
        pg.create_database(DATABASE);
        let root = tempfile::tempdir().unwrap();
        let one = NodeDir::new(root.path(), "a1");
        let two = one.replica(root.path(), "a2");
        let peer = NodeDir::new(root.path(), "b");
        let front = format!("http://127.0.0.1:{}", free_port());
        let configs = [&one, &two].map(|replica| {
            let mut config =
                replica.config(&[&peer], json!({ "jdbc": pg.jdbc(DATABASE, "", true) }));
            let p2p = &mut config["serverConfigs"][1];
            p2p["bindingAddress"] = json!(replica.p2p_url());
            p2p["serverAddress"] = json!(front);
            config
        });
        let mut running: Vec<RunningNode> = [&one, &two]
            .iter()
            .zip(&configs)
            .map(|(replica, config)| replica.start(config, &[]))
            .collect();
        let proxy = RunningProxy::start(
            root.path(),
            &[],
            &json!({ "listeners": [
                { "listen": format!("unix:{}", root.path().join("tm.ipc").display()), "role": "q2t",
                  "upstreams": [one.q2t_url(), two.q2t_url()] },
                { "listen": front, "role": "p2p", "upstreams": [one.p2p_url(), two.p2p_url()] },
            ]}),
        );
        let mut peer_config = peer.config(&[], json!({}));
        peer_config["peer"] = json!([{ "url": front }]);
        running.push(peer.start(&peer_config, &[]));
        Self {
            pg,
            root,
            replicas: [one, two],
            configs,
            _running: running,
            _proxy: proxy,
        }
    }

    /// Replica `i`'s config file, as the node runs it.
    fn config_file(&self, i: usize) -> PathBuf {
        self.replicas[i].dir.join("tessera-config.json")
    }

    fn proxy_file(&self) -> PathBuf {
        self.root.path().join("proxy.json")
    }

    /// Writes `config` beside the party's files as `name`.
    fn write(&self, name: &str, config: &Value) -> PathBuf {
        let path = self.root.path().join(name);
        std::fs::write(&path, config.to_string()).unwrap();
        path
    }

    /// `cloister doctor --json` on two node configs and a proxy config: its exit status, the
    /// names of the checks that failed (each once, whatever the number of its lines) and the
    /// whole checklist.
    fn doctor(&self, nodes: [&Path; 2], proxy: &Path) -> (i32, Vec<String>, Value) {
        let out = Command::new(cloister_harness::nodes::binary())
            .args(["doctor", "--json", "--node"])
            .arg(nodes[0])
            .arg("--node")
            .arg(nodes[1])
            .arg("--proxy")
            .arg(proxy)
            .output()
            .unwrap();
        let checks: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            panic!(
                "not JSON: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let failed = checks
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["passed"] == false)
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        (out.status.code().unwrap(), failed, checks)
    }

    /// The doctor on the party's own files.
    fn doctor_as_run(&self) -> (i32, Vec<String>, Value) {
        self.doctor(
            [&self.config_file(0), &self.config_file(1)],
            &self.proxy_file(),
        )
    }
}

#[test]
fn the_recipes_topology_passes_and_each_single_mistake_fails_its_own_line() {
    let party = Party::start(PgCluster::pair());
    let (code, failed, checks) = party.doctor_as_run();
    assert_eq!((code, failed.clone()), (0, vec![]), "{checks:#}");
    let names: Vec<&str> = checks
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for name in [
        "keys",
        "store",
        "advertised url",
        "bindings",
        "proxy upstreams",
        "health",
        "standby",
        "front",
        "peer",
    ] {
        assert!(names.contains(&name), "no {name} check: {checks:#}");
    }

    // A second key, listed in opposite orders.
    let extra = party.root.path().join("extra");
    let keygen = cloister()
        .args(["keygen", "--filename"])
        .arg(&extra)
        .output()
        .unwrap();
    assert!(keygen.status.success());
    let with_keys = |config: &Value, first: &Path, second: &Path| {
        let mut config = config.clone();
        let pair = |base: &Path| json!({ "privateKeyPath": base.with_extension("key"), "publicKeyPath": base.with_extension("pub") });
        config["keys"]["keyData"] = json!([pair(first), pair(second)]);
        config
    };
    let own = party.replicas[0].dir.join("tm");
    let a1 = party.write("keys-a1.json", &with_keys(&party.configs[0], &own, &extra));
    let a2 = party.write("keys-a2.json", &with_keys(&party.configs[1], &extra, &own));
    assert_mistake(&party, [&a1, &a2], &party.proxy_file(), "keys");

    // The second replica on another database.
    let mut other = party.configs[1].clone();
    other["jdbc"] = party.pg.jdbc("elsewhere", "", true);
    let a2 = party.write("store-a2.json", &other);
    assert_mistake(
        &party,
        [&party.config_file(0), &a2],
        &party.proxy_file(),
        "store",
    );

    // Both replicas advertising the first one's own address.
    let at_replica = |config: &Value| {
        let mut config = config.clone();
        config["serverConfigs"][1]["serverAddress"] = json!(party.replicas[0].p2p_url());
        config["serverConfigs"][1]
            .as_object_mut()
            .unwrap()
            .remove("bindingAddress");
        config
    };
    let a1 = party.write("advertised-a1.json", &at_replica(&party.configs[0]));
    let mut a2_config = at_replica(&party.configs[1]);
    a2_config["serverConfigs"][1]["bindingAddress"] = json!(party.replicas[1].p2p_url());
    let a2 = party.write("advertised-a2.json", &a2_config);
    assert_mistake(&party, [&a1, &a2], &party.proxy_file(), "advertised url");

    // The tm.ipc proxy without the second replica.
    let mut proxy: Value =
        serde_json::from_str(&std::fs::read_to_string(party.proxy_file()).unwrap()).unwrap();
    proxy["listeners"][0]["upstreams"] = json!([party.replicas[0].q2t_url()]);
    let proxy = party.write("proxy-missing.json", &proxy);
    assert_mistake(
        &party,
        [&party.config_file(0), &party.config_file(1)],
        &proxy,
        "proxy upstreams",
    );

    // The P2P front speaking TLS: a certificate good for years passes the tls line, one with
    // ten days left fails it (the margin is 30 days).
    let ca = TestCa::in_dir(&party.root.path().join("ca"));
    let (one, two) = (party.config_file(0), party.config_file(1));
    let replicas: [&Path; 2] = [&one, &two];
    let lasting = with_front_certificate(&party, &ca, "lasting", Signer::Ca);
    let (code, failed, checks) = party.doctor(replicas, &lasting);
    assert_eq!((code, failed), (0, vec![]), "{checks:#}");
    assert!(
        checks
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "tls"),
        "{checks:#}"
    );
    let expiring = with_front_certificate(&party, &ca, "expiring", Signer::CaExpiringIn(10));
    assert_mistake(&party, replicas, &expiring, "tls");
    let (_, _, checks) = party.doctor(replicas, &expiring);
    let line = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "tls")
        .unwrap();
    assert!(
        line["detail"]
            .as_str()
            .unwrap()
            .contains("expires in 9 day(s)"),
        "{line}"
    );
}

/// The doctor on the party's replicas with this proxy config: the P2P front's listener given
/// a certificate signed by `signer`.
fn with_front_certificate(party: &Party, ca: &TestCa, name: &str, signer: Signer) -> PathBuf {
    let pem = ca.leaf(name, "front", signer);
    let mut proxy: Value =
        serde_json::from_str(&std::fs::read_to_string(party.proxy_file()).unwrap()).unwrap();
    proxy["listeners"][1]["tls"] =
        json!({ "certificateFile": pem.certificate, "keyFile": pem.key });
    party.write(&format!("proxy-{name}.json"), &proxy)
}

#[test]
fn a_store_without_a_synchronous_standby_fails_the_standby_line() {
    let party = Party::start(PgCluster::single());
    let (code, failed, checks) = party.doctor_as_run();
    assert_eq!(
        (code, failed),
        (1, vec!["standby".to_owned()]),
        "{checks:#}"
    );
}

/// The doctor fails exactly the `expected` line, with exit status 1.
fn assert_mistake(party: &Party, nodes: [&Path; 2], proxy: &Path, expected: &str) {
    let (code, failed, checks) = party.doctor(nodes, proxy);
    assert_eq!((code, failed), (1, vec![expected.to_owned()]), "{checks:#}");
    let line = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == expected)
        .unwrap();
    assert!(line["fix"].is_string(), "{line}");
}
