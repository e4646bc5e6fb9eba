//! Header names, spelled as Tessera, GoQuorum and the RFCs document them. HTTP header names are
//! case-insensitive: compare them so (`http::HeaderName` lower-cases them on parsing).

/// `/sendraw`: the sender key (base64).
pub const C11N_FROM: &str = "c11n-from";
/// `/sendraw` and octet-stream `/sendsignedtx`: the recipient keys (comma-separated base64);
/// `/receiveraw`: the key to decrypt with.
pub const C11N_TO: &str = "c11n-to";
/// `/receiveraw`: the transaction hash (base64).
pub const C11N_KEY: &str = "c11n-key";
/// An octet-stream `/sendsignedtx` answer: the sender key, read by GoQuorum.
pub const TESSERA_SENDER: &str = "tesseraSender";
/// An octet-stream `/sendsignedtx` answer: the local recipients, read by GoQuorum.
pub const TESSERA_MANAGED_PARTIES: &str = "tesseraManagedParties";
/// Every P2P request: the API versions its sender supports (one value per version, or
/// comma-separated values), which decide the payload codec and the features a peer may use.
pub const SUPPORTED_API_VERSIONS: &str = "tesseraSupportedApiVersions";
/// Makes `/send`, `/sendraw` and `/sendsignedtx` exactly-once across replicas: `cloister proxy`
/// adds a fresh UUID to every write it forwards unless the client sent one, every retry of that
/// request carries the same value, and the node keeps the first outcome under it. A Cloister
/// extension; Tessera ignores it.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// RFC 7239: the proxy in front of a P2P app names the real caller with `for=`, so the node's
/// whitelist judges the caller and not the proxy.
pub const FORWARDED: &str = "Forwarded";
/// Correlates one request in the logs of `cloister proxy` and the node behind it: the proxy
/// relays a client's well-formed value or makes one, sends it upstream, and both log it. Only
/// a log field: nothing is decided on it. A common convention, not a Tessera header.
pub const REQUEST_ID: &str = "X-Request-Id";

/// The longest [`REQUEST_ID`] value kept; longer ones are replaced, which bounds what a client
/// can add to every log line of its request.
pub const MAX_REQUEST_ID_LENGTH: usize = 64;

/// Whether a client's [`REQUEST_ID`] value may be relayed and logged as it is: 1 to
/// [`MAX_REQUEST_ID_LENGTH`] visible ASCII characters (no spaces, quotes or control
/// characters, so it cannot forge or break a log line).
pub fn is_acceptable_request_id(value: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_LENGTH).contains(&value.len())
        && value
            .iter()
            .all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}
