//! The consecutive-result counter: a target is taken out after `fall` failed checks or
//! `passiveFailures` failed requests in a row, and brought back after `rise` passed checks in a
//! row. Active checks and live requests keep separate streaks, as HAProxy's `fall`/`rise` and
//! its `observe`-based error limit do: a flaky check cannot cut short a request streak, and the
//! other way round. Pure: no clock, no I/O, so every rule is tested here once.

use serde::Serialize;

/// The thresholds, as configured (`fall`, `rise`, `passiveFailures`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Failed checks in a row that take a healthy target out.
    pub fall: u32,
    /// Passed checks in a row that bring a target that was taken out back.
    pub rise: u32,
    /// Failed requests in a row (not sent, no answer, 503) that take a target out.
    pub passive_failures: u32,
}

/// Why thresholds are unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("health.fall, health.rise and health.passiveFailures must be at least 1")]
pub struct ThresholdsError;

impl Thresholds {
    /// Every threshold must be at least 1 (a threshold of 0 would eject or readmit on nothing).
    pub fn check(&self) -> Result<(), ThresholdsError> {
        if self.fall == 0 || self.rise == 0 || self.passive_failures == 0 {
            return Err(ThresholdsError);
        }
        Ok(())
    }
}

/// A change of state caused by one result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The target was taken out.
    Ejected,
    /// The target was brought back.
    Readmitted,
}

/// One target's health, counted from consecutive results. Starts healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCounter {
    /// Whether the target takes traffic. Not serialized: what a part reports as `healthy`
    /// may weigh more than this counter (the gateway's chain lag).
    #[serde(skip)]
    healthy: bool,
    /// Failed checks in a row.
    consecutive_check_failures: u32,
    /// Passed checks in a row.
    consecutive_check_passes: u32,
    /// Failed requests in a row.
    consecutive_request_failures: u32,
    /// How often the target was taken out.
    ejections: u64,
}

impl Default for HealthCounter {
    fn default() -> Self {
        Self {
            healthy: true,
            consecutive_check_failures: 0,
            consecutive_check_passes: 0,
            consecutive_request_failures: 0,
            ejections: 0,
        }
    }
}

impl HealthCounter {
    /// Whether the target takes traffic.
    pub fn is_healthy(&self) -> bool {
        self.healthy
    }

    /// Failed checks in a row.
    pub fn check_failures(&self) -> u32 {
        self.consecutive_check_failures
    }

    /// Failed requests in a row.
    pub fn request_failures(&self) -> u32 {
        self.consecutive_request_failures
    }

    /// The longer of the two failure streaks (for messages).
    pub fn failures(&self) -> u32 {
        self.consecutive_check_failures
            .max(self.consecutive_request_failures)
    }

    /// How often the target was taken out.
    pub fn ejections(&self) -> u64 {
        self.ejections
    }

    /// Counts an active check.
    pub fn record_check(&mut self, passed: bool, thresholds: &Thresholds) -> Option<Change> {
        if passed {
            self.consecutive_check_failures = 0;
            self.consecutive_check_passes = self.consecutive_check_passes.saturating_add(1);
            if !self.healthy && self.consecutive_check_passes >= thresholds.rise {
                self.healthy = true;
                self.consecutive_request_failures = 0;
                return Some(Change::Readmitted);
            }
            return None;
        }
        self.consecutive_check_passes = 0;
        self.consecutive_check_failures = self.consecutive_check_failures.saturating_add(1);
        (self.consecutive_check_failures >= thresholds.fall)
            .then(|| self.eject())
            .flatten()
    }

    /// Counts a live request's outcome.
    pub fn record_request(&mut self, failed: bool, thresholds: &Thresholds) -> Option<Change> {
        if !failed {
            self.consecutive_request_failures = 0;
            return None;
        }
        self.consecutive_request_failures = self.consecutive_request_failures.saturating_add(1);
        (self.consecutive_request_failures >= thresholds.passive_failures)
            .then(|| self.eject())
            .flatten()
    }

    fn eject(&mut self) -> Option<Change> {
        if !self.healthy {
            return None;
        }
        self.healthy = false;
        self.consecutive_check_passes = 0;
        self.ejections += 1;
        Some(Change::Ejected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Thresholds = Thresholds {
        fall: 2,
        rise: 2,
        passive_failures: 3,
    };

    #[test]
    fn fall_failed_checks_in_a_row_eject_and_rise_passes_readmit() {
        let mut counter = HealthCounter::default();
        assert_eq!(counter.record_check(false, &RULES), None);
        assert_eq!(
            counter.record_check(true, &RULES),
            None,
            "a pass breaks the streak"
        );
        assert_eq!(counter.record_check(false, &RULES), None);
        assert_eq!(counter.record_check(false, &RULES), Some(Change::Ejected));
        assert!(!counter.is_healthy());
        assert_eq!(counter.record_check(false, &RULES), None, "ejected once");
        assert_eq!(
            counter.record_check(true, &RULES),
            None,
            "one pass is not rise 2"
        );
        assert_eq!(counter.record_check(true, &RULES), Some(Change::Readmitted));
        assert_eq!(counter.ejections(), 1);
    }

    #[test]
    fn passive_failures_in_a_row_eject_and_only_checks_readmit() {
        let mut counter = HealthCounter::default();
        counter.record_request(true, &RULES);
        counter.record_request(true, &RULES);
        assert_eq!(
            counter.record_request(false, &RULES),
            None,
            "a success resets"
        );
        counter.record_request(true, &RULES);
        counter.record_request(true, &RULES);
        assert_eq!(counter.record_request(true, &RULES), Some(Change::Ejected));
        assert_eq!(counter.record_request(false, &RULES), None);
        assert!(!counter.is_healthy(), "a request alone does not readmit");
        counter.record_check(true, &RULES);
        assert_eq!(counter.record_check(true, &RULES), Some(Change::Readmitted));
        assert_eq!(
            counter.request_failures(),
            0,
            "readmission starts a fresh streak"
        );
    }

    #[test]
    fn active_and_passive_streaks_are_separate() {
        let mut counter = HealthCounter::default();
        counter.record_check(false, &RULES);
        counter.record_request(true, &RULES);
        counter.record_request(true, &RULES);
        assert!(
            counter.is_healthy(),
            "1 failed check + 2 failed requests is neither streak"
        );
        assert_eq!(counter.failures(), 2);
    }

    #[test]
    fn zero_thresholds_are_refused() {
        assert!(RULES.check().is_ok());
        for broken in [
            Thresholds { fall: 0, ..RULES },
            Thresholds { rise: 0, ..RULES },
            Thresholds {
                passive_failures: 0,
                ..RULES
            },
        ] {
            assert_eq!(broken.check(), Err(ThresholdsError));
        }
    }
}
