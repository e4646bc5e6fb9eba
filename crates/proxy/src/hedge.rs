//! Hedged requests: when the replica a request went to has not answered after a delay derived
//! from the latencies the proxy has seen on that route, the same request goes to another
//! admitted replica too, and the first acceptable answer wins (the other attempt is dropped,
//! its connection closed).
//!
//! Only requests whose repeat is harmless are hedged: reads, and keyed writes (`/send`,
//! `/sendraw`, `/sendsignedtx` carry an idempotency key, client's or proxy's, so a replica that
//! sees a key already committed by its twin answers with the first outcome instead of storing
//! a second transaction). A replica that hangs (SIGSTOP, a stuck disk) then costs a request one
//! hedge delay, not the per-try timeout.
//!
//! Two bounds keep hedging cheap:
//! - [`Estimator`]: the delay is the observed `percentile` (99th by default) of the route's
//!   recent latencies, clamped to `[minDelay, maxDelay]`, so in steady state about one request
//!   in a hundred is hedged at most;
//! - [`Budget`]: a token bucket that earns `budgetPercent` of a token per hedgeable request and
//!   holds at most `burst` tokens; a hedge spends one. Over any interval the hedges number at
//!   most `burst` plus `budgetPercent` % of the requests, so a cluster that is slow everywhere
//!   is not sent twice the load.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::policy::Kind;

/// `hedge`: when and how much to hedge (docs/proxy.md, "Hedging").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HedgeSettings {
    /// `enabled`: hedge at all.
    pub enabled: bool,
    /// `minDelayMs`: the shortest delay, whatever the observed latencies (a floor that keeps
    /// sub-millisecond noise from being hedged).
    pub min_delay: Duration,
    /// `maxDelayMs`: the longest delay, and the delay until the route has observations: what a
    /// hung replica costs a request at most before its hedge starts.
    pub max_delay: Duration,
    /// `percentile`: which percentile of the route's recent latencies is the delay (0–100).
    pub percentile: f64,
    /// `budgetPercent`: hedges allowed per 100 hedgeable requests, in the long run.
    pub budget_percent: f64,
    /// `burst`: hedges allowed at once beyond the rate (and the bucket's initial content): what
    /// lets the first moments of a hang be hedged before the replica is ejected.
    pub burst: u32,
}

impl Default for HedgeSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            min_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(100),
            percentile: 99.0,
            budget_percent: 5.0,
            burst: 20,
        }
    }
}

impl HedgeSettings {
    /// Why the settings are unusable, if they are.
    pub fn check(&self) -> Result<(), String> {
        if self.min_delay.is_zero() || self.min_delay > self.max_delay {
            return Err("hedge.minDelayMs must be above 0 and at most hedge.maxDelayMs".into());
        }
        if !(self.percentile > 0.0 && self.percentile < 100.0) {
            return Err("hedge.percentile must be above 0 and below 100".into());
        }
        if !(0.0..=100.0).contains(&self.budget_percent) {
            return Err("hedge.budgetPercent must be between 0 and 100".into());
        }
        Ok(())
    }
}

/// Whether a request of `kind` may be hedged: a repeat of it on another replica is harmless.
pub fn hedgeable(kind: Kind) -> bool {
    matches!(kind, Kind::Read | Kind::KeyedWrite)
}

/// Buckets of the latency histogram: bucket `i` holds latencies up to
/// `FIRST_BOUND · 2^(i/4)`, from 50 µs to about 3.3 s.
const BUCKETS: usize = 64;
const FIRST_BOUND_NANOS: f64 = 50_000.0;
/// Observations between two halvings of every count: the estimate follows roughly the last
/// few thousand requests of the route, so it moves with the load.
const DECAY_EVERY: u64 = 2048;
/// Observations between two recomputations of the delay (a scan of the buckets).
const REFRESH_EVERY: u64 = 32;

fn bound_nanos(bucket: usize) -> f64 {
    FIRST_BOUND_NANOS * 2f64.powf(bucket as f64 / 4.0)
}

fn bucket_of(latency: Duration) -> usize {
    let nanos = latency.as_nanos() as f64;
    if nanos <= FIRST_BOUND_NANOS {
        return 0;
    }
    let index = (4.0 * (nanos / FIRST_BOUND_NANOS).log2()).ceil();
    (index as usize).min(BUCKETS - 1)
}

/// One route's recent latencies, as a decaying log-scale histogram shared by every worker
/// thread (relaxed atomics: an estimate, not an account), and the delay derived from them.
pub struct Estimator {
    counts: [AtomicU32; BUCKETS],
    observed: AtomicU64,
    /// The current delay in nanoseconds.
    delay: AtomicU64,
    quantile: f64,
    min: Duration,
    max: Duration,
}

