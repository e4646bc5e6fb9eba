//! Hostile peers (`cloister-bench hostile`, and the hostile-peer tests): each attack of the P2P
//! boundary issue run against a real `cloister node` process, with what it cost the node.
//!
//! - [`flood`]: PartyInfo naming thousands of parties;
//! - [`amplify`]: a `/resendBatch` for a sender whose payloads hold hundreds of boxes;
//! - [`merge`]: a payload with 20,000 boxes pushed twice;
//! - [`hijack`]: another party's key announced for the attacker's URL, and an empty announcement
//!   in the owner's name;
//! - [`scan`]: a proven key announced at an internal service and at a closed port, then a
//!   resend to it (request forgery and the port-scan oracle);
//! - [`slow`]: hundreds of connections that never finish their request head, at a node, at
//!   a `cloister proxy` in front of it and at a `cloister gateway`;
//! - [`media`]: a PartyInfo posted as `text/plain`, as a web page could;
//! - [`watch`]: the node's peak memory and `tm.ipc` latency during an attack;
//! - [`fake_peer`]: the attacker's own server.
//!
//! Point `--cloister` at another build to measure it: the attacks speak only the protocol.

pub mod amplify;
pub mod fake_peer;
pub mod flood;
pub mod hijack;
pub mod media;
pub mod merge;
pub mod scan;
pub mod slow;
pub mod watch;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use cloister_addr::Endpoint;
use cloister_core::enclave::Enclave;
use cloister_core::keys::{KeyPair, PublicKey};
use cloister_core::partyinfo::PartyInfo;
use cloister_core::payload::PayloadCodec;
use cloister_harness::http::{eventually, Request, Response};
use cloister_harness::nodes::{NodeDir, RunningNode};
use serde_json::{json, Value};

use fake_peer::Received;

/// `cloister-bench hostile`'s command line.
#[derive(Debug, Clone, Args)]
pub struct HostileBench {
    /// Which attacks to run (default: all).
    #[arg(long, value_delimiter = ',')]
    pub attacks: Vec<String>,
}

/// The versions a Tessera 21+ node advertises without CBOR (so pushes to it are LEGACY).
pub const LEGACY_VERSIONS: &str = "2.1,3.0,4.0,v1,v2";

/// A node under attack, alone on loopback, with its directory kept for restarts.
pub struct Victim {
    /// Keeps the directories until the victim is dropped.
    _root: tempfile::TempDir,
    /// The node's directory, config and addresses.
    pub dir: NodeDir,
    /// The running process.
    pub node: RunningNode,
    config: Value,
}

impl Victim {
    /// Starts a node whose P2P server has these extra `properties` (its bounds), and these
    /// `peers`' directories as configured peers.
    pub fn start(properties: Value) -> Self {
        let root = tempfile::tempdir().expect("a temporary directory");
        let dir = NodeDir::new(root.path(), "victim");
        let config = with_p2p_properties(dir.config(&[], json!({})), properties);
        let node = dir.start(&config, &[]);
        Self {
            _root: root,
            dir,
            node,
            config,
        }
    }

    /// Restarts the node on the same data; whether it comes back healthy.
    pub fn restart_is_healthy(&mut self) -> bool {
        self.node.kill();
        self.node = self.dir.start(&self.config, &[]);
        let health = Request::new("GET", "/health").try_send(&self.dir.q2t(), None);
        health.is_ok_and(|r| r.status == 200)
    }

    /// The party URLs the node contacts, as `GET /partyinfo` lists them (`None` if it did not
    /// answer).
    pub fn parties(&self) -> Option<usize> {
        Request::new("GET", "/partyinfo")
            .try_send(&self.dir.p2p_target(), None)
            .ok()
            .and_then(|r| r.json()["peers"].as_array().map(Vec::len))
    }
}

/// `config` with `properties` merged into its P2P server's.
pub fn with_p2p_properties(mut config: Value, properties: Value) -> Value {
    let servers = config["serverConfigs"].as_array_mut();
    let p2p = servers.and_then(|s| s.iter_mut().find(|s| s["app"] == "P2P"));
    if let (Some(p2p), Value::Object(extra)) = (p2p, properties) {
        let existing = &mut p2p["properties"];
        if !existing.is_object() {
            *existing = json!({});
        }
        if let Some(map) = existing.as_object_mut() {
            map.extend(extra);
        }
    }
    config
}

/// Posts `info` to `target`'s `/partyinfo` as a peer advertising `versions` would.
pub fn announce(target: &Endpoint, info: &PartyInfo, versions: &str, media: &str) -> Response {
    Request::new("POST", "/partyinfo")
        .header("tesseraSupportedApiVersions", versions)
        .body_with_type(media, info.encode())
        .try_send(target, None)
        .unwrap_or_else(|error| panic!("POST /partyinfo: {error}"))
}

/// An attacker with a key pair of its own, serving it at its own URL: it answers key
/// challenges for its key, accepts whatever is pushed to it, and answers anything else 200.
pub struct Attacker {
    /// Its key pair.
    pub keys: KeyPair,
    /// Its server.
    pub peer: fake_peer::FakePeer,
    /// Payloads delivered to it with `/pushBatch`.
    pub batched: Arc<AtomicUsize>,
}

