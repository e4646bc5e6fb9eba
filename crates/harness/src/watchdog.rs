//! Clean-up that outlives a test process's own code: fixtures kept in statics are never
//! dropped, so they hand their clean-up to a watchdog that runs when the process ends.

use std::process::{Child, ChildStdin, Command, Stdio};

/// Starts `sh -c script`, where `script` begins by waiting for its stdin to close: when this
/// process ends, however it ends, the pipe closes and the script runs; dropping the returned
/// stdin runs it now. Static fixtures, which are never dropped, clean up through it.
pub(crate) fn run_when_this_process_ends(script: &str) -> (Child, ChildStdin) {
    // Its own session (setsid), so a signal to this process's group (Ctrl-C, a CI timeout)
    // does not take the watchdog down before it has cleaned up.
    let mut child = Command::new("setsid")
        .args(["-w", "sh", "-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    (child, stdin)
}
