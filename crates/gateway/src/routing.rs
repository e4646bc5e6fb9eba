//! Where a call may go: its kind (read, write, account-scoped, filter) from the method and
//! parameters, and the ordered list of upstreams to try under the routing mode.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::health::Need;
use crate::rpc::{methods, Call, PENDING_TAG};
use crate::settings::Mode;

/// What kind of call this is, which decides where it goes and whether it may be repeated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Reads chain state: any healthy node, repeated on another after a failure.
    Read,
    /// Anything else: any healthy node, sent at most once.
    Write,
    /// Uses one account's node-local state (nonce, unlock, signing): pinned to the account's
    /// node. `repeatable` for reads of it (`eth_getTransactionCount(.., "pending")`).
    Account {
        /// The lower-cased account address.
        account: String,
        /// Whether a failed attempt may be repeated on the next node.
        repeatable: bool,
    },
    /// Creates a filter: any healthy node; its id is rewritten to name that node.
    NewFilter,
    /// Uses a filter: goes to the node named by the filter id.
    FilterCall,
}

impl Kind {
    /// Whether a failed attempt may be repeated on another node.
    pub fn repeatable(&self) -> bool {
        match self {
            Self::Read | Self::NewFilter => true,
            Self::Account { repeatable, .. } => *repeatable,
            Self::Write | Self::FilterCall => false,
        }
    }
}

/// Classifies a call.
pub fn classify(call: &Call<'_>) -> Kind {
    let method = call.method();
    if methods::FILTER_CALLS.contains(&method) {
        return Kind::FilterCall;
    }
    if methods::NEW_FILTER.contains(&method) {
        return Kind::NewFilter;
    }
    let account = |position: usize, in_tx: bool| {
        let params = call.params_array();
        let value = params.get(position)?;
        let address = if in_tx { value.get("from")? } else { value };
        address.as_str().map(str::to_ascii_lowercase)
    };
    let pinned = if methods::TX_FROM_FIRST.contains(&method) {
        account(0, true)
    } else if methods::ADDRESS_FIRST.contains(&method) {
        account(0, false)
    } else if methods::ADDRESS_SECOND.contains(&method) {
        account(1, false)
    } else if method == methods::GET_TRANSACTION_COUNT {
        let params = call.params_array();
        if params.get(1).and_then(Value::as_str) == Some(PENDING_TAG) {
            return account(0, false).map_or(Kind::Read, |account| Kind::Account {
                account,
                repeatable: true,
            });
        }
        return Kind::Read;
    } else {
        None
    };
    if let Some(account) = pinned {
        return Kind::Account {
            account,
            repeatable: false,
        };
    }
    if methods::READS.contains(&method)
        || methods::READ_PREFIXES.iter().any(|p| method.starts_with(p))
    {
        Kind::Read
    } else {
        Kind::Write
    }
}

/// Whether the call reaches the node's privacy manager: a call that always does, or a send whose
/// transaction carries `privateFor`.
pub fn is_private(call: &Call<'_>) -> bool {
    let method = call.method();
    if methods::PRIVATE.contains(&method)
        || methods::PRIVATE_PREFIXES
            .iter()
            .any(|p| method.starts_with(p))
    {
        return true;
    }
    methods::SEND_WITH_PRIVATE_FOR.contains(&method)
        && call
            .params_array()
            .first()
            .and_then(|tx| tx.get(methods::PRIVATE_FOR))
            .is_some_and(|v| !v.is_null())
}

/// Which upstreams a call of `kind` may use ([`Need`]): private calls need a working privacy
/// path; other account-scoped calls go where the account's private calls go.
pub fn need(call: &Call<'_>, kind: &Kind) -> Need {
    if is_private(call) {
        Need::Privacy
    } else if matches!(kind, Kind::Account { .. }) {
        Need::PrivacyIfAny
    } else {
        Need::Chain
    }
}

/// Orders healthy upstreams for each call.
#[derive(Debug)]
pub struct Routing {
    mode: Mode,
    names: Vec<String>,
    next: AtomicUsize,
}

impl Routing {
    /// Routing over upstreams with these names (hashed for account pinning, so every gateway
    /// configured with the same names pins an account to the same node).
    pub fn new(mode: Mode, names: Vec<String>) -> Self {
        Self {
            mode,
            names,
            next: AtomicUsize::new(0),
        }
    }

    /// The upstreams to try for a call of `kind`, best first, from the `healthy` ones.
    pub fn order(&self, kind: &Kind, mut healthy: Vec<usize>) -> Vec<usize> {
        if healthy.len() <= 1 {
            return healthy;
        }
        match (self.mode, kind) {
            (Mode::PrimaryBackup, _) => healthy,
            (Mode::Balanced, Kind::Account { account, .. }) => {
                // Rendezvous hashing: when a node leaves, only its accounts move.
                healthy.sort_by_key(|&i| std::cmp::Reverse(self.score(account, i)));
                healthy
            }
            (Mode::Balanced, _) => {
                let start = self.next.fetch_add(1, Ordering::Relaxed) % healthy.len();
                healthy.rotate_left(start);
                healthy
            }
        }
    }

