//! The paths of Tessera's APIs (spec/tessera-api.md §3–§6) and Cloister's own.
//!
//! Route templates (`/transaction/{hash}`) use the `{name}` syntax that both axum's router and
//! OpenAPI read; prefixes (`/transaction/`) are what a proxy matches a raw request target with.

/// `GET /`: an empty 200, for load balancers.
pub const ROOT: &str = "/";
/// Liveness on every app: `200 I'm up!` ([`crate::UPCHECK_BODY`]).
pub const UPCHECK: &str = "/upcheck";
/// The distribution version, as text; also the prefix of `/version/api` and
/// `/version/distribution`.
pub const VERSION: &str = "/version";
/// The distribution version, as text.
pub const VERSION_DISTRIBUTION: &str = "/version/distribution";
/// The supported API versions, a JSON array of strings.
pub const VERSION_API: &str = "/version/api";
/// Cloister's readiness on every app and on the proxy: 200 when the replica can serve (its
/// store answers), 503 when it cannot. Tessera has no such path: checkers fall back to
/// [`UPCHECK`] where it answers 404.
pub const HEALTH: &str = "/health";
/// Prometheus metrics (node apps, the proxy's and the gateway's admin listeners).
pub const METRICS: &str = "/metrics";
/// The proxy's and the gateway's view of their upstreams, as JSON.
pub const STATUS: &str = "/status";
/// The OpenAPI document of a node app.
pub const API: &str = "/api";

// Q2T (GoQuorum's calls).

/// Encrypt, store and push a payload (JSON body).
pub const SEND: &str = "/send";
/// Encrypt, store and push a payload (raw body, `c11n-*` headers).
pub const SEND_RAW: &str = "/sendraw";
/// Push a stored raw payload to its recipients.
pub const SEND_SIGNED_TX: &str = "/sendsignedtx";
/// Store a payload sealed for its sender alone (Q2T and ThirdParty).
pub const STORE_RAW: &str = "/storeraw";
/// Legacy raw read (`c11n-key`, `c11n-to` headers).
pub const RECEIVE_RAW: &str = "/receiveraw";
/// Prefix of every call on one stored transaction.
pub const TRANSACTION_PREFIX: &str = "/transaction/";
/// Read (`GET`) or delete (`DELETE`) one stored transaction.
pub const TRANSACTION: &str = "/transaction/{hash}";
/// Whether this node sent the transaction.
pub const TRANSACTION_IS_SENDER: &str = "/transaction/{hash}/isSender";
/// The transaction's recipient keys.
pub const TRANSACTION_PARTICIPANTS: &str = "/transaction/{hash}/participants";
/// The transaction's mandatory recipients.
pub const TRANSACTION_MANDATORY: &str = "/transaction/{hash}/mandatory";
/// Legacy delete, the hash in a JSON body.
pub const DELETE: &str = "/delete";
/// Encrypt without storing.
pub const ENCODED_PAYLOAD_CREATE: &str = "/encodedpayload/create";
/// Decrypt a given encoded payload (a POST that only reads).
pub const ENCODED_PAYLOAD_DECRYPT: &str = "/encodedpayload/decrypt";
/// Prefix of the privacy-group listings.
pub const GROUPS_PREFIX: &str = "/groups/";
/// The privacy groups of one type (`/groups/resident` at GoQuorum's start).
pub const GROUPS: &str = "/groups/{type}";
/// Create and share a privacy group.
pub const CREATE_PRIVACY_GROUP: &str = "/createPrivacyGroup";
/// Groups with exactly these members (a POST that only reads).
pub const FIND_PRIVACY_GROUP: &str = "/findPrivacyGroup";
/// One group by id (a POST that only reads).
pub const RETRIEVE_PRIVACY_GROUP: &str = "/retrievePrivacyGroup";
/// Mark a group deleted and share that.
pub const DELETE_PRIVACY_GROUP: &str = "/deletePrivacyGroup";

// ThirdParty.

/// This node's public keys.
pub const KEYS: &str = "/keys";
/// Every key known in the network.
pub const PARTYINFO_KEYS: &str = "/partyinfo/keys";

// P2P (privacy manager to privacy manager).

/// Party info exchange: `GET` reads this node's view, `POST` merges the caller's.
pub const PARTYINFO: &str = "/partyinfo";
/// Key-ownership proof: decrypt a challenge and answer with its plaintext.
pub const PARTYINFO_VALIDATE: &str = "/partyinfo/validate";
/// Store a payload pushed by a peer (merges a duplicate, so idempotent).
pub const PUSH: &str = "/push";
/// Store several pushed payloads (recovery).
pub const PUSH_BATCH: &str = "/pushBatch";
/// Ask for payloads to be pushed again (`ALL`, `INDIVIDUAL`).
pub const RESEND: &str = "/resend";
/// Ask for every payload of a key, delivered with [`PUSH_BATCH`] (recovery).
pub const RESEND_BATCH: &str = "/resendBatch";
/// Store a privacy group shared by a peer.
pub const PUSH_PRIVACY_GROUP: &str = "/pushPrivacyGroup";

/// `path` relative to a base URL: without its leading `/`, so that joining it to a peer's URL
/// keeps the peer's own path prefix (`https://h:1/tessera/` + `push`).
pub fn relative(path: &str) -> &str {
    path.strip_prefix('/').unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_start_with_their_prefixes() {
        for template in [
            TRANSACTION,
            TRANSACTION_IS_SENDER,
            TRANSACTION_PARTICIPANTS,
            TRANSACTION_MANDATORY,
        ] {
            assert!(template.starts_with(TRANSACTION_PREFIX), "{template}");
        }
        assert!(GROUPS.starts_with(GROUPS_PREFIX));
        for under in [VERSION_API, VERSION_DISTRIBUTION] {
            assert!(under.starts_with(VERSION), "{under}");
        }
        assert!(PARTYINFO_VALIDATE.starts_with(PARTYINFO));
        assert_eq!(relative(PUSH), "push");
    }
}
