//! A connection with its read buffer: request heads and bodies read from clients, requests
//! written to upstreams and their answers read back, answers written to clients. Each message
//! goes out in one write; bytes read past a message stay buffered for the next one, so
//! pipelined requests are served in order.

use std::io;

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::body::{BodyError, Dechunker, Framing};
use super::head::{self, HeadError, RequestHead, ResponseHead};
use super::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, CONTINUE, CRLF, MAX_HEAD_BYTES};

/// How much the read buffer grows by when it is full.
const READ_CHUNK: usize = 16 * 1024;

/// Why reading a message failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The head was refused.
    #[error(transparent)]
    Head(#[from] HeadError),
    /// The body could not be read.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// The connection closed in the middle of a head.
    #[error("connection closed in the middle of a message head")]
    Truncated,
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Why a write failed, and whether any of it left.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct WriteError {
    /// Nothing was written: the peer cannot have seen any of the message.
    pub nothing_written: bool,
    /// The socket's error.
    pub source: io::Error,
}

/// A complete answer read from an upstream.
#[derive(Debug)]
pub struct Response {
    /// Its head, ready to relay.
    pub head: ResponseHead,
    /// Its body, decoded.
    pub body: Bytes,
}

/// An answer to write to a client: an upstream's, relayed, or the proxy's own.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The status line and the end-to-end fields.
    pub head: Vec<u8>,
    /// The body.
    pub body: Bytes,
    /// Whether the proxy writes the `Content-Length` (not for a HEAD, 204 or 304 answer, whose
    /// fields pass on as the upstream wrote them).
    pub framed: bool,
}

impl Answer {
    /// An upstream's answer, as read.
    pub fn relayed(response: Response) -> Self {
        Self {
            status: response.head.status,
            framed: response.head.framing != Framing::Empty,
            head: response.head.lines,
            body: response.body,
        }
    }

    /// The proxy's own answer.
    pub fn own(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Self {
        let mut head = Vec::with_capacity(64 + content_type.len());
        head::status_line(&mut head, status, status.canonical_reason().unwrap_or(""));
        head::field(&mut head, CONTENT_TYPE, content_type.as_bytes());
        Self {
            status,
            head,
            body: body.into(),
            framed: true,
        }
    }
}

/// Whether a client connection stays open after an answer, and how the answer says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// HTTP/1.1's default: nothing to say.
    KeepAlive,
    /// An HTTP/1.0 client that asked to keep the connection: `Connection: keep-alive`.
    KeepAlive1_0,
    /// The connection closes after this answer: `Connection: close`.
    Close,
}

impl Persistence {
    /// What `head` asks for, unless the exchange broke the connection (`broken`).
    pub fn of(head: &RequestHead, broken: bool) -> Self {
        match (head.keep_alive && !broken, head.keep_alive_1_0) {
            (false, _) => Self::Close,
            (true, false) => Self::KeepAlive,
            (true, true) => Self::KeepAlive1_0,
        }
    }
}

/// One end of an HTTP/1.1 connection and the bytes read from it but not yet used, over any
/// stream: TCP, a unix socket, or TLS over TCP.
pub struct Connection<S> {
    io: S,
    buf: BytesMut,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Wraps an accepted or opened stream.
    pub fn new(io: S) -> Self {
        Self {
            io,
            buf: BytesMut::with_capacity(READ_CHUNK),
        }
    }

