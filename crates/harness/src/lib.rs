//! `cloister-harness`: what tests, benchmarks and the demo use to run Cloister for real.
//!
//! - [`http`]: a small HTTP/1.1 client over TCP or a unix socket that sends request targets
//!   exactly as given (so `%2F` and `+` reach the server untouched), with `Host: c` on unix
//!   sockets as GoQuorum sends it.
//! - [`ganache`]: real Ethereum JSON-RPC nodes (ganache processes) for gateway tests.
//! - [`metrics`]: what a `/metrics` page says, summed over the labels a test leaves open.
//! - [`nodes`]: `cloister node` processes on loopback, configured only by Tessera-format config
//!   files and key files made by `cloister keygen`.
//! - [`patroni`]: a Patroni cluster (PostgreSQL members with automatic failover) on one etcd.
//! - [`party`]: two replicas of one party on one PostgreSQL database, and a peer.
//! - [`proxy`]: a `cloister proxy` process on a config file, with its admin listener.
//! - [`procfs`]: what `/proc` says about a process (peak and current RSS, CPU time).
//! - [`postgres`]: PostgreSQL clusters on loopback (a primary, or a primary with a synchronous
//!   standby) that tests can crash, hang, promote and rejoin.
//! - [`tessera`]: Tessera's own database DDL, to lay out a database as a Tessera deployment has it.
//! - [`tls`]: certificates made with rcgen (one test CA for nodes, PostgreSQL and TLS fronts:
//!   leaves in date, expired or self-signed, server and client certificates), Tessera
//!   `sslConfig` sections and rustls clients presenting them.
//!
//! Panics are the error strategy here: a harness that cannot set up its world should stop the
//! test loudly, with the node's log in the message.

// Test-support code: failing loudly (unwrap) is the point.
#![allow(clippy::unwrap_used)]

pub mod ganache;
pub mod http;
pub mod metrics;
pub mod nodes;
pub mod party;
pub mod patroni;
pub mod postgres;
pub mod procfs;
pub mod proxy;
pub mod signal;
pub mod tessera;
pub mod tls;
mod watchdog;
