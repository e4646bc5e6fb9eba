//! JSON-RPC 2.0 as Ethereum nodes speak it: the protocol facts the gateway relies on (method
//! names, error codes, the headers it forwards) in one place, the envelope it reads from each
//! call, and the error objects it writes itself.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// JSON-RPC error codes (JSON-RPC 2.0 §5.1 and geth's server errors).
pub mod codes {
    /// The body is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// JSON, but not a request object (or an empty or oversized batch).
    pub const INVALID_REQUEST: i64 = -32600;
    /// The gateway could not get an answer: no node available, timeout, transport failure.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// geth's generic server error, which it uses for "filter not found".
    pub const SERVER_ERROR: i64 = -32000;
}

/// geth's message for a filter id it does not know (`eth/filters/api.go`, code -32000).
pub const FILTER_NOT_FOUND: &str = "filter not found";

/// The block tag whose transaction count comes from the node's own txpool.
pub const PENDING_TAG: &str = "pending";

/// Request headers forwarded to the upstream besides the body's content type: credentials and
/// GoQuorum's private state identifier for multi-tenancy.
pub const FORWARDED_HEADERS: [&str; 2] = ["authorization", "quorum-psi"];

/// WebSocket close codes the gateway sends (RFC 6455 §7.4 and the IANA registry), with a reason
/// that says what happened.
pub mod close {
    /// The connection's upstream closed or became unhealthy: "Service Restart", which clients
    /// treat as "reconnect"; a new connection is pinned to a healthy node, where the client
    /// subscribes again (subscriptions live in one node's memory and cannot move).
    pub const UPSTREAM_LOST: u16 = 1012;
    /// No healthy upstream accepted a WebSocket connection: "Try Again Later".
    pub const NO_UPSTREAM: u16 = 1013;
    /// The gateway is shutting down: "Going Away".
    pub const GOING_AWAY: u16 = 1001;
    /// A close frame's payload is at most 125 bytes, two of them the code.
    pub const MAX_REASON_BYTES: usize = 123;
}

/// Method names the gateway treats specially.
pub mod methods {
    /// Head block number (health probe).
    pub const BLOCK_NUMBER: &str = "eth_blockNumber";
    /// Sync status (health probe).
    pub const SYNCING: &str = "eth_syncing";
    /// Peer count (health probe).
    pub const PEER_COUNT: &str = "net_peerCount";
    /// Account nonce; with the `pending` tag it is per-node txpool state.
    pub const GET_TRANSACTION_COUNT: &str = "eth_getTransactionCount";

    /// Methods that create a filter on the node that receives them.
    pub const NEW_FILTER: [&str; 3] = [
        "eth_newFilter",
        "eth_newBlockFilter",
        "eth_newPendingTransactionFilter",
    ];
    /// Methods whose first parameter is a filter id.
    pub const FILTER_CALLS: [&str; 3] = [
        "eth_getFilterChanges",
        "eth_getFilterLogs",
        "eth_uninstallFilter",
    ];
    /// Removing a filter: answers `false` (not an error) for an unknown id.
    pub const UNINSTALL_FILTER: &str = "eth_uninstallFilter";

    /// Account-scoped methods whose first parameter is a transaction object with `from`
    /// (GoQuorum's private variants are the same methods with `privateFor` in the object).
    pub const TX_FROM_FIRST: [&str; 6] = [
        "eth_sendTransaction",
        "eth_sendTransactionAsync",
        "eth_signTransaction",
        "eth_fillTransaction",
        "personal_sendTransaction",
        "personal_signTransaction",
    ];
    /// Account-scoped methods whose first parameter is the account address.
    pub const ADDRESS_FIRST: [&str; 4] = [
        "eth_sign",
        "eth_signTypedData",
        "personal_unlockAccount",
        "personal_lockAccount",
    ];
    /// Account-scoped methods whose second parameter is the account address.
    pub const ADDRESS_SECOND: [&str; 1] = ["personal_sign"];

    /// Methods that send a transaction and call the privacy manager when their transaction
    /// object (the first parameter) has a `privateFor` member (goquorum-client.md §3).
    pub const SEND_WITH_PRIVATE_FOR: [&str; 4] = [
        "eth_sendTransaction",
        "eth_sendTransactionAsync",
        "eth_fillTransaction",
        "personal_sendTransaction",
    ];
    /// The transaction member that makes a transaction private: any non-null value, `[]`
    /// included (GoQuorum's `PrivateTxArgs`).
    pub const PRIVATE_FOR: &str = "privateFor";
    /// Methods that always call the node's privacy manager (goquorum-client.md §3).
    pub const PRIVATE: [&str; 8] = [
        "eth_sendRawPrivateTransaction",
        "eth_distributePrivateTransaction",
        "eth_getQuorumPayload",
        "eth_getQuorumPayloadExtra",
        "eth_decryptQuorumPayload",
        "eth_getContractPrivacyMetadata",
        "eth_getPrivateTransactionByHash",
        "eth_getPrivateTransactionReceipt",
    ];
    /// Name prefixes of method families that call the privacy manager (contract extension).
    pub const PRIVATE_PREFIXES: [&str; 1] = ["quorumExtension_"];

