//! Message heads: the request line or status line and the header fields, parsed with `httparse`
//! and re-serialised with only the end-to-end fields, byte for byte as they arrived.
//!
//! The proxy reads each field once, here, and keeps what it needs as plain facts (method,
//! target, framing, persistence); the fields it forwards stay as raw `name: value\r\n` lines, so
//! nothing is hashed, case-folded or re-encoded on the way through. A request's `Forwarded`
//! fields are set apart in the same pass: whether they are relayed depends on who sent them.

use cloister_protocol::header::{is_acceptable_request_id, FORWARDED, IDEMPOTENCY_KEY, REQUEST_ID};
use http::{Method, StatusCode};

use super::body::Framing;
use super::{CONNECTION, CONTENT_LENGTH, CRLF, HTTP_1_1, MAX_HEADERS};

use super::HOP_BY_HOP;

/// Why a head was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// Not HTTP/1.x as `httparse` reads it.
    #[error("malformed message head: {0}")]
    Malformed(#[from] httparse::Error),
    /// More header fields than the proxy accepts.
    #[error("more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
    /// The head is longer than the proxy accepts.
    #[error("message head larger than {0} bytes")]
    TooLarge(usize),
    /// A `Content-Length` that is not one non-negative number.
    #[error("invalid Content-Length")]
    BadContentLength,
    /// A `Transfer-Encoding` other than `chunked` (RFC 9112 §6.1: 501 for requests).
    #[error("unsupported Transfer-Encoding")]
    UnsupportedTransferEncoding,
    /// A method name that is not a token.
    #[error("invalid method")]
    BadMethod,
    /// A status code outside 100..=999.
    #[error("invalid status code")]
    BadStatus,
}

/// A client's request head.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// The request target exactly as sent (`%2F` and all).
    pub target: String,
    /// The end-to-end header fields as raw lines, each ending in CRLF, except `Forwarded` and
    /// `X-Request-Id` (the proxy sends its own).
    pub fields: Vec<u8>,
    /// The `Forwarded` fields as raw lines, in the order sent: a client can write any it
    /// likes, so they are relayed only when the client is a trusted proxy (empty, and no
    /// allocation, when there are none).
    pub forwarded: Vec<u8>,
    /// Whether the client sent an `Idempotency-Key`.
    pub has_idempotency_key: bool,
    /// The client's first `X-Request-Id`, when it is acceptable to relay and log
    /// ([`is_acceptable_request_id`]).
    pub request_id: Option<String>,
    /// How the body is framed.
    pub framing: Framing,
    /// Whether the connection stays open after this exchange.
    pub keep_alive: bool,
    /// HTTP/1.0 with `Connection: keep-alive`: the answer must say it keeps the connection.
    pub keep_alive_1_0: bool,
    /// `Expect: 100-continue`: the client waits for a 100 before sending its body.
    pub expect_continue: bool,
}

impl RequestHead {
    /// The path of the target, without the query, for routing and logs.
    pub fn path(&self) -> &str {
        path_of(&self.target)
    }

    /// Whether the request says it has a body (`Content-Length` or chunked), even an empty one.
    pub fn declares_body(&self) -> bool {
        !matches!(self.framing, Framing::Empty)
    }
}

/// An upstream's response head.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// The status.
    pub status: StatusCode,
    /// The status line to relay, as `HTTP/1.1 <code> <reason>` and CRLF, then the end-to-end
    /// header fields as raw lines.
    pub lines: Vec<u8>,
    /// How the body is framed.
    pub framing: Framing,
    /// Whether the upstream keeps the connection open after this exchange.
    pub keep_alive: bool,
}

/// Parses a request head from the start of `buf`: `None` until it is complete, then the head
/// and its length in bytes.
pub fn parse_request(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HeadError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut fields);
    let Some(length) = complete(request.parse(buf))? else {
        return Ok(None);
    };
    let (Some(method), Some(target), Some(minor)) = (request.method, request.path, request.version)
    else {
        return Ok(None);
    };
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| HeadError::BadMethod)?;
    let facts = Facts::read(request.headers, minor)?;
    let head = RequestHead {
        method,
        target: target.to_owned(),
        fields: facts.fields,
        forwarded: facts.forwarded,
        has_idempotency_key: facts.has_idempotency_key,
        request_id: facts.request_id,
        framing: facts.framing.unwrap_or(Framing::Empty),
        keep_alive: facts.keep_alive,
        keep_alive_1_0: minor == 0 && facts.keep_alive,
        expect_continue: facts.expect_continue,
    };
    Ok(Some((head, length)))
}

