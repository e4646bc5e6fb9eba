//! Serving a router on TCP or on a unix socket the way GoQuorum needs: HTTP/1.1 keep-alive with
//! no idle timeout (GoQuorum keeps connections forever and a server closing idle ones makes
//! `/send` fail at random), the caller's address passed to handlers, and a unix socket that is
//! created 0600 and replaces a stale file.

use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use axum::Router;
use cloister_core::config::ListenAddress;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tower::ServiceExt;

/// The TCP address of the caller, set on every request (`None` over a unix socket).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddress(pub Option<SocketAddr>);

/// Why a listener could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Binding failed.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Another process serves the socket already.
    #[error("{0} is in use by another process")]
    SocketInUse(PathBuf),
}

/// An open listener.
pub enum Bound {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A unix-socket listener and its path (removed when serving ends).
    Unix(UnixListener, PathBuf),
}

impl Bound {
    /// Where it listens (a bound TCP port is resolved, so port 0 shows the real one).
    pub fn local_address(&self) -> ListenAddress {
        match self {
            Self::Tcp(listener) => {
                let address = listener
                    .local_addr()
                    .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
                ListenAddress::Tcp {
                    host: address.ip().to_string(),
                    port: address.port(),
                }
            }
            Self::Unix(_, path) => ListenAddress::Unix(path.clone()),
        }
    }
}

/// Opens a listener.
pub async fn bind(address: &ListenAddress) -> Result<Bound, ListenError> {
    let bind_error = |source| ListenError::Bind {
        address: address.to_string(),
        source,
    };
    match address {
        ListenAddress::Tcp { host, port } => {
            let listener = TcpListener::bind((host.as_str(), *port))
                .await
                .map_err(bind_error)?;
            Ok(Bound::Tcp(listener))
        }
        ListenAddress::Unix(path) => {
            remove_stale_socket(path).await?;
            Ok(Bound::Unix(
                bind_private_socket(path).map_err(bind_error)?,
                path.clone(),
            ))
        }
    }
}

/// Binds the socket under a temporary name, restricts it to the owner, then renames it into
/// place, so there is never a moment when others could connect to it.
fn bind_private_socket(path: &Path) -> std::io::Result<UnixListener> {
    let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&temporary);
    let listener = UnixListener::bind(&temporary)?;
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&temporary, path)?;
    Ok(listener)
}

/// A socket file nobody answers on is left over from a crash: remove it. One that answers
/// belongs to a running process: refuse to steal it.
async fn remove_stale_socket(path: &Path) -> Result<(), ListenError> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    if tokio::net::UnixStream::connect(path).await.is_ok() {
        return Err(ListenError::SocketInUse(path.to_owned()));
    }
    std::fs::remove_file(path).map_err(|source| ListenError::Bind {
        address: format!("unix:{}", path.display()),
        source,
    })
}

/// Serves `router` until `shutdown` completes.
pub async fn serve(bound: Bound, router: Router, shutdown: impl Future<Output = ()> + Send) {
    tokio::pin!(shutdown);
    match bound {
        Bound::Tcp(listener) => loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, address)) => {
                        let _ = stream.set_nodelay(true);
                        tokio::spawn(serve_connection(stream, router.clone(), Some(address)));
                    }
                    Err(error) => accept_failed(error).await,
                },
                () = &mut shutdown => return,
            }
        },
        Bound::Unix(listener, path) => {
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => { tokio::spawn(serve_connection(stream, router.clone(), None)); }
                        Err(error) => accept_failed(error).await,
                    },
                    () = &mut shutdown => break,
                }
            }
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Accept errors (out of file descriptors, mostly) are transient: log, pause, go on.
async fn accept_failed(error: std::io::Error) {
    tracing::warn!(%error, "accept failed");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
}

async fn serve_connection<I>(io: I, router: Router, address: Option<SocketAddr>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(PeerAddress(address));
        router.clone().oneshot(request.map(axum::body::Body::new))
    });
    // No header-read timeout: an idle keep-alive connection waits for its next request for as
    // long as the client keeps it (GoQuorum never closes them).
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(io), service);
    if let Err(error) = connection.await {
        tracing::debug!(%error, "connection ended with an error");
    }
}
