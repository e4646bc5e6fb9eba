//! Shared pieces of the process-level tests: a minimal HTTP/1.1 client over TCP and unix
//! sockets, and a harness that runs real `cloister node` processes from Tessera config files.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

pub mod http;
pub mod nodes;