/// Parses a response head from the start of `buf`: `None` until it is complete, then the head
/// and its length in bytes. `to_head` says the request was a HEAD (no body follows whatever the
/// fields say).
pub fn parse_response(
    buf: &[u8],
    to_head: bool,
) -> Result<Option<(ResponseHead, usize)>, HeadError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut fields);
    let Some(length) = complete(response.parse(buf))? else {
        return Ok(None);
    };
    let (Some(code), Some(minor)) = (response.code, response.version) else {
        return Ok(None);
    };
    let status = StatusCode::from_u16(code).map_err(|_| HeadError::BadStatus)?;
    let reason = response
        .reason
        .filter(|r| !r.is_empty())
        .or(status.canonical_reason())
        .unwrap_or("");
    let facts = Facts::read(response.headers, minor)?;
    let bodiless = to_head
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let mut lines = Vec::with_capacity(facts.fields.len() + facts.forwarded.len() + 40);
    status_line(&mut lines, status, reason);
    lines.extend_from_slice(&facts.fields);
    // `Forwarded` means nothing in an answer; it is relayed as any other field.
    lines.extend_from_slice(&facts.forwarded);
    let framing = if bodiless {
        // Nothing to re-frame: the upstream's own Content-Length (of a HEAD, a 304) passes on.
        if let Some(Framing::Length(n)) = facts.framing {
            field(
                &mut lines,
                CONTENT_LENGTH,
                itoa::Buffer::new().format(n).as_bytes(),
            );
        }
        Framing::Empty
    } else {
        facts.framing.unwrap_or(Framing::UntilClose)
    };
    let keep_alive = facts.keep_alive && framing != Framing::UntilClose;
    let head = ResponseHead {
        status,
        lines,
        framing,
        keep_alive,
    };
    Ok(Some((head, length)))
}

/// The length of a complete head, `None` for a partial one.
fn complete(parsed: httparse::Result<usize>) -> Result<Option<usize>, HeadError> {
    match parsed {
        Ok(httparse::Status::Complete(length)) => Ok(Some(length)),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooManyHeaders),
        Err(error) => Err(error.into()),
    }
}

/// Appends `HTTP/1.1 <code> <reason>` and CRLF.
pub fn status_line(out: &mut Vec<u8>, status: StatusCode, reason: &str) {
    out.extend_from_slice(HTTP_1_1);
    out.push(b' ');
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(CRLF);
}

/// Appends one header field line.
pub fn field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(CRLF);
}

/// The path of a request target: origin-form up to the query; absolute-form's path; `*` and
/// authority-form as they are.
fn path_of(target: &str) -> &str {
    let path = match target.find("://") {
        Some(scheme_end) if !target.starts_with('/') => {
            let rest = &target[scheme_end + 3..];
            rest.find('/').map_or("/", |start| &rest[start..])
        }
        _ => target,
    };
    path.split(['?', '#']).next().unwrap_or(path)
}

/// What the proxy reads out of a header section.
struct Facts {
    fields: Vec<u8>,
    forwarded: Vec<u8>,
    framing: Option<Framing>,
    keep_alive: bool,
    expect_continue: bool,
    has_idempotency_key: bool,
    request_id: Option<String>,
}

