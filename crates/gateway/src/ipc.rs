//! JSON-RPC over a node's IPC unix socket, in geth's framing: requests and answers are JSON
//! values written back to back on a stream socket, with no length prefix and no delimiter
//! (geth happens to end each answer with a newline, but readers must not rely on it).
//!
//! geth runs the calls of one IPC connection concurrently and answers them as they finish, so
//! answers on a shared connection would have to be matched by id, which clients choose and
//! often repeat. Instead each call gets a connection of its own from a pool (one call in flight
//! per connection, as HTTP/1.1 keep-alive does), and bodies pass through untouched.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Idle connections kept per upstream: enough for the concurrency a gateway sees, few enough
/// not to pin many of the node's file descriptors.
const MAX_IDLE: usize = 64;
/// Room made in a connection's buffer before each read.
const READ_CHUNK: usize = 16 * 1024;

/// Why an IPC exchange failed, and whether the call can have reached the node.
#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    /// No connection, or the call was not written whole: the node cannot have executed it.
    #[error("{0}")]
    Unsent(String),
    /// The call was written but no whole answer came back.
    #[error("{0}")]
    Failed(String),
}

/// A stream that is not JSON values back to back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the node sent {0:?} where a JSON object or array must start")]
pub struct FrameError(pub char);

/// Splits a byte stream into top-level JSON values without parsing them: tracks nesting depth
/// and strings (with escapes) only, so each byte is looked at once however the value arrives.
#[derive(Debug, Default)]
pub struct Framer {
    buffer: BytesMut,
    /// Bytes of `buffer` already scanned.
    scanned: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl Framer {
    /// Appends bytes read from the stream.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Reads what `stream` has straight into the buffer: 0 at end of stream.
    async fn read_from(&mut self, stream: &mut UnixStream) -> std::io::Result<usize> {
        self.buffer.reserve(READ_CHUNK);
        stream.read_buf(&mut self.buffer).await
    }

    /// The next complete value, if the buffer holds one. Whitespace between values is
    /// skipped; a value that is not an object or array (which no JSON-RPC peer sends) is an
    /// error, since its end could not be told from the stream.
    pub fn next_value(&mut self) -> Result<Option<Bytes>, FrameError> {
        while self.scanned < self.buffer.len() {
            let byte = self.buffer[self.scanned];
            self.scanned += 1;
            if self.depth == 0 {
                match byte {
                    b' ' | b'\t' | b'\r' | b'\n' => {
                        // Between values: drop it so values start at the buffer's front.
                        self.buffer.advance(self.scanned);
                        self.scanned = 0;
                    }
                    b'{' | b'[' => self.depth = 1,
                    other => return Err(FrameError(char::from(other))),
                }
                continue;
            }
            if self.in_string {
                match (self.escaped, byte) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        let value = self.buffer.split_to(self.scanned).freeze();
                        self.scanned = 0;
                        return Ok(Some(value));
                    }
                }
                _ => {}
            }
        }
        Ok(None)
    }

    /// Whether bytes of an unfinished value are buffered.
    pub fn is_partial(&self) -> bool {
        self.depth > 0
    }
}

/// One pooled connection.
#[derive(Debug)]
struct Connection {
    stream: UnixStream,
    framer: Framer,
}

/// The call's id as geth judges it: a call without one (or with an object or array, which geth
/// treats as no id) is a notification and gets no answer at all. `"id": null` is an id.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
}

fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
}

/// Whether geth answers this call (see [`Envelope`]).
pub fn expects_answer(body: &[u8]) -> bool {
    serde_json::from_slice::<Envelope<'_>>(body).map_or(true, |envelope| {
        envelope
            .id
            .is_some_and(|id| !id.get().starts_with(['{', '[']))
    })
}

