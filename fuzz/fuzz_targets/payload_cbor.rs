//! Arbitrary bytes into the Cbor payload decoder: it must never panic, and whatever it accepts
//! must survive an encode/decode round trip unchanged.
#![no_main]

use cloister_core::payload::PayloadCodec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(payload) = PayloadCodec::Cbor.decode(data) {
        let again = PayloadCodec::Cbor.decode(&PayloadCodec::Cbor.encode(&payload));
        assert_eq!(again.as_ref(), Ok(&payload));
    }
});
