//! Client WebSocket connections, each pinned for its whole life to one healthy upstream and
//! relayed to that node's own WebSocket endpoint.
//!
//! Subscriptions (`eth_subscribe`) live in one node's memory and their `eth_subscription`
//! notifications come from it, so every message of a connection goes to that node and its
//! answers and notifications come back verbatim; ordinary calls follow the same pinning (and
//! filter ids created over the connection are the node's own, valid on this connection). The
//! exception is account-scoped and private calls (`eth_sendTransaction` and the rest, alone or in
//! a batch): they are routed exactly as for HTTP clients, so one account's nonces come from one
//! txpool whichever connection carries them, and private calls reach a node whose privacy path
//! works. An IPC upstream takes no client WebSocket connections.
//!
//! A connection ends with a close frame whose reason names the cause: the pinned node closed
//! its side, failed, or was judged unhealthy ([`close::UPSTREAM_LOST`]); no node accepted
//! ([`close::NO_UPSTREAM`]); the gateway stops ([`close::GOING_AWAY`]). Clients reconnect, land
//! on a healthy node and subscribe again.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde_json::value::RawValue;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message as UpstreamMessage};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::listener::Place;
use crate::metrics;
use crate::proxy::{self, Forward, Proxy};
use crate::routing::{classify, is_private, Kind};
use crate::rpc::{close, Call};

type UpstreamSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Completes a client's WebSocket handshake, connected to the first healthy upstream (in the
/// routing mode's order) whose WebSocket endpoint accepts; with none, the connection is
/// accepted and closed at once with the reason, which clients show (an HTTP error on the
/// handshake is reported by most of them only as "unexpected response").
///
/// The connection keeps its `place` among the listener's connections until it closes.
pub async fn accept(
    proxy: Arc<Proxy>,
    upgrade: WebSocketUpgrade,
    forward: Forward,
    place: Option<Place>,
) -> Response {
    let pinned = connect(&proxy, &forward).await;
    let limit = proxy.settings.max_request_bytes;
    upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |client| async move {
            let _place = place;
            match pinned {
                Ok((index, upstream)) => relay(proxy, index, client, upstream, forward).await,
                Err(reason) => {
                    proxy.metrics.local_error("no_upstream");
                    let (mut to_client, _) = client.split();
                    let _ = to_client
                        .send(close_message(close::NO_UPSTREAM, &reason.to_string()))
                        .await;
                }
            }
        })
}

/// Why no upstream took a client's WebSocket; the text is the close frame's reason.
#[derive(Debug, thiserror::Error)]
enum PinError {
    /// Every upstream is unhealthy, each for the reason given.
    #[error("no healthy upstream ({0})")]
    NoHealthyUpstream(String),
    /// Every healthy upstream refused, each as listed.
    #[error("no upstream accepted a WebSocket: {}", .0.join("; "))]
    Refused(Vec<String>),
}

/// Opens a WebSocket to the first healthy upstream that accepts one. A refused WebSocket does
/// not count against the node's health: its HTTP side, which health judges, may be fine.
async fn connect(proxy: &Proxy, forward: &Forward) -> Result<(usize, UpstreamSocket), PinError> {
    let order = proxy.routing.order(&Kind::Read, proxy.health.healthy());
    if order.is_empty() {
        return Err(PinError::NoHealthyUpstream(
            proxy.health.unavailable_reasons(),
        ));
    }
    let timeout = proxy.settings.connect_timeout;
    let mut failures = Vec::new();
    for index in order {
        let upstream = &proxy.upstreams[index];
        let Some(ws_url) = &upstream.ws_url else {
            failures.push(format!(
                "{}: an IPC upstream has no WebSocket",
                upstream.name
            ));
            continue;
        };
        let url = match &forward.query {
            Some(query) if ws_url.contains('?') => format!("{ws_url}&{query}"),
            Some(query) => format!("{ws_url}?{query}"),
            None => ws_url.clone(),
        };
        let mut request = match url.into_client_request() {
            Ok(request) => request,
            Err(error) => {
                failures.push(format!("{}: {error}", upstream.name));
                continue;
            }
        };
        for (name, value) in &forward.headers {
            request.headers_mut().append(name, value.clone());
        }
        match tokio::time::timeout(timeout, tokio_tungstenite::connect_async(request)).await {
            Ok(Ok((socket, _))) => return Ok((index, socket)),
            Ok(Err(error)) => failures.push(format!("{}: {error}", upstream.name)),
            Err(_) => failures.push(format!(
                "{}: no WebSocket handshake within {} ms",
                upstream.name,
                timeout.as_millis()
            )),
        }
    }
    Err(PinError::Refused(failures))
}

