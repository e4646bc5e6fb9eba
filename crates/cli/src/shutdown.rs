//! The one way every long-running command learns it should stop, or reload its certificates.

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

/// Waits until a stop is [`requested`], calling `reload` on every SIGHUP meanwhile (`kill
/// -HUP`, `systemctl reload`: certificate rotation).
pub(crate) async fn reloading_until_requested(mut reload: impl FnMut()) -> anyhow::Result<()> {
    let stop = requested();
    tokio::pin!(stop);
    let mut hangups = tokio::signal::unix::signal(SignalKind::hangup())
        .map_err(|error| anyhow::anyhow!("installing a SIGHUP handler: {error}"))?;
    loop {
        tokio::select! {
            () = &mut stop => return Ok(()),
            _ = hangups.recv() => reload(),
        }
    }
}
