//! Protocol facts the proxy depends on, in one place: header names, the paths of the Tessera
//! APIs it classifies, and the health-check paths of `cloister node` and Tessera.

/// The header carrying the key that makes a retried write exactly-once on the node side: the
/// proxy adds a fresh UUID v4 to every write it forwards unless the client sent one, and every
/// retry of that client request carries the same value.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// RFC 7239's header; the proxy appends `for=<caller>` so replicas can apply the P2P whitelist
/// to the caller's real address.
pub const FORWARDED: &str = "forwarded";

/// Hop-by-hop headers (RFC 9110 §7.6.1) that apply to one connection and are never forwarded.
/// `Transfer-Encoding` and `Content-Length` are handled apart ([`crate::http1`]): the proxy
/// buffers bodies and re-frames them.
pub const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
];

/// The `Host` GoQuorum's unix-socket transport puts on every Q2T request; health checks send
/// it too, so a replica sees them as it sees GoQuorum.
pub const GOQUORUM_HOST: &str = "c";

/// `cloister node`'s health endpoint on every app: 200 when its store answers, 503 otherwise.
pub const HEALTH_PATH: &str = "/health";

/// Tessera's liveness endpoint (`200 I'm up!`), used when an upstream has no `/health` (404).
pub const UPCHECK_PATH: &str = "/upcheck";

/// Paths of the Tessera APIs, as the retry policy matches them.
pub mod paths {
    /// Q2T and P2P liveness.
    pub const UPCHECK: &str = "/upcheck";
    /// Distribution version (`/version`) and the API versions (`/version/api`).
    pub const VERSION: &str = "/version";
    /// Encrypt, store and push a payload (JSON body).
    pub const SEND: &str = "/send";
    /// Encrypt, store and push a payload (raw body, `c11n-*` headers).
    pub const SEND_RAW: &str = "/sendraw";
    /// Re-wrap a stored raw payload, store and push it.
    pub const SEND_SIGNED_TX: &str = "/sendsignedtx";
    /// Store a raw (not yet signed) payload under a fresh hash.
    pub const STORE_RAW: &str = "/storeraw";
    /// Encrypt without storing.
    pub const ENCODED_PAYLOAD_CREATE: &str = "/encodedpayload/create";
    /// Decrypt a given encoded payload (a POST that only reads).
    pub const ENCODED_PAYLOAD_DECRYPT: &str = "/encodedpayload/decrypt";
    /// Prefix of `GET /transaction/{hash}[/isSender|/participants|/mandatory]` and
    /// `DELETE /transaction/{hash}`.
    pub const TRANSACTION_PREFIX: &str = "/transaction/";
    /// Prefix of `GET /groups/{type}` (`/groups/resident` at start-up).
    pub const GROUPS_PREFIX: &str = "/groups/";
    /// Legacy raw receive.
    pub const RECEIVE_RAW: &str = "/receiveraw";
    /// Legacy delete by body.
    pub const DELETE: &str = "/delete";
    /// Privacy-group lookups (POSTs that only read).
    pub const FIND_PRIVACY_GROUP: &str = "/findPrivacyGroup";
    /// Privacy-group lookup by id.
    pub const RETRIEVE_PRIVACY_GROUP: &str = "/retrievePrivacyGroup";
    /// Known keys (ThirdParty and Q2T).
    pub const PARTYINFO_KEYS: &str = "/partyinfo/keys";
    /// A node's own keys (ThirdParty).
    pub const KEYS: &str = "/keys";
    /// P2P: store a payload pushed by a peer (merges a duplicate, so idempotent).
    pub const PUSH: &str = "/push";
    /// P2P: store several pushed payloads.
    pub const PUSH_BATCH: &str = "/pushBatch";
    /// P2P: ask for payloads to be pushed again.
    pub const RESEND: &str = "/resend";
    /// P2P: a batch of resent payloads.
    pub const RESEND_BATCH: &str = "/resendBatch";
    /// P2P: a privacy group pushed by a peer.
    pub const PUSH_PRIVACY_GROUP: &str = "/pushPrivacyGroup";
    /// P2P: party info exchange (`GET` reads, `POST` merges the sender's view).
    pub const PARTYINFO: &str = "/partyinfo";
}