impl Estimator {
    /// An estimator with no observations: its delay is `max` until it has some.
    pub fn new(settings: &HedgeSettings) -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU32::new(0)),
            observed: AtomicU64::new(0),
            delay: AtomicU64::new(nanos(settings.max_delay)),
            quantile: settings.percentile / 100.0,
            min: settings.min_delay,
            max: settings.max_delay,
        }
    }

    /// How long to wait for the first replica before hedging.
    pub fn delay(&self) -> Duration {
        Duration::from_nanos(self.delay.load(Ordering::Relaxed))
    }

    /// Records how long a request waited for its answer.
    pub fn observe(&self, latency: Duration) {
        self.counts[bucket_of(latency)].fetch_add(1, Ordering::Relaxed);
        let n = self.observed.fetch_add(1, Ordering::Relaxed) + 1;
        if n % DECAY_EVERY == 0 {
            for count in &self.counts {
                let _ = count.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| Some(c / 2));
            }
        }
        if n % REFRESH_EVERY == 0 {
            self.delay.store(nanos(self.estimate()), Ordering::Relaxed);
        }
    }

    /// The quantile's bucket bound, clamped.
    fn estimate(&self) -> Duration {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| u64::from(c.load(Ordering::Relaxed)))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return self.max;
        }
        // The smallest bucket at or below which at least `quantile` of the observations lie.
        let wanted = (self.quantile * total as f64).ceil() as u64;
        let mut seen = 0;
        let mut bucket = BUCKETS - 1;
        for (i, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= wanted {
                bucket = i;
                break;
            }
        }
        Duration::from_nanos(bound_nanos(bucket) as u64).clamp(self.min, self.max)
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Thousandths of a token.
const TOKEN: i64 = 1000;

/// The hedge budget: a token bucket filled by requests, emptied by hedges.
pub struct Budget {
    /// In thousandths of a token.
    balance: AtomicI64,
    /// What one request earns, in thousandths of a token.
    earn: i64,
    /// The most the bucket holds, in thousandths.
    capacity: i64,
}

impl Budget {
    /// A full bucket.
    pub fn new(settings: &HedgeSettings) -> Self {
        let capacity = i64::from(settings.burst) * TOKEN;
        Self {
            balance: AtomicI64::new(capacity),
            earn: (settings.budget_percent * TOKEN as f64 / 100.0).round() as i64,
            capacity,
        }
    }

    /// One hedgeable request arrived.
    pub fn earn(&self) {
        let capacity = self.capacity;
        let earn = self.earn;
        let _ = self
            .balance
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                (b < capacity).then(|| (b + earn).min(capacity))
            });
    }

    /// Takes a token for one hedge; false when the budget is spent.
    pub fn spend(&self) -> bool {
        self.balance
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                (b >= TOKEN).then_some(b - TOKEN)
            })
            .is_ok()
    }

    /// Whole tokens left.
    pub fn tokens(&self) -> f64 {
        self.balance.load(Ordering::Relaxed) as f64 / TOKEN as f64
    }
}

/// How a hedge ended, a label in metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The hedge's answer was the one relayed.
    Won,
    /// The first replica's answer came first (or the hedge failed).
    Lost,
    /// The delay passed but the budget was spent: no hedge.
    Denied,
}

impl Outcome {
    /// Every outcome, for metrics that start at 0.
    pub const ALL: [Self; 3] = [Self::Won, Self::Lost, Self::Denied];

    /// The name in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Won => "won",
            Self::Lost => "lost",
            Self::Denied => "denied",
        }
    }
}

/// One listener's hedging: its settings, budget, and one estimator per route.
pub struct Hedging {
    settings: HedgeSettings,
    budget: Budget,
    estimators: HashMap<&'static str, Estimator>,
    counts: [AtomicU64; 3],
}

