//! The store's health as `/health` reports it, checked at most once per [`HEALTH_TTL`] however
//! often it is asked: a check writes to the database (an empty write transaction proves the
//! store takes writes), and `/health` answers callers that may ask in a loop. Callers arriving
//! while a check runs wait for that one. A node that drains (see [`crate::Node::drain`])
//! reports itself unavailable whatever its store says.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloister_store::{Store, StoreHealth};
use tokio::sync::Mutex;

/// How long a health result is reused: short enough for a proxy checking every second to see
/// a failure at its next check, long enough that a flood of requests costs one check a second.
pub const HEALTH_TTL: Duration = Duration::from_secs(1);

/// The store's health, checked at most once per [`HEALTH_TTL`].
pub struct HealthCheck {
    store: Arc<dyn Store>,
    last: Mutex<Option<(Instant, StoreHealth)>>,
    draining: AtomicBool,
}

impl HealthCheck {
    /// Checks `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            last: Mutex::new(None),
            draining: AtomicBool::new(false),
        }
    }

    /// From now on the node reports itself draining: a proxy's next check takes it out.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether the node drains.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// A new result, not kept for `/health`: a background check must not leave a result that
    /// `/health` would then repeat for up to [`HEALTH_TTL`] after the store failed (callers of
    /// `/health` see the store as it is when they ask, or as another caller saw it just then).
    pub async fn check_now(&self) -> StoreHealth {
        self.store.health().await
    }

    /// The last result if it is fresh, else a new one.
    pub async fn current(&self) -> StoreHealth {
        let mut last = self.last.lock().await;
        if let Some((at, health)) = last.as_ref() {
            if at.elapsed() < HEALTH_TTL {
                return health.clone();
            }
        }
        let health = self.store.health().await;
        *last = Some((Instant::now(), health.clone()));
        health
    }
}
