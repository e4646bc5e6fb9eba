//! Message bodies: how each is framed (RFC 9112 §6.3) and the chunked decoder. The proxy
//! buffers every body whole, so whatever the framing on the way in, it goes out with a
//! `Content-Length`.

use bytes::{Buf, BytesMut};

use super::MAX_HEADERS;

/// Longest chunk-size line or trailer section the decoder waits for before giving up.
const MAX_CHUNK_META_BYTES: usize = 8 * 1024;

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the sender closes (a response without a length).
    UntilClose,
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Larger than the limit.
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    /// The connection ended before the body did.
    #[error("connection closed before the end of the body")]
    Truncated,
    /// Chunked framing that does not parse.
    #[error("malformed chunked body")]
    BadChunk,
}

/// Where a chunked body's decoding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, with this many bytes to go.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer fields (dropped) and the final CRLF.
    Trailers,
}

/// A chunked body being decoded as its bytes arrive.
#[derive(Debug)]
pub struct Dechunker {
    step: Step,
    body: BytesMut,
    limit: usize,
}

impl Dechunker {
    /// A decoder that refuses bodies over `limit` bytes (decoded).
    pub fn new(limit: usize) -> Self {
        Self {
            step: Step::Size,
            body: BytesMut::new(),
            limit,
        }
    }

    /// Consumes what it can of `buf`: the decoded body once its end has been read, `None` when
    /// more bytes are needed. Bytes after the body stay in `buf` (the next message).
    pub fn feed(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, BodyError> {
        loop {
            match self.step {
                // httparse reads a size line without digits as 0, the last chunk: refuse it.
                Step::Size if buf.first().is_some_and(|b| !b.is_ascii_hexdigit()) => {
                    return Err(BodyError::BadChunk)
                }
                Step::Size => match httparse::parse_chunk_size(buf) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        buf.advance(used);
                        if size > (self.limit - self.body.len()) as u64 {
                            return Err(BodyError::TooLarge(self.limit));
                        }
                        self.step = if size == 0 {
                            Step::Trailers
                        } else {
                            Step::Data(size)
                        };
                    }
                    Ok(httparse::Status::Partial) => return self.wait(buf),
                    Err(_) => return Err(BodyError::BadChunk),
                },
                Step::Data(left) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let take = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    self.body.extend_from_slice(&buf[..take]);
                    buf.advance(take);
                    let left = left - take as u64;
                    self.step = if left == 0 {
                        Step::DataEnd
                    } else {
                        Step::Data(left)
                    };
                }
                Step::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(None);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(BodyError::BadChunk);
                    }
                    buf.advance(2);
                    self.step = Step::Size;
                }
                Step::Trailers => {
                    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
                    match httparse::parse_headers(buf, &mut fields) {
                        Ok(httparse::Status::Complete((used, _))) => {
                            buf.advance(used);
                            return Ok(Some(std::mem::take(&mut self.body)));
                        }
                        Ok(httparse::Status::Partial) => return self.wait(buf),
                        Err(_) => return Err(BodyError::BadChunk),
                    }
                }
            }
        }
    }

    /// More bytes are needed for a size line or the trailers, unless they are already too long.
    fn wait(&self, buf: &BytesMut) -> Result<Option<BytesMut>, BodyError> {
        if buf.len() > MAX_CHUNK_META_BYTES {
            Err(BodyError::BadChunk)
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` in pieces of `step` bytes, as a slow sender would.
    fn decode(wire: &[u8], step: usize, limit: usize) -> Result<(Vec<u8>, Vec<u8>), BodyError> {
        let mut decoder = Dechunker::new(limit);
        let mut buf = BytesMut::new();
        for piece in wire.chunks(step) {
            buf.extend_from_slice(piece);
            if let Some(body) = decoder.feed(&mut buf)? {
                return Ok((body.to_vec(), buf.to_vec()));
            }
        }
        Err(BodyError::Truncated)
    }

    #[test]
    fn chunks_decode_whatever_the_pieces_and_leave_the_next_message() {
        let wire =
            b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nx-trailer: 1\r\n\r\nGET /next";
        for step in [1, 2, 3, 7, wire.len()] {
            let (body, rest) = decode(wire, step, 100).unwrap();
            assert_eq!(body, b"hello world", "pieces of {step}");
            assert_eq!(rest, b"GET /next"[..rest.len()], "pieces of {step}");
        }
        assert_eq!(decode(b"0\r\n\r\n", 1, 0).unwrap().0, b"");
    }

    #[test]
    fn bad_or_oversized_chunks_are_refused() {
        assert_eq!(decode(b"zz\r\n", 10, 100), Err(BodyError::BadChunk));
        assert_eq!(decode(b";ext\r\n\r\n", 10, 100), Err(BodyError::BadChunk));
        assert_eq!(decode(b"\r\n\r\n", 1, 100), Err(BodyError::BadChunk));
        assert_eq!(decode(b"3\r\nabcXY", 10, 100), Err(BodyError::BadChunk));
        assert_eq!(
            decode(b"6\r\nabcdef\r\n0\r\n\r\n", 10, 5),
            Err(BodyError::TooLarge(5))
        );
        assert_eq!(
            decode(b"3\r\nabc\r\n3\r\nabc\r\n0\r\n\r\n", 4, 5),
            Err(BodyError::TooLarge(5))
        );
        let endless = vec![b'1'; MAX_CHUNK_META_BYTES + 2];
        assert_eq!(decode(&endless, 1024, 100), Err(BodyError::BadChunk));
    }
}