    fn score(&self, account: &str, index: usize) -> u64 {
        let mut hasher = Sha256::new();
        hasher.update(account.as_bytes());
        hasher.update([0]);
        hasher.update(self.names.get(index).map_or(&[][..], |n| n.as_bytes()));
        let digest = hasher.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn kind(body: &str) -> Kind {
        classify(&Call::parse(body.as_bytes()).unwrap())
    }

    #[test]
    fn calls_are_classified_by_method_and_parameters() {
        assert_eq!(kind(r#"{"method":"eth_blockNumber"}"#), Kind::Read);
        assert_eq!(
            kind(r#"{"method":"eth_getBalance","params":["0x1"]}"#),
            Kind::Read
        );
        assert_eq!(kind(r#"{"method":"eth_sendRawTransaction"}"#), Kind::Write);
        assert_eq!(kind(r#"{"method":"evm_mine"}"#), Kind::Write);
        assert_eq!(
            kind(r#"{"method":"eth_getFilterChanges","params":["0x1"]}"#),
            Kind::FilterCall
        );
        assert_eq!(kind(r#"{"method":"eth_newBlockFilter"}"#), Kind::NewFilter);
        let pinned = |repeatable| Kind::Account {
            account: "0xabc".into(),
            repeatable,
        };
        assert_eq!(
            kind(
                r#"{"method":"eth_sendTransaction","params":[{"from":"0xABC","privateFor":["k"]}]}"#
            ),
            pinned(false)
        );
        assert_eq!(
            kind(r#"{"method":"personal_sign","params":["0x00","0xAbc","pw"]}"#),
            pinned(false)
        );
        assert_eq!(
            kind(r#"{"method":"personal_unlockAccount","params":["0xabc","pw",0]}"#),
            pinned(false)
        );
        assert_eq!(
            kind(r#"{"method":"eth_getTransactionCount","params":["0xABC","pending"]}"#),
            pinned(true)
        );
        assert_eq!(
            kind(r#"{"method":"eth_getTransactionCount","params":["0xABC","latest"]}"#),
            Kind::Read
        );
        // No `from`: nothing to pin by, and still never repeated.
        assert_eq!(
            kind(r#"{"method":"eth_sendTransaction","params":[{}]}"#),
            Kind::Write
        );
    }

    #[test]
    fn private_calls_are_told_by_method_and_privatefor() {
        let need_of = |body: &str| {
            let call = Call::parse(body.as_bytes()).unwrap();
            need(&call, &classify(&call))
        };
        let private = [
            r#"{"method":"eth_sendTransaction","params":[{"from":"0xa","privateFor":["k"]}]}"#,
            r#"{"method":"eth_sendTransactionAsync","params":[{"from":"0xa","privateFor":[]}]}"#,
            r#"{"method":"eth_fillTransaction","params":[{"privateFor":["k"]}]}"#,
            r#"{"method":"eth_sendRawPrivateTransaction","params":["0x00",{"privateFor":["k"]}]}"#,
            r#"{"method":"eth_getQuorumPayload","params":["0x00"]}"#,
            r#"{"method":"quorumExtension_extendContract","params":[]}"#,
        ];
        for body in private {
            assert_eq!(need_of(body), Need::Privacy, "{body}");
        }
        let account = [
            r#"{"method":"eth_sendTransaction","params":[{"from":"0xa"}]}"#,
            r#"{"method":"eth_sendTransaction","params":[{"from":"0xa","privateFor":null}]}"#,
            r#"{"method":"eth_getTransactionCount","params":["0xa","pending"]}"#,
            r#"{"method":"eth_signTransaction","params":[{"from":"0xa","privateFor":["k"]}]}"#,
        ];
        for body in account {
            assert_eq!(need_of(body), Need::PrivacyIfAny, "{body}");
        }
        let chain = [
            r#"{"method":"eth_blockNumber"}"#,
            r#"{"method":"eth_sendRawTransaction","params":["0x00"]}"#,
            r#"{"method":"eth_call","params":[{"privateFor":["k"]},"latest"]}"#,
        ];
        for body in chain {
            assert_eq!(need_of(body), Need::Chain, "{body}");
        }
    }

    #[test]
    fn accounts_stay_put_and_only_a_leaving_nodes_accounts_move() {
        let routing = Routing::new(Mode::Balanced, vec!["a".into(), "b".into(), "c".into()]);
        let account = |n: u32| Kind::Account {
            account: format!("0x{n:040x}"),
            repeatable: false,
        };
        let mut per_node = [0; 3];
        for n in 0..300 {
            let first = routing.order(&account(n), vec![0, 1, 2])[0];
            assert_eq!(first, routing.order(&account(n), vec![0, 1, 2])[0]);
            per_node[first] += 1;
            let without_c = routing.order(&account(n), vec![0, 1])[0];
            if first != 2 {
                assert_eq!(
                    without_c, first,
                    "account {n} moved although its node stayed"
                );
            }
        }
        assert!(per_node.iter().all(|&c| c > 50), "{per_node:?}");
    }

    #[test]
    fn balanced_rotates_and_primary_backup_keeps_order() {
        let balanced = Routing::new(Mode::Balanced, vec!["a".into(), "b".into()]);
        let firsts: Vec<usize> = (0..4)
            .map(|_| balanced.order(&Kind::Read, vec![0, 1])[0])
            .collect();
        assert_eq!(firsts, [0, 1, 0, 1]);
        let primary = Routing::new(Mode::PrimaryBackup, vec!["a".into(), "b".into()]);
        assert_eq!(primary.order(&Kind::Read, vec![0, 1]), [0, 1]);
        assert_eq!(primary.order(&Kind::Read, vec![1]), [1]);
    }
}
