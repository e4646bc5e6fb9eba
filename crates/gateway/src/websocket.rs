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
//!
//! What a connection can hold is bounded (`maxWebSocketInFlight`): calls answered over HTTP take
//! a slot each until their answer is written, and the gateway reads nothing from a client with
//! no slot free; the node's messages queue for the client up to the same number, and the node
//! is not read while the queue is full. A client that stops reading would otherwise hold all of
//! that forever, so one whose socket takes no message for `webSocketSendTimeoutMs` is
//! disconnected, without a close frame (it would not read one).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use bytes::Bytes;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use prometheus_client::metrics::gauge::Gauge;
use serde_json::value::RawValue;
use tokio::net::TcpStream;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message as UpstreamMessage};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

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
        // A `wss://` node gets its upstream's TLS config (never a default trust).
        let tls = upstream.tls.clone().map(Connector::Rustls);
        let handshake = tokio_tungstenite::connect_async_tls_with_config(request, None, false, tls);
        match tokio::time::timeout(timeout, handshake).await {
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

/// The client's half of its WebSocket, written by [`write_to_client`] only.
type ClientSink = SplitSink<WebSocket, Message>;

/// One call of a connection that the gateway answers itself, from being read to its answer
/// being written: its slot among the connection's `maxWebSocketInFlight`, and its count in
/// the `websocket_in_flight` metric.
struct InFlight {
    _slot: OwnedSemaphorePermit,
    gauge: Gauge,
}

impl InFlight {
    fn new(slot: OwnedSemaphorePermit, gauge: &Gauge) -> Self {
        gauge.inc();
        Self {
            _slot: slot,
            gauge: gauge.clone(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// An answer the gateway got over HTTP, waiting to be written to the client, still holding
/// its call's slot.
struct Answered {
    text: Utf8Bytes,
    in_flight: InFlight,
}

/// Why the writer to a client stopped before the relay ended.
#[derive(Debug, thiserror::Error)]
enum Unwritable {
    /// The connection failed or the client closed it.
    #[error("the client's connection ended")]
    Gone,
    /// A message waited longer than `webSocketSendTimeoutMs` for the client's socket to take
    /// it: the client reads nothing.
    #[error("the client read nothing for {} ms", .0.as_millis())]
    Stalled(Duration),
}

/// Relays between the client and its pinned upstream until either side ends.
///
/// Nothing waits without bound. Calls the gateway answers itself take one of
/// `maxWebSocketInFlight` slots each, and no client message is read while none is free, so a
/// client flooding them is held back by its own socket. The upstream's messages (answers and
/// subscription notifications) queue for the client up to that many; while the queue is full
/// the upstream is not read either. Writing to the client has its own task, so neither side
/// waits on the other, and a message the client's socket does not take within
/// `webSocketSendTimeoutMs` ends the connection.
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
    let settings = &proxy.settings;
    let bound = settings.max_websocket_in_flight;
    let (to_client, mut from_client) = client.split();
    let (mut to_upstream, mut from_upstream) = upstream.split();
    let (outbox, for_client) = mpsc::channel::<Message>(bound);
    // Each answer holds its call's slot, so there are never more than `bound` of them and
    // sending one never waits.
    let (answers, answered) = mpsc::channel::<Answered>(bound);
    let mut writer = tokio::spawn(write_to_client(
        to_client,
        for_client,
        answered,
        settings.websocket_send_timeout,
    ));
    let slots = Arc::new(Semaphore::new(bound));
    let mut slot: Option<OwnedSemaphorePermit> = None;
    // An upstream message the outbox had no room for; the upstream is not read until it goes.
    let mut held: Option<Message> = None;
    // Calls answered over HTTP; dropped with the connection, since no one is left to answer.
    let mut calls = JoinSet::new();
    let mut written = None;
    let mut health_check = tokio::time::interval(settings.health.interval);
    health_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = proxy.stopping.subscribe();
    let ending: Option<(u16, String)> = loop {
        tokio::select! {
            acquired = slots.clone().acquire_owned(), if slot.is_none() => slot = acquired.ok(),
            message = from_client.next(), if slot.is_some() => match message {
                Some(Ok(Message::Text(text))) => {
                    let text = Bytes::from(text);
                    if let Some(batch) = leaves_connection(&text) {
                        if let Some(slot) = slot.take() {
                            let in_flight = InFlight::new(slot, &proxy.metrics.websocket_in_flight);
                            calls.spawn(answer_over_http(
                                proxy.clone(), text, batch, forward.clone(), answers.clone(), in_flight,
                            ));
                        }
                        continue;
                    }
                    let Ok(text) = tungstenite::Utf8Bytes::try_from(text) else {
                        continue; // it was a client Utf8Bytes, so this cannot happen
                    };
                    let sent = to_node(&mut to_upstream, UpstreamMessage::Text(text), settings.request_timeout);
                    if let Err(what) = sent.await {
                        break Some(lost(&name, &what));
                    }
                }
                Some(Ok(Message::Binary(data))) => {
                    let sent = to_node(&mut to_upstream, UpstreamMessage::Binary(data), settings.request_timeout);
                    if let Err(what) = sent.await {
                        break Some(lost(&name, &what));
                    }
                }
                // Pings are answered by the WebSocket layer itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break None,
            },
            Some(_) = calls.join_next(), if !calls.is_empty() => {}
            room = outbox.reserve(), if held.is_some() => {
                // Without room the writer has ended; its branch says why.
                if let (Ok(room), Some(message)) = (room, held.take()) {
                    room.send(message);
                }
            }
            message = from_upstream.next(), if held.is_none() => match message {
                Some(Ok(UpstreamMessage::Text(text))) => {
                    let Ok(text) = Utf8Bytes::try_from(Bytes::from(text)) else {
                        continue;
                    };
                    held = queue(&outbox, Message::Text(text));
                }
                Some(Ok(UpstreamMessage::Binary(data))) => {
                    held = queue(&outbox, Message::Binary(data));
                }
                Some(Ok(
                    UpstreamMessage::Ping(_) | UpstreamMessage::Pong(_) | UpstreamMessage::Frame(_),
                )) => {}
                Some(Ok(UpstreamMessage::Close(_))) | None => {
                    break Some(lost(&name, "closed the connection"));
                }
                Some(Err(error)) => break Some(lost(&name, &format!("failed ({error})"))),
            },
            result = &mut writer => {
                let result = result.unwrap_or(Err(Unwritable::Gone));
                if let Err(unwritable @ Unwritable::Stalled(_)) = &result {
                    proxy.metrics.local_error("websocket_stalled");
                    tracing::info!(upstream = %name, %unwritable, "disconnecting a client WebSocket");
                }
                written = Some(result);
                break None;
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
    drop(calls);
    // Closing the outbox lets the writer deliver what it holds and hand its half back.
    drop(outbox);
    drop(answers);
    let written = match written {
        Some(written) => written,
        None => match tokio::time::timeout(settings.websocket_send_timeout, &mut writer).await {
            Ok(result) => result.unwrap_or(Err(Unwritable::Gone)),
            Err(_) => {
                writer.abort();
                Err(Unwritable::Stalled(settings.websocket_send_timeout))
            }
        },
    };
    if let (Ok(mut to_client), Some((code, reason))) = (written, ending) {
        tracing::info!(upstream = %name, code, %reason, "closing a client WebSocket");
        let close = to_client.send(close_message(code, &reason));
        let _ = tokio::time::timeout(settings.websocket_send_timeout, close).await;
    }
    let _ = tokio::time::timeout(settings.request_timeout, to_upstream.close()).await;
    open.dec();
}

/// Writes the upstream's messages and the gateway's answers to the client, each within
/// `timeout`, until `outbox` closes (then hands the client's half back, to close it).
async fn write_to_client(
    mut to_client: ClientSink,
    mut outbox: mpsc::Receiver<Message>,
    mut answered: mpsc::Receiver<Answered>,
    timeout: Duration,
) -> Result<ClientSink, Unwritable> {
    loop {
        let (message, in_flight) = tokio::select! {
            message = outbox.recv() => match message {
                Some(message) => (message, None),
                None => return Ok(to_client),
            },
            Some(answer) = answered.recv() => (Message::Text(answer.text), Some(answer.in_flight)),
        };
        match tokio::time::timeout(timeout, to_client.send(message)).await {
            Ok(Ok(())) => drop(in_flight),
            Ok(Err(_)) => return Err(Unwritable::Gone),
            Err(_) => return Err(Unwritable::Stalled(timeout)),
        }
    }
}

/// Queues a message for the client, or gives it back when the queue is full (a closed queue
/// means the writer ended, which the relay hears from the writer itself).
fn queue(outbox: &mpsc::Sender<Message>, message: Message) -> Option<Message> {
    match outbox.try_send(message) {
        Err(TrySendError::Full(message)) => Some(message),
        Ok(()) | Err(TrySendError::Closed(_)) => None,
    }
}

/// Sends a client's message to its node; a node that takes nothing within `timeout` (its
/// socket full) counts as lost, like one that failed.
async fn to_node(
    to_upstream: &mut SplitSink<UpstreamSocket, UpstreamMessage>,
    message: UpstreamMessage,
    timeout: Duration,
) -> Result<(), String> {
    match tokio::time::timeout(timeout, to_upstream.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(format!("failed ({error})")),
        Err(_) => Err(format!("took nothing for {} ms", timeout.as_millis())),
    }
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
/// queues the answer for the client with its slot; notifications get none.
async fn answer_over_http(
    proxy: Arc<Proxy>,
    text: Bytes,
    batch: bool,
    forward: Forward,
    answers: mpsc::Sender<Answered>,
    in_flight: InFlight,
) {
    let body = if batch {
        proxy.batch(text, &forward).await.body
    } else {
        let reply = proxy.call(text.clone(), &forward).await;
        match serde_json::from_slice::<&RawValue>(&text) {
            Ok(raw) => Bytes::from(proxy::batch_element(&reply, raw)),
            Err(_) => reply.body,
        }
    };
    if body.trim_ascii().is_empty() {
        return;
    }
    if let Ok(text) = Utf8Bytes::try_from(body) {
        let _ = answers.send(Answered { text, in_flight }).await;
    }
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
