//! The measured scenarios and the GoQuorum-shaped requests each one makes.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cloister_harness::http::path_escape;
use cloister_protocol::path;
use hyper::Method;
use rand_core::{OsRng, RngCore};

use crate::client::Call;

/// One kind of load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// `POST /send` of a random payload from A to one remote recipient.
    SendOne,
    /// `POST /send` of a random payload from A to five remote recipients.
    SendFive,
    /// `GET /transaction/{hash}?isRaw=false` on A, for hashes `SendOne` created.
    Get,
}

impl Scenario {
    /// Every scenario, in the order they run. `Get` follows `SendOne` because it reads what
    /// `SendOne` wrote; `SendFive` goes last because it needs four more nodes, which would
    /// otherwise sit in the earlier measurements.
    pub const ALL: [Scenario; 3] = [Scenario::SendOne, Scenario::Get, Scenario::SendFive];

    /// The name used on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::SendOne => "send-1",
            Scenario::SendFive => "send-5",
            Scenario::Get => "get",
        }
    }

    /// How many remote recipients the scenario needs.
    pub fn recipients(self) -> usize {
        match self {
            Scenario::SendFive => 5,
            Scenario::SendOne | Scenario::Get => 1,
        }
    }

    /// The app and route (as the node's metrics label it) that serve the scenario on A.
    pub fn route(self) -> (&'static str, &'static str) {
        match self {
            Scenario::SendOne | Scenario::SendFive => ("Q2T", path::SEND),
            Scenario::Get => ("Q2T", path::TRANSACTION),
        }
    }

    /// Whether it creates transactions (and so has a `key` in each answer).
    pub fn sends(self) -> bool {
        self != Scenario::Get
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL
            .into_iter()
            .find(|scenario| scenario.name() == s)
            .ok_or_else(|| format!("unknown scenario {s:?}; expected send-1, send-5 or get"))
    }
}

/// Makes each worker's next request for a scenario. Shared by all workers of a level.
#[derive(Debug)]
pub enum Requests {
    /// `/send` bodies with a fresh random payload to these recipients.
    Send {
        /// Payload size in bytes.
        payload_bytes: usize,
        /// Base64 recipient keys.
        to: Vec<String>,
        /// Whether each carries a fresh `Idempotency-Key`, as a client that wants exactly-once
        /// writes (or `cloister proxy`) sends.
        keyed: bool,
    },
    /// Reads of these transactions, taken round-robin so every worker reads different rows.
    Get {
        /// Escaped request targets, one per stored hash.
        targets: Vec<String>,
        /// The next one to take.
        next: AtomicUsize,
    },
    /// The same request every time (a JSON-RPC read).
    Fixed(Call),
}

impl Requests {
    /// `/send` requests to `to`.
    pub fn send(payload_bytes: usize, to: Vec<String>) -> Arc<Self> {
        Arc::new(Requests::Send {
            payload_bytes,
            to,
            keyed: false,
        })
    }

    /// `/send` requests to `to`, each with a fresh `Idempotency-Key`.
    pub fn keyed_send(payload_bytes: usize, to: Vec<String>) -> Arc<Self> {
        Arc::new(Requests::Send {
            payload_bytes,
            to,
            keyed: true,
        })
    }

    /// Reads of `hashes` (base64 transaction hashes).
    pub fn get(hashes: &[String]) -> Arc<Self> {
        let targets = hashes
            .iter()
            .map(|hash| {
                format!(
                    "{}{}?isRaw=false",
                    path::TRANSACTION_PREFIX,
                    path_escape(hash)
                )
            })
            .collect();
        Arc::new(Requests::Get {
            targets,
            next: AtomicUsize::new(0),
        })
    }

    /// The same `call` every time.
    pub fn fixed(call: Call) -> Arc<Self> {
        Arc::new(Requests::Fixed(call))
    }

    /// The next request.
    pub fn next(&self) -> Call {
        match self {
            Requests::Fixed(call) => call.clone(),
            Requests::Send {
                payload_bytes,
                to,
                keyed,
            } => {
                let mut payload = vec![0; *payload_bytes];
                OsRng.fill_bytes(&mut payload);
                Call {
                    idempotency_key: keyed.then(|| {
                        let mut key = [0u8; 16];
                        OsRng.fill_bytes(&mut key);
                        key.iter().map(|b| format!("{b:02x}")).collect()
                    }),
                    ..Call::goquorum_send(&payload, to)
                }
            }
            Requests::Get { targets, next } => {
                let index = next.fetch_add(1, Ordering::Relaxed) % targets.len().max(1);
                Call::q2t(
                    Method::GET,
                    targets.get(index).cloned().unwrap_or_default(),
                    None,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names_round_trip() {
        for scenario in Scenario::ALL {
            assert_eq!(scenario.name().parse::<Scenario>(), Ok(scenario));
        }
        assert!("send".parse::<Scenario>().is_err());
    }

    #[test]
    fn send_bodies_are_goquorum_shaped() {
        let call = Requests::send(1024, vec!["a".into(), "b".into()]).next();
        let body: serde_json::Value =
            serde_json::from_slice(call.body.as_deref().unwrap_or_default()).unwrap_or_default();
        let payload = body["payload"].as_str().unwrap_or_default();
        assert_eq!(
            cloister_core::b64::decode(payload).map(|p| p.len()),
            Ok(1024)
        );
        assert_eq!(body["to"], json!(["a", "b"]));
        assert_eq!(body["privacyFlag"], json!(0));
        assert_eq!(body["mandatoryRecipients"], json!(null));
    }

    #[test]
    fn reads_escape_slashes_and_cycle() {
        let requests = Requests::get(&["a/b+c=".into(), "d".into()]);
        let targets: Vec<String> = (0..3).map(|_| requests.next().target).collect();
        assert_eq!(
            targets,
            [
                "/transaction/a%2Fb+c=?isRaw=false",
                "/transaction/d?isRaw=false",
                "/transaction/a%2Fb+c=?isRaw=false"
            ]
        );
    }
}
