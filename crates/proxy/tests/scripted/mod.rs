//! Scripted upstreams for the proxy's tests: raw HTTP/1.1 servers on unix sockets that record
//! every request they get and answer, hang up after reading, never answer, or write raw bytes,
//! as each test says; the proxy in-process in front of them; and raw clients of its listeners.

#![allow(clippy::unwrap_used, dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloister_addr::Endpoint;
use cloister_harness::http::{Request, Response};
use cloister_net::Stream;
use cloister_proxy::{ListenerSettings, Proxy, ProxySettings, Role, Timeouts};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UnixListener, UnixStream};

/// A request as an upstream saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) upstream: usize,
    pub(crate) request_line: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Seen {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        first_field(&self.headers, name)
    }
}

/// The value of the first field named `name`, in any case.
fn first_field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// What a scripted upstream does with a request.
#[derive(Debug, Clone)]
pub(crate) enum Act {
    Answer(u16, &'static str),
    /// Writes these bytes as they are, then reads the next request.
    Raw(&'static [u8]),
    /// Writes these bytes as they are, then closes the connection.
    RawThenClose(&'static [u8]),
    /// Reads the request, then closes the connection: sent, no answer.
    HangUp,
    /// Reads the request and never answers.
    Stall,
}

pub(crate) type Script = Arc<dyn Fn(&Seen) -> Act + Send + Sync>;

pub(crate) struct Upstreams {
    seen: Arc<Mutex<Vec<Seen>>>,
    pub(crate) sockets: Vec<PathBuf>,
}

impl Upstreams {
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests other than health checks.
    pub(crate) fn proxied(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| {
                !s.request_line.starts_with("GET /health")
                    && !s.request_line.starts_with("GET /upcheck")
            })
            .collect()
    }
}

pub(crate) async fn upstreams(dir: &Path, scripts: Vec<Script>) -> Upstreams {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut sockets = Vec::new();
    for (index, script) in scripts.into_iter().enumerate() {
        let path = dir.join(format!("upstream{index}.sock"));
        let listener = UnixListener::bind(&path).unwrap();
        sockets.push(path);
        let seen = seen.clone();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let (seen, script) = (seen.clone(), script.clone());
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    loop {
                        let Some(request) = read_request(&mut stream, &mut buffer, index).await
                        else {
                            return;
                        };
                        seen.lock().unwrap().push(request.clone());
                        match script(&request) {
                            Act::Answer(status, body) => {
                                let text = format!(
                                    "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                                    body.len()
                                );
                                if stream.write_all(text.as_bytes()).await.is_err() {
                                    return;
                                }
                            }
                            Act::Raw(bytes) => {
                                if stream.write_all(bytes).await.is_err() {
                                    return;
                                }
                            }
                            Act::RawThenClose(bytes) => {
                                let _ = stream.write_all(bytes).await;
                                return;
                            }
                            Act::HangUp => return,
                            Act::Stall => {
                                tokio::time::sleep(Duration::from_secs(30)).await;
                                return;
                            }
                        }
                    }
                });
            }
        });
    }
    Upstreams { seen, sockets }
}

async fn read_request(
    stream: &mut tokio::net::UnixStream,
    buffer: &mut Vec<u8>,
    upstream: usize,
) -> Option<Seen> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let request_line = lines.next()?.to_owned();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                .collect();
            let length: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.parse().unwrap());
            while buffer.len() < end + 4 + length {
                let mut chunk = [0u8; 4096];
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            let body = buffer[end + 4..end + 4 + length].to_vec();
            buffer.drain(..end + 4 + length);
            return Some(Seen {
                upstream,
                request_line,
                headers,
                body,
            });
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// Answers every proxied request with `status` and `body`, and health checks with 200.
pub(crate) fn answer(status: u16, body: &'static str) -> Script {
    Arc::new(move |s| {
        if s.request_line.starts_with("GET /health") {
            Act::Answer(200, "{}")
        } else {
            Act::Answer(status, body)
        }
    })
}

/// Does `act` with every POST and answers everything else (health checks, reads) 200 "ok".
pub(crate) fn on_post(act: Act) -> Script {
    Arc::new(move |s| {
        if s.request_line.starts_with("POST") {
            act.clone()
        } else {
            Act::Answer(200, "ok")
        }
    })
}

/// Answers everything, health checks included, with `status` and `body`.
pub(crate) fn always(status: u16, body: &'static str) -> Script {
    Arc::new(move |_| Act::Answer(status, body))
}

pub(crate) async fn proxy(
    dir: &Path,
    role: Role,
    ups: &Upstreams,
    tweak: impl FnOnce(&mut ProxySettings),
) -> (Proxy, Endpoint) {
    let socket = dir.join("proxy.ipc");
    let listen = match role {
        Role::Q2t => Endpoint::Unix(socket.clone()),
        _ => "127.0.0.1:0".parse().unwrap(),
    };
    let mut settings = ProxySettings {
        listeners: vec![ListenerSettings::http(
            listen,
            role,
            ups.sockets
                .iter()
                .map(|p| Endpoint::Unix(p.clone()))
                .collect(),
        )],
        admin: Some("127.0.0.1:0".parse().unwrap()),
        timeouts: Timeouts {
            connect: Duration::from_millis(200),
            per_try: Duration::from_millis(500),
            total: Duration::from_secs(2),
        },
        ..ProxySettings::default()
    };
    tweak(&mut settings);
    let proxy = Proxy::start(settings).await.unwrap();
    let target = proxy.listening()[0].clone();
    (proxy, target)
}

pub(crate) async fn send(target: &Endpoint, request: Request<'static>) -> Response {
    let target = target.clone();
    tokio::task::spawn_blocking(move || request.send(&target))
        .await
        .unwrap()
}

pub(crate) fn post(path: &'static str, body: &'static str) -> Request<'static> {
    Request::new("POST", path).body_with_type("application/json", body.as_bytes().to_vec())
}

