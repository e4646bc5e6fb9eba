//! The one way every long-running command learns it should stop.

use tokio::signal::unix::SignalKind;

/// Resolves on Ctrl-C (SIGINT) or SIGTERM, the signals an operator and a service manager send.
pub(crate) async fn requested() {
    let mut terminate =
        tokio::signal::unix::signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
