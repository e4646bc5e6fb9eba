//! Listening: the sockets Cloister's servers listen on, shared by `cloister node` and
//! `cloister proxy` so both keep the same promises about GoQuorum's `tm.ipc`:
//!
//! - a unix socket is bound under a temporary name, made owner-only (0600) and renamed into
//!   place, so nobody else can connect through a moment of default permissions;
//! - a socket file nobody answers on (left by a crash) is replaced; one that answers belongs
//!   to a running process and is never taken over;
//! - accept errors (mostly running out of file descriptors) pause the accept loop briefly
//!   instead of spinning or ending it;
//! - one accept loop ([`serve`]) over TCP or a unix socket hands each connection, as one
//!   [`Stream`] type, to the server's own HTTP code, and removes the socket file when it ends.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cloister_addr::Endpoint;
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::admission::{Admission, Permit};

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

/// How long an accept loop pauses after a failed accept.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Binds an owner-only unix socket at `path`, replacing a stale socket file but refusing a
/// live one. Must run inside a Tokio runtime.
pub async fn bind_unix(path: &Path) -> Result<UnixListener, ListenError> {
    remove_stale_socket(path).await?;
    bind_private_socket(path).map_err(|source| ListenError::Bind {
        address: format!("unix:{}", path.display()),
        source,
    })
}

/// Binds inside a fresh directory only the owner can enter, restricts the socket to the owner,
/// then renames it into place: from the moment it exists until it is 0600, nobody else can
/// reach it (connecting needs search permission on every directory of the path).
fn bind_private_socket(path: &Path) -> std::io::Result<UnixListener> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // Short: a socket path is limited to about 100 bytes.
    let private = parent.join(format!(".sock-{}.d", std::process::id()));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    let temporary = private.join("s");
    let bound = UnixListener::bind(&temporary).and_then(|listener| {
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&temporary, path)?;
        Ok(listener)
    });
    let _ = std::fs::remove_dir_all(&private);
    bound
}

/// Removes a socket file nobody answers on; refuses one that answers.
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

/// An open listener.
pub enum Bound {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A unix-socket listener and its path (removed when [`serve`] ends).
    Unix(UnixListener, PathBuf),
}

impl Bound {
    /// Opens a listener at `endpoint`: its TCP `host:port` (the scheme and any path say how
    /// the server speaks, not where it listens) or its unix socket.
    pub async fn endpoint(endpoint: &Endpoint) -> Result<Self, ListenError> {
        match endpoint {
            Endpoint::Tcp(tcp) => Self::tcp(tcp.authority(), &endpoint.to_string()).await,
            Endpoint::Unix(path) => Self::unix(path).await,
        }
    }

    /// Where it listens, as an endpoint: `http://` and the bound address (a port 0 resolved to
    /// the real one), or the unix socket.
    pub fn local_endpoint(&self) -> Endpoint {
        match self {
            Self::Tcp(listener) => listener.local_addr().map_or_else(
                |_| Endpoint::from(SocketAddr::from(([0, 0, 0, 0], 0))),
                Endpoint::from,
            ),
            Self::Unix(_, path) => Endpoint::Unix(path.clone()),
        }
    }

    /// Binds TCP `address` (anything `TcpListener::bind` takes); `shown` names it in the error.
    pub async fn tcp(
        address: impl tokio::net::ToSocketAddrs,
        shown: &str,
    ) -> Result<Self, ListenError> {
        TcpListener::bind(address)
            .await
            .map(Self::Tcp)
            .map_err(|source| ListenError::Bind {
                address: shown.to_owned(),
                source,
            })
    }

    /// Binds an owner-only unix socket at `path`, as [`bind_unix`] does.
    pub async fn unix(path: &Path) -> Result<Self, ListenError> {
        Ok(Self::Unix(bind_unix(path).await?, path.to_path_buf()))
    }

    /// The address a TCP listener is bound to (a port 0 resolved to the real one); `None` for a
    /// unix socket.
    pub fn tcp_address(&self) -> Option<SocketAddr> {
        match self {
            Self::Tcp(listener) => listener.local_addr().ok(),
            Self::Unix(..) => None,
        }
    }
}

/// An accepted (or opened) connection, over TCP or a unix socket.
pub enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// A unix socket.
    Unix(UnixStream),
}

/// Accepts connections on `bound` until `shutdown` completes, handing each that `admission`
/// takes to `accept` with the caller's TCP address (`None` on a unix socket) and its permit,
/// which the connection must hold until it ends; one over the bounds is closed at once. TCP
/// connections get `TCP_NODELAY` (small request/response exchanges). A unix socket's file is
/// removed at the end.
pub async fn serve(
    bound: Bound,
    admission: &Admission,
    shutdown: impl Future<Output = ()>,
    mut accept: impl FnMut(Stream, Option<SocketAddr>, Permit),
) {
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = next(&bound) => accepted,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, address)) => {
                match admission.admit(address.map(|a| a.ip().to_canonical())) {
                    Ok(permit) => accept(stream, address, permit),
                    Err(refusal) => tracing::debug!(%refusal, "connection refused"),
                }
            }
            Err(error) => accept_failed(error).await,
        }
    }
    if let Bound::Unix(_, path) = bound {
        let _ = std::fs::remove_file(path);
    }
}

async fn next(bound: &Bound) -> io::Result<(Stream, Option<SocketAddr>)> {
    match bound {
        Bound::Tcp(listener) => {
            let (stream, address) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            Ok((Stream::Tcp(stream), Some(address)))
        }
        Bound::Unix(listener, _) => Ok((Stream::Unix(listener.accept().await?.0), None)),
    }
}

/// What an accept loop does after a failed accept: log it and pause.
async fn accept_failed(error: io::Error) {
    tracing::warn!(%error, "accept failed");
    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
}

impl Stream {
    /// Waits until the socket is readable (data, end of stream or an error).
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.readable().await,
            Self::Unix(s) => s.readable().await,
        }
    }

    /// Reads what is there without waiting (`WouldBlock` if nothing is).
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.try_read(buf),
            Self::Unix(s) => s.try_read(buf),
        }
    }
}

crate::either_io::delegate_async_io!(Stream: Tcp, Unix);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_unix_socket_is_private_and_a_stale_one_is_replaced_but_a_live_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tm.ipc");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let live = bind_unix(&path).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        match bind_unix(&path).await {
            Err(ListenError::SocketInUse(p)) => assert_eq!(p, path),
            other => panic!("a live socket was taken over: {:?}", other.err()),
        }
        drop(live);
    }
}
