//! One health vocabulary for every part that judges another: the proxy judging its replicas,
//! the gateway judging its nodes and their privacy paths.
//!
//! - [`counter`]: the pure consecutive-result counter and its thresholds, with HAProxy's names:
//!   `fall` failed checks in a row take a target out, `rise` passed checks in a row bring it
//!   back, `passiveFailures` failed requests in a row take it out too;
//! - [`probe`]: the check of a privacy manager: `GET /health`, or Tessera's `GET /upcheck` where
//!   `/health` answers 404; any 2xx passes.

pub mod counter;
pub mod probe;

pub use counter::{Change, HealthCounter, Thresholds, ThresholdsError};
pub use probe::{Probe, ProbeError};
