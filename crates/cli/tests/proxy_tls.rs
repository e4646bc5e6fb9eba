//! `cloister proxy` and TLS, with real processes: a passthrough P2P listener in front of two
//! replicas that share one certificate and terminate mutual TLS themselves (CA trust mode),
//! failing over when one is killed or stopped; and an HTTP listener with its own certificate.
//! The `https://` upstream variants of the Q2T failover tests are in `proxy_failover.rs`.

#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cloister_harness::http::{eventually, Request};
use cloister_harness::nodes::{free_port, NodeDir, RunningNode};
use cloister_harness::proxy::RunningProxy;
use cloister_harness::tls::{self, anonymous_client, Pem, Signer, TestCa};
use serde_json::{json, Value};

/// The proxy's default check interval and timeout, which the ejection bound is stated in.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);
const CHECK_TIMEOUT: Duration = Duration::from_millis(500);
/// Slack for a 2-core machine shared with builds: scheduling, not protocol.
const SLACK: Duration = Duration::from_millis(750);
/// How long a client waits on a connection before giving up (a stopped replica never answers).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
/// Load workers: each has one connection open at a time.
const WORKERS: usize = 4;

/// The scenarios start real processes and measure bounds: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    cloister_harness::nodes::use_binary(env!("CARGO_BIN_EXE_cloister"));
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A proxy running on `config` alone.
fn proxy(root: &Path, config: &Value) -> RunningProxy {
    RunningProxy::start(root, &[], config)
}

/// Two replicas of one node (one key pair, one certificate) whose P2P servers speak mutual
/// TLS in CA mode, and a passthrough proxy in front of them.
struct Passthrough {
    replicas: [Option<RunningNode>; 2],
    dirs: [NodeDir; 2],
    proxy: RunningProxy,
    /// The proxy's listener.
    address: SocketAddr,
    /// A client the replicas accept: a certificate signed by the CA.
    member: Arc<rustls::ClientConfig>,
    ca: TestCa,
    _root: tempfile::TempDir,
}

impl Passthrough {
    fn start() -> Self {
        let root = tempfile::tempdir().unwrap();
        let ca = TestCa::new("passthrough");
        // One certificate for the party, naming the address clients dial (the proxy's).
        let shared = ca.leaf("party", "party", Signer::Ca);
        let member = ca.leaf("member", "member", Signer::Ca).client();
        let one = NodeDir::new(root.path(), "replica1");
        let two = one.replica(root.path(), "replica2");
        let mut dirs = [one, two];
        let replicas = [0, 1].map(|i| {
            dirs[i].p2p_tls = Some(member.clone());
            let ssl =
                cloister_harness::tls::ssl_config(&dirs[i].dir, &shared, &ca.file, "CA", "CA");
            let config =
                cloister_harness::tls::with_p2p_ssl(dirs[i].config(&[], json!({})), ssl, json!({}));
            Some(dirs[i].start(&config, &[]))
        });
        let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let proxy = proxy(
            root.path(),
            &json!({ "listeners": [ {
                "listen": address.to_string(), "role": "p2p", "mode": "passthrough",
                "upstreams": [dirs[0].p2p_url(), dirs[1].p2p_url()],
            } ] }),
        );
        Self {
            replicas,
            dirs,
            proxy,
            address,
            member,
            ca,
            _root: root,
        }
    }

    fn replica(&self, i: usize) -> &RunningNode {
        self.replicas[i].as_ref().unwrap()
    }

    /// `GET /upcheck` through the proxy on a fresh connection, presenting `client`.
    fn upcheck(&self, client: &Arc<rustls::ClientConfig>) -> Result<(), String> {
        match Request::new("GET", "/upcheck").try_send_tls_within(
            self.address,
            client,
            CLIENT_TIMEOUT,
        ) {
            Ok(response) if response.status == 200 => Ok(()),
            Ok(response) => Err(format!("{} {}", response.status, response.text())),
            Err(error) => Err(error.to_string()),
        }
    }
}

/// One request of the load and how it went.
#[derive(Debug)]
struct Outcome {
    started: Instant,
    error: Option<String>,
}

