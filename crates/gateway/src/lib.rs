//! `cloister-gateway`: a JSON-RPC gateway in front of the GoQuorum nodes of an HA group.
//!
//! Unlike a TCP balancer it knows which state lives in one node only and keeps it there:
//! filters are pinned to the node that created them (their ids carry it), account-scoped
//! calls (`eth_sendTransaction` and its private and async variants, signing, `personal_*`,
//! `eth_getTransactionCount(.., "pending")`) are pinned by account with rendezvous hashing over
//! healthy nodes, reads are repeated on another node after a failure and writes never are.
//! Each client WebSocket connection is pinned to one node, where its subscriptions live.
//! Node health comes from the chain (head lag against the best node, `eth_syncing`,
//! `net_peerCount`) and from call failures; a node whose privacy path (its `cloister proxy` or
//! privacy manager) fails its `/health` check keeps serving public calls but gets no private
//! ones. Upstreams are reached over HTTP, WebSocket (client WebSocket connections) or the
//! node's IPC socket.
//!
//! - [`rpc`]: protocol facts (method names, error codes, forwarded headers) and envelopes.
//! - [`settings`]: the config file and defaults.
//! - [`upstream`]: one node over HTTP or IPC; tells "never sent" from "outcome unknown".
//! - [`ipc`]: geth's IPC framing over a unix socket.
//! - [`health`]: probing, lag, ejection and readmission, privacy paths (checked with the probe
//!   and thresholds of `cloister-net`); `/status`.
//! - [`routing`]: call kinds and upstream order per mode.
//! - [`accounts`]: one account-scoped write at a time per account.
//! - [`filters`]: filter ids that name their node.
//! - [`proxy`]: one call or batch end to end.
//! - [`websocket`]: client WebSocket connections, each pinned to one upstream (subscriptions).
//! - [`server`]: the HTTP front and lifecycle; [`listener`]: its connections and their bounds;
//!   [`metrics`]: Prometheus.

pub mod accounts;
pub mod filters;
pub mod health;
pub mod ipc;
pub mod listener;
pub mod metrics;
pub mod proxy;
pub mod routing;
pub mod rpc;
pub mod server;
pub mod settings;
pub mod upstream;
pub mod websocket;

pub use server::{Gateway, GatewayError};
pub use settings::{GatewaySettings, Mode, UpstreamSettings};
