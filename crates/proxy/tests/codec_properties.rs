//! The proxy's HTTP/1.1 decoders under proptest, on every build (the `cargo fuzz` targets
//! `http1_head` and `http1_chunked` explore the same properties further, see docs/fuzzing.md):
//! arbitrary bytes never panic them, a head the proxy accepts parses again to the same head once
//! forwarded, and a chunked body decodes to the same bytes however it is split on the wire.

#![allow(clippy::unwrap_used)]

use bytes::BytesMut;
use cloister_proxy::http1::body::{BodyError, Dechunker};
use cloister_proxy::http1::head::{parse_request, parse_response};
use cloister_proxy::http1::{message, request_line};
use proptest::prelude::*;

const LIMIT: usize = 4096;

/// A decoded body and the bytes left after it.
type Decoded = (Vec<u8>, Vec<u8>);

/// Feeds `wire` in pieces of `step` bytes: the body and what is left after it.
fn dechunk(wire: &[u8], step: usize) -> Result<Option<Decoded>, BodyError> {
    let mut decoder = Dechunker::new(LIMIT);
    let mut buf = BytesMut::new();
    for piece in wire.chunks(step.max(1)) {
        buf.extend_from_slice(piece);
        if let Some(body) = decoder.feed(&mut buf)? {
            return Ok(Some((body.to_vec(), buf.to_vec())));
        }
    }
    Ok(None)
}

fn field_name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9-]{0,15}"
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_head_parsers(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_response(&data, false);
        if let Ok(Some((head, _))) = parse_request(&data) {
            let mut line = Vec::new();
            request_line(&mut line, &head.method, &head.target);
            let (again, _) = parse_request(&message(&[&line, &head.fields], &[], b"")).unwrap().unwrap();
            prop_assert_eq!(again.fields, head.fields);
        }
    }

    #[test]
    fn an_accepted_head_is_forwarded_field_for_field(
        fields in proptest::collection::vec((field_name(), "[ -~]{0,20}"), 0..12),
        target in "/[a-z0-9%/?=&]{0,30}",
    ) {
        let mut text = format!("POST {target} HTTP/1.1\r\n");
        for (name, value) in &fields {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        // Framing and hop-by-hop fields may be refused or dropped; anything accepted round-trips.
        if let Ok(Some((head, length))) = parse_request(text.as_bytes()) {
            prop_assert_eq!(length, text.len());
            prop_assert_eq!(&head.target, &target);
            let mut line = Vec::new();
            request_line(&mut line, &head.method, &head.target);
            let (again, _) = parse_request(&message(&[&line, &head.fields], &[], b"")).unwrap().unwrap();
            prop_assert_eq!(again.fields, head.fields.clone());
            let named: Vec<String> = fields
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
                .flat_map(|(_, value)| value.split(',').map(|t| t.trim().to_ascii_lowercase()).collect::<Vec<_>>())
                .collect();
            let forwarded = String::from_utf8_lossy(&head.fields).into_owned();
            for (name, value) in &fields {
                let hop = ["connection", "keep-alive", "proxy-connection", "te", "trailer",
                    "transfer-encoding", "upgrade", "proxy-authorization", "content-length", "expect"]
                    .iter().any(|hop| name.eq_ignore_ascii_case(hop))
                    || named.contains(&name.to_ascii_lowercase());
                let line = format!("{name}: {}\r\n", value.trim_matches([' ', '\t']));
                prop_assert_eq!(forwarded.contains(&line), !hop, "{:?} in {:?}", line, forwarded);
            }
        }
    }

    #[test]
    fn a_chunked_body_decodes_the_same_however_it_is_split(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..64), 0..8),
        step in 1usize..40,
        extension in proptest::bool::ANY,
    ) {
        let mut wire = Vec::new();
        for chunk in &chunks {
            let ext = if extension { ";name=value" } else { "" };
            wire.extend_from_slice(format!("{:x}{ext}\r\n", chunk.len()).as_bytes());
            wire.extend_from_slice(chunk);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\nx-trailer: 1\r\n\r\nNEXT");
        let (body, rest) = dechunk(&wire, step).unwrap().unwrap();
        prop_assert_eq!(body, chunks.concat());
        prop_assert!(b"NEXT".starts_with(&rest));
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_dechunker(
        data in proptest::collection::vec(any::<u8>(), 0..1024),
        step in 1usize..64,
    ) {
        if let Ok(Some((body, _))) = dechunk(&data, step) {
            prop_assert!(body.len() <= LIMIT);
        }
    }
}
