//! `cloister-node`: the privacy manager. A GoQuorum node talks to it exactly as to Tessera,
//! other privacy managers peer with it over Tessera's P2P protocol, and several replicas of one
//! node can run over one shared store.
//!
//! - [`settings`]: the node's settings, from a Tessera config file or the embedded default.
//! - [`transaction`]: the transaction manager (send, receive, push, resend) over the enclave and
//!   the store.
//! - [`discovery`]: who the peers are and which keys they hold (PartyInfo exchange).
//! - [`peer_client`]: the outbound HTTP client for P2P calls.
//! - [`peer_connector`]: how it reaches a peer: TCP, or TLS with Tessera's client trust modes.
//! - [`api`]: the HTTP apps (Q2T, ThirdParty, P2P) as axum routers; handlers are thin.
//! - [`listener`]: serving a router on TCP or a unix socket, with GoQuorum's keep-alive needs
//!   and the listener's bounds.
//! - [`limits`]: what a caller can cost the node, and where each bound is configured.
//! - [`health`]: the store's health for `/health`, checked at most once a second.
//! - [`recovery`]: rebuilding a lost store from the peers (`--recover`).
//! - [`node`]: starting and stopping a whole node.
//! - [`secure_file`]: creating key files with owner-only permissions.

pub mod api;
pub mod discovery;
pub mod health;
pub mod limits;
pub mod listener;
pub mod metrics;
pub mod node;
pub mod peer_client;
pub mod peer_connector;
pub mod recovery;
pub mod secure_file;
pub mod settings;
pub mod transaction;

pub use node::{Node, NodeError};
pub use settings::{NodeSettings, SettingsError};
