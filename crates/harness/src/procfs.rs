//! What `/proc` says about a process: resident memory and CPU time.
//!
//! Read from outside the process so the numbers cover everything it does (SQLite's page
//! cache, the writer thread, the allocator's slack), not just what Rust code allocates.

use std::time::Duration;

/// Linux reports CPU times in `/proc/<pid>/stat` in USER_HZ ticks, which the kernel ABI fixes
/// at 100 per second on every architecture Cloister runs on.
const USER_HZ: u64 = 100;

/// A process's resident set size, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// The peak since the process started (`VmHWM`), in KiB.
    pub peak_kib: u64,
    /// Now (`VmRSS`), in KiB.
    pub current_kib: u64,
}

impl Memory {
    /// Reads `pid`'s memory; `None` when the process is gone or `/proc` is unavailable.
    pub fn of(pid: u32) -> Option<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        Some(Self {
            peak_kib: status_field(&status, "VmHWM:")?,
            current_kib: status_field(&status, "VmRSS:")?,
        })
    }
}

/// A `kB` value in `/proc/<pid>/status`, e.g. `VmHWM:     6020 kB`.
fn status_field(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU time (user + system) `pid` has used so far; `None` when the process is gone.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    parse_cpu_time(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The CPU time of `pid` and of its children (nginx's master and its worker processes).
pub fn tree_cpu_time(pid: u32) -> Option<Duration> {
    let own = cpu_time(pid)?;
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    Some(
        children
            .split_whitespace()
            .filter_map(|child| cpu_time(child.parse().ok()?))
            .fold(own, |total, time| total + time),
    )
}

/// The CPU time of this (the driver's) process.
pub fn own_cpu_time() -> Option<Duration> {
    cpu_time(std::process::id())
}

/// The machine's one-minute load average: other work sharing the cores skews every figure,
/// so the report shows it.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn parse_cpu_time(stat: &str) -> Option<Duration> {
    // The command name (field 2) is parenthesised and may contain spaces or parentheses, so
    // fields are counted from the last ')'. utime and stime are fields 14 and 15.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((user + system) * 1000 / USER_HZ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_fields() {
        let status = "Name:\tcloister\nVmPeak:\t  100 kB\nVmHWM:\t   6020 kB\nVmRSS:\t   5000 kB\n";
        assert_eq!(status_field(status, "VmHWM:"), Some(6020));
        assert_eq!(status_field(status, "VmRSS:"), Some(5000));
        assert_eq!(status_field(status, "VmSwap:"), None);
    }

    #[test]
    fn reads_cpu_ticks_past_an_awkward_name() {
        let stat = "42 (a) b) S 1 42 42 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 3 0 1 2 3";
        assert_eq!(parse_cpu_time(stat), Some(Duration::from_secs(3)));
    }

    #[test]
    fn this_process_is_visible() {
        let memory = Memory::of(std::process::id()).expect("/proc is mounted");
        assert!(memory.peak_kib >= memory.current_kib && memory.current_kib > 0);
        assert!(own_cpu_time().is_some());
        assert!(load_average().is_some());
    }
}
