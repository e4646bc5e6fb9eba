//! A plain byte relay: one thread of this process with a single-threaded runtime (as a minimal
//! proxy would run) that accepts connections and copies bytes to and from one upstream,
//! untouched, no HTTP. Measured like any front, it shows what one extra hop costs on this
//! machine whatever a proxy does with the bytes: the floor under nginx, `cloister proxy` and
//! `cloister gateway`.

use std::time::Duration;

use cloister_addr::Endpoint;
use cloister_harness::procfs;
use cloister_net::{Admission, Bound, ConnectionLimits, Stream};

/// How long the relay may take to connect to its upstream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A running relay (it lives as long as this process).
pub struct Relay {
    /// Where clients reach it.
    pub endpoint: Endpoint,
    /// Its thread's id, whose CPU time `/proc/<tid>/stat` gives.
    pub thread_id: u32,
}

impl Relay {
    /// Starts a relay listening at `listen` (a TCP port 0 is resolved) in front of `upstream`.
    pub fn start(listen: Endpoint, upstream: Endpoint) -> anyhow::Result<Self> {
        let (started, bound) = std::sync::mpsc::channel();
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
                let Ok(listener) = runtime.block_on(Bound::endpoint(&listen)) else {
                    return;
                };
                let _ = started.send((tid, listener.local_endpoint()));
                runtime.block_on(serve(listener, upstream));
            })?;
        let (thread_id, endpoint) = bound
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

async fn serve(listener: Bound, upstream: Endpoint) {
    let admission = Admission::new(ConnectionLimits::UNLIMITED);
    cloister_net::serve(
        listener,
        &admission,
        std::future::pending(),
        |client, _, permit| {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                relay(client, upstream).await;
                drop(permit);
            });
        },
    )
    .await;
}

/// Copies bytes both ways between `client` and a fresh connection to `upstream`.
async fn relay(mut client: Stream, upstream: Endpoint) {
    let Ok(mut node) = cloister_net::connect(&upstream, CONNECT_TIMEOUT).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut client, &mut node).await;
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
        let relay = Relay::start("127.0.0.1:0".parse().unwrap(), Endpoint::from(address)).unwrap();
        let Endpoint::Tcp(relay_address) = &relay.endpoint else {
            panic!("a TCP relay listens on TCP");
        };
        assert_ne!(relay_address.port, address.port());
        assert!(relay.cpu().is_some());
        round_trip(std::net::TcpStream::connect(relay_address.authority()).unwrap());

        let dir = tempfile::tempdir().unwrap();
        let node_path = dir.path().join("node.ipc");
        let node = std::os::unix::net::UnixListener::bind(&node_path).unwrap();
        std::thread::spawn(move || echo_once(node.accept().unwrap().0));
        let relay = Relay::start(
            Endpoint::Unix(dir.path().join("relay.ipc")),
            Endpoint::Unix(node_path),
        )
        .unwrap();
        let Endpoint::Unix(relay_path) = relay.endpoint else {
            panic!("a unix relay listens on a unix socket");
        };
        round_trip(std::os::unix::net::UnixStream::connect(relay_path).unwrap());
    }
}
