//! A fault run: load through a front while what stands behind it fails a third of the way in,
//! from clients that give up on a call after a timeout and reconnect, as an application's HTTP
//! client does. The proxy and gateway benchmarks' fault parts both measure with it; each says
//! what fails (a replica, a node) and how to heal it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloister_addr::Endpoint;

use crate::client::{Answer, Connection};
use crate::load::Check;
use crate::scenario::Requests;

/// How what stands behind the front fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL: connections reset, the socket refuses.
    Kill,
    /// SIGSTOP: connections accepted (by the kernel) and never answered.
    Stop,
}

impl Fault {
    /// Every fault, in the order the reports list them.
    pub const ALL: [Fault; 2] = [Fault::Kill, Fault::Stop];

    /// The name in the reports.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "SIGKILL",
            Fault::Stop => "SIGSTOP",
        }
    }
}

/// How many failures a run keeps as examples.
const SAMPLES: usize = 3;

/// How much of a failed answer's body an example shows.
const SAMPLE_BODY_BYTES: usize = 160;

/// A refused connect fails at once: a client pauses this long after a failure, so a dead
/// front is not a busy loop.
const FAILURE_PAUSE: Duration = Duration::from_millis(10);

/// The load of one fault run.
#[derive(Debug, Clone)]
pub struct Load {
    /// Where the clients connect.
    pub endpoint: Endpoint,
    /// What they send, in turn.
    pub requests: Arc<Requests>,
    /// How many clients, each on its own keep-alive connection.
    pub concurrency: usize,
    /// The whole run; the fault comes a third of the way in.
    pub length: Duration,
    /// How long a client waits for one call before it gives up and reconnects.
    pub client_timeout: Duration,
    /// What makes an answer a success beyond its status.
    pub check: Check,
}

/// What the clients of one fault run saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// Calls attempted.
    pub requests: usize,
    /// Calls that failed or outlived the client's timeout.
    pub errors: usize,
    /// The slowest call, failed or not (capped by the client's timeout).
    pub worst: Duration,
    /// The first few failures.
    pub samples: Vec<String>,
}

impl Seen {
    fn absorb(&mut self, client: Seen) {
        self.requests += client.requests;
        self.errors += client.errors;
        self.worst = self.worst.max(client.worst);
        let room = SAMPLES.saturating_sub(self.samples.len());
        self.samples.extend(client.samples.into_iter().take(room));
    }

    fn fail(&mut self, failure: String) {
        self.errors += 1;
        if self.samples.len() < SAMPLES {
            self.samples.push(failure);
        }
    }
}

/// Runs `load` on `runtime`, calling `inject` a third of the way in.
pub fn run(
    runtime: &tokio::runtime::Runtime,
    load: &Load,
    inject: impl FnOnce(),
) -> anyhow::Result<Seen> {
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..load.concurrency.max(1))
        .map(|_| runtime.spawn(client(load.clone(), stop.clone())))
        .collect();
    std::thread::sleep(load.length / 3);
    inject();
    std::thread::sleep(load.length - load.length / 3);
    stop.store(true, Ordering::Relaxed);
    let mut seen = Seen::default();
    for client in clients {
        seen.absorb(runtime.block_on(client)?);
    }
    Ok(seen)
}

/// One client: a keep-alive connection, calls back to back until `stop`.
async fn client(load: Load, stop: Arc<AtomicBool>) -> Seen {
    let mut seen = Seen::default();
    let mut connection: Option<Connection> = None;
    while !stop.load(Ordering::Relaxed) {
        seen.requests += 1;
        let started = Instant::now();
        let call = load.requests.next();
        let result = tokio::time::timeout(load.client_timeout, async {
            let open = match connection.as_mut() {
                Some(open) => open,
                None => connection.insert(Connection::open(&load.endpoint).await?),
            };
            open.call(&call).await
        })
        .await;
        seen.worst = seen.worst.max(started.elapsed());
        // An answer, even a failed one, leaves the connection usable; anything else does not.
        if !matches!(result, Ok(Ok(_))) {
            connection = None;
        }
        let failure = match result {
            Ok(Ok(answer))
                if answer.status.is_success() && load.check.judge(&answer.body).is_ok() =>
            {
                None
            }
            Ok(Ok(answer)) => Some(describe(&answer)),
            Ok(Err(error)) => Some(format!("{error:#}")),
            Err(_) => Some(format!("no answer within {:?}", load.client_timeout)),
        };
        if let Some(failure) = failure {
            seen.fail(failure);
            tokio::time::sleep(FAILURE_PAUSE).await;
        }
    }
    seen
}

/// A failed answer on one line: its status and the start of its body (the balancers answer
/// with HTML pages).
fn describe(answer: &Answer) -> String {
    let body = &answer.body[..answer.body.len().min(SAMPLE_BODY_BYTES)];
    let text = String::from_utf8_lossy(body);
    format!(
        "{} {}",
        answer.status,
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_keeps_every_count_but_only_the_first_samples() {
        let client = |errors: usize| {
            let mut seen = Seen {
                requests: 10,
                worst: Duration::from_millis(errors as u64),
                ..Seen::default()
            };
            for i in 0..errors {
                seen.fail(format!("failure {i}"));
            }
            seen
        };
        let mut run = Seen::default();
        for errors in [2, 0, 5] {
            run.absorb(client(errors));
        }
        assert_eq!(run.requests, 30);
        assert_eq!(run.errors, 7);
        assert_eq!(run.worst, Duration::from_millis(5));
        assert_eq!(run.samples, ["failure 0", "failure 1", "failure 0"]);
    }
}