/// Relays between the client and its pinned upstream until either side ends.
async fn relay(
    proxy: Arc<Proxy>,
    index: usize,
    client: WebSocket,
    upstream: UpstreamSocket,
    forward: Forward,
) {
    let name = proxy.upstreams[index].name.clone();
    let open = proxy
        .metrics
        .websocket_connections
        .get_or_create(&metrics::upstream(&name))
        .clone();
    open.inc();
    let (mut to_client, mut from_client) = client.split();
    let (mut to_upstream, mut from_upstream) = upstream.split();
    // Answers to account-scoped calls, which are sent over HTTP concurrently with the relay.
    let (replies, mut replied) = mpsc::unbounded_channel::<Bytes>();
    let mut health_check = tokio::time::interval(proxy.settings.health.interval);
    health_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = proxy.stopping.subscribe();
    let ending: Option<(u16, String)> = loop {
        tokio::select! {
            message = from_client.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let text = Bytes::from(text);
                    if let Some(batch) = leaves_connection(&text) {
                        answer_over_http(&proxy, text, batch, &forward, &replies);
                        continue;
                    }
                    let Ok(text) = tungstenite::Utf8Bytes::try_from(text) else {
                        continue; // it was a client Utf8Bytes, so this cannot happen
                    };
                    if let Err(error) = to_upstream.send(UpstreamMessage::Text(text)).await {
                        break Some(lost(&name, &format!("failed ({error})")));
                    }
                }
                Some(Ok(Message::Binary(data))) => {
                    if let Err(error) = to_upstream.send(UpstreamMessage::Binary(data)).await {
                        break Some(lost(&name, &format!("failed ({error})")));
                    }
                }
                // Pings are answered by the WebSocket layer itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break None,
            },
            message = from_upstream.next() => match message {
                Some(Ok(UpstreamMessage::Text(text))) => {
                    let Ok(text) = Utf8Bytes::try_from(Bytes::from(text)) else {
                        continue;
                    };
                    if to_client.send(Message::Text(text)).await.is_err() {
                        break None;
                    }
                }
                Some(Ok(UpstreamMessage::Binary(data))) => {
                    if to_client.send(Message::Binary(data)).await.is_err() {
                        break None;
                    }
                }
                Some(Ok(
                    UpstreamMessage::Ping(_) | UpstreamMessage::Pong(_) | UpstreamMessage::Frame(_),
                )) => {}
                Some(Ok(UpstreamMessage::Close(_))) | None => {
                    break Some(lost(&name, "closed the connection"));
                }
                Some(Err(error)) => break Some(lost(&name, &format!("failed ({error})"))),
            },
            Some(reply) = replied.recv() => {
                let Ok(text) = Utf8Bytes::try_from(reply) else {
                    continue;
                };
                if to_client.send(Message::Text(text)).await.is_err() {
                    break None;
                }
            }
            _ = health_check.tick() => {
                if !proxy.health.is_healthy(index) {
                    let reason = proxy.health.status().upstreams.get(index)
                        .and_then(|s| s.reason.clone())
                        .unwrap_or_default();
                    break Some(lost(&name, &format!("is unhealthy: {reason}")));
                }
            }
            _ = stopping.changed() => {
                break Some((close::GOING_AWAY, "the gateway is shutting down".to_owned()));
            }
        }
    };
    if let Some((code, reason)) = ending {
        tracing::info!(upstream = %name, code, %reason, "closing a client WebSocket");
        let _ = to_client.send(close_message(code, &reason)).await;
    }
    let _ = to_upstream.close().await;
    open.dec();
}