/// An answer as a client reads it off the wire.
#[derive(Debug)]
pub(crate) struct Wire {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Wire {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        first_field(&self.headers, name)
    }
}

/// A raw client connection to one of the proxy's listeners.
pub(crate) struct Client {
    stream: Stream,
    buf: Vec<u8>,
}

impl Client {
    pub(crate) async fn connect(target: &Endpoint) -> Self {
        let stream = match target {
            Endpoint::Unix(path) => Stream::Unix(UnixStream::connect(path).await.unwrap()),
            Endpoint::Tcp(tcp) => Stream::Tcp(TcpStream::connect(tcp.authority()).await.unwrap()),
        };
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    /// Connects to a TCP listener from `source` (any 127.0.0.0/8 address reaches 127.0.0.1).
    pub(crate) async fn connect_from(target: &Endpoint, source: IpAddr) -> Self {
        let Endpoint::Tcp(tcp) = target else {
            panic!("a source address needs a TCP listener");
        };
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(source, 0)).unwrap();
        let stream = socket
            .connect(tcp.authority().parse().unwrap())
            .await
            .unwrap();
        Self {
            stream: Stream::Tcp(stream),
            buf: Vec::new(),
        }
    }

    pub(crate) async fn write(&mut self, bytes: &[u8]) {
        self.try_write(bytes).await.unwrap();
    }

    /// Writes, telling rather than failing when the proxy has closed the connection.
    pub(crate) async fn try_write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Reads one answer; `to_head`: no body follows whatever the fields say.
    pub(crate) async fn read(&mut self, to_head: bool) -> Wire {
        loop {
            let mut fields = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut fields);
            if let httparse::Status::Complete(end) = response.parse(&self.buf).unwrap() {
                let headers: Vec<(String, String)> = response
                    .headers
                    .iter()
                    .map(|h| {
                        let value = String::from_utf8_lossy(h.value).into_owned();
                        (h.name.to_owned(), value)
                    })
                    .collect();
                let status = response.code.unwrap();
                let length = if to_head || status == 100 {
                    0
                } else {
                    let field = headers
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                        .expect("every answer the proxy writes has a Content-Length");
                    field.1.parse().unwrap()
                };
                while self.buf.len() < end + length {
                    self.fill().await;
                }
                let body = self.buf[end..end + length].to_vec();
                self.buf.drain(..end + length);
                return Wire {
                    status,
                    headers,
                    body,
                };
            }
            self.fill().await;
        }
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut chunk))
            .await
            .expect("the proxy answers")
            .unwrap();
        assert!(n > 0, "the proxy closed the connection mid-answer");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// Whether the proxy has closed the connection (after any answer already read).
    pub(crate) async fn closed(&mut self) -> bool {
        let mut chunk = [0u8; 16];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut chunk)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    /// Waits up to `within` for the connection to end: `Some(bytes)` with whatever arrived
    /// before the end (nothing: closed silently), `None` if it is still open.
    pub(crate) async fn end_within(&mut self, within: Duration) -> Option<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + within;
        let mut arrived = std::mem::take(&mut self.buf);
        loop {
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => {
                    self.buf = arrived;
                    return None;
                }
                Ok(Ok(0) | Err(_)) => return Some(arrived),
                Ok(Ok(n)) => arrived.extend_from_slice(&chunk[..n]),
            }
        }
    }
}
