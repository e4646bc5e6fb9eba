//! `cloister-net`: the sockets Cloister's parts open, and the one way they judge each other's
//! health.
//!
//! - [`listen`]: listening on an [`Endpoint`] the way GoQuorum's `tm.ipc` needs (owner-only unix
//!   sockets, stale files replaced, live ones never taken over) and the accept loop;
//! - [`admission`]: the bounds on a listener's connections, in all and per caller address;
//! - [`connect`]: opening a connection to an [`Endpoint`] within a timeout, over TLS for an
//!   `https://` one;
//! - [`health`]: the consecutive-result thresholds (`fall`, `rise`, `passiveFailures`) and the
//!   probe of a privacy manager's `/health` (falling back to Tessera's `/upcheck`) that the
//!   proxy and the gateway share;
//! - [`tls`]: the TLS handshake of an accepted connection, bounded by the listener's
//!   `headerTimeoutMs` and counted under its admission.
//!
//! Addresses themselves are [`cloister_addr::Endpoint`]s, parsed by the I/O-free
//! `cloister-addr`.

pub mod admission;
pub mod connect;
mod either_io;
pub mod health;
pub mod listen;
pub mod tls;

pub use admission::{
    raise_open_file_limit, Admission, ConnectionLimits, ListenerLimits, Permit,
    DEFAULT_HEADER_TIMEOUT,
};
pub use cloister_addr::Endpoint;
pub use connect::{connect, connect_tls, ClientStream};
pub use listen::{serve, Bound, ListenError, Stream};
pub use tls::{HandshakeError, ServerStream, TlsListener};
