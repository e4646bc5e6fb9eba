//! Arbitrary bytes into the proxy's request and response head parsers: no panic, and an
//! accepted request head, written out again as the proxy forwards it, parses to the same head.
#![no_main]

use cloister_proxy::http1::head::{parse_request, parse_response};
use cloister_proxy::http1::{message, request_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_response(data, data.first().is_some_and(|b| b & 1 == 1));
    if let Ok(Some((head, length))) = parse_request(data) {
        assert!(length <= data.len());
        let mut line = Vec::new();
        request_line(&mut line, &head.method, &head.target);
        let again = message(&[&line, &head.fields], &[], b"");
        let (reparsed, _) = parse_request(&again)
            .expect("a forwarded head parses")
            .expect("a forwarded head is complete");
        assert_eq!(reparsed.method, head.method);
        assert_eq!(reparsed.target, head.target);
        assert_eq!(reparsed.fields, head.fields);
    }
});
