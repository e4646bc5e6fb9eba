//! Opening a connection to an [`Endpoint`].

use std::io;
use std::time::Duration;

use cloister_addr::Endpoint;
use tokio::net::{TcpStream, UnixStream};

use crate::listen::Stream;

/// Connects to `endpoint` within `timeout` (a `TimedOut` error after it). TCP connections get
/// `TCP_NODELAY`: Cloister's exchanges are small requests and answers, which Nagle's
/// algorithm would hold back by up to 40 ms.
pub async fn connect(endpoint: &Endpoint, timeout: Duration) -> io::Result<Stream> {
    let open = async {
        Ok(match endpoint {
            Endpoint::Tcp(tcp) => {
                let stream = TcpStream::connect(tcp.authority()).await?;
                stream.set_nodelay(true)?;
                Stream::Tcp(stream)
            }
            Endpoint::Unix(path) => Stream::Unix(UnixStream::connect(path).await?),
        })
    };
    tokio::time::timeout(timeout, open).await.map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connect timed out after {timeout:?}"),
        )
    })?
}
