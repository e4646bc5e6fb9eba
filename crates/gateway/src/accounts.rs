//! One account-scoped write at a time per account. The node picks the nonce of
//! `eth_sendTransaction` from its txpool under its own per-account lock; doing the same in the
//! gateway costs no throughput over that (the node serialises these calls anyway) and keeps
//! nonces consecutive where the node's lock is weaker (ganache hands out duplicates under
//! concurrency) and while an account moves to another node because its node left.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Per-account locks, created on demand and dropped when nobody holds or waits for them.
#[derive(Debug, Default)]
pub struct AccountLocks {
    locks: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

/// Holds an account's lock; releasing it forgets the account when no one else wants it.
pub struct AccountGuard<'a> {
    owner: &'a AccountLocks,
    account: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl AccountLocks {
    /// Waits for `account`'s turn.
    pub async fn lock(&self, account: &str) -> AccountGuard<'_> {
        let lock = self.map().entry(account.to_owned()).or_default().clone();
        AccountGuard {
            owner: self,
            account: account.to_owned(),
            guard: Some(lock.lock_owned().await),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<AsyncMutex<()>>>> {
        self.locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Accounts with a lock entry (for tests).
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether no account has a lock entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for AccountGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.owner.map();
        // Only the map holds it now: nobody is waiting, so forget the account.
        if map
            .get(&self.account)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            map.remove(&self.account);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    #[tokio::test]
    async fn one_holder_per_account_and_entries_are_forgotten() {
        let locks = AccountLocks::default();
        let first = locks.lock("0xa").await;
        let other = locks.lock("0xb").await;
        assert!(
            locks.lock("0xa").now_or_never().is_none(),
            "a second holder of 0xa got the lock"
        );
        drop(first);
        drop(other);
        assert!(locks.is_empty());
        let again = locks.lock("0xa").await;
        assert_eq!(locks.len(), 1);
        drop(again);
    }
}