impl Facts {
    /// Reads framing and persistence (RFC 9112 §6.3, §9.3) and keeps the end-to-end fields.
    fn read(headers: &[httparse::Header<'_>], minor: u8) -> Result<Self, HeadError> {
        let connection = connection_tokens(headers);
        let keep_alive = if minor == 0 {
            connection
                .iter()
                .any(|t| t.eq_ignore_ascii_case(b"keep-alive"))
        } else {
            !connection.iter().any(|t| t.eq_ignore_ascii_case(b"close"))
        };
        let mut facts = Self {
            fields: Vec::with_capacity(
                headers
                    .iter()
                    .map(|h| h.name.len() + h.value.len() + 4)
                    .sum(),
            ),
            forwarded: Vec::new(),
            framing: None,
            keep_alive,
            expect_continue: false,
            has_idempotency_key: false,
            request_id: None,
        };
        let mut length: Option<u64> = None;
        let mut chunked = false;
        for header in headers {
            let name = header.name;
            if name.eq_ignore_ascii_case(CONTENT_LENGTH) {
                let n = parse_length(header.value)?;
                if length.is_some_and(|seen| seen != n) {
                    return Err(HeadError::BadContentLength);
                }
                length = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = is_chunked(header.value)?;
            } else if name.eq_ignore_ascii_case("expect") {
                // Answered here: the proxy buffers the body, so the upstream never waits for it.
                facts.expect_continue |= header.value.eq_ignore_ascii_case(b"100-continue");
            } else if is_hop_by_hop(name, &connection) {
                // Dropped: it applies to this connection only.
            } else if name.eq_ignore_ascii_case(FORWARDED) {
                field(&mut facts.forwarded, name, header.value);
            } else if name.eq_ignore_ascii_case(REQUEST_ID) {
                // Never relayed as sent: the proxy sends one id, this one if it is acceptable.
                if facts.request_id.is_none() && is_acceptable_request_id(header.value) {
                    facts.request_id = std::str::from_utf8(header.value).ok().map(str::to_owned);
                }
            } else {
                facts.has_idempotency_key |= name.eq_ignore_ascii_case(IDEMPOTENCY_KEY);
                field(&mut facts.fields, name, header.value);
            }
        }
        // Chunked wins over Content-Length (RFC 9112 §6.3), whose field is dropped either way.
        facts.framing = match (chunked, length) {
            (true, _) => Some(Framing::Chunked),
            (false, Some(n)) => Some(Framing::Length(n)),
            (false, None) => None,
        };
        Ok(facts)
    }
}

/// The tokens of every `Connection` field.
fn connection_tokens<'h>(headers: &[httparse::Header<'h>]) -> Vec<&'h [u8]> {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(CONNECTION))
        .flat_map(|h| h.value.split(|&b| b == b','))
        .map(|token| token.trim_ascii())
        .filter(|token| !token.is_empty())
        .collect()
}

fn is_hop_by_hop(name: &str, connection: &[&[u8]]) -> bool {
    HOP_BY_HOP.iter().any(|hop| name.eq_ignore_ascii_case(hop))
        || connection
            .iter()
            .any(|token| token.eq_ignore_ascii_case(name.as_bytes()))
}

/// A Content-Length value: digits only (a list of equal values is refused too, as hyper does).
fn parse_length(value: &[u8]) -> Result<u64, HeadError> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(HeadError::BadContentLength);
    }
    std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or(HeadError::BadContentLength)
}

