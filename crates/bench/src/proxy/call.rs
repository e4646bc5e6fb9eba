//! The calls the steady-state part measures: what each one sends and what its answer must hold.

use std::sync::Arc;

use cloister_protocol::path;
use hyper::Method;

use crate::client::Call;
use crate::load::Check;
use crate::scenario::Requests;

/// The measured call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CallKind {
    /// `GET /upcheck`: the proxy's own overhead, nearly nothing behind it.
    Upcheck,
    /// GoQuorum's `POST /send` to one recipient. Through `cloister proxy` it gets an
    /// idempotency key, so the replica also records the key: exactly-once costs a row.
    Send,
    /// The same `/send` with the client's own `Idempotency-Key`: the replicas do the same work
    /// behind every front, so the difference between fronts is the proxy's alone.
    #[value(name = "send+key")]
    SendKeyed,
}

impl CallKind {
    /// The name in the report.
    pub fn name(self) -> &'static str {
        match self {
            CallKind::Upcheck => "upcheck",
            CallKind::Send => "send",
            CallKind::SendKeyed => "send+key",
        }
    }

    /// How an answer is judged: a `/send` that answers 2xx without a key stored nothing, so
    /// it must count as a failure, not as a fast success.
    pub(super) fn check(self) -> Check {
        match self {
            CallKind::Upcheck => Check::Status,
            CallKind::Send | CallKind::SendKeyed => Check::Key,
        }
    }
}

/// `GET /upcheck`'s requests. The `/send` ones are made once per run instead, because part 2
/// sends them too.
pub(super) fn upcheck() -> Arc<Requests> {
    Requests::fixed(Call::q2t(Method::GET, path::UPCHECK, None))
}
