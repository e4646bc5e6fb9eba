//! Worker threads, as nginx's worker processes: each runs its own single-threaded event loop,
//! accepts from every listener's shared socket, and serves the connections it accepted (with
//! their links to the replicas) to the end. A request never changes thread, so relaying it
//! costs no cross-thread wake-up, and the workers together use every core. Health checks and
//! the admin listener stay on the runtime that started the proxy.

use std::io;
use std::thread::JoinHandle;

use tokio::sync::watch;

use crate::listener::{self, Bounds, Handling, SharedListener};

/// Starts worker `index` serving `listeners` until `stopped` turns true.
pub(crate) fn spawn(
    index: usize,
    listeners: &[(SharedListener, Handling, Bounds)],
    stopped: watch::Receiver<bool>,
) -> io::Result<JoinHandle<()>> {
    let listeners = listeners
        .iter()
        // Cloned bounds share the listener's one admission: the caps hold across workers.
        .map(|(shared, handling, bounds)| {
            Ok((shared.try_clone()?, handling.clone(), bounds.clone()))
        })
        .collect::<io::Result<Vec<_>>>()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name(format!("proxy-worker-{index}"))
        .spawn(move || {
            runtime.block_on(async move {
                let mut serving = Vec::new();
                for (shared, handling, bounds) in listeners {
                    match shared.into_bound() {
                        Ok(bound) => serving.push(tokio::spawn(listener::serve(
                            bound,
                            handling,
                            bounds,
                            crate::stopped_signal(stopped.clone()),
                        ))),
                        Err(error) => tracing::error!(%error, "a worker could not take a listener"),
                    }
                }
                for task in serving {
                    let _ = task.await;
                }
            });
        })
}
