//! A fake peer: a tiny HTTP/1.1 server on loopback that answers as each attack says, and
//! remembers what it was sent. One request per connection (`Connection: close`), as blunt as an
//! attacker's own server would be.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request the fake peer received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `POST /push` and the like: method and path.
    pub line: String,
    /// The body.
    pub body: Vec<u8>,
}

/// The most of a body the fake peer remembers after answering (it may be sent hundreds of
/// megabytes on purpose).
const REMEMBERED_BODY_BYTES: usize = 64 * 1024;

/// How the fake peer answers: a status and a body for each request.
pub type Script = dyn Fn(&Received) -> (u16, Vec<u8>) + Send + Sync;

/// A running fake peer; it lives as long as the process.
pub struct FakePeer {
    /// Where it listens.
    pub address: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl FakePeer {
    /// Starts answering with `script`.
    pub fn start(script: Arc<Script>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (script, log) = (script.clone(), log.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &*script, &log);
                });
            }
        });
        Ok(Self { address, received })
    }

    /// Its P2P URL, normalised as a node writes URLs.
    pub fn url(&self) -> String {
        format!("http://{}/", self.address)
    }

    /// Everything received so far whose request line starts with `prefix`.
    pub fn received(&self, prefix: &str) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|r| r.line.starts_with(prefix))
            .cloned()
            .collect()
    }
}

fn serve(
    mut stream: TcpStream,
    script: &Script,
    log: &Mutex<Vec<Received>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let head_end = loop {
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    let line = head.lines().next().unwrap_or_default();
    let line = line.rsplit_once(' ').map_or(line, |(l, _)| l).to_owned();
    let request = Received {
        line,
        body: buffer[head_end..].to_vec(),
    };
    let (status, body) = script(&request);
    let mut remembered = request;
    remembered.body.truncate(REMEMBERED_BODY_BYTES);
    log.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(remembered);
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(&body)
}
