//! A deliberately small HTTP/1.1 client: one request per connection (`Connection: close`), raw
//! request targets (so `%2F` reaches the server untouched), TCP or unix socket, and an optional
//! source address for whitelist tests; over TLS ([`Request::try_send_tls`]) with a rustls
//! client config the test builds (its trust and client certificate).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cloister_addr::Endpoint;

/// The longest a response may take before the request fails with a timeout error.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A request to send.
pub struct Request<'a> {
    /// Method.
    pub method: &'a str,
    /// Raw request target (path and query, already escaped).
    pub target: &'a str,
    /// Extra headers.
    pub headers: Vec<(&'a str, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl<'a> Request<'a> {
    /// A request without headers or body.
    pub fn new(method: &'a str, target: &'a str) -> Self {
        Self {
            method,
            target,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Sets a JSON body with `Content-Type: application/json`.
    pub fn json(self, body: &serde_json::Value) -> Self {
        self.body_with_type("application/json", serde_json::to_vec(body).unwrap())
    }

    /// Sets a body and its content type.
    pub fn body_with_type(mut self, content_type: &'a str, body: Vec<u8>) -> Self {
        self.headers.push(("Content-Type", content_type.into()));
        self.body = body;
        self
    }

    /// Sends it and reads the whole response.
    pub fn send(&self, target: &Endpoint) -> Response {
        self.try_send(target, None)
            .unwrap_or_else(|e| panic!("{} {}: {e}", self.method, self.target))
    }

    /// Sends it from a chosen source address (TCP only).
    pub fn send_from(&self, target: &Endpoint, source: &str) -> std::io::Result<Response> {
        self.try_send(target, Some(source))
    }

    /// Sends it, returning I/O errors.
    pub fn try_send(&self, target: &Endpoint, source: Option<&str>) -> std::io::Result<Response> {
        self.exchange_within(target, source, READ_TIMEOUT)
    }

    /// Sends it, giving up when a read takes longer than `timeout` (a server that may be
    /// stopped).
    pub fn try_send_within(
        &self,
        target: &Endpoint,
        timeout: Duration,
    ) -> std::io::Result<Response> {
        self.exchange_within(target, None, timeout)
    }

    fn exchange_within(
        &self,
        target: &Endpoint,
        source: Option<&str>,
        timeout: Duration,
    ) -> std::io::Result<Response> {
        let bytes = self.encode(&target.host_header());
        // A server that never answers fails the test instead of hanging it.
        let raw = match target {
            Endpoint::Tcp(tcp) => {
                let stream = connect_tcp(&tcp.authority(), source)?;
                stream.set_read_timeout(Some(timeout))?;
                exchange(stream, &bytes)?
            }
            Endpoint::Unix(path) => {
                let stream = UnixStream::connect(path)?;
                stream.set_read_timeout(Some(timeout))?;
                exchange(stream, &bytes)?
            }
        };
        parse(&raw)
    }
}

impl Request<'_> {
    /// Sends it over TLS to `target` (a TCP address) with `config`, returning I/O errors
    /// (a refused handshake among them: the rustls error is inside the `io::Error`).
    pub fn try_send_tls(
        &self,
        target: SocketAddr,
        config: &Arc<rustls::ClientConfig>,
    ) -> std::io::Result<Response> {
        self.try_send_tls_within(target, config, READ_TIMEOUT)
    }

    /// The same, giving up when connecting or any read takes longer than `timeout` (a
    /// client of a server that may be stopped).
    pub fn try_send_tls_within(
        &self,
        target: SocketAddr,
        config: &Arc<rustls::ClientConfig>,
        timeout: Duration,
    ) -> std::io::Result<Response> {
        let bytes = self.encode(&Endpoint::from(target).host_header());
        let server_name = rustls::pki_types::ServerName::IpAddress(target.ip().into());
        let connection = rustls::ClientConnection::new(config.clone(), server_name)
            .map_err(std::io::Error::other)?;
        let tcp = TcpStream::connect_timeout(&target, timeout)?;
        tcp.set_read_timeout(Some(timeout))?;
        let mut stream = rustls::StreamOwned::new(connection, tcp);
        // A refused handshake surfaces here, before any request byte is read back.
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        stream.write_all(&bytes)?;
        let mut raw = Vec::new();
        match stream.read_to_end(&mut raw) {
            // A server that closes without close_notify after its whole answer is fine here.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
            other => {
                other?;
            }
        }
        parse(&raw)
    }

    /// Sends it over TLS, panicking on any I/O error.
    pub fn send_tls(&self, target: SocketAddr, config: &Arc<rustls::ClientConfig>) -> Response {
        self.try_send_tls(target, config)
            .unwrap_or_else(|e| panic!("{} {} over TLS: {e}", self.method, self.target))
    }

    /// The request's bytes, with `host` as its `Host` header.
    fn encode(&self, host: &str) -> Vec<u8> {
        let mut text = format!(
            "{} {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.method,
            self.target,
            self.body.len()
        );
        for (name, value) in &self.headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// A TCP connection to `authority`, from the loopback address `source` when given (so a test
/// can stand for another host: every address of 127.0.0.0/8 is this machine's).
pub fn connect_tcp(authority: &str, source: Option<&str>) -> std::io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect(authority);
    };
    let address = authority
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{authority} resolves to nothing")))?;
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    let source: SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&source.into())?;
    socket.connect(&address.into())?;
    Ok(socket.into())
}

fn exchange<S: Read + Write>(mut stream: S, request: &[u8]) -> std::io::Result<Vec<u8>> {
    stream.write_all(request)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    Ok(raw)
}

fn parse(raw: &[u8]) -> std::io::Result<Response> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed HTTP response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad())?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body).ok_or_else(bad)?;
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).ok()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// Polls `check` every 50 ms until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// `url.PathEscape` as GoQuorum applies it to a base64 hash: `/` escaped, `+` and `=` literal.
pub fn path_escape(b64: &str) -> String {
    b64.replace('/', "%2F")
}

/// Whether a unix socket exists at `path`.
pub fn socket_exists(path: &Path) -> bool {
    UnixStream::connect(path).is_ok()
}