    /// Reads the next request head: `None` when the client closed between requests.
    pub async fn read_request_head(&mut self) -> Result<Option<RequestHead>, ReadError> {
        loop {
            if !self.buf.is_empty() {
                if let Some((head, length)) = head::parse_request(self.head_window())? {
                    self.buf.advance(length);
                    return Ok(Some(head));
                }
                self.refuse_long_head()?;
            }
            if !self.fill().await? {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(ReadError::Truncated)
                };
            }
        }
    }

    /// Reads the body of the request whose head was just read, up to `limit` bytes, first
    /// telling a client that expects it to go on.
    pub async fn read_request_body(
        &mut self,
        head: &RequestHead,
        limit: usize,
    ) -> Result<Bytes, ReadError> {
        if let Framing::Length(n) = head.framing {
            if n > limit as u64 {
                return Err(BodyError::TooLarge(limit).into());
            }
        }
        if head.expect_continue && head.declares_body() && self.buf.is_empty() {
            self.write_all(CONTINUE).await.map_err(|e| e.source)?;
        }
        self.read_body(head.framing, limit).await
    }

    /// Writes `message` whole.
    pub async fn write_all(&mut self, message: &[u8]) -> Result<(), WriteError> {
        let mut written = 0;
        while written < message.len() {
            match self.io.write(&message[written..]).await {
                Ok(0) => {
                    return Err(WriteError {
                        nothing_written: written == 0,
                        source: io::ErrorKind::WriteZero.into(),
                    })
                }
                Ok(n) => written += n,
                Err(source) => {
                    return Err(WriteError {
                        nothing_written: written == 0,
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    /// Writes `answer` to a client.
    pub async fn write_answer(
        &mut self,
        answer: &Answer,
        persistence: Persistence,
    ) -> Result<(), WriteError> {
        let mut length = itoa::Buffer::new();
        let mut extra: Vec<(&str, &[u8])> = Vec::with_capacity(2);
        if answer.framed {
            extra.push((CONTENT_LENGTH, length.format(answer.body.len()).as_bytes()));
        }
        match persistence {
            Persistence::KeepAlive => {}
            Persistence::KeepAlive1_0 => extra.push((CONNECTION, b"keep-alive")),
            Persistence::Close => extra.push((CONNECTION, b"close")),
        }
        let message = message(&[&answer.head], &extra, &answer.body);
        self.write_all(&message).await
    }

    /// Reads an upstream's answer to the request just written, skipping interim (1xx) answers.
    /// `to_head`: the request was a HEAD.
    pub async fn read_response(&mut self, to_head: bool) -> Result<Response, ReadError> {
        loop {
            let head = loop {
                if !self.buf.is_empty() {
                    if let Some((head, length)) = head::parse_response(self.head_window(), to_head)?
                    {
                        self.buf.advance(length);
                        break head;
                    }
                    self.refuse_long_head()?;
                }
                if !self.fill().await? {
                    return Err(ReadError::Truncated);
                }
            };
            if head.status.is_informational() {
                continue;
            }
            let body = self.read_body(head.framing, usize::MAX).await?;
            return Ok(Response { head, body });
        }
    }

    /// Whether bytes of a message not yet read whole are buffered: a request head begun.
    pub fn holds_partial_message(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Whether an idle kept connection can carry another request: the peer has not closed it
    /// (nor sent anything unasked, nor, over TLS, its close_notify). One read attempt that
    /// must not wait: it costs no system call unless the socket became readable.
    pub fn is_reusable(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        let mut probe = ReadBuf::new(&mut probe);
        let mut context = Context::from_waker(Waker::noop());
        matches!(
            Pin::new(&mut self.io).poll_read(&mut context, &mut probe),
            Poll::Pending
        )
    }

    async fn read_body(&mut self, framing: Framing, limit: usize) -> Result<Bytes, ReadError> {
        match framing {
            Framing::Empty => Ok(Bytes::new()),
            Framing::Length(n) => {
                let n = usize::try_from(n).map_err(|_| BodyError::TooLarge(limit))?;
                if n > limit {
                    return Err(BodyError::TooLarge(limit).into());
                }
                self.buf.reserve(n.saturating_sub(self.buf.len()));
                while self.buf.len() < n {
                    if !self.fill().await? {
                        return Err(BodyError::Truncated.into());
                    }
                }
                Ok(self.buf.split_to(n).freeze())
            }
            Framing::Chunked => {
                let mut decoder = Dechunker::new(limit);
                loop {
                    if let Some(body) = decoder.feed(&mut self.buf)? {
                        return Ok(body.freeze());
                    }
                    if !self.fill().await? {
                        return Err(BodyError::Truncated.into());
                    }
                }
            }
            Framing::UntilClose => {
                while self.fill().await? {
                    if self.buf.len() > limit {
                        return Err(BodyError::TooLarge(limit).into());
                    }
                }
                Ok(self.buf.split().freeze())
            }
        }
    }

    /// Reads more bytes into the buffer: false at end of stream.
    async fn fill(&mut self) -> io::Result<bool> {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        Ok(self.io.read_buf(&mut self.buf).await? > 0)
    }

    /// Where a head may be: no further than the longest head accepted.
    fn head_window(&self) -> &[u8] {
        &self.buf[..self.buf.len().min(MAX_HEAD_BYTES)]
    }

    /// Called when no complete head fits in [`Self::head_window`].
    fn refuse_long_head(&self) -> Result<(), HeadError> {
        if self.buf.len() >= MAX_HEAD_BYTES {
            Err(HeadError::TooLarge(MAX_HEAD_BYTES))
        } else {
            Ok(())
        }
    }
}

/// Builds a message: `head` (the start line and fields, each line ending in CRLF, in pieces),
/// then the given extra fields, the blank line and `body`, in one buffer so it leaves in one
/// write.
pub fn message(head: &[&[u8]], extra: &[(&str, &[u8])], body: &[u8]) -> Vec<u8> {
    let head_len: usize = head.iter().map(|piece| piece.len()).sum();
    let extra_len: usize = extra.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
    let mut out = Vec::with_capacity(head_len + extra_len + 2 + body.len());
    for piece in head {
        out.extend_from_slice(piece);
    }
    for (name, value) in extra {
        head::field(&mut out, name, value);
    }
    out.extend_from_slice(CRLF);
    out.extend_from_slice(body);
    out
}
