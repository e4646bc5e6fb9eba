//! The checks only the running pieces can answer: each replica's `/health` (over its Q2T
//! server, where it details its store), whether the store's primary waits for a synchronous
//! standby, and whether the advertised P2P front and the peers answer.

use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use cloister_addr::{Endpoint, Scheme};
use cloister_core::config::{AppType, StoreTarget};
use cloister_net::health::Probe;
use cloister_protocol::path;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio_rustls::TlsConnector;

use super::{Check, Replica};

/// How long one live check may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(3);

/// The largest `/health` body read.
const MAX_BODY: usize = 64 * 1024;

/// Every live check of `replicas`.
pub(super) async fn checks(replicas: &[Replica]) -> Vec<Check> {
    let mut checks = Vec::new();
    for replica in replicas {
        let health = health(replica).await;
        checks.push(match &health {
            Ok(Some(_)) => Check::pass("health", format!("{}: /health UP", replica.name())),
            Ok(None) => Check::pass(
                "health",
                format!(
                    "{}: not checked (its Q2T server speaks TLS)",
                    replica.name()
                ),
            ),
            Err(problem) => Check::fail(
                "health",
                format!("{}: {problem}", replica.name()),
                "start the replica, or read its log for why its store does not answer",
            ),
        });
        if let (Ok(Some(body)), StoreTarget::Postgres(_)) = (&health, &replica.settings.store) {
            checks.push(standby(replica, body));
        }
    }
    let settings = &replicas[0].settings;
    let tls = settings
        .peer_tls
        .as_ref()
        .map(|t| TlsConnector::from(t.config.clone()));
    checks.push(answers("front", &settings.p2p_url, tls.clone(), "start the P2P front (a `cloister proxy --role p2p`) at the advertised URL, or correct the URL").await);
    for peer in &settings.peers {
        checks.push(
            answers(
                "peer",
                peer,
                tls.clone(),
                "check the peer's URL in `peer`, and that this host may reach it",
            )
            .await,
        );
    }
    checks
}

/// A replica's `/health` on its Q2T server: the body when it answers 200; `None` when the
/// server speaks TLS (its client certificate is not the doctor's to have).
async fn health(replica: &Replica) -> Result<Option<Value>, String> {
    let server = replica
        .settings
        .servers
        .iter()
        .find(|s| s.app == AppType::Q2T)
        .ok_or("no Q2T server configured")?;
    if matches!(&server.listen, Endpoint::Tcp(tcp) if tcp.scheme == Scheme::Https) {
        return Ok(None);
    }
    let (status, body) = tokio::time::timeout(TIMEOUT, get(&server.listen, path::HEALTH))
        .await
        .map_err(|_| format!("{}: no answer within {TIMEOUT:?}", server.listen))??;
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    if status == 200 {
        Ok(Some(body))
    } else {
        let detail = body["store"]["detail"].as_str().unwrap_or_default();
        Err(format!(
            "/health on {} answered {status} {} {detail}",
            server.listen, body["status"]
        ))
    }
}

/// The store's primary waits for a synchronous standby at every commit, per the replica's
/// `/health`: otherwise an acknowledged send is on one server, and a failover loses it.
fn standby(replica: &Replica, health: &Value) -> Check {
    let store = &health["store"];
    let server = store["server"].as_str().unwrap_or("the primary");
    match store["synchronousStandbys"].as_u64() {
        Some(n) if n > 0 => Check::pass(
            "standby",
            format!("{}: commits on {server} wait for {n} synchronous standby(s)", replica.name()),
        ),
        Some(_) => Check::fail(
            "standby",
            format!("{}: commits on {server} wait for no standby: writes are not protected", replica.name()),
            "set synchronous_standby_names on the primary (synchronous_mode: true under Patroni) and start a standby",
        ),
        None => Check::fail(
            "standby",
            format!("{}: {server} does not show its standbys to this user", replica.name()),
            "GRANT pg_monitor TO the store's user, so /health can see pg_stat_replication",
        ),
    }
}

/// Whether `url` answers a health check (`/health`, else `/upcheck`).
async fn answers(
    name: &'static str,
    url: &str,
    tls: Option<TlsConnector>,
    fix: &'static str,
) -> Check {
    let endpoint = match Endpoint::from_str(url) {
        Ok(endpoint) => endpoint,
        Err(error) => return Check::fail(name, format!("{url}: {error}"), fix),
    };
    let tls = matches!(&endpoint, Endpoint::Tcp(tcp) if tcp.scheme == Scheme::Https)
        .then_some(tls)
        .flatten();
    match Probe::with_tls(endpoint, tls).check(TIMEOUT).await {
        Ok(()) => Check::pass(name, format!("{url} answers")),
        Err(error) => Check::fail(name, format!("{url}: {error}"), fix),
    }
}

/// One `GET path` to `endpoint` on a fresh connection: the status and the body.
async fn get(endpoint: &Endpoint, path: &str) -> Result<(u16, Vec<u8>), String> {
    let failed = |e: &dyn std::fmt::Display| format!("{endpoint}: {e}");
    let stream = cloister_net::connect_tls(endpoint, TIMEOUT, None)
        .await
        .map_err(|e| failed(&e))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| failed(&e))?;
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, endpoint.host_header())
        .body(Empty::<Bytes>::new())
        .map_err(|e| failed(&e))?;
    let response = sender.send_request(request).await.map_err(|e| failed(&e))?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| failed(&e))?
        .to_bytes();
    Ok((status, body.to_vec()))
}
