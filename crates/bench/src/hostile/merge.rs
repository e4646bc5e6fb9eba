//! Quadratic merge: a payload with 20,000 recipient boxes pushed, then the same transaction
//! with 20,000 other boxes, twice at once. A merge that looks each new box up in a list and
//! inserts it at the front does 400 million comparisons on an async worker meanwhile.

use std::fmt;
use std::time::{Duration, Instant};

use cloister_core::nacl::Nonce;
use cloister_core::payload::{EncodedPayload, RECIPIENT_BOX_LEN};
use serde_json::json;

use super::amplify::{crafted, push, random};
use super::watch::{Seen, Watch};
use super::{cost, Victim};

/// Boxes of each push.
pub const BOXES: usize = 20_000;

/// What the merge cost.
#[derive(Debug, Clone)]
pub struct Merge {
    /// Memory and `tm.ipc` latency during the pushes.
    pub seen: Seen,
    /// The statuses of the first push and of the two merging ones.
    pub statuses: [u16; 3],
    /// How long the two merging pushes took, together.
    pub merging: Duration,
    /// The status of a push with more boxes than recipients.
    pub extra_boxes: u16,
    /// Whether the node restarted on the same data and answered `/health` 200.
    pub restart_healthy: bool,
}

/// The same transaction as `payload` with `boxes` other recipients and boxes.
fn other_boxes(payload: &EncodedPayload, boxes: usize) -> EncodedPayload {
    let others = crafted(payload.sender_key, 1, boxes);
    EncodedPayload {
        recipient_boxes: others.recipient_boxes,
        recipient_keys: others.recipient_keys,
        ..payload.clone()
    }
}

/// Runs the attack with `boxes` boxes per push.
pub fn run(boxes: usize) -> anyhow::Result<Merge> {
    let mut victim = Victim::start(json!({}));
    let sender = cloister_core::keys::PublicKey::from_slice(&random(32), "key")?;
    let first = crafted(sender, 1024, boxes);
    let watch = Watch::start(victim.node.pid(), victim.dir.q2t());
    let stored = push(&victim, &first);
    let started = Instant::now();
    let [second, third] = std::thread::scope(|scope| {
        let a = scope.spawn(|| push(&victim, &other_boxes(&first, boxes)));
        let b = scope.spawn(|| push(&victim, &other_boxes(&first, boxes)));
        [a.join().unwrap_or(0), b.join().unwrap_or(0)]
    });
    let merging = started.elapsed();
    let seen = watch.finish();
    let mut too_many = crafted(sender, 64, 2);
    too_many.recipient_boxes.push(random(RECIPIENT_BOX_LEN));
    too_many.recipient_nonce = Nonce::from_slice(&random(24)).expect("24 bytes");
    let extra_boxes = push(&victim, &too_many);
    let restart_healthy = victim.restart_is_healthy();
    Ok(Merge {
        seen,
        statuses: [stored, second, third],
        merging,
        extra_boxes,
        restart_healthy,
    })
}

impl fmt::Display for Merge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{BOXES} boxes, then 2 x {BOXES} more at once: {:?}, merged in {} ms; more boxes than keys: {}; {}; restart healthy: {}",
            self.statuses,
            self.merging.as_millis(),
            self.extra_boxes,
            cost(&self.seen),
            self.restart_healthy
        )
    }
}
