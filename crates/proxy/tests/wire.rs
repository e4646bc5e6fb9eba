//! HTTP/1.1 framing on both sides of the proxy, over raw sockets: what a client library or a
//! Tessera/Jetty upstream may send that GoQuorum's own traffic never shows. Chunked bodies both
//! ways, `Expect: 100-continue`, pipelining, HTTP/1.0, answers without a length, HEAD, and
//! malformed heads that must be refused before anything reaches a replica.

#![allow(clippy::unwrap_used)]

mod scripted;

use std::sync::Arc;
use std::time::Duration;

use cloister_proxy::Role;
use scripted::{answer, proxy, upstreams, Act, Client, Script};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_request_reaches_the_replica_with_a_length() {
    let dir = tempfile::tempdir().unwrap();
    let ups = upstreams(dir.path(), vec![answer(201, "hash")]).await;
    let (_proxy, target) = proxy(dir.path(), Role::Q2t, &ups, |_| {}).await;
    let mut client = Client::connect(&target).await;
    client
        .write(
            b"POST /storeraw HTTP/1.1\r\nHost: c\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello",
        )
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    client.write(b"\r\n6;x=y\r\n world\r\n0\r\n\r\n").await;
    let answer = client.read(false).await;
    assert_eq!((answer.status, answer.body.as_slice()), (201, &b"hash"[..]));
    let seen = &ups.proxied()[0];
    assert_eq!(seen.body, b"hello world");
    assert_eq!(seen.header("content-length"), Some("11"));
    assert_eq!(seen.header("transfer-encoding"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_100_continue_is_answered_by_the_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let ups = upstreams(dir.path(), vec![answer(200, "ok")]).await;
    let (_proxy, target) = proxy(dir.path(), Role::Q2t, &ups, |_| {}).await;
    let mut client = Client::connect(&target).await;
    client
        .write(b"POST /storeraw HTTP/1.1\r\nHost: c\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        .await;
    // curl waits for this before it sends the body.
    assert_eq!(client.read(false).await.status, 100);
    client.write(b"body").await;
    let answer = client.read(false).await;
    assert_eq!(answer.status, 200);
    let seen = &ups.proxied()[0];
    assert_eq!(seen.body, b"body");
    assert_eq!(
        seen.header("expect"),
        None,
        "the replica never waits for a body"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let echo: Script = Arc::new(|seen| {
        if seen.request_line.starts_with("GET /transaction/a") {
            Act::Answer(200, "a")
        } else {
            Act::Answer(200, "b")
        }
    });
    let ups = upstreams(dir.path(), vec![echo]).await;
    let (_proxy, target) = proxy(dir.path(), Role::Q2t, &ups, |_| {}).await;
    let mut client = Client::connect(&target).await;
    client
        .write(b"GET /transaction/a HTTP/1.1\r\nHost: c\r\n\r\nGET /transaction/b HTTP/1.1\r\nHost: c\r\n\r\n")
        .await;
    assert_eq!(client.read(false).await.body, b"a");
    assert_eq!(client.read(false).await.body, b"b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_1_0_gets_its_persistence_spelled_out() {
    let dir = tempfile::tempdir().unwrap();
    let ups = upstreams(dir.path(), vec![answer(200, "up")]).await;
    let (_proxy, target) = proxy(dir.path(), Role::Q2t, &ups, |_| {}).await;
    let mut client = Client::connect(&target).await;
    client
        .write(b"GET /upcheck HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await;
    let answer = client.read(false).await;
    assert_eq!(answer.header("connection"), Some("keep-alive"));
    client.write(b"GET /upcheck HTTP/1.0\r\n\r\n").await;
    let answer = client.read(false).await;
    assert_eq!((answer.status, answer.body.as_slice()), (200, &b"up"[..]));
    assert_eq!(answer.header("connection"), Some("close"));
    assert!(client.closed().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_chunked_or_without_a_length_are_relayed_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let framed: Script = Arc::new(|seen| {
        if seen.request_line.starts_with("GET /transaction/chunked") {
            Act::Raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Tessera: 1\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        } else if seen.request_line.starts_with("GET /transaction/eof") {
            Act::RawThenClose(b"HTTP/1.0 200 OK\r\n\r\nuntil the end")
        } else if seen.request_line.starts_with("HEAD") {
            Act::Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
        } else {
            Act::Raw(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
        }
    });
    let ups = upstreams(dir.path(), vec![framed]).await;
    let (_proxy, target) = proxy(dir.path(), Role::Q2t, &ups, |_| {}).await;
    let mut client = Client::connect(&target).await;

    client
        .write(b"GET /transaction/chunked HTTP/1.1\r\nHost: c\r\n\r\n")
        .await;
    let answer = client.read(false).await;
    assert_eq!(answer.body, b"abcde");
    assert_eq!(answer.header("x-tessera"), Some("1"));
    assert_eq!(answer.header("transfer-encoding"), None);

    client
        .write(b"GET /transaction/eof HTTP/1.1\r\nHost: c\r\n\r\n")
        .await;
    assert_eq!(client.read(false).await.body, b"until the end");

    // The link closed with the last answer; the next request opens another.
    client
        .write(b"HEAD /upcheck HTTP/1.1\r\nHost: c\r\n\r\n")
        .await;
    let answer = client.read(true).await;
    assert_eq!(answer.header("content-length"), Some("5"), "{answer:?}");

    client
        .write(b"DELETE /transaction/x HTTP/1.1\r\nHost: c\r\n\r\n")
        .await;
    let answer = client.read(true).await;
    assert_eq!(answer.status, 204, "the interim 100 is skipped");
    assert_eq!(answer.header("content-length"), None);

    // Still in step after all of that.
    client
        .write(b"GET /transaction/chunked HTTP/1.1\r\nHost: c\r\n\r\n")
        .await;
    assert_eq!(client.read(false).await.body, b"abcde");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbled_answer_is_a_failed_attempt_and_a_read_moves_on() {
    let dir = tempfile::tempdir().unwrap();
    let garbage: Script = Arc::new(|seen| {
        if seen.request_line.starts_with("GET /health") {
            Act::Answer(200, "{}")
        } else {
            Act::RawThenClose(b"HTTP/1.1 2000 Nonsense\r\n\r\n")
        }
    });
    let ups = upstreams(dir.path(), vec![garbage, answer(200, "payload")]).await;
    let (_proxy, target) = proxy(dir.path(), Role::Q2t, &ups, |_| {}).await;
    for _ in 0..2 {
        let mut client = Client::connect(&target).await;
        client
            .write(b"GET /transaction/a HTTP/1.1\r\nHost: c\r\n\r\n")
            .await;
        let answer = client.read(false).await;
        assert_eq!(
            (answer.status, answer.body.as_slice()),
            (200, &b"payload"[..])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_refused_and_reach_no_replica() {
    let dir = tempfile::tempdir().unwrap();
    let ups = upstreams(dir.path(), vec![answer(200, "ok")]).await;
    let (_proxy, target) = proxy(dir.path(), Role::Q2t, &ups, |s| s.max_body_bytes = 8).await;
    let many_fields: String = (0..200).map(|i| format!("x-{i}: 1\r\n")).collect();
    let long_field = format!("x-long: {}\r\n", "a".repeat(70 * 1024));
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"GARBAGE\r\n\r\n".to_vec(), 400),
        (
            b"GET / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n".to_vec(),
            400,
        ),
        (
            b"POST /send HTTP/1.1\r\nContent-Length: x\r\n\r\n".to_vec(),
            400,
        ),
        (
            b"POST /send HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(),
            501,
        ),
        (
            b"POST /send HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
            400,
        ),
        (
            b"POST /send HTTP/1.1\r\nContent-Length: 9\r\n\r\n123456789".to_vec(),
            413,
        ),
        (
            b"POST /send HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n123456789\r\n0\r\n\r\n"
                .to_vec(),
            413,
        ),
        (
            format!("GET / HTTP/1.1\r\n{many_fields}\r\n").into_bytes(),
            431,
        ),
        (
            format!("GET / HTTP/1.1\r\n{long_field}\r\n").into_bytes(),
            431,
        ),
    ];
    for (request, status) in cases {
        let mut client = Client::connect(&target).await;
        client.write(&request).await;
        let answer = client.read(false).await;
        let shown = String::from_utf8_lossy(&request[..request.len().min(60)]).into_owned();
        assert_eq!(answer.status, status, "{shown}");
        assert_eq!(answer.header("connection"), Some("close"), "{shown}");
        assert!(client.closed().await, "{shown}");
    }
    assert!(ups.proxied().is_empty(), "{:?}", ups.proxied());
}