/// `Transfer-Encoding`: only `chunked` alone is understood.
fn is_chunked(value: &[u8]) -> Result<bool, HeadError> {
    if value.trim_ascii().eq_ignore_ascii_case(b"chunked") {
        Ok(true)
    } else {
        Err(HeadError::UnsupportedTransferEncoding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> RequestHead {
        let (head, length) = parse_request(text.as_bytes()).unwrap().unwrap();
        assert_eq!(length, text.len());
        head
    }

    #[test]
    fn a_request_id_is_kept_when_acceptable_and_never_relayed_as_sent() {
        let head = request(
            "GET / HTTP/1.1\r\nX-Request-Id: abc-1\r\nx-request-id: second\r\nHost: c\r\n\r\n",
        );
        assert_eq!(head.request_id.as_deref(), Some("abc-1"));
        assert_eq!(String::from_utf8(head.fields).unwrap(), "Host: c\r\n");
        let long = "x".repeat(65);
        for bad in [long.as_str(), "a b", "quote\"d", ""] {
            let head = request(&format!("GET / HTTP/1.1\r\nX-Request-Id: {bad}\r\n\r\n"));
            assert_eq!(head.request_id, None, "{bad}");
            assert!(head.fields.is_empty());
        }
        let longest = "y".repeat(64);
        let head = request(&format!(
            "GET / HTTP/1.1\r\nX-Request-Id: {longest}\r\n\r\n"
        ));
        assert_eq!(head.request_id, Some(longest));
    }

    #[test]
    fn a_request_keeps_its_end_to_end_fields_verbatim() {
        let head = request(
            "POST /transaction/a%2Fb?to=x HTTP/1.1\r\nHost: c\r\nConnection: keep-alive, X-Private\r\n\
             X-Private: 1\r\nc11n-to: KEY\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n\
             Content-Length: 3\r\nIdempotency-Key: k\r\n\r\n",
        );
        assert_eq!(head.method, Method::POST);
        assert_eq!(head.target, "/transaction/a%2Fb?to=x");
        assert_eq!(head.path(), "/transaction/a%2Fb");
        assert_eq!(
            String::from_utf8(head.fields).unwrap(),
            "Host: c\r\nc11n-to: KEY\r\nIdempotency-Key: k\r\n"
        );
        assert_eq!(head.framing, Framing::Chunked);
        assert!(head.has_idempotency_key && head.keep_alive && !head.expect_continue);
    }

    #[test]
    fn forwarded_fields_are_set_apart_in_order_unless_the_connection_names_them() {
        let head = request(
            "GET / HTTP/1.1\r\nForwarded: for=1.1.1.1\r\nHost: c\r\nFORWARDED: for=2.2.2.2\r\n\r\n",
        );
        assert_eq!(String::from_utf8(head.fields).unwrap(), "Host: c\r\n");
        assert_eq!(
            String::from_utf8(head.forwarded).unwrap(),
            "Forwarded: for=1.1.1.1\r\nFORWARDED: for=2.2.2.2\r\n"
        );
        let hop =
            request("GET / HTTP/1.1\r\nConnection: forwarded\r\nForwarded: for=1.1.1.1\r\n\r\n");
        assert!(hop.forwarded.is_empty() && hop.fields.is_empty());
        assert!(request("GET / HTTP/1.1\r\nHost: c\r\n\r\n")
            .forwarded
            .is_empty());
    }

    #[test]
    fn persistence_follows_the_version_and_connection() {
        assert!(!request("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!request("GET / HTTP/1.0\r\n\r\n").keep_alive);
        let kept = request("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(kept.keep_alive && kept.keep_alive_1_0);
        assert_eq!(request("GET / HTTP/1.1\r\n\r\n").framing, Framing::Empty);
    }

    #[test]
    fn bad_heads_get_the_status_nginx_would_give() {
        let refused = |text: &str| {
            crate::error::ProxyError::from(parse_request(text.as_bytes()).unwrap_err()).status()
        };
        assert_eq!(
            refused("GET / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n"),
            400
        );
        assert_eq!(
            refused("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            400
        );
        assert_eq!(refused("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
        assert_eq!(
            refused("GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
            501
        );
        assert_eq!(refused("GET /\x01 HTTP/1.1\r\n\r\n"), 400);
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: 1\r\n")).collect();
        assert_eq!(refused(&format!("GET / HTTP/1.1\r\n{many}\r\n")), 431);
        assert!(parse_request(b"GET / HTTP/1.1\r\nHost: c\r\n")
            .unwrap()
            .is_none());
    }

    #[test]
    fn paths_of_every_target_form() {
        assert_eq!(path_of("/upcheck"), "/upcheck");
        assert_eq!(path_of("/groups/resident?x=1"), "/groups/resident");
        assert_eq!(path_of("http://c/send?a"), "/send");
        assert_eq!(path_of("http://c"), "/");
        assert_eq!(path_of("*"), "*");
    }

    #[test]
    fn a_response_is_reframed_unless_it_has_no_body() {
        let text = "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nKeep-Alive: timeout=5\r\n\r\n";
        let (head, length) = parse_response(text.as_bytes(), false).unwrap().unwrap();
        assert_eq!(length, text.len());
        assert_eq!(head.status, StatusCode::CREATED);
        assert_eq!(
            String::from_utf8(head.lines).unwrap(),
            "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\n"
        );
        assert_eq!(head.framing, Framing::Length(5));
        assert!(head.keep_alive);

        let (head, _) = parse_response(text.as_bytes(), true).unwrap().unwrap();
        assert_eq!(head.framing, Framing::Empty);
        assert!(String::from_utf8(head.lines)
            .unwrap()
            .ends_with("content-length: 5\r\n"));

        let (head, _) = parse_response(b"HTTP/1.0 200 OK\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert_eq!(head.framing, Framing::UntilClose);
        assert!(!head.keep_alive);

        let (head, _) = parse_response(b"HTTP/1.1 204 \r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert_eq!(head.framing, Framing::Empty);
        assert!(String::from_utf8(head.lines)
            .unwrap()
            .starts_with("HTTP/1.1 204 No Content\r\n"));
    }
}