impl Hedging {
    /// Hedging for a listener whose routes are named `routes`.
    pub fn new(settings: HedgeSettings, routes: impl IntoIterator<Item = &'static str>) -> Self {
        Self {
            settings,
            budget: Budget::new(&settings),
            estimators: routes
                .into_iter()
                .map(|name| (name, Estimator::new(&settings)))
                .collect(),
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// The estimator of route `name`, if it may be hedged.
    pub fn estimator(&self, name: &str) -> Option<&Estimator> {
        self.estimators.get(name)
    }

    /// The budget.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Counts a hedge's outcome (also in `/status`).
    pub fn count(&self, outcome: Outcome) {
        self.counts[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Its state for `/status`.
    pub fn status(&self) -> serde_json::Value {
        // Only the routes that have been seen; a JSON object keeps its keys sorted.
        let delays: serde_json::Map<String, serde_json::Value> = self
            .estimators
            .iter()
            .filter(|(_, e)| e.observed.load(Ordering::Relaxed) > 0)
            .map(|(name, e)| {
                let ms = e.delay().as_secs_f64() * 1000.0;
                ((*name).to_owned(), serde_json::Value::from(ms))
            })
            .collect();
        let count = |o: Outcome| self.counts[o as usize].load(Ordering::Relaxed);
        serde_json::json!({
            "enabled": self.settings.enabled,
            "won": count(Outcome::Won),
            "lost": count(Outcome::Lost),
            "denied": count(Outcome::Denied),
            "budgetTokens": self.budget.tokens(),
            "delayMs": delays,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> HedgeSettings {
        HedgeSettings::default()
    }

    #[test]
    fn with_no_observations_the_delay_is_the_maximum() {
        let e = Estimator::new(&settings());
        assert_eq!(e.delay(), Duration::from_millis(100));
    }

    #[test]
    fn the_delay_follows_the_percentile_within_a_bucket() {
        let e = Estimator::new(&settings());
        // 98 % at 8 ms, 2 % at 40 ms: the 99th percentile is 40 ms.
        for i in 0..1000 {
            e.observe(Duration::from_millis(if i % 50 < 49 { 8 } else { 40 }));
        }
        let d = e.delay();
        assert!(
            d >= Duration::from_millis(40) && d <= Duration::from_micros(47_600),
            "{d:?}"
        );
        // 100 % at 8 ms: the delay comes down to 8 ms (one bucket, 19 % wide).
        for _ in 0..8000 {
            e.observe(Duration::from_millis(8));
        }
        let d = e.delay();
        assert!(
            d >= Duration::from_millis(8) && d <= Duration::from_micros(9_600),
            "{d:?}"
        );
    }

    #[test]
    fn the_delay_is_clamped() {
        let e = Estimator::new(&settings());
        for _ in 0..64 {
            e.observe(Duration::from_micros(100));
        }
        assert_eq!(e.delay(), Duration::from_millis(5), "the floor");
        for _ in 0..4096 {
            e.observe(Duration::from_secs(2));
        }
        assert_eq!(e.delay(), Duration::from_millis(100), "the ceiling");
    }

    #[test]
    fn buckets_cover_the_range_in_order() {
        assert_eq!(bucket_of(Duration::ZERO), 0);
        assert_eq!(bucket_of(Duration::from_micros(50)), 0);
        assert_eq!(bucket_of(Duration::from_secs(100)), BUCKETS - 1);
        for micros in [60, 200, 1_000, 7_000, 90_000, 1_000_000] {
            let latency = Duration::from_micros(micros);
            let b = bucket_of(latency);
            assert!(bound_nanos(b) >= latency.as_nanos() as f64, "{micros}");
            assert!(bound_nanos(b - 1) < latency.as_nanos() as f64, "{micros}");
        }
    }

    #[test]
    fn the_budget_allows_the_burst_then_the_rate() {
        let b = Budget::new(&HedgeSettings {
            burst: 3,
            budget_percent: 10.0,
            ..settings()
        });
        assert!(b.spend() && b.spend() && b.spend());
        assert!(!b.spend(), "the burst is spent");
        for _ in 0..9 {
            b.earn();
        }
        assert!(!b.spend(), "nine requests earn 0.9 of a hedge");
        b.earn();
        assert!(b.spend(), "ten earn one");
        assert!(!b.spend());
        // It never holds more than the burst, however long it idles.
        for _ in 0..10_000 {
            b.earn();
        }
        assert_eq!(b.tokens(), 3.0);
    }

    #[test]
    fn over_many_requests_hedges_stay_within_the_percentage_plus_the_burst() {
        let s = HedgeSettings {
            burst: 20,
            budget_percent: 5.0,
            ..settings()
        };
        let b = Budget::new(&s);
        let mut hedges = 0;
        for _ in 0..100_000 {
            b.earn();
            // Every request wants a hedge: the worst case.
            if b.spend() {
                hedges += 1;
            }
        }
        assert!(hedges <= 5_000 + 20, "{hedges}");
        assert!(hedges >= 5_000, "{hedges}");
    }

    #[test]
    fn only_requests_whose_repeat_is_harmless_are_hedged() {
        assert!(hedgeable(Kind::Read));
        assert!(hedgeable(Kind::KeyedWrite));
        assert!(!hedgeable(Kind::Write));
        assert!(!hedgeable(Kind::Idempotent));
    }

    #[test]
    fn settings_are_checked() {
        assert!(settings().check().is_ok());
        let bad = [
            HedgeSettings {
                min_delay: Duration::ZERO,
                ..settings()
            },
            HedgeSettings {
                min_delay: Duration::from_secs(1),
                ..settings()
            },
            HedgeSettings {
                percentile: 100.0,
                ..settings()
            },
            HedgeSettings {
                budget_percent: 120.0,
                ..settings()
            },
        ];
        for s in bad {
            assert!(s.check().is_err(), "{s:?}");
        }
    }
}
