//! Arbitrary bytes, fed in arbitrary pieces, into the proxy's chunked-body decoder: no panic,
//! never more than the limit decoded, and the same outcome whatever the pieces.
#![no_main]

use bytes::BytesMut;
use cloister_proxy::http1::body::Dechunker;
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 4096;

fn decode(wire: &[u8], step: usize) -> Result<Option<Vec<u8>>, String> {
    let mut decoder = Dechunker::new(LIMIT);
    let mut buf = BytesMut::new();
    for piece in wire.chunks(step.max(1)) {
        buf.extend_from_slice(piece);
        match decoder.feed(&mut buf) {
            Ok(Some(body)) => return Ok(Some(body.to_vec())),
            Ok(None) => {}
            Err(error) => return Err(error.to_string()),
        }
    }
    Ok(None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, wire)) = data.split_first() else {
        return;
    };
    let whole = decode(wire, wire.len());
    if let Ok(Some(body)) = &whole {
        assert!(body.len() <= LIMIT);
    }
    // Pieces change only when a body is complete, never what it is.
    if let (Ok(Some(a)), Ok(Some(b))) = (&whole, &decode(wire, usize::from(step))) {
        assert_eq!(a, b);
    }
});
