//! What a hostile or broken client can cost the proxy, over real sockets: a request head must
//! arrive within the header timeout of the connection going idle (TCP only: GoQuorum keeps its
//! `tm.ipc` connections idle forever), one address holds at most `maxConnectionsPerIp`
//! connections, and the replicas see exactly the caller the proxy saw in `Forwarded`, whatever
//! the client wrote there, unless the client is a trusted proxy.

#![allow(clippy::unwrap_used)]

mod scripted;

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use cloister_addr::Endpoint;
use cloister_proxy::{ListenerSettings, Proxy, ProxySettings, Role};
use scripted::{answer, proxy, upstreams, Client, Seen, Upstreams};

/// Short, so the tests are quick; long enough for a loaded 2-core machine to answer a request
/// well within it.
const HEADER_TIMEOUT: Duration = Duration::from_millis(300);

/// The earliest a timeout may be seen to fire, measured from the client side, which starts
/// its clock a little after the proxy starts the timer.
const NOT_BEFORE: Duration = Duration::from_millis(200);

/// Generous: scheduling on a busy machine, not protocol.
const WITHIN: Duration = Duration::from_secs(3);

const REQUEST: &[u8] = b"GET /transaction/abc HTTP/1.1\r\nHost: c\r\n\r\n";

fn header_timeout(settings: &mut ProxySettings) {
    settings.connections.header_timeout = Some(HEADER_TIMEOUT);
}

/// A p2p listener on TCP with the short header timeout, in front of one replica answering "ok".
async fn timed_p2p(dir: &Path) -> (Proxy, Endpoint, Upstreams) {
    let ups = upstreams(dir, vec![answer(200, "ok")]).await;
    let (proxy, target) = proxy(dir, Role::P2p, &ups, header_timeout).await;
    (proxy, target, ups)
}