/// Connections to one node's IPC socket.
#[derive(Debug)]
pub struct IpcPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl IpcPool {
    /// A pool for the socket at `path`; connections are opened on demand.
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An idle connection the node has not closed, or a new one.
    async fn connection(&self, connect_timeout: Duration) -> Result<Connection, IpcError> {
        loop {
            let Some(connection) = self.idle().pop() else {
                break;
            };
            // A node that restarted closed its side; a call written there would be lost
            // without telling whether it ran. Nothing may be pending on an idle connection, so
            // readable means closed (or broken): drop it. `try_read` goes by the readiness the
            // runtime last saw, which covers a node that died before this call; one dying during
            // it is the "outcome unknown" case that no check can avoid.
            let mut probe = [0u8; 1];
            match connection.stream.try_read(&mut probe) {
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                    return Ok(connection)
                }
                _ => continue,
            }
        }
        let stream = tokio::time::timeout(connect_timeout, UnixStream::connect(&self.path))
            .await
            .map_err(|_| {
                IpcError::Unsent(format!(
                    "connecting to {} took over {} ms",
                    self.path.display(),
                    connect_timeout.as_millis()
                ))
            })?
            .map_err(|error| IpcError::Unsent(format!("{}: {error}", self.path.display())))?;
        Ok(Connection {
            stream,
            framer: Framer::default(),
        })
    }

    /// Writes one call and, unless it is a notification, reads its answer. The caller bounds
    /// the time; a connection abandoned mid-call is dropped, never reused.
    pub async fn call(&self, body: &[u8], connect_timeout: Duration) -> Result<Bytes, IpcError> {
        let answered = expects_answer(body);
        let mut connection = self.connection(connect_timeout).await?;
        // Until the last byte of the value is written the node cannot have read a whole call,
        // so a failed write is "unsent" (trailing whitespace does not count).
        let needed = body.trim_ascii_end().len();
        let mut written = 0;
        while written < body.len() {
            match connection.stream.write(&body[written..]).await {
                Ok(0) => {
                    return Err(self.write_failed(written, needed, "the socket closed".into()))
                }
                Ok(n) => written += n,
                Err(error) => return Err(self.write_failed(written, needed, error.to_string())),
            }
        }
        if !answered {
            self.idle_again(connection);
            return Ok(Bytes::new());
        }
        loop {
            if let Some(value) = connection
                .framer
                .next_value()
                .map_err(|error| IpcError::Failed(error.to_string()))?
            {
                self.idle_again(connection);
                return Ok(value);
            }
            match connection.framer.read_from(&mut connection.stream).await {
                Ok(0) => {
                    return Err(IpcError::Failed(format!(
                        "{} closed the connection before answering{}",
                        self.path.display(),
                        if connection.framer.is_partial() {
                            " in full"
                        } else {
                            ""
                        }
                    )))
                }
                Ok(_) => {}
                Err(error) => {
                    return Err(IpcError::Failed(format!(
                        "reading from {}: {error}",
                        self.path.display()
                    )))
                }
            }
        }
    }

    fn write_failed(&self, written: usize, needed: usize, reason: String) -> IpcError {
        let reason = format!("writing to {}: {reason}", self.path.display());
        if written < needed {
            IpcError::Unsent(reason)
        } else {
            IpcError::Failed(reason)
        }
    }

    fn idle_again(&self, connection: Connection) {
        let mut idle = self.idle();
        if idle.len() < MAX_IDLE {
            idle.push(connection);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn values_are_split_however_the_stream_cuts_them() {
        let stream = br#" {"id":1,"result":"a}\"]{"} [{"id":2},{"id":3,"result":[1,{"x":[]}]}]
{"id":"}"}"#;
        for cut in 1..stream.len() {
            let mut framer = Framer::default();
            let mut values = Vec::new();
            for piece in stream.chunks(cut) {
                framer.extend(piece);
                while let Some(value) = framer.next_value().unwrap() {
                    values.push(String::from_utf8(value.to_vec()).unwrap());
                }
            }
            assert_eq!(
                values,
                [
                    r#"{"id":1,"result":"a}\"]{"}"#,
                    r#"[{"id":2},{"id":3,"result":[1,{"x":[]}]}]"#,
                    r#"{"id":"}"}"#,
                ],
                "cut every {cut} bytes"
            );
            assert!(!framer.is_partial());
        }
    }

    #[test]
    fn a_stream_that_is_not_objects_is_refused() {
        let mut framer = Framer::default();
        framer.extend(b"{} 42");
        assert!(framer.next_value().unwrap().is_some());
        assert!(framer.next_value().unwrap_err().to_string().contains("'4'"));
    }

    #[test]
    fn notifications_are_told_as_geth_tells_them() {
        assert!(expects_answer(br#"{"id":1,"method":"m"}"#));
        assert!(expects_answer(br#"{"method":"m","id":null}"#));
        assert!(expects_answer(br#"{"id":"x","method":"m"}"#));
        assert!(!expects_answer(br#"{"method":"m"}"#));
        assert!(!expects_answer(br#"{"method":"m","id":{"a":1}}"#));
    }
}
