//! GoQuorum-shaped clients on A's `tm.ipc`: each sends a private payload to B (`POST /send`)
//! and reads it back (`GET /transaction/{hash}`), back to back, as a Quorum node does for
//! every private transaction it makes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cloister_addr::Endpoint;
use cloister_core::b64;
use cloister_harness::http::{path_escape, Request};
use cloister_protocol::{path, GOQUORUM_PTM_TIMEOUT};
use serde_json::json;

use crate::party::Party;

/// Clients, each with one request in flight.
const CLIENTS: usize = 4;

/// What the clients saw so far.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// Requests made (sends and reads).
    pub requests: usize,
    /// Keys of acknowledged sends.
    pub acknowledged: Vec<String>,
    /// When each acknowledged send was acknowledged, in order.
    pub acknowledged_at: Vec<Instant>,
    /// Requests that failed (an error status, no answer, or an answer after GoQuorum's 5 s).
    pub errors: usize,
    /// The first few failures, for the summary.
    pub first_errors: Vec<String>,
}

/// The running totals a live line shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Requests made.
    pub requests: usize,
    /// Sends acknowledged.
    pub acknowledged: usize,
    /// Requests that failed.
    pub errors: usize,
}

/// The clients, running.
pub struct Load {
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    clients: Vec<JoinHandle<()>>,
}

impl Load {
    /// Starts the clients on `party`'s `tm.ipc`, sending to B.
    pub fn start(party: &Party) -> Self {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let clients = (0..CLIENTS)
            .map(|id| {
                let (target, to) = (party.tm_ipc(), party.peer.public_key.clone());
                let (seen, stop) = (seen.clone(), stop.clone());
                std::thread::spawn(move || client(id, &target, &to, &seen, &stop))
            })
            .collect();
        Self {
            seen,
            stop,
            clients,
        }
    }

    /// The totals so far (without copying every key the clients collected).
    pub fn counts(&self) -> Counts {
        let seen = lock(&self.seen);
        Counts {
            requests: seen.requests,
            acknowledged: seen.acknowledged.len(),
            errors: seen.errors,
        }
    }

    /// Stops the clients; what they saw.
    pub fn finish(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        for client in self.clients {
            let _ = client.join();
        }
        std::mem::take(&mut *lock(&self.seen))
    }
}

/// The tallies (consistent even if a client panicked: each change is one statement).
fn lock(seen: &Mutex<Seen>) -> MutexGuard<'_, Seen> {
    seen.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One client: send, read back, until stopped.
fn client(id: usize, target: &Endpoint, to: &str, seen: &Mutex<Seen>, stop: &AtomicBool) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let payload = b64::encode(format!("demo transaction {id}-{n}"));
        let send =
            Request::new("POST", path::SEND).json(&json!({ "payload": payload, "to": [to] }));
        let key = match call(&send, target, 201) {
            Ok(body) => body["key"].as_str().map(str::to_owned),
            Err(error) => {
                failed(seen, error);
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let Some(key) = key else { continue };
        {
            let mut seen = lock(seen);
            seen.requests += 1;
            seen.acknowledged.push(key.clone());
            seen.acknowledged_at.push(Instant::now());
        }
        let read = format!("/transaction/{}?isRaw=false", path_escape(&key));
        match call(&Request::new("GET", &read), target, 200) {
            Ok(_) => lock(seen).requests += 1,
            Err(error) => failed(seen, error),
        }
    }
}

/// One request: its JSON body when answered `expected` within GoQuorum's timeout.
fn call(
    request: &Request<'_>,
    target: &Endpoint,
    expected: u16,
) -> Result<serde_json::Value, String> {
    let started = Instant::now();
    let answer = request.try_send(target, None).map_err(|e| e.to_string())?;
    if started.elapsed() > GOQUORUM_PTM_TIMEOUT {
        return Err(format!("answered after {:?}", started.elapsed()));
    }
    if answer.status != expected {
        return Err(format!("{} {}", answer.status, answer.text()));
    }
    Ok(answer.json())
}

fn failed(seen: &Mutex<Seen>, error: String) {
    let mut seen = lock(seen);
    seen.requests += 1;
    seen.errors += 1;
    if seen.first_errors.len() < 5 {
        seen.first_errors.push(error);
    }
}
