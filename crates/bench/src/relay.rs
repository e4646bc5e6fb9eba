//! A plain byte relay: one thread of this process with a single-threaded runtime (as a minimal
//! proxy would run) that accepts connections and copies bytes to and from one upstream,
//! untouched, no HTTP. Measured like any front, it shows what one extra hop costs on this
//! machine whatever a proxy does with the bytes: the floor under nginx, `cloister proxy` and
//! `cloister gateway`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::client::Endpoint;
use crate::procfs;

/// Where the relay's upstream is, and so how it listens itself.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// A TCP node: the relay listens on a loopback port.
    Tcp(SocketAddr),
    /// A unix-socket node: the relay listens on the given socket path.
    Unix {
        /// The node's socket.
        node: PathBuf,
        /// The relay's own socket.
        listen: PathBuf,
    },
}

/// A running relay (it lives as long as this process).
pub struct Relay {
    /// Where clients reach it.
    pub endpoint: Endpoint,
    /// Its thread's id, whose CPU time `/proc/<tid>/stat` gives.
    pub thread_id: u32,
}

impl Relay {
    /// Starts a relay in front of `upstream`.
    pub fn start(upstream: Upstream) -> anyhow::Result<Self> {
        let (listener, endpoint) = match &upstream {
            Upstream::Tcp(_) => {
                let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
                listener.set_nonblocking(true)?;
                let endpoint = Endpoint::JsonRpc(listener.local_addr()?);
                (Listener::Tcp(listener), endpoint)
            }
            Upstream::Unix { listen, .. } => {
                let _ = std::fs::remove_file(listen);
                let listener = std::os::unix::net::UnixListener::bind(listen)?;
                listener.set_nonblocking(true)?;
                (Listener::Unix(listener), Endpoint::Q2t(listen.clone()))
            }
        };
        let (started, thread_id) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("byte-relay".into())
            .spawn(move || {
                // "/proc/thread-self" links to "<pid>/task/<tid>".
                let tid = std::fs::read_link("/proc/thread-self")
                    .ok()
                    .and_then(|link| link.file_name()?.to_str()?.parse::<u32>().ok());
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                let (Ok(runtime), Some(tid)) = (runtime, tid) else {
                    return;
                };
                let _ = started.send(tid);
                runtime.block_on(serve(listener, upstream));
            })?;
        let thread_id = thread_id
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| anyhow::anyhow!("the relay thread did not start"))?;
        Ok(Self {
            endpoint,
            thread_id,
        })
    }

    /// CPU its thread has spent so far.
    pub fn cpu(&self) -> Option<Duration> {
        procfs::cpu_time(self.thread_id)
    }
}

enum Listener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

async fn serve(listener: Listener, upstream: Upstream) {
    match listener {
        Listener::Tcp(listener) => {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            while let Ok((client, _)) = listener.accept().await {
                let _ = client.set_nodelay(true);
                tokio::spawn(relay(client, upstream.clone()));
            }
        }
        Listener::Unix(listener) => {
            let Ok(listener) = tokio::net::UnixListener::from_std(listener) else {
                return;
            };
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream.clone()));
            }
        }
    }
}

/// Copies bytes both ways between `client` and a fresh connection to `upstream`.
async fn relay(mut client: impl AsyncRead + AsyncWrite + Unpin, upstream: Upstream) {
    match upstream {
        Upstream::Tcp(address) => {
            let Ok(mut node) = tokio::net::TcpStream::connect(address).await else {
                return;
            };
            let _ = node.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut node).await;
        }
        Upstream::Unix { node, .. } => {
            let Ok(mut node) = tokio::net::UnixStream::connect(node).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut client, &mut node).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    fn echo_once(mut stream: impl Read + Write) {
        let mut buffer = [0u8; 64];
        while let Ok(n) = stream.read(&mut buffer) {
            if n == 0 || stream.write_all(&buffer[..n]).is_err() {
                break;
            }
        }
    }

    fn round_trip(mut client: impl Read + Write) {
        client.write_all(b"{\"id\":1}").unwrap();
        let mut echoed = [0u8; 8];
        client.read_exact(&mut echoed).unwrap();
        assert_eq!(&echoed, b"{\"id\":1}");
    }

    #[test]
    fn the_relay_copies_bytes_both_ways_untouched_over_tcp_and_unix_sockets() {
        let node = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = node.local_addr().unwrap();
        std::thread::spawn(move || echo_once(node.accept().unwrap().0));
        let relay = Relay::start(Upstream::Tcp(address)).unwrap();
        let Endpoint::JsonRpc(relay_address) = relay.endpoint else {
            panic!("a TCP relay listens on TCP");
        };
        assert_ne!(relay_address, address);
        assert!(relay.cpu().is_some());
        round_trip(std::net::TcpStream::connect(relay_address).unwrap());

        let dir = tempfile::tempdir().unwrap();
        let node_path = dir.path().join("node.ipc");
        let node = std::os::unix::net::UnixListener::bind(&node_path).unwrap();
        std::thread::spawn(move || echo_once(node.accept().unwrap().0));
        let relay = Relay::start(Upstream::Unix {
            node: node_path,
            listen: dir.path().join("relay.ipc"),
        })
        .unwrap();
        let Endpoint::Q2t(relay_path) = relay.endpoint else {
            panic!("a unix relay listens on a unix socket");
        };
        round_trip(std::os::unix::net::UnixStream::connect(relay_path).unwrap());
    }
}
