//! Client WebSocket connections through the gateway to two real ganache nodes (which serve
//! WebSocket and HTTP on one port, so each upstream is given by one URL): `newHeads`
//! subscriptions pinned to one node per connection, account-scoped calls still pinned by
//! account, and the connection closed with a reason when its node dies.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Mutex;
use std::time::Duration;

use cloister_gateway::Mode;
use cloister_harness::ganache::{Ganache, ACCOUNT_0, ACCOUNT_1};
use common::{metric, settings, Running};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Two ganache processes at a time are plenty for two cores.
static ONE_PAIR_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Long enough for a loaded machine; only reached when a message never comes.
const PATIENCE: Duration = Duration::from_secs(30);

fn pair(mode: Mode) -> (Running, Vec<Ganache>, std::sync::MutexGuard<'static, ()>) {
    let guard = ONE_PAIR_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let nodes = Ganache::start_many(2);
    // Both start from the same genesis and mine empty blocks with second-resolution
    // timestamps, so their blocks could be identical; a transaction on one tells them apart.
    let tx = json!([{"from": ACCOUNT_1, "to": ACCOUNT_0, "value": "0x1"}]);
    nodes[1].call("eth_sendTransaction", tx);
    // One upstream given by its http:// URL, the other by its ws:// URL: the gateway derives
    // the other transport on the same port either way.
    let urls = [nodes[0].url(), format!("ws://{}", nodes[1].address)];
    let mut settings = settings(mode, &urls);
    // The two chains are independent; lag between them is not what these tests are about.
    settings.health.max_lag_blocks = 1_000_000;
    (Running::start(settings), nodes, guard)
}

/// A JSON-RPC client on one WebSocket connection to the gateway.
struct Client<'a> {
    gateway: &'a Running,
    socket: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
    next_id: u64,
    /// Notifications received while waiting for an answer.
    notifications: Vec<Value>,
}

impl<'a> Client<'a> {
    fn connect(gateway: &'a Running) -> Self {
        let url = format!("ws://{}/", gateway.address());
        let (socket, _) = gateway
            .runtime()
            .block_on(tokio_tungstenite::connect_async(url))
            .unwrap();
        Self {
            gateway,
            socket,
            next_id: 1,
            notifications: Vec::new(),
        }
    }

    /// The next message, panicking when none comes.
    fn receive(&mut self) -> Message {
        let socket = &mut self.socket;
        self.gateway
            .runtime()
            .block_on(async { tokio::time::timeout(PATIENCE, socket.next()).await })
            .expect("no message from the gateway")
            .expect("the connection ended without a close frame")
            .unwrap()
    }

    fn receive_json(&mut self) -> Value {
        match self.receive() {
            Message::Text(text) => serde_json::from_str(&text).unwrap(),
            other => panic!("expected a JSON-RPC message, got {other:?}"),
        }
    }

    /// One call's whole response object; notifications meanwhile are kept.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let call = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.gateway
            .runtime()
            .block_on(self.socket.send(Message::text(call.to_string())))
            .unwrap();
        loop {
            let message = self.receive_json();
            if message["id"] == id {
                return message;
            }
            assert_eq!(message["method"], "eth_subscription", "{message}");
            self.notifications.push(message);
        }
    }

    fn result(&mut self, method: &str, params: Value) -> Value {
        let response = self.call(method, params);
        assert!(response.get("error").is_none(), "{method}: {response}");
        response["result"].clone()
    }

    /// The next `eth_subscription` notification's `params`.
    fn notification(&mut self) -> Value {
        let message = if self.notifications.is_empty() {
            self.receive_json()
        } else {
            self.notifications.remove(0)
        };
        assert_eq!(message["method"], "eth_subscription", "{message}");
        message["params"].clone()
    }

    /// The close frame that ends the connection, skipping anything before it.
    fn close_frame(&mut self) -> (CloseCode, String) {
        loop {
            if let Message::Close(frame) = self.receive() {
                let frame = frame.expect("a close frame with a code and reason");
                return (frame.code, frame.reason.to_string());
            }
        }
    }
}