    /// Methods that only read, so a failed attempt may be repeated on another node. Everything
    /// not listed here (or under [`READ_PREFIXES`]) is treated as a write and sent once.
    pub const READS: [&str; 22] = [
        "eth_blockNumber",
        "eth_call",
        "eth_chainId",
        "eth_estimateGas",
        "eth_gasPrice",
        "eth_maxPriorityFeePerGas",
        "eth_feeHistory",
        "eth_syncing",
        "eth_accounts",
        "eth_mining",
        "eth_hashrate",
        "eth_coinbase",
        "eth_protocolVersion",
        "eth_createAccessList",
        "net_version",
        "net_listening",
        "net_peerCount",
        "web3_clientVersion",
        "web3_sha3",
        "personal_listAccounts",
        "personal_ecRecover",
        "quorumPermission_nodeList",
    ];
    /// Name prefixes of read-only method families (`eth_getBalance`, `eth_getLogs`,
    /// `eth_getQuorumPayload`, `eth_getPSI`, ...); filter calls are matched before these.
    pub const READ_PREFIXES: [&str; 1] = ["eth_get"];
}

/// The members of one call the gateway looks at; everything else passes through untouched.
#[derive(Debug, Deserialize)]
pub struct Call<'a> {
    /// The id, verbatim (absent or null for notifications).
    #[serde(borrow, default)]
    pub id: Option<&'a RawValue>,
    /// The method name.
    #[serde(borrow, default)]
    pub method: Option<Cow<'a, str>>,
    /// The parameters, verbatim.
    #[serde(borrow, default)]
    pub params: Option<&'a RawValue>,
}

impl<'a> Call<'a> {
    /// Reads a call's envelope, or says which JSON-RPC error it deserves.
    pub fn parse(body: &'a [u8]) -> Result<Self, (i64, &'static str)> {
        match serde_json::from_slice::<Call<'a>>(body) {
            Ok(call) if call.method.is_some() => Ok(call),
            Ok(_) => Err((codes::INVALID_REQUEST, "invalid request: no method")),
            Err(error) if error.is_syntax() || error.is_eof() => {
                Err((codes::PARSE_ERROR, "parse error"))
            }
            Err(_) => Err((codes::INVALID_REQUEST, "invalid request: not a call object")),
        }
    }

    /// The method name.
    pub fn method(&self) -> &str {
        self.method.as_deref().unwrap_or_default()
    }

    /// The parameters as a JSON array (empty when absent or not an array).
    pub fn params_array(&self) -> Vec<serde_json::Value> {
        self.params
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or_default()
    }
}

/// A JSON-RPC error object answering the call with `id` (null when unknown).
pub fn error_body(id: Option<&RawValue>, code: i64, message: &str) -> Vec<u8> {
    let id = id.map_or("null", RawValue::get);
    let message = serde_json::Value::from(message);
    format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":{code},"message":{message}}}}}"#)
        .into_bytes()
}

/// A JSON-RPC success object answering the call with `id`.
pub fn result_body(id: Option<&RawValue>, result: &serde_json::Value) -> Vec<u8> {
    let id = id.map_or("null", RawValue::get);
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#).into_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parse_keeps_id_and_params_verbatim() {
        let call = Call::parse(br#"{"id": "a\u0062" ,"method":"m","params":[1, 2]}"#).unwrap();
        assert_eq!(call.id.unwrap().get(), r#""a\u0062""#);
        assert_eq!(call.params.unwrap().get(), "[1, 2]");
        assert_eq!(call.method(), "m");
    }

    #[test]
    fn parse_errors_are_classified() {
        assert_eq!(Call::parse(b"{").unwrap_err().0, codes::PARSE_ERROR);
        assert_eq!(Call::parse(b"{}").unwrap_err().0, codes::INVALID_REQUEST);
        assert_eq!(Call::parse(b"3").unwrap_err().0, codes::INVALID_REQUEST);
    }

    #[test]
    fn error_body_is_valid_json_with_the_original_id() {
        let id = RawValue::from_string("7".into()).unwrap();
        let body = error_body(Some(&id), codes::INTERNAL_ERROR, "no \"node\"");
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["id"], 7);
        assert_eq!(value["error"]["message"], "no \"node\"");
        assert_eq!(value["error"]["code"], codes::INTERNAL_ERROR);
    }
}