/// Runs `WORKERS` clients, each sending `GET /upcheck` on a fresh TLS connection through the
/// proxy, for a second before `during` and while it runs.
fn under_load(setup: &mut Passthrough, during: impl FnOnce(&mut Passthrough)) -> Vec<Outcome> {
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (stop, address, member) = (stop.clone(), setup.address, setup.member.clone());
            std::thread::spawn(move || {
                let mut outcomes = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let answer = Request::new("GET", "/upcheck").try_send_tls_within(
                        address,
                        &member,
                        CLIENT_TIMEOUT,
                    );
                    let error = match answer {
                        Ok(response) if response.status == 200 => None,
                        Ok(response) => Some(format!("{} {}", response.status, response.text())),
                        Err(error) => Some(error.to_string()),
                    };
                    outcomes.push(Outcome { started, error });
                }
                outcomes
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    during(setup);
    stop.store(true, Ordering::Relaxed);
    workers
        .into_iter()
        .flat_map(|worker| worker.join().unwrap())
        .collect()
}

fn failures(outcomes: &[Outcome]) -> Vec<&Outcome> {
    outcomes.iter().filter(|o| o.error.is_some()).collect()
}

#[test]
fn through_a_passthrough_listener_the_replica_judges_the_client_certificate() {
    let _serial = serial();
    let setup = Passthrough::start();
    for _ in 0..4 {
        setup.upcheck(&setup.member).unwrap();
    }
    // The proxy holds no certificate and reads nothing: the replica refuses these itself.
    let stranger = TestCa::new("stranger")
        .leaf("stranger", "stranger", Signer::Ca)
        .client();
    for client in [anonymous_client(), stranger] {
        let refused = setup.upcheck(&client);
        assert!(refused.is_err(), "{refused:?}");
    }
    assert!(setup.proxy.healthy(0) && setup.proxy.healthy(1));
    let _ = &setup.ca;
}

#[test]
fn a_sigkilled_passthrough_replica_costs_only_the_connections_it_held() {
    let _serial = serial();
    let mut setup = Passthrough::start();
    let mut killed = Instant::now();
    let outcomes = under_load(&mut setup, |setup| {
        if let Some(mut replica) = setup.replicas[0].take() {
            replica.kill();
        }
        killed = Instant::now();
        std::thread::sleep(Duration::from_secs(3));
    });
    let failed = failures(&outcomes);
    eprintln!(
        "passthrough SIGKILL: {} connections, {} failed",
        outcomes.len(),
        failed.len()
    );
    assert!(
        failed.len() <= WORKERS,
        "{} of {} connections failed, more than the {WORKERS} that can have been open: {:?}\n{}",
        failed.len(),
        outcomes.len(),
        &failed[..failed.len().min(5)],
        setup.proxy.log_text()
    );
    // A connection opened after the kill is refused by the dead replica before a byte is
    // relayed, and goes to the other one.
    let later: Vec<_> = outcomes
        .iter()
        .filter(|o| o.started > killed + SLACK)
        .collect();
    assert!(
        later.len() >= 10,
        "only {} requests after the kill",
        later.len()
    );
    assert!(
        later.iter().all(|o| o.error.is_none()),
        "{:?}",
        later.iter().find(|o| o.error.is_some())
    );
    assert!(
        eventually(CHECK_INTERVAL * 2, || !setup.proxy.healthy(0)) && setup.proxy.healthy(1),
        "the killed replica should be ejected: {}",
        Request::new("GET", "/status")
            .send(&setup.proxy.admin)
            .text()
    );
}

#[test]
fn a_sigstopped_passthrough_replica_is_ejected_by_its_handshake_check() {
    let _serial = serial();
    let mut setup = Passthrough::start();
    let mut ejected = None;
    let outcomes = under_load(&mut setup, |setup| {
        setup.replica(0).hang();
        let stopped = Instant::now();
        while stopped.elapsed() < Duration::from_secs(5) {
            if !setup.proxy.healthy(0) {
                ejected = Some((stopped.elapsed(), Instant::now()));
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_secs(3));
    });
    setup.replica(0).resume();
    let (after, at) = ejected.expect("the stopped replica was never ejected");
    eprintln!(
        "passthrough SIGSTOP: ejected after {after:?}; {} connections, {} failed",
        outcomes.len(),
        failures(&outcomes).len()
    );
    assert!(
        after <= CHECK_INTERVAL + CHECK_TIMEOUT + SLACK,
        "ejected only after {after:?}"
    );
    // Its kernel still accepts TCP, so connections relayed before the ejection hang until
    // the client gives up; none opened after it is sent there.
    let later: Vec<_> = outcomes.iter().filter(|o| o.started > at).collect();
    assert!(
        later.len() >= 10,
        "only {} requests after the ejection",
        later.len()
    );
    assert!(
        later.iter().all(|o| o.error.is_none()),
        "{:?}",
        later.iter().find(|o| o.error.is_some())
    );
    assert!(setup.proxy.healthy(1));
    // Back, it passes its checks and is admitted again.
    assert!(
        eventually(CHECK_INTERVAL * 4, || setup.proxy.healthy(0)),
        "{}",
        setup.proxy.log_text()
    );
    let _ = &setup.dirs;
}

#[test]
fn an_https_listener_serves_with_its_certificate_and_survives_plain_text_and_garbage() {
    let _serial = serial();
    let root = tempfile::tempdir().unwrap();
    let ca = TestCa::new("proxy-listener");
    let certificate: Pem = ca.leaf("proxy", "proxy", Signer::Ca);
    let node = NodeDir::new(root.path(), "node");
    let _running = node.start(&node.config(&[], json!({})), &[]);
    let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let proxy = proxy(
        root.path(),
        &json!({ "listeners": [ {
            "listen": format!("https://{address}"), "role": "p2p",
            "upstreams": [node.p2p_url()],
            "tls": { "certificateFile": certificate.certificate, "keyFile": certificate.key },
        } ] }),
    );
    let client = cloister_tls::upstream::client_config(
        &cloister_tls::upstream::Roots::CaFile(cloister_tls::material::Origin::new("ca", &ca.file)),
        None,
    )
    .unwrap();
    let served = Request::new("GET", "/upcheck").send_tls(address, &client);
    assert_eq!(served.status, 200, "{}", served.text());
    // Plain text and garbage on the TLS port: closed, nothing answered, the proxy serves on.
    for bytes in [
        &b"GET /upcheck HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0][..],
    ] {
        use std::io::{Read, Write};
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(bytes).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        assert!(
            !answer.starts_with(b"HTTP/"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
    let served = Request::new("GET", "/upcheck").send_tls(address, &client);
    assert_eq!(served.status, 200, "{}", proxy.log_text());

    // The admin listener's `/metrics` says when the listener's certificate expires.
    let expiry = || {
        let metrics = Request::new("GET", "/metrics").send(&proxy.admin).text();
        tls::front_certificate_expiry(&metrics, "proxy", address.port())
    };
    let first = certificate.not_after();
    assert_eq!(expiry(), Some(first));

    // Rotation: new files and SIGHUP; new handshakes present the new certificate, which
    // expires at another time, and a connection made before keeps working.
    let mut kept = tls::kept_connection(address, &client);
    assert_eq!(tls::presented(&kept), certificate.fingerprint());
    let renewed = ca.leaf("proxy-renewed", "proxy", Signer::CaExpiringIn(90));
    let second = renewed.not_after();
    let now = std::time::UNIX_EPOCH.elapsed().unwrap().as_secs() as i64;
    assert!((now + 89 * 86_400..=now + 90 * 86_400).contains(&second));
    assert_ne!(second, first);
    std::fs::copy(&renewed.certificate, &certificate.certificate).unwrap();
    std::fs::copy(&renewed.key, &certificate.key).unwrap();
    assert!(cloister_harness::signal::send("HUP", &[proxy.pid()]));
    assert!(
        eventually(Duration::from_secs(10), || {
            tls::presented(&tls::kept_connection(address, &client)) == renewed.fingerprint()
        }),
        "new handshakes never presented the renewed certificate: {}",
        proxy.log_text()
    );
    // The reload records the expiry just after it gives handshakes the new certificate.
    assert!(
        eventually(Duration::from_secs(10), || expiry() == Some(second)),
        "/metrics never gave the renewed certificate's expiry: {}",
        proxy.log_text()
    );
    assert!(
        tls::upcheck_on(&mut kept),
        "the connection made before was dropped"
    );
}

#[test]
fn tls_settings_that_cannot_work_are_refused_at_start_naming_the_member() {
    let _serial = serial();
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("missing.pem");
    let run = |config: Value| {
        let file = root.path().join("refused.json");
        std::fs::write(&file, config.to_string()).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_cloister"))
            .args(["proxy", "--config"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let listener = |extra: Value| {
        let mut listener =
            json!({ "listen": "127.0.0.1:0", "role": "p2p", "upstreams": ["https://127.0.0.1:1"] });
        listener
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        listener
    };
    let missing_ca =
        run(json!({ "listeners": [listener(json!({}))], "upstreamTls": { "caFile": missing } }));
    assert!(missing_ca.contains("upstreamTls.caFile"), "{missing_ca}");
    let missing_key = run(
        json!({ "listeners": [listener(json!({ "tls": { "certificateFile": missing, "keyFile": missing } }))] }),
    );
    assert!(missing_key.contains("tls.keyFile"), "{missing_key}");
    let relaying_tls = run(
        json!({ "listeners": [listener(json!({ "mode": "passthrough", "tls": { "certificateFile": missing, "keyFile": missing } }))] }),
    );
    assert!(relaying_tls.contains("passthrough"), "{relaying_tls}");
    let half_identity = run(
        json!({ "listeners": [listener(json!({}))], "upstreamTls": { "certificateFile": missing } }),
    );
    assert!(
        half_identity.contains("upstreamTls.keyFile"),
        "{half_identity}"
    );
}
