//! The proxy in-process in front of scripted upstreams on unix sockets: raw HTTP/1.1 servers
//! that record every request they get and answer, hang up after reading, or never answer, as
//! each test says. They show what the failover tests with real nodes cannot force on demand:
//! the same idempotency key on a write retried after an ambiguous failure, an unkeyed write not
//! retried, the request target and headers forwarded unchanged, 413, `Forwarded`, the health
//! fallback to `/upcheck` and the admin endpoints.

#![allow(clippy::unwrap_used)]

mod scripted;

use std::sync::Arc;
use std::time::Duration;

use cloister_addr::Endpoint;
use cloister_harness::http::Request;
use cloister_proxy::Role;
use scripted::{always, answer, on_post, post, proxy, send, upstreams, Act, Script};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_retried_after_a_hang_up_carries_the_same_idempotency_key() {
    let dir = tempfile::tempdir().unwrap();
    let hang_up = on_post(Act::HangUp);
    let ups = upstreams(
        dir.path(),
        vec![hang_up.clone(), answer(200, r#"{"key":"k"}"#)],
    )
    .await;
    let (_proxy, target) = proxy(dir.path(), Role::Q2t, &ups, |_| {}).await;
    // Round-robin starts on either upstream; two sends make sure one meets the hang-up first.
    for _ in 0..2 {
        let response = send(&target, post("/send", r#"{"payload":"AA=="}"#)).await;
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.text(), r#"{"key":"k"}"#);
    }
    let sends = ups.proxied();
    let keys: Vec<_> = sends
        .iter()
        .map(|s| s.header("idempotency-key").unwrap().to_owned())
        .collect();
    assert_eq!(sends.len(), 3, "{sends:?}");
    // The hung-up attempt and its retry on the other upstream share one key; the next send has
    // a fresh one.
    let retried = sends.iter().position(|s| s.upstream == 0).unwrap();
    assert_eq!(keys[retried], keys[retried + 1]);
    assert_eq!(sends[retried + 1].upstream, 1);
    assert_eq!(
        keys.iter().collect::<std::collections::HashSet<_>>().len(),
        2
    );
    assert!(uuid_v4(&keys[0]), "{}", keys[0]);
    assert_eq!(sends[retried].body, sends[retried + 1].body);
}

fn uuid_v4(text: &str) -> bool {
    text.len() == 36 && text.as_bytes()[14] == b'4'
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_key_is_kept_and_a_send_that_stalls_is_retried_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let stall = on_post(Act::Stall);
    let ups = upstreams(dir.path(), vec![stall.clone(), stall]).await;
    let (_proxy, target) = proxy(dir.path(), Role::Q2t, &ups, |_| {}).await;
    let started = std::time::Instant::now();
    let response = send(
        &target,
        post("/send", "{}").header("Idempotency-Key", "client-chosen"),
    )
    .await;
    // Both replicas took it and never answered: 502, never 404, and within the total budget.
    assert_eq!(response.status, 502, "{}", response.text());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // The first replica, the hedge on the second, and (the hedge having got no answer either)
    // the second's own turn with what was left of the budget: all with the client's key.
    let sends = ups.proxied();
    assert_eq!(sends.len(), 3);
    assert!(sends
        .iter()
        .all(|s| s.header("idempotency-key") == Some("client-chosen")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unkeyed_write_is_not_repeated_after_it_reached_a_replica() {
    let dir = tempfile::tempdir().unwrap();
    let hang_up = on_post(Act::HangUp);
    let ups = upstreams(dir.path(), vec![hang_up.clone(), hang_up]).await;
    let (_proxy, target) = proxy(dir.path(), Role::Q2t, &ups, |_| {}).await;
    let response = send(&target, post("/storeraw", "{}")).await;
    assert_eq!(response.status, 502, "{}", response.text());
    assert!(response.text().contains("not safe"), "{}", response.text());
    assert_eq!(ups.proxied().len(), 1, "a /storeraw was repeated");
    // A read is retried on the other replica after the same failure.
    let response = send(&target, post("/encodedpayload/decrypt", "{}")).await;
    assert_eq!(response.status, 502);
    assert_eq!(ups.proxied().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_404_and_503_move_on_but_a_read_404_is_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let ups = upstreams(
        dir.path(),
        vec![
            answer(404, "Recipient not found"),
            answer(404, "Recipient not found"),
        ],
    )
    .await;
    let (_proxy, target) = proxy(dir.path(), Role::Q2t, &ups, |_| {}).await;
    let response = send(&target, post("/send", "{}")).await;
    // Both replicas said 404: that is their answer, relayed.
    assert_eq!(
        (response.status, response.text().as_str()),
        (404, "Recipient not found")
    );
    assert_eq!(ups.proxied().len(), 2);
    let response = send(&target, Request::new("GET", "/transaction/abc%2Fdef")).await;
    assert_eq!(response.status, 404);
    assert_eq!(
        ups.proxied().len(),
        3,
        "a read 404 is not asked again by default"
    );

    let dir = tempfile::tempdir().unwrap();
    let ups = upstreams(
        dir.path(),
        vec![answer(503, "store unavailable"), answer(201, "stored")],
    )
    .await;
    let (_proxy, target) = proxy(dir.path(), Role::Q2t, &ups, |_| {}).await;
    for _ in 0..2 {
        let response = send(&target, post("/storeraw", "{}")).await;
        assert_eq!(response.status, 201, "{}", response.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_target_and_headers_pass_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let ups = upstreams(dir.path(), vec![answer(200, "{}")]).await;
    let (_proxy, target) = proxy(dir.path(), Role::Q2t, &ups, |_| {}).await;
    let response = send(
        &target,
        Request::new("GET", "/transaction/a%2Fb%2Bc%3D%3D?isRaw=false")
            .header("Accept", "application/vnd.tessera-2.1+json")
            .header("User-Agent", "quorum-v24.4.1"),
    )
    .await;
    assert_eq!(response.status, 200);
    let seen = &ups.proxied()[0];
    assert_eq!(
        seen.request_line,
        "GET /transaction/a%2Fb%2Bc%3D%3D?isRaw=false HTTP/1.1"
    );
    assert_eq!(seen.header("host"), Some("c"));
    assert_eq!(
        seen.header("accept"),
        Some("application/vnd.tessera-2.1+json")
    );
    assert_eq!(seen.header("user-agent"), Some("quorum-v24.4.1"));
    assert_eq!(seen.header("idempotency-key"), None, "reads carry no key");
    assert_eq!(
        seen.header("forwarded"),
        Some("for=unknown"),
        "a unix-socket caller is named unknown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_gets_413_and_reaches_no_replica() {
    let dir = tempfile::tempdir().unwrap();
    let ups = upstreams(dir.path(), vec![answer(200, "{}")]).await;
    let (_proxy, target) = proxy(dir.path(), Role::Q2t, &ups, |s| s.max_body_bytes = 16).await;
    let response = send(&target, post("/send", r#"{"payload":"0123456789abcdef"}"#)).await;
    assert_eq!(response.status, 413, "{}", response.text());
    let response = send(&target, post("/send", "{}")).await;
    assert_eq!(response.status, 200);
    assert_eq!(ups.proxied().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2p_replaces_forwarded_and_retries_a_push_after_a_hang_up() {
    let dir = tempfile::tempdir().unwrap();
    let hang_up = on_post(Act::HangUp);
    let ups = upstreams(dir.path(), vec![hang_up, answer(201, "hash")]).await;
    let (_proxy, target) = proxy(dir.path(), Role::P2p, &ups, |_| {}).await;
    for _ in 0..2 {
        let response = send(
            &target,
            post("/push", "payload").header("Forwarded", "for=6.6.6.6"),
        )
        .await;
        assert_eq!(response.status, 201, "{}", response.text());
    }
    let pushes = ups.proxied();
    assert_eq!(pushes.len(), 3, "{pushes:#?}");
    for push in &pushes {
        let all: Vec<_> = push
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("forwarded"))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(
            all,
            ["for=127.0.0.1"],
            "an untrusted client's element is replaced by the proxy's, on every attempt"
        );
        assert_eq!(push.header("idempotency-key"), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_falls_back_to_upcheck_and_the_admin_listener_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    // Tessera: no /health, /upcheck answers.
    let tessera: Script = Arc::new(|s| {
        if s.request_line.starts_with("GET /health") {
            Act::Answer(404, "")
        } else {
            Act::Answer(200, "I'm up!")
        }
    });
    // A node whose store is down.
    let sick = always(503, "store unavailable");
    let ups = upstreams(dir.path(), vec![tessera, sick]).await;
    let (proxy, _target) = proxy(dir.path(), Role::Q2t, &ups, |s| {
        s.health.interval = Duration::from_millis(50);
    })
    .await;
    let admin = Endpoint::from(proxy.admin_address().unwrap());
    let mut status = serde_json::Value::Null;
    for _ in 0..100 {
        status = send(&admin, Request::new("GET", "/status")).await.json();
        let upstreams = &status["listeners"][0]["upstreams"];
        if upstreams[0]["healthPath"] == "/upcheck" && upstreams[1]["healthy"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let upstreams = &status["listeners"][0]["upstreams"];
    assert_eq!(upstreams[0]["healthPath"], "/upcheck", "{status}");
    assert_eq!(upstreams[0]["healthy"], true, "{status}");
    assert_eq!(upstreams[1]["healthy"], false, "{status}");
    assert!(ups
        .seen()
        .iter()
        .any(|s| s.request_line.starts_with("GET /upcheck")));
    let metrics = send(&admin, Request::new("GET", "/metrics")).await.text();
    let sick_label = format!(
        "cloister_proxy_upstream_healthy{{upstream=\"unix:{}\"}} 0",
        ups.sockets[1].display()
    );
    assert!(metrics.contains(&sick_label), "{metrics}");
    assert!(
        metrics.contains("cloister_proxy_upstream_ejections_total"),
        "{metrics}"
    );
    let not_found = send(&admin, Request::new("GET", "/send")).await;
    assert_eq!(not_found.status, 404);
}

/// A replica whose store is failing over: 503 to every send for `gap`, then stored.
fn failing_over(gap: Duration) -> Script {
    let start = std::time::Instant::now();
    Arc::new(move |s| {
        if !s.request_line.starts_with("POST") {
            Act::Answer(200, "{}")
        } else if start.elapsed() < gap {
            Act::Answer(503, "store unavailable")
        } else {
            Act::Answer(201, "stored")
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_from_every_replica_is_asked_again_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let gap = Duration::from_millis(800);
    let ups = upstreams(dir.path(), vec![failing_over(gap), failing_over(gap)]).await;
    let (_proxy, target) = proxy(dir.path(), Role::Q2t, &ups, |_| {}).await;
    let started = std::time::Instant::now();
    let response = send(&target, post("/send", "{}")).await;
    // The database came back inside the 4 s budget: the client waited, and got its answer.
    assert_eq!(response.status, 201, "{}", response.text());
    assert!(started.elapsed() >= gap, "{:?}", started.elapsed());
    assert!(ups.proxied().len() > 2, "asked again after both said 503");

    // A store that stays down: the last 503 is relayed once the budget allows no more rounds.
    let dir = tempfile::tempdir().unwrap();
    let ups = upstreams(
        dir.path(),
        vec![failing_over(Duration::MAX), failing_over(Duration::MAX)],
    )
    .await;
    let total = Duration::from_millis(1500);
    let (_proxy, target) = proxy(dir.path(), Role::Q2t, &ups, |s| {
        s.timeouts.total = total;
        s.timeouts.per_try = Duration::from_millis(500);
    })
    .await;
    let started = std::time::Instant::now();
    let response = send(&target, post("/send", "{}")).await;
    assert_eq!(response.status, 503, "{}", response.text());
    assert!(started.elapsed() < total, "{:?}", started.elapsed());
}
