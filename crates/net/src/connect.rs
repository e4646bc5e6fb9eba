//! Opening a connection to an [`Endpoint`]: plain, or TLS for an `https://` one.

use std::io;
use std::time::Duration;

use cloister_addr::Endpoint;
use rustls::pki_types::ServerName;
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::listen::Stream;

/// Connects to `endpoint` within `timeout` (a `TimedOut` error after it). TCP connections get
/// `TCP_NODELAY`: Cloister's exchanges are small requests and answers, which Nagle's
/// algorithm would hold back by up to 40 ms.
pub async fn connect(endpoint: &Endpoint, timeout: Duration) -> io::Result<Stream> {
    within(timeout, open(endpoint)).await
}

/// Connects to `endpoint` and, for an `https://` one, completes a TLS handshake with `tls`
/// (the server's certificate checked for the endpoint's host), all within `timeout`: a server
/// that accepts TCP but never answers its handshake (a stopped process) costs no more than
/// one that refuses. An `https://` endpoint without `tls` is an error, never plain text.
pub async fn connect_tls(
    endpoint: &Endpoint,
    timeout: Duration,
    tls: Option<&TlsConnector>,
) -> io::Result<ClientStream> {
    within(timeout, async {
        let stream = open(endpoint).await?;
        if !endpoint.is_tls() {
            return Ok(ClientStream::Plain(stream));
        }
        let tls = tls.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{endpoint} is https:// and no TLS client is configured for it"),
            )
        })?;
        let stream = tls.connect(server_name(endpoint)?, stream).await?;
        Ok(ClientStream::Tls(Box::new(stream)))
    })
    .await
}

/// The name a TLS server at `endpoint` must prove: its host, a name or an IP address.
fn server_name(endpoint: &Endpoint) -> io::Result<ServerName<'static>> {
    let host = endpoint
        .tcp()
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error.to_string()))?
        .host
        .clone();
    ServerName::try_from(host).map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))
}

async fn open(endpoint: &Endpoint) -> io::Result<Stream> {
    Ok(match endpoint {
        Endpoint::Tcp(tcp) => {
            let stream = TcpStream::connect(tcp.authority()).await?;
            stream.set_nodelay(true)?;
            Stream::Tcp(stream)
        }
        Endpoint::Unix(path) => Stream::Unix(UnixStream::connect(path).await?),
    })
}

async fn within<T>(
    timeout: Duration,
    work: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    tokio::time::timeout(timeout, work).await.map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connect timed out after {timeout:?}"),
        )
    })?
}

/// A connection Cloister opened: plain, or TLS over it.
pub enum ClientStream {
    /// `http://` or a unix socket.
    Plain(Stream),
    /// `https://`, handshake done (boxed: a TLS session is over a kilobyte).
    Tls(Box<TlsStream<Stream>>),
}

crate::either_io::delegate_async_io!(ClientStream: Plain, Tls);