fn lost(name: &str, what: &str) -> (u16, String) {
    (
        close::UPSTREAM_LOST,
        // The advice first: a close reason is cut at 123 bytes.
        format!("reconnect and subscribe again: upstream {name} {what}"),
    )
}

/// Whether a message must be routed on its own instead of following the connection
/// (`Some(is_batch)`): a call, or a batch holding at least one call, that [`classify`] pins to an
/// account or that [`is_private`] sends to the privacy manager.
fn leaves_connection(text: &[u8]) -> Option<bool> {
    let is_account = |raw: &[u8]| {
        Call::parse(raw)
            .is_ok_and(|call| matches!(classify(&call), Kind::Account { .. }) || is_private(&call))
    };
    if text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        let calls: Vec<&RawValue> = serde_json::from_slice(text).ok()?;
        return calls
            .iter()
            .any(|raw| is_account(raw.get().as_bytes()))
            .then_some(true);
    }
    is_account(text).then_some(false)
}

/// Answers an account-scoped call (or a batch holding one) the way HTTP clients get it, and
/// queues the answer for the client; notifications get none.
fn answer_over_http(
    proxy: &Arc<Proxy>,
    text: Bytes,
    batch: bool,
    forward: &Forward,
    replies: &mpsc::UnboundedSender<Bytes>,
) {
    let proxy = proxy.clone();
    let forward = forward.clone();
    let replies = replies.clone();
    tokio::spawn(async move {
        let body = if batch {
            proxy.batch(text, &forward).await.body
        } else {
            let reply = proxy.call(text.clone(), &forward).await;
            match serde_json::from_slice::<&RawValue>(&text) {
                Ok(raw) => Bytes::from(proxy::batch_element(&reply, raw)),
                Err(_) => reply.body,
            }
        };
        if !body.trim_ascii().is_empty() {
            let _ = replies.send(body);
        }
    });
}

/// A close frame with `reason` cut to what fits in one (on a character boundary).
fn close_message(code: u16, reason: &str) -> Message {
    let mut end = reason.len().min(close::MAX_REASON_BYTES);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(&reason[..end]),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn account_scoped_and_private_calls_leave_the_connection_and_the_rest_stays() {
        let send = r#"{"id":1,"method":"eth_sendTransaction","params":[{"from":"0xa"}]}"#;
        let subscribe = r#"{"id":2,"method":"eth_subscribe","params":["newHeads"]}"#;
        let raw_private = r#"{"id":3,"method":"eth_sendRawPrivateTransaction","params":["0x"]}"#;
        assert_eq!(leaves_connection(send.as_bytes()), Some(false));
        assert_eq!(leaves_connection(raw_private.as_bytes()), Some(false));
        assert_eq!(leaves_connection(subscribe.as_bytes()), None);
        assert_eq!(
            leaves_connection(format!(" [{subscribe},{send}]").as_bytes()),
            Some(true)
        );
        assert_eq!(leaves_connection(format!("[{subscribe}]").as_bytes()), None);
        assert_eq!(leaves_connection(b"not json"), None);
    }

    #[test]
    fn close_reasons_fit_a_close_frame() {
        let Message::Close(Some(frame)) = close_message(close::UPSTREAM_LOST, &"é".repeat(100))
        else {
            panic!("not a close frame");
        };
        assert!(frame.reason.len() <= close::MAX_REASON_BYTES);
        assert_eq!(frame.reason.len(), 122);
        assert_eq!(frame.code, close::UPSTREAM_LOST);
    }
}
