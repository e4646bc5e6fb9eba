//! Latency samples and their percentiles.
//!
//! A run records at most a few hundred thousand requests, so every sample is kept and sorted:
//! exact percentiles for a few megabytes, with no histogram bucketing error to explain.

use std::time::Duration;

/// Every request latency of one measured level, in microseconds.
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    micros: Vec<u32>,
    sorted: bool,
}

impl Latencies {
    /// Records one latency (saturating at about 71 minutes, far beyond any timeout here).
    pub fn record(&mut self, latency: Duration) {
        self.micros
            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
        self.sorted = false;
    }

    /// Takes in another worker's samples.
    pub fn merge(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
        self.sorted = false;
    }

    /// How many samples there are.
    pub fn len(&self) -> usize {
        self.micros.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.micros.is_empty()
    }

    /// The `q`-quantile (0.0..=1.0) by the nearest-rank method; zero when empty.
    pub fn quantile(&mut self, q: f64) -> Duration {
        if self.micros.is_empty() {
            return Duration::ZERO;
        }
        if !self.sorted {
            self.micros.sort_unstable();
            self.sorted = true;
        }
        // Nearest rank: the smallest sample with at least q of all samples at or below it.
        let rank = (q.clamp(0.0, 1.0) * self.micros.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.micros.len()) - 1;
        Duration::from_micros(u64::from(self.micros[index]))
    }

    /// The arithmetic mean; zero when empty. Comparable with the nodes' handler means, which
    /// Prometheus histograms only give as sum over count.
    pub fn mean(&self) -> Duration {
        let total: u64 = self.micros.iter().map(|&m| u64::from(m)).sum();
        Duration::from_micros(total / (self.micros.len().max(1) as u64))
    }

    /// The largest sample; zero when empty.
    pub fn max(&self) -> Duration {
        Duration::from_micros(u64::from(
            self.micros.iter().copied().max().unwrap_or_default(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut latencies = Latencies::default();
        for micros in (1..=100).rev() {
            latencies.record(Duration::from_micros(micros));
        }
        assert_eq!(latencies.quantile(0.5), Duration::from_micros(50));
        assert_eq!(latencies.quantile(0.99), Duration::from_micros(99));
        assert_eq!(latencies.quantile(1.0), Duration::from_micros(100));
        assert_eq!(latencies.quantile(0.0), Duration::from_micros(1));
        assert_eq!(latencies.max(), Duration::from_micros(100));
        assert_eq!(latencies.mean(), Duration::from_micros(50));
    }

    #[test]
    fn empty_is_zero() {
        let mut latencies = Latencies::default();
        assert_eq!(latencies.quantile(0.99), Duration::ZERO);
        assert_eq!(latencies.max(), Duration::ZERO);
        assert_eq!(latencies.mean(), Duration::ZERO);
    }
}