async fn served(client: &mut Client) {
    client.write(REQUEST).await;
    let answer = client.read(false).await;
    assert_eq!((answer.status, answer.body.as_slice()), (200, &b"ok"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_head_is_closed_at_the_header_timeout_while_a_prompt_client_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let (_proxy, target, ups) = timed_p2p(dir.path()).await;
    let mut slow = Client::connect(&target).await;
    let slow = tokio::spawn(async move {
        let started = Instant::now();
        slow.write(b"GET /transaction/abc HTTP/1.1\r\nHost: c\r\n")
            .await;
        let ended = slow.end_within(WITHIN).await;
        (started.elapsed(), ended)
    });
    // One keep-alive connection, never idle for as long as the timeout but open for twice
    // as long: each request head restarts the timer.
    let mut prompt = Client::connect(&target).await;
    let started = Instant::now();
    while started.elapsed() < 2 * HEADER_TIMEOUT {
        served(&mut prompt).await;
        tokio::time::sleep(HEADER_TIMEOUT / 4).await;
    }
    served(&mut prompt).await;
    let (elapsed, ended) = slow.await.unwrap();
    let ended = String::from_utf8(ended.expect("the slow client is closed")).unwrap();
    assert!(
        (NOT_BEFORE..WITHIN).contains(&elapsed),
        "closed after {elapsed:?}"
    );
    assert!(ended.starts_with("HTTP/1.1 408 "), "{ended}");
    assert!(
        ended
            .to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "{ended}"
    );
    let proxied = ups.proxied();
    assert!(
        proxied.len() >= 3 && proxied.iter().all(|s| s.request_line.starts_with("GET")),
        "only the prompt client's requests reach a replica: {proxied:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_trickled_byte_by_byte_is_cut_at_the_deadline_not_kept_alive_by_each_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (_proxy, target, ups) = timed_p2p(dir.path()).await;
    let mut client = Client::connect(&target).await;
    let started = Instant::now();
    let head =
        b"GET /transaction/abc HTTP/1.1\r\nHost: c\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let mut ended = None;
    for byte in head.chunks(1) {
        if client.try_write(byte).await.is_err() {
            ended = client.end_within(WITHIN).await;
            break;
        }
        ended = client.end_within(HEADER_TIMEOUT / 6).await;
        if ended.is_some() {
            break;
        }
    }
    let elapsed = started.elapsed();
    let ended = String::from_utf8(ended.expect("the trickling client is closed")).unwrap();
    assert!(
        elapsed < 3 * HEADER_TIMEOUT,
        "a trickle of bytes kept the connection for {elapsed:?}"
    );
    assert!(
        ended.is_empty() || ended.starts_with("HTTP/1.1 408 "),
        "{ended}"
    );
    assert!(ups.proxied().is_empty(), "{:?}", ups.proxied());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_on_tcp_but_kept_on_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let ups = upstreams(dir.path(), vec![answer(200, "ok")]).await;
    let ipc = dir.path().join("tm.ipc");
    let (proxy, tcp) = proxy(dir.path(), Role::P2p, &ups, |settings| {
        header_timeout(settings);
        let upstreams = settings.listeners[0].upstreams.clone();
        settings.listeners.push(ListenerSettings::http(
            Endpoint::Unix(ipc),
            Role::Q2t,
            upstreams,
        ));
    })
    .await;
    let unix = proxy.listening()[1].clone();
    let mut on_tcp = Client::connect(&tcp).await;
    let mut on_unix = Client::connect(&unix).await;
    served(&mut on_tcp).await;
    served(&mut on_unix).await;
    let answered = Instant::now();
    let ended = on_tcp.end_within(WITHIN).await;
    let elapsed = answered.elapsed();
    assert_eq!(
        ended.as_deref(),
        Some(&b""[..]),
        "an idle TCP connection is closed without an answer"
    );
    assert!(
        (NOT_BEFORE..WITHIN).contains(&elapsed),
        "closed after {elapsed:?}"
    );
    tokio::time::sleep((answered + 2 * HEADER_TIMEOUT).saturating_duration_since(Instant::now()))
        .await;
    // GoQuorum's idle tm.ipc connection, well past the TCP timeout, still carries a request.
    served(&mut on_unix).await;
    served(&mut on_unix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_connection_from_one_address_is_closed_at_once_until_one_of_two_closes() {
    let dir = tempfile::tempdir().unwrap();
    let ups = upstreams(dir.path(), vec![answer(200, "ok")]).await;
    let (_proxy, target) = proxy(dir.path(), Role::P2p, &ups, |settings| {
        settings.connections.connections.max_per_ip = 2;
        // Only the cap closes connections here.
        settings.connections.header_timeout = None;
    })
    .await;
    let mut first = Client::connect(&target).await;
    let mut second = Client::connect(&target).await;
    served(&mut first).await;
    served(&mut second).await;

    let mut third = Client::connect(&target).await;
    let started = Instant::now();
    let ended = third.end_within(WITHIN).await;
    assert_eq!(
        ended.as_deref(),
        Some(&b""[..]),
        "the third is closed without a byte"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // The cap is per address: another one is served meanwhile.
    let mut elsewhere = Client::connect_from(&target, IpAddr::from([127, 0, 0, 2])).await;
    served(&mut elsewhere).await;
    served(&mut first).await;
    served(&mut second).await;

    drop(first);
    // The place is given back once the proxy has seen the close.
    let mut admitted = None;
    for _ in 0..20 {
        let mut next = Client::connect(&target).await;
        if next.end_within(HEADER_TIMEOUT).await.is_none() {
            admitted = Some(next);
            break;
        }
    }
    let mut admitted = admitted.expect("closing one of two makes room for another");
    served(&mut admitted).await;
    served(&mut second).await;
}

/// The `Forwarded` values a replica saw, in order.
fn forwarded(seen: &Seen) -> Vec<&str> {
    seen.headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("forwarded"))
        .map(|(_, value)| value.as_str())
        .collect()
}

const FORGED: &[u8] = b"GET /transaction/abc HTTP/1.1\r\nHost: c\r\nForwarded: for=6.6.6.6\r\n\
    X-Other: 1\r\nforwarded: for=7.7.7.7;proto=https\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_forwarded_is_replaced_by_the_caller_the_proxy_saw_in_every_role() {
    let cases: [(Role, bool, &str); 4] = [
        (Role::Q2t, true, "for=unknown"),
        (Role::Q2t, false, "for=127.0.0.1"),
        (Role::P2p, false, "for=127.0.0.1"),
        (Role::ThirdParty, false, "for=127.0.0.1"),
    ];
    for (role, unix, ours) in cases {
        let dir = tempfile::tempdir().unwrap();
        let ups = upstreams(dir.path(), vec![answer(200, "ok")]).await;
        let (_proxy, target) = proxy(dir.path(), role, &ups, |settings| {
            if !unix {
                settings.listeners[0].listen = "127.0.0.1:0".parse().unwrap();
            }
        })
        .await;
        let mut client = Client::connect(&target).await;
        client.write(FORGED).await;
        assert_eq!(client.read(false).await.status, 200);
        let seen = &ups.proxied()[0];
        assert_eq!(forwarded(seen), [ours], "{role} on {target}");
        assert_eq!(seen.header("x-other"), Some("1"), "{role} on {target}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxys_forwarded_is_kept_and_ours_appended() {
    let dir = tempfile::tempdir().unwrap();
    let ups = upstreams(dir.path(), vec![answer(200, "ok")]).await;
    let front = IpAddr::from([127, 0, 0, 3]);
    let (_proxy, target) = proxy(dir.path(), Role::P2p, &ups, |settings| {
        settings.trusted_proxies = vec![front];
    })
    .await;
    let mut trusted = Client::connect_from(&target, front).await;
    trusted.write(FORGED).await;
    assert_eq!(trusted.read(false).await.status, 200);
    let mut other = Client::connect_from(&target, IpAddr::from([127, 0, 0, 4])).await;
    other.write(FORGED).await;
    assert_eq!(other.read(false).await.status, 200);
    let proxied = ups.proxied();
    assert_eq!(
        forwarded(&proxied[0]),
        ["for=6.6.6.6", "for=7.7.7.7;proto=https", "for=127.0.0.3"],
        "the trusted proxy's elements in order, ours last"
    );
    assert_eq!(
        forwarded(&proxied[1]),
        ["for=127.0.0.4"],
        "anyone else's are replaced"
    );
}