fn hex(value: &Value) -> u64 {
    u64::from_str_radix(value.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// Which node holds the block with `hash`.
fn home_of(nodes: &[Ganache], number: &Value, hash: &Value) -> usize {
    nodes
        .iter()
        .position(|n| &n.call("eth_getBlockByNumber", json!([number, false]))["hash"] == hash)
        .unwrap_or_else(|| panic!("no node has block {number} {hash}"))
}

fn new_heads(client: &mut Client<'_>) -> Value {
    let id = client.result("eth_subscribe", json!(["newHeads"]));
    assert!(id.as_str().unwrap().starts_with("0x"), "{id}");
    id
}

#[test]
fn subscriptions_stay_on_the_node_of_their_connection() {
    let (gateway, nodes, _guard) = pair(Mode::Balanced);
    // Balanced mode spreads connections: two in a row land on different nodes.
    let mut clients = [Client::connect(&gateway), Client::connect(&gateway)];
    let subscriptions: Vec<Value> = clients.iter_mut().map(new_heads).collect();
    let mut homes = Vec::new();
    for (client, subscription) in clients.iter_mut().zip(&subscriptions) {
        let mut home = None;
        let mut previous: Option<u64> = None;
        for _ in 0..3 {
            // Ordinary calls over the socket go to the connection's node: mining there makes
            // the head this connection's subscription announces.
            assert_eq!(client.result("evm_mine", json!([])), "0x0");
            // HTTP traffic meanwhile is balanced over both nodes and changes nothing here.
            gateway.result("eth_blockNumber", json!([]));
            let params = client.notification();
            assert_eq!(&params["subscription"], subscription, "{params}");
            let head = &params["result"];
            let number = hex(&head["number"]);
            if let Some(previous) = previous {
                assert_eq!(number, previous + 1, "{head}");
            }
            previous = Some(number);
            let node = home_of(&nodes, &head["number"], &head["hash"]);
            assert_eq!(
                *home.get_or_insert(node),
                node,
                "the connection moved nodes"
            );
        }
        homes.extend(home);
    }
    assert_ne!(
        homes[0], homes[1],
        "both connections were pinned to one node"
    );
    let metrics = gateway.metrics();
    for node in &nodes {
        let labels = format!("upstream=\"{}\"", node.address);
        let open = metric(&metrics, "cloister_gateway_websocket_connections", &labels);
        assert_eq!(open, 1.0, "{metrics}");
    }

    // Account-scoped calls follow their account, not the connection: both connections'
    // transactions from one account land on one node, with consecutive nonces.
    let hashes: Vec<Value> = clients
        .iter_mut()
        .map(|client| {
            let tx = json!([{"from": ACCOUNT_0, "to": ACCOUNT_1, "value": "0x1"}]);
            client.result("eth_sendTransaction", tx)
        })
        .collect();
    let counts: Vec<u64> = nodes
        .iter()
        .map(|n| hex(&n.call("eth_getTransactionCount", json!([ACCOUNT_0, "latest"]))))
        .collect();
    assert!(counts == [2, 0] || counts == [0, 2], "{counts:?}");
    let account_home = &nodes[counts.iter().position(|&c| c == 2).unwrap()];
    for hash in &hashes {
        assert!(!account_home
            .call("eth_getTransactionByHash", json!([hash]))
            .is_null());
    }

    for (client, subscription) in clients.iter_mut().zip(&subscriptions) {
        assert_eq!(
            client.result("eth_unsubscribe", json!([subscription])),
            true
        );
    }
}

#[test]
fn a_connection_whose_node_dies_is_closed_with_the_reason_and_a_new_one_works() {
    let (gateway, mut nodes, _guard) = pair(Mode::PrimaryBackup);
    let mut client = Client::connect(&gateway);
    let subscription = new_heads(&mut client);
    client.result("evm_mine", json!([]));
    let params = client.notification();
    assert_eq!(params["subscription"], subscription);
    let head = params["result"].clone();
    assert_eq!(home_of(&nodes, &head["number"], &head["hash"]), 0);

    nodes[0].kill();
    let (code, reason) = client.close_frame();
    assert_eq!(code, CloseCode::Restart, "{reason}");
    assert!(
        reason.contains(&nodes[0].address.to_string()) && reason.contains("subscribe again"),
        "{reason}"
    );

    // The client reconnects, lands on the backup, and subscribes again there.
    let mut client = Client::connect(&gateway);
    let again = new_heads(&mut client);
    client.result("evm_mine", json!([]));
    let params = client.notification();
    assert_eq!(params["subscription"], again);
    let head = &params["result"];
    assert_eq!(home_of(&nodes[1..], &head["number"], &head["hash"]), 0);

    // With no node left, a new connection is told so instead of hanging.
    nodes[1].kill();
    let (code, reason) = client.close_frame();
    assert_eq!(code, CloseCode::Restart, "{reason}");
    gateway.await_health(1, false);
    let mut client = Client::connect(&gateway);
    let (code, reason) = client.close_frame();
    assert_eq!(code, CloseCode::Again, "{reason}");
    assert!(reason.contains("no healthy upstream"), "{reason}");
}