impl Attacker {
    /// Starts the attacker's server.
    pub fn start() -> anyhow::Result<Self> {
        let keys = KeyPair::generate(&mut rand_core::OsRng);
        let enclave = Enclave::new(vec![keys.clone()])?;
        let batched = Arc::new(AtomicUsize::new(0));
        let count = batched.clone();
        let script = move |request: &Received| -> (u16, Vec<u8>) {
            match request.line.as_str() {
                "POST /partyinfo/validate" => decrypt_challenge(&enclave, &request.body),
                "POST /push" => (201, Vec::new()),
                "POST /pushBatch" => {
                    count.fetch_add(batch_size(&request.body), Ordering::Relaxed);
                    (200, Vec::new())
                }
                _ => (200, Vec::new()),
            }
        };
        Ok(Self {
            keys,
            peer: fake_peer::FakePeer::start(Arc::new(script))?,
            batched,
        })
    }

    /// Its public key.
    pub fn key(&self) -> PublicKey {
        *self.keys.public()
    }

    /// Announces its key at its URL to `target` and waits until `target` knows it.
    pub fn join(&self, victim: &Victim) -> anyhow::Result<()> {
        let url = self.peer.url();
        let info = PartyInfo::new(&url, [(self.key(), url.clone())], []);
        let answer = announce(
            &victim.dir.p2p_target(),
            &info,
            LEGACY_VERSIONS,
            "application/octet-stream",
        );
        anyhow::ensure!(
            answer.status == 200,
            "joining: {} {}",
            answer.status,
            answer.text()
        );
        let known = eventually(Duration::from_secs(10), || {
            victim.dir.known_keys().contains(&self.key().to_base64())
        });
        anyhow::ensure!(known, "the victim never learnt the attacker's key");
        Ok(())
    }
}

/// The payloads in a `/pushBatch` body, counted without parsing megabytes of JSON: base64 has
/// no quotes or commas, so the separators between the strings count them.
fn batch_size(body: &[u8]) -> usize {
    let separators = body.windows(3).filter(|w| w == b"\",\"").count();
    if body.windows(2).any(|w| w == b"[\"") {
        separators + 1
    } else {
        0
    }
}

fn decrypt_challenge(enclave: &Enclave, body: &[u8]) -> (u16, Vec<u8>) {
    let Ok(payload) = PayloadCodec::Legacy.decode(body) else {
        return (400, Vec::new());
    };
    let Some(key) = payload.recipient_keys.first() else {
        return (400, Vec::new());
    };
    match enclave.unencrypt_transaction(&payload, key) {
        Ok(plaintext) => (200, plaintext),
        Err(_) => (400, Vec::new()),
    }
}

/// Runs the attacks named (all by default), printing what each cost the node.
pub fn run(settings: &HostileBench, out: &mut dyn Write) -> anyhow::Result<()> {
    let all = [
        "flood",
        "amplify",
        "merge",
        "hijack",
        "scan",
        "slow",
        "slow-proxy",
        "slow-gateway",
        "media",
    ];
    let chosen: Vec<&str> = if settings.attacks.is_empty() {
        all.to_vec()
    } else {
        settings.attacks.iter().map(String::as_str).collect()
    };
    writeln!(
        out,
        "cloister-bench hostile: one attack per node, on loopback"
    )?;
    if let Some(unknown) = chosen.iter().find(|name| !all.contains(name)) {
        anyhow::bail!("unknown attack {unknown:?}; use {}", all.join(", "));
    }
    for name in chosen {
        // An attack that cannot run against this build (an older one refusing a config
        // member, say) is reported, and the others still run.
        let line = attack(name).unwrap_or_else(|error| format!("did not complete: {error:#}"));
        writeln!(out, "{name:12} {line}")?;
    }
    Ok(())
}

/// Runs the attack called `name` and describes what it achieved.
fn attack(name: &str) -> anyhow::Result<String> {
    Ok(match name {
        "flood" => flood::run(flood::PARTIES)?.to_string(),
        "amplify" => amplify::run(amplify::PAYLOAD_BYTES)?.to_string(),
        "merge" => merge::run(merge::BOXES)?.to_string(),
        "hijack" => hijack::run()?.to_string(),
        "scan" => scan::run()?.to_string(),
        "slow" => slow::run()?.to_string(),
        "slow-proxy" => slow::run_on_proxy()?.to_string(),
        "slow-gateway" => slow::run_on_gateway()?.to_string(),
        "media" => media::run()?.to_string(),
        other => anyhow::bail!("unknown attack {other:?}"),
    })
}

/// `seen`'s figures as the report prints them.
fn cost(seen: &watch::Seen) -> String {
    format!(
        "peak RSS {:.0} MiB, worst tm.ipc /upcheck {} ms ({} failed)",
        seen.peak_rss_mib,
        seen.worst_upcheck.as_millis(),
        seen.failed_upchecks
    )
}
