//! Signals to the processes a test started, by name (`TERM`, `HUP`, `STOP`, `CONT`, `KILL`),
//! as an operator sends them with `kill`.

use std::process::{Command, Stdio};

/// Sends `SIG<name>` to every process of `pids`; whether `kill` reached them all (an empty
/// list is trivially reached).
pub fn send(name: &str, pids: &[u32]) -> bool {
    if pids.is_empty() {
        return true;
    }
    Command::new("kill")
        .arg(format!("-{name}"))
        .args(pids.iter().map(u32::to_string))
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
