//! `cloister-protocol`: the book of wire facts. Every path, header name, media type and fixed
//! body that Cloister shares with Tessera, GoQuorum or its own parts is spelled here once, and
//! the node's routers, its OpenAPI document, the peer client, the proxy, the gateway and the
//! benchmark all import it from here. Tests elsewhere spell wire literals out on purpose: they
//! check this book, not the other way round.
//!
//! - [`path`]: the paths of the Q2T, ThirdParty and P2P APIs, and the ones every app serves;
//! - [`exposition`]: `/metrics` in OpenMetrics or, asked for, Prometheus's text format;
//! - [`metric`]: the series every part exports with one meaning (certificate expiry);
//! - [`header`]: header names (GoQuorum's `c11n-*`, Tessera's `tessera*`, Cloister's own);
//! - [`media`]: media types, Tessera's versioned JSON types among them;
//! - [`version`]: the API versions of `/version/api` and `tesseraSupportedApiVersions`;
//! - the fixed facts below: `/upcheck`'s body and GoQuorum's `Host` over `tm.ipc`.
//!
//! Sources: `spec/tessera-api.md` (paths, media types, headers) and `spec/goquorum-client.md`
//! (what GoQuorum sends).

pub mod exposition;
pub mod header;
pub mod media;
pub mod metric;
pub mod path;
pub mod version;

/// The body of `GET /upcheck`, exactly as Tessera answers it.
pub const UPCHECK_BODY: &str = "I'm up!";

/// The `Host` GoQuorum's unix-socket transport puts on every Q2T request (Go's HTTP client
/// dialling `tm.ipc` addresses the URL `http://c/...`). Clients of a unix socket send it too,
/// so a replica sees them as it sees GoQuorum.
pub const GOQUORUM_HOST: &str = "c";

/// GoQuorum's default `--ptm.timeout`: how long it waits for its privacy manager's answer
/// before the call (a private transaction) fails for its user.
pub const GOQUORUM_PTM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
