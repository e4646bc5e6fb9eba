//! HTTP/1.1 as the proxy speaks it on both sides: heads parsed once with `httparse`, fields
//! relayed as the raw lines they arrived as, bodies buffered whole and re-framed with
//! `Content-Length`, every message written in one piece.
//!
//! A general HTTP library would parse each head into a header map and encode it again on the
//! other side, twice per exchange; measured against nginx on a two-core machine, that work was
//! the proxy's whole deficit (docs/benchmarks.md), so the relay path uses this instead.
//!
//! - [`head`]: request and status lines, header fields, framing and persistence.
//! - [`body`]: body framing and the chunked decoder.
//! - [`connection`]: a connection with its read buffer.

pub mod body;
pub mod connection;
pub mod head;

pub use body::{BodyError, Framing};
pub use connection::{message, Answer, Connection, Persistence, ReadError, Response, WriteError};
pub use head::{HeadError, RequestHead, ResponseHead};

/// Most header fields accepted in one head (hyper's default too).
pub const MAX_HEADERS: usize = 100;

/// Longest head accepted, in bytes (nginx's `large_client_header_buffers` is 4 × 8 KiB).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The version the proxy speaks on every message it writes.
pub const HTTP_1_1: &[u8] = b"HTTP/1.1";

/// The line terminator.
pub const CRLF: &[u8] = b"\r\n";

/// The framing field the proxy writes on every body it forwards.
pub const CONTENT_LENGTH: &str = "content-length";

/// The target host field.
pub const HOST: &str = "host";

/// The media type field of the proxy's own answers.
pub const CONTENT_TYPE: &str = "content-type";

/// The persistence field.
pub const CONNECTION: &str = "connection";

/// Hop-by-hop fields (RFC 9110 §7.6.1) that apply to one connection and are never forwarded.
/// `Transfer-Encoding` and `Content-Length` are handled apart: the proxy buffers bodies and
/// re-frames them.
pub const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
];

/// The interim answer to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Appends `<method> <target> HTTP/1.1` and CRLF.
pub fn request_line(out: &mut Vec<u8>, method: &http::Method, target: &str) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.push(b' ');
    out.extend_from_slice(HTTP_1_1);
    out.extend_from_slice(CRLF);
}
